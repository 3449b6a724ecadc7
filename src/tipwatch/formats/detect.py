"""Finding the sources of a run and reading each in its format."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from enum import StrEnum
from pathlib import Path

from pydantic import ValidationError

from tipwatch.errors import InputError
from tipwatch.formats import csv_flat, cybertip_xml, jsonl
from tipwatch.formats._records import ReaderItem, describe_validation_error

__all__ = [
    "InputFormat",
    "detect_format",
    "iter_referral_sources",
    "iter_source_files",
    "not_a_referral_source",
    "read_path",
    "reparse_raw",
]


class InputFormat(StrEnum):
    XML = "xml"
    JSONL = "jsonl"
    CSV = "csv"


_BY_SUFFIX = {
    ".xml": InputFormat.XML,
    ".jsonl": InputFormat.JSONL,
    ".ndjson": InputFormat.JSONL,
    ".json": InputFormat.JSONL,
    ".csv": InputFormat.CSV,
}


def detect_format(path: Path) -> InputFormat:
    """The format of a file, by its suffix, else by its first non-blank byte."""
    by_suffix = _BY_SUFFIX.get(path.suffix.lower())
    if by_suffix is not None:
        return by_suffix
    with path.open("rb") as fh:
        head = _as_utf8(fh.read(4096)).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return InputFormat.XML
    if head.startswith(b"{"):
        return InputFormat.JSONL
    return InputFormat.CSV


def iter_source_files(paths: Iterable[Path], *, keep_unreadable: bool = False) -> Iterator[Path]:
    """Files named, and files found (recursively, in name order) in folders named.

    Hidden files and folders (names starting with a dot) inside folders are skipped. A path
    named that exists but is no regular file or folder (a FIFO, a device, a symlink loop or
    a dangling link) raises :class:`InputError`, or with ``keep_unreadable`` is yielded for
    the caller to report as that path's own error (never opened here).
    """
    from os.path import lexists  # true for a symlink loop too, unlike Path.exists()

    for path in paths:
        if keep_unreadable and not path.is_dir() and not path.is_file() and lexists(path):
            yield path
        elif path.is_dir():
            for found in sorted(path.rglob("*")):
                rel = found.relative_to(path)
                if found.is_file() and not any(p.startswith(".") for p in rel.parts):
                    yield found
        elif path.is_file():
            yield path
        elif lexists(path):
            raise InputError(f"{path}: not a regular file or folder")
        else:
            raise InputError(f"{path}: no such file or folder")


def _as_utf8(head: bytes) -> bytes:
    """The start of a file as UTF-8 when a UTF-16 byte-order mark says it is UTF-16."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", "ignore").encode("utf-8")
    return head


_REFERRAL_XML = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(report|fileDetails|referrals|referral)[\s>/]")
_REFERRAL_KEYS = frozenset({"report_id", "incident_type", "incident_time", "reported", "files"})


def _csv_names(line: str) -> set[str]:
    import csv

    try:
        header = next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return set()
    return {h.strip().strip('"').lower().replace(" ", "_").replace("-", "_") for h in header}


def not_a_referral_source(path: Path) -> str | None:
    """Why a file found in a folder is not a referral source, or ``None`` when it may be one.

    Used to skip, with the reason, what sits beside referral files in a folder (hash lists,
    media, notes); a file named on its own is always read, and its problems quarantined.
    """
    with path.open("rb") as fh:
        head = fh.read(65536)
    if b"\x00" in head[:8192] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "binary data, not referral text"
    text = _as_utf8(head).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        return "an empty file"
    suffix = path.suffix.lower()
    if text.startswith(b"<"):
        if _REFERRAL_XML.search(text) is None:
            return "XML without CyberTipline reports"
        return None
    if text.startswith(b"["):
        return "a JSON array (such as a hash list), not JSON Lines referrals"
    if text.startswith(b"{"):
        first = text.split(b"\n", 1)[0]
        try:
            record = json.loads(first)
        except ValueError:
            if b'"odata.metadata"' in text or b'"value"' in text:
                return "a VICS hash list, not referrals (import it with the hash lists)"
            return None  # not one record a line: reading it quarantines it with the reason
        if isinstance(record, dict):
            if "odata.metadata" in record or isinstance(record.get("value"), list):
                return "a VICS hash list, not referrals (import it with the hash lists)"
            if not _REFERRAL_KEYS & set(record):
                return "JSON Lines whose records are not referrals"
        return None
    if suffix in (".csv", ".tsv", ".txt", "") or suffix not in _BY_SUFFIX:
        first_line = text.split(b"\n", 1)[0].decode("utf-8", "replace")
        names = _csv_names(first_line)
        if names & {"report_id", "incident_type", "incident_time"}:
            return None
        if suffix == ".csv":
            return "a CSV file without referral columns (incident_type, incident_time)"
        return f"not a referral file ({suffix or 'no suffix'})"
    return None


def iter_referral_sources(paths: Iterable[Path]) -> Iterator[tuple[Path, str | None]]:
    """Each file of :func:`iter_source_files` with why it is skipped (``None``: read it).

    Only files found inside folders are skipped; a file named on its own is always read.
    """
    for path in paths:
        if path.is_dir():
            for found in iter_source_files([path]):
                yield found, not_a_referral_source(found)
        else:
            yield from ((p, None) for p in iter_source_files([path]))


def read_path(
    path: Path,
    fmt: InputFormat | None = None,
    *,
    on_bytes: Callable[[int], None] | None = None,
    max_xml_record_bytes: int | None = None,
    max_jsonl_line_bytes: int | None = None,
) -> Iterator[ReaderItem]:
    """Read the records of one file in ``fmt`` (detected when not given); the limits default to
    the readers' own."""
    fmt = fmt or detect_format(path)
    with path.open("rb") as fh:
        head = fh.read(8192)
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return iter([_binary_item(path, head)])
    if fmt is InputFormat.XML:
        return cybertip_xml.read_xml(path, on_bytes=on_bytes, max_record_bytes=max_xml_record_bytes)
    if fmt is InputFormat.JSONL:
        return jsonl.read_jsonl(path, on_bytes=on_bytes, max_line_bytes=max_jsonl_line_bytes)
    return csv_flat.read_csv(path, on_bytes=on_bytes)


def _binary_item(path: Path, head: bytes) -> ReaderItem:
    what = "an SQLite database" if head.startswith(b"SQLite format 3") else "binary data"
    return ReaderItem(
        str(path),
        0,
        "byte 0",
        error=f"not a referral file: it holds {what}, not XML, JSON Lines or CSV text",
        fatal=True,
    )


def reparse_raw(fmt: InputFormat, raw: str, source: str, location: str) -> list[ReaderItem]:
    """Read a quarantined record's text again (after a fix, or with a newer tipwatch)."""
    import io

    if fmt is InputFormat.XML:
        return list(cybertip_xml.read_xml_stream(io.BytesIO(raw.encode()), source))
    if fmt is InputFormat.JSONL:
        return list(jsonl.read_jsonl_stream(io.BytesIO(raw.encode()), source))
    try:
        row = json.loads(raw)
    except ValueError:
        row = None
    if not isinstance(row, dict):
        # The quarantine keeps a row it could split into columns as a JSON object; anything
        # else is the line itself, which cannot be read without the rest of the file.
        return [
            ReaderItem(
                source,
                0,
                location,
                error="the CSV line cannot be split into the header's columns: fix the file "
                "and ingest it again",
                raw=raw,
            )
        ]
    try:
        fields = csv_flat.row_to_fields(row)
        from tipwatch.models import Referral

        referral = Referral.from_data(fields)
    except ValidationError as exc:
        return [ReaderItem(source, 0, location, error=describe_validation_error(exc), raw=raw)]
    except (ValueError, TypeError, AttributeError) as exc:
        return [ReaderItem(source, 0, location, error=str(exc), raw=raw)]
    return [ReaderItem(source, 0, location, referral=referral, key=referral.report_id)]
