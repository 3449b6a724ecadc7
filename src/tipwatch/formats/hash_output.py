"""The output of ``tipwatch hash`` read back: hash here, match there.

``tipwatch hash`` writes one record per file, as JSON Lines (the default) or CSV, with the
fields of :data:`HASH_FIELDS` (``docs/formats.md``, section 6). :func:`read_hash_output` reads
either form (told apart by the file's first character) so that ``tipwatch match --hashes``
can match files hashed elsewhere, on a machine that never sees the store.

Each record comes back as a :class:`HashRecord`. A record that cannot be used (not a JSON
object, a hash that is not hexadecimal of the right length) comes back too, with ``problem``
naming its line and what is wrong: nothing read is dropped. A file hashed with an error keeps
that error in ``error``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tipwatch.errors import InputError
from tipwatch.formats.csv_safety import restore_cell

__all__ = ["HASH_FIELDS", "HashRecord", "read_hash_output"]

HASH_FIELDS = (
    "path",
    "kind",
    "size",
    "md5",
    "sha1",
    "sha256",
    "pdq",
    "pdq_quality",
    "width",
    "height",
    "frames",
    "error",
)
"""The CSV columns of ``tipwatch hash --format csv``; JSON Lines has the same keys (those with
a value), ``frames`` being there the list of vPDQ frame hashes rather than their count."""

_HEX_DIGITS = {"md5": 32, "sha1": 40, "sha256": 64, "pdq": 64}
_HEX = re.compile(r"[0-9a-fA-F]+")
_MAX_LINE = 64 * 1024 * 1024


@dataclass(slots=True)
class HashRecord:
    """One file's hashes as ``tipwatch hash`` wrote them."""

    location: str
    """Where in the hash file: ``line 12``."""
    path: str
    hashes: dict[str, str] = field(default_factory=dict)
    """``md5``, ``sha1``, ``sha256``, ``pdq`` -> lower-case hex, those present."""
    pdq_quality: int | None = None
    frames: list[tuple[str, int]] = field(default_factory=list)
    """vPDQ: (frame PDQ, quality) per sampled frame (JSON Lines only)."""
    error: str | None = None
    """The reason the file could not be hashed, as the hash run gave it."""
    problem: str | None = None
    """Why this record cannot be matched (it names the location)."""


def _hex(record: HashRecord, name: str, value: Any) -> None:
    if value in (None, ""):
        return
    text = str(value).strip()
    if len(text) != _HEX_DIGITS[name] or not _HEX.fullmatch(text):
        record.problem = (
            f"{record.location}: {name} {text[:80]!r} is not {_HEX_DIGITS[name]} hexadecimal digits"
        )
        return
    record.hashes[name] = text.lower()


def _quality(record: HashRecord, value: Any, what: str = "pdq_quality") -> int | None:
    if value in (None, ""):
        return None
    try:
        quality = int(value)
    except (TypeError, ValueError):
        quality = -1
    if not 0 <= quality <= 100:
        record.problem = f"{record.location}: {what} {value!r} is not a whole number from 0 to 100"
        return None
    return quality


def _record(location: str, row: dict[str, Any], *, frames_listed: bool) -> HashRecord:
    path = row.get("path")
    record = HashRecord(location=location, path=str(path) if path not in (None, "") else "")
    if not record.path:
        record.problem = f"{location}: no path"
    error = row.get("error")
    if error not in (None, ""):
        record.error = str(error)
    for name in _HEX_DIGITS:
        _hex(record, name, row.get(name))
    record.pdq_quality = _quality(record, row.get("pdq_quality"))
    listed = row.get("vpdq") if frames_listed else None
    if listed is not None:
        if not isinstance(listed, list):
            record.problem = f"{location}: vpdq is not a list of frame hashes"
        else:
            for n, frame in enumerate(listed, 1):
                pdq = frame.get("pdq") if isinstance(frame, dict) else None
                if not isinstance(pdq, str) or len(pdq) != 64 or not _HEX.fullmatch(pdq):
                    record.problem = f"{location}: vpdq frame {n} has no valid PDQ"
                    break
                quality = _quality(record, frame.get("quality"), f"vpdq frame {n} quality")
                record.frames.append((pdq.lower(), 0 if quality is None else quality))
    if record.problem is None and record.error is None and not record.hashes and not record.frames:
        record.problem = f"{location}: no hash and no error"
    return record


def read_hash_output(path: Path) -> Iterator[HashRecord]:
    """The records of a file written by ``tipwatch hash`` (JSON Lines or CSV), in order.

    Raises :class:`InputError` when the file cannot be read or is neither form; a bad record
    is returned with its ``problem`` and reading goes on.
    """
    try:
        fh = path.open("r", encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the hash file: {exc.strerror or exc}") from exc
    with fh:
        first = fh.read(1)
        fh.seek(0)
        if first == "{":
            yield from _read_jsonl(path, fh)
        elif first == "":
            return
        else:
            yield from _read_csv(path, fh)


def _read_jsonl(path: Path, fh: io.TextIOBase) -> Iterator[HashRecord]:
    for number, line in enumerate(fh, 1):
        location = f"line {number}"
        if not line.strip():
            continue
        if len(line) > _MAX_LINE:
            yield HashRecord(location, "", problem=f"{location}: longer than {_MAX_LINE:,} bytes")
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield HashRecord(location, "", problem=f"{location}: not JSON ({exc.msg})")
            continue
        if not isinstance(row, dict):
            yield HashRecord(location, "", problem=f"{location}: not a JSON object")
            continue
        yield _record(location, row, frames_listed=True)


def _read_csv(path: Path, fh: io.TextIOBase) -> Iterator[HashRecord]:
    reader = csv.DictReader(fh)
    columns = reader.fieldnames or []
    if "path" not in columns or not any(name in columns for name in _HEX_DIGITS):
        raise InputError(
            f"{path}: not a hash file: neither JSON Lines nor CSV with a path column and a hash "
            "column",
            hint="give the output of the hash command (JSON Lines or CSV)",
        )
    try:
        for row in reader:
            location = f"line {reader.line_num}"
            cells = {k: restore_cell(v) for k, v in row.items() if isinstance(k, str) and v}
            yield _record(location, cells, frames_listed=False)
    except csv.Error as exc:
        raise InputError(f"{path}, line {reader.line_num}: not readable as CSV: {exc}") from exc
