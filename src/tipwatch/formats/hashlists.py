"""Hash lists of known material: Project VIC / VICS JSON, a documented CSV, plain lists.

Every reader yields :class:`HashRecord` items, one per (algorithm, hash value); a VICS
``Media`` record with an MD5, a SHA-1 and a PhotoDNA gives three records sharing its category
and flags. Malformed records come back with ``error`` set (and are reported, not imported).

VICS JSON, both generations:

* 1.x: ``{"odata.metadata": ".../1.3.xml#Media", "value": [Media, ...]}``
* 2.0: ``{"@odata.context": ".../2.0.xml/US/$metadata#Cases", "value": [{"CaseID": ..,
  "Media": [Media, ...]}, ...]}`` (a 2.0 ``#Media`` hash set is a flat list too)

Flags may be booleans or the strings "true"/"false". Alternative hashes (PhotoDNA and others)
are kept verbatim under their ``HashName``; one called PDQ is read as PDQ.

The CSV form has a header; columns ``hash_type`` and ``hash`` are required; ``category``,
``series``, ``media_id``, ``victim_identified``, ``offender_identified``, ``distributed``,
``self_generated`` are optional; other columns are kept as extra fields.

A plain list holds one hash per line, all of the type given on import; ``#`` starts a comment.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tipwatch.errors import InputError
from tipwatch.formats.csv_safety import neutralise_cell, restore_cell
from tipwatch.models import normalise_hash_type, normalise_hash_value

__all__ = [
    "FLAG_NAMES",
    "HASH_CSV_COLUMNS",
    "HashRecord",
    "VpdqFrame",
    "normalise_hash_value",
    "read_hash_csv",
    "read_plain",
    "read_vics",
    "vpdq_features",
    "vpdq_frames",
    "vpdq_record",
    "vpdq_serialise",
    "vpdq_text",
    "write_hash_csv",
    "write_plain",
    "write_vics",
]

FLAG_NAMES = ("victim_identified", "offender_identified", "distributed", "self_generated")
_VICS_FLAGS = {
    "VictimIdentified": "victim_identified",
    "OffenderIdentified": "offender_identified",
    "IsDistributed": "distributed",
    "SelfGenerated": "self_generated",
}
_VICS_KNOWN = {
    "MediaID",
    "Category",
    "MD5",
    "SHA1",
    "SHA256",
    "Series",
    "AlternativeHashes",
    *_VICS_FLAGS,
}
HASH_CSV_COLUMNS = ("hash_type", "hash", "category", "series", "media_id", *FLAG_NAMES)
MAX_LIST_BYTES = 2 * 1024**3
_HEX = re.compile(r"^[0-9a-f]+$")


@dataclass(slots=True)
class HashRecord:
    """One hash of a list, with what the list says about it."""

    algorithm: str
    value: str
    category: str | None = None
    series: str | None = None
    media_id: str | None = None
    flags: dict[str, bool] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    location: str = ""
    error: str | None = None
    entry_key: str = ""
    """The entry the hash belongs to at its source: an exchange's entry id, or for VICS the
    digest of its Media record (so that two records sharing a hash or a MediaID stay apart);
    empty for lists whose entries are their hashes (CSV, plain)."""


VPDQ_PREFIX = "vpdq-sha256:"
"""A vPDQ entry's value: the SHA-256 of its frame hashes (the frames travel in ``extra``)."""


@dataclass(frozen=True, slots=True)
class VpdqFrame:
    """One frame of a vPDQ hash: its PDQ, and its quality (0-100) and time when known."""

    pdq: str
    quality: int | None = None
    seconds: float | None = None


def _vpdq_feature(text: str) -> VpdqFrame:
    """One frame written as ``hex``, ``hex,quality`` or ``hex,quality,seconds`` (the last is
    ThreatExchange's serialisation of a frame)."""
    parts = [p.strip() for p in text.split(",")]
    pdq = parts[0].lower()
    if len(pdq) != 64 or not _HEX.match(pdq):
        raise ValueError(f"vPDQ frame hash must be 64 hexadecimal characters, got {pdq[:80]!r}")
    if len(parts) > 3:
        raise ValueError(f"a vPDQ frame is hash,quality,seconds; got {text[:120]!r}")
    quality: int | None = None
    seconds: float | None = None
    try:
        if len(parts) >= 2:
            quality = int(parts[1])
        if len(parts) == 3:
            seconds = float(parts[2])
    except ValueError:
        raise ValueError(
            f"a vPDQ frame's quality and time must be numbers: {text[:120]!r}"
        ) from None
    if quality is not None and not 0 <= quality <= 100:
        raise ValueError(f"a vPDQ frame's quality must be 0 to 100, got {quality}")
    if seconds is not None and not seconds >= 0:
        raise ValueError(f"a vPDQ frame's time must be 0 or more seconds, got {seconds}")
    return VpdqFrame(pdq, quality, seconds)


def vpdq_features(text: str) -> list[VpdqFrame]:
    """The frames of a vPDQ value, in any of the forms tipwatch reads:

    * ThreatExchange's serialisation: a JSON array of ``"hex,quality,seconds"`` strings;
    * ThreatExchange's older JSON object ``{frame number: {"hash", "quality", "timestamp"}}``;
    * frames separated by ``;`` (or new lines), each ``hex``, ``hex,quality`` or
      ``hex,quality,seconds``.

    A value that holds no frame hash (a bare vPDQ digest, say) is refused: an entry without
    its frames could never match.
    """
    text = text.strip()
    if text.startswith(VPDQ_PREFIX):
        raise ValueError(
            "a vPDQ value must hold its frame hashes; a digest of them alone can never match"
        )
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"a vPDQ JSON array cannot be read: {exc}") from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ValueError('a vPDQ JSON array must hold "hash,quality,seconds" strings')
        frames = [_vpdq_feature(i) for i in items]
    elif text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"a vPDQ JSON object cannot be read: {exc}") from None
        frames = []
        for number, feature in sorted(data.items(), key=lambda kv: int(kv[0])):
            if not isinstance(feature, dict) or "hash" not in feature:
                raise ValueError(f"vPDQ frame {number}: needs hash, quality and timestamp")
            frames.append(
                _vpdq_feature(
                    f"{feature['hash']},{feature.get('quality', 100)},{feature.get('timestamp', 0)}"
                )
            )
    else:
        frames = [_vpdq_feature(f) for f in re.split(r"[;\n]+", text) if f.strip()]
    if not frames:
        raise ValueError("a vPDQ hash needs at least one frame hash")
    return frames


def vpdq_frames(text: str) -> list[str]:
    """The PDQ hashes of a vPDQ value (see :func:`vpdq_features` for the forms read)."""
    return [f.pdq for f in vpdq_features(text)]


def vpdq_serialise(
    frames: list[str], qualities: list[int] | None = None, seconds: list[float] | None = None
) -> str:
    """A vPDQ value as text: ThreatExchange's JSON array when the qualities are known, else
    the frame hashes separated by ``;``."""
    if qualities is None:
        return ";".join(frames)
    times = seconds if seconds is not None else [0.0] * len(frames)
    return json.dumps(
        [f"{f},{q},{t:.3f}" for f, q, t in zip(frames, qualities, times, strict=True)],
        separators=(",", ":"),
    )


def vpdq_record(value: str, **fields: Any) -> HashRecord:
    """A vPDQ list entry: keyed by the digest of its frames; frames kept in ``extra``, with
    each frame's quality (``qualities``) and time (``seconds``) when the value gives them."""
    import hashlib

    features = vpdq_features(value)
    frames = [f.pdq for f in features]
    digest = hashlib.sha256(";".join(frames).encode()).hexdigest()
    record = HashRecord("vpdq", VPDQ_PREFIX + digest, **fields)
    extra: dict[str, Any] = {**record.extra, "frames": frames}
    if all(f.quality is not None for f in features):
        extra["qualities"] = [f.quality for f in features]
    if all(f.seconds is not None for f in features):
        extra["seconds"] = [f.seconds for f in features]
    record.extra = extra
    return record


def vpdq_text(record: HashRecord) -> str:
    """The text of a stored vPDQ entry, frames and qualities included (for export)."""
    frames = list(record.extra.get("frames", []))
    return vpdq_serialise(frames, record.extra.get("qualities"), record.extra.get("seconds"))


def _flag(value: Any, name: str) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no"):
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"{name} must be true or false, got {value!r}")


def _category(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"category must be a code, got {value!r}")
    return str(value).strip()


def _digest_value(algorithm: str, value: Any) -> str:
    """A hash value as it will be stored, or as given when it cannot be read (for the key)."""
    text = str(value)
    if algorithm.lower() == "vpdq":
        try:
            return vpdq_record(text).value
        except ValueError:
            return text.strip()
    try:
        return normalise_hash_value(algorithm, text)
    except ValueError:
        return text.strip()


def media_key(common: dict[str, Any], pairs: Iterable[tuple[str, Any]]) -> str:
    """The key of one VICS Media record: a digest of what tipwatch keeps of it (its id,
    category, series, flags, other fields, its case, its hashes as stored). It stays the same
    through an export and an import again, and differs between two records that differ in
    anything, so that records sharing a MediaID (or a hash) stay separate entries."""
    import hashlib

    identity = {
        "media_id": common.get("media_id"),
        "category": common.get("category"),
        "series": common.get("series"),
        "flags": common.get("flags"),
        "extra": common.get("extra"),
        "hashes": sorted([a, _digest_value(a, v)] for a, v in pairs),
    }
    text = json.dumps(identity, sort_keys=True, default=str, separators=(",", ":"))
    return "vics:" + hashlib.sha256(text.encode()).hexdigest()[:40]


def _media_records(media: Any, location: str, case_id: Any = None) -> Iterator[HashRecord]:
    if not isinstance(media, dict):
        yield HashRecord("", "", location=location, error="a Media entry must be an object")
        return
    try:
        category = _category(media.get("Category"))
        flags = {
            ours: flag
            for theirs, ours in _VICS_FLAGS.items()
            if (flag := _flag(media.get(theirs), theirs)) is not None
        }
    except ValueError as exc:
        yield HashRecord("", "", location=location, error=str(exc))
        return
    media_id = media.get("MediaID")
    extra: dict[str, Any] = {k: v for k, v in media.items() if k not in _VICS_KNOWN}
    if case_id is not None:
        extra.setdefault("CaseID", case_id)
    common: dict[str, Any] = {
        "category": category,
        "series": media.get("Series") or None,
        "media_id": None if media_id is None else str(media_id),
        "flags": flags,
        "extra": extra,
        "location": location,
    }
    pairs: list[tuple[str, Any]] = [
        (key.lower(), media.get(key)) for key in ("MD5", "SHA1", "SHA256") if media.get(key)
    ]
    alternatives = media.get("AlternativeHashes") or []
    if not isinstance(alternatives, list):
        yield HashRecord("", "", location=location, error="AlternativeHashes must be a list")
        return
    for alt in alternatives:
        if not isinstance(alt, dict) or not alt.get("HashName") or not alt.get("HashValue"):
            yield HashRecord(
                "", "", location=location, error="an alternative hash needs HashName and HashValue"
            )
            continue
        pairs.append((normalise_hash_type(str(alt["HashName"])), alt["HashValue"]))
    if not pairs:
        yield HashRecord("", "", location=location, error="Media entry has no hash")
        return
    key = media_key(common, pairs)
    common["entry_key"] = key
    for algorithm, value in pairs:
        if algorithm.lower() == "vpdq":
            try:
                yield vpdq_record(str(value), **common)
            except ValueError as exc:
                yield HashRecord(
                    "vpdq",
                    str(value)[:200],
                    location=location,
                    error=str(exc),
                    entry_key=key,
                )
            continue
        try:
            normalised = normalise_hash_value(algorithm, str(value))
        except ValueError as exc:
            yield HashRecord(
                algorithm,
                str(value),
                location=location,
                error=str(exc),
                entry_key=key,
            )
            continue
        yield HashRecord(algorithm, normalised, **common)


def read_vics(path: Path) -> Iterator[HashRecord]:
    """Read a VICS JSON file (1.x ``#Media``, 2.0 ``#Cases`` or ``#Media``)."""
    size = path.stat().st_size
    if size > MAX_LIST_BYTES:
        raise InputError(f"{path}: {size:,} bytes is more than the {MAX_LIST_BYTES:,} read")
    try:
        data = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("value"), list):
        raise InputError(f"{path}: not a VICS file (expected an object with a 'value' list)")
    context = str(data.get("@odata.context") or data.get("odata.metadata") or "")
    for i, item in enumerate(data["value"]):
        if context.endswith("#Cases") or (isinstance(item, dict) and "Media" in item):
            if not isinstance(item, dict) or not isinstance(item.get("Media", []), list):
                yield HashRecord("", "", location=f"case {i}", error="a case needs a Media list")
                continue
            case_id = item.get("CaseID")
            for j, media in enumerate(item.get("Media", [])):
                yield from _media_records(media, f"case {i}, media {j}", case_id)
        else:
            yield from _media_records(item, f"media {i}")


def read_hash_csv(path: Path) -> Iterator[HashRecord]:
    """Read the documented hash-list CSV."""
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in ("hash_type", "hash") if c not in header]
        if missing:
            raise InputError(f"{path}: CSV header lacks column(s): {', '.join(missing)}")
        reader.fieldnames = header
        for raw in reader:
            # Cells quoted against spreadsheet formulas (as tipwatch writes them) read back as
            # they were.
            row = {k: restore_cell(v) if isinstance(v, str) else v for k, v in raw.items()}
            location = f"line {reader.line_num}"
            try:
                algorithm = normalise_hash_type(row.get("hash_type") or "")
                if algorithm.lower() == "vpdq":
                    algorithm = "vpdq"
                if not algorithm:
                    raise ValueError("hash_type is empty")
                value = (
                    row.get("hash") or ""
                    if algorithm == "vpdq"
                    else normalise_hash_value(algorithm, row.get("hash") or "")
                )
                flags = {
                    name: flag
                    for name in FLAG_NAMES
                    if (flag := _flag(row.get(name), name)) is not None
                }
            except ValueError as exc:
                yield HashRecord(
                    row.get("hash_type") or "",
                    row.get("hash") or "",
                    location=location,
                    error=str(exc),
                )
                continue
            fields: dict[str, Any] = {
                "category": _category(row.get("category")),
                "series": row.get("series") or None,
                "media_id": row.get("media_id") or None,
                "flags": flags,
                "extra": {k: v for k, v in row.items() if k and k not in HASH_CSV_COLUMNS and v},
                "location": location,
            }
            if algorithm == "vpdq":
                try:
                    yield vpdq_record(value, **fields)
                except ValueError as exc:
                    yield HashRecord("vpdq", value[:200], location=location, error=str(exc))
                continue
            yield HashRecord(algorithm, value, **fields)


def read_plain(path: Path, algorithm: str) -> Iterator[HashRecord]:
    """Read a plain list: one hash of ``algorithm`` per line.

    A vPDQ line holds the video's frames (see :func:`vpdq_features`); a line with a vPDQ value
    but no frames is refused, since such an entry could never match."""
    algorithm = normalise_hash_type(algorithm)
    if algorithm.lower() == "vpdq":
        algorithm = "vpdq"
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            if algorithm == "vpdq":
                try:
                    yield vpdq_record(text, location=f"line {n}")
                except ValueError as exc:
                    yield HashRecord(algorithm, text[:200], location=f"line {n}", error=str(exc))
                continue
            try:
                yield HashRecord(
                    algorithm, normalise_hash_value(algorithm, text), location=f"line {n}"
                )
            except ValueError as exc:
                yield HashRecord(algorithm, text, location=f"line {n}", error=str(exc))


# -- writers ----------------------------------------------------------------------------------


_VPDQ_EXTRA = ("frames", "qualities", "seconds")


def _group_media(records: Iterable[HashRecord]) -> list[dict[str, Any]]:
    """Records back into VICS Media entries: one per entry key (a VICS record's own), else
    per media id, else one per record. Each Media keeps its case id (``CaseID``) for
    :func:`write_vics` to group them into cases."""
    media: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for n, r in enumerate(records):
        if r.entry_key:
            key = "k:" + r.entry_key
        elif r.media_id is not None:
            key = "m:" + r.media_id
        else:
            key = f"n:{n}"
        entry = media.get(key)
        if entry is None:
            entry = {k: v for k, v in r.extra.items() if k not in _VPDQ_EXTRA}
            if r.media_id is not None:
                entry["MediaID"] = int(r.media_id) if r.media_id.isdigit() else r.media_id
            entry["Category"] = (
                int(r.category) if r.category and r.category.isdigit() else r.category
            )
            for theirs, ours in _VICS_FLAGS.items():
                if ours in r.flags:
                    entry[theirs] = r.flags[ours]
            if r.series:
                entry["Series"] = r.series
            media[key] = entry
            order.append(key)
        if r.algorithm in ("md5", "sha1", "sha256"):
            entry[r.algorithm.upper()] = r.value.upper() if r.algorithm == "md5" else r.value
        elif r.algorithm == "vpdq":
            entry.setdefault("AlternativeHashes", []).append(
                {"HashName": "vPDQ", "HashValue": vpdq_text(r)}
            )
        else:
            name = "PDQ" if r.algorithm == "pdq" else r.algorithm
            entry.setdefault("AlternativeHashes", []).append(
                {"HashName": name, "HashValue": r.value}
            )
    return [media[k] for k in order]


def write_vics(records: Iterable[HashRecord], out: IO[str], *, version: str = "1.3") -> int:
    """Write VICS JSON: ``version`` 1.3 (``#Media``) or 2.0 (``#Cases``, the Media of each case
    id together; those without one in a case of id zero). Returns the Media written."""
    media = _group_media(records)
    if version.startswith("2"):
        cases: dict[Any, list[dict[str, Any]]] = {}
        for m in media:
            cases.setdefault(m.pop("CaseID", None), []).append(m)
        doc: dict[str, Any] = {
            "@odata.context": "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Cases",
            "value": [
                # Media without a case id go in a case without one, so that they read back
                # as they were.
                ({"CaseID": case_id} if case_id is not None else {})
                | {"SourceApplicationName": "tipwatch", "Media": items}
                for case_id, items in cases.items()
            ],
        }
    else:
        for m in media:
            m.pop("CaseID", None)
        doc = {
            "odata.metadata": "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Media",
            "value": media,
        }
    json.dump(doc, out, indent=1)
    out.write("\n")
    return len(media)


def write_hash_csv(records: Iterable[HashRecord], out: IO[str]) -> int:
    writer = csv.writer(out)
    writer.writerow(HASH_CSV_COLUMNS)
    n = 0
    for r in records:
        flags = ["" if name not in r.flags else str(r.flags[name]).lower() for name in FLAG_NAMES]
        value = vpdq_text(r) if r.algorithm == "vpdq" else r.value
        cells = [r.algorithm, value, r.category or "", r.series or "", r.media_id or "", *flags]
        writer.writerow([neutralise_cell(cell) for cell in cells])
        n += 1
    return n


def write_plain(records: Iterable[HashRecord], out: IO[str]) -> int:
    n = 0
    for r in records:
        out.write(r.value + "\n")
        n += 1
    return n


def records_to_text(records: Iterable[HashRecord], fmt: str, **kwargs: Any) -> str:
    buf = io.StringIO()
    {"vics": write_vics, "csv": write_hash_csv, "plain": write_plain}[fmt](records, buf, **kwargs)
    return buf.getvalue()
