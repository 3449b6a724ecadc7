"""The flat CSV form: one row per referral with the main fields, for simple bulk intake.

Columns (a header row is required; order is free; ``incident_type`` and ``incident_time`` are
required, the rest optional; lists are separated by ``;``):

=========================  ==============================================================
column                     meaning
=========================  ==============================================================
report_id                  the referral's id (derived from the row's content when empty)
source                     who sent it (NCMEC, an ESP ...)
received_at                when it was received (ISO 8601; UTC when no zone is given)
incident_type              one of the eight CyberTipline incident types, spelled in full
incident_time              when the service detected the incident (ISO 8601)
platform                   the application or service where it happened
escalation_reason          the sender's reason for high priority (empty: not escalated)
report_annotations         e.g. ``sextortion;minorToMinorInteraction``
batched_reason             ``VIRAL_POTENTIAL_MEME`` for a report standing for many
country                    a country the sender already attributed (ISO 3166-1 alpha-2)
urls                       web page URLs
reported_service           the service of the reported account
reported_id                the service's identifier of the account
reported_screen_name       its screen name
reported_email             its e-mail addresses
reported_ip                an IP address of the account
reported_ip_event          Login, Registration, Purchase, Upload, Other or Unknown
reported_ip_time           when (ISO 8601)
reported_ip_proxy          true / false: the service flagged a possible proxy
file_id                    one file of the referral (use JSON Lines for more)
file_name                  its name
file_md5 / file_sha1 / file_sha256 / file_pdq    its hashes (hex)
file_viewed_by_service     true / false / empty (unknown)
file_publicly_available    true / false / empty (unknown)
file_annotations           e.g. ``possibleSelfProduction;liveStreaming``
file_industry_classification   A1, A2, B1 or B2
file_upload_ip             the IP address the file was uploaded from
=========================  ==============================================================

Columns not listed are kept in the referral's ``extra`` mapping under their own name.
"""

from __future__ import annotations

import csv
import io
import json
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from tipwatch.formats._records import ReaderItem, describe_validation_error
from tipwatch.formats.cybertip_xml import derive_report_id
from tipwatch.models import Flag, Referral

__all__ = [
    "CSV_COLUMNS",
    "MAX_RECORD_LINES",
    "REQUIRED_COLUMNS",
    "read_csv",
    "read_csv_stream",
]

REQUIRED_COLUMNS = ("incident_type", "incident_time")
CSV_COLUMNS = (
    "report_id",
    "source",
    "received_at",
    "incident_type",
    "incident_time",
    "platform",
    "escalation_reason",
    "report_annotations",
    "batched_reason",
    "country",
    "urls",
    "reported_service",
    "reported_id",
    "reported_screen_name",
    "reported_email",
    "reported_ip",
    "reported_ip_event",
    "reported_ip_time",
    "reported_ip_proxy",
    "file_id",
    "file_name",
    "file_md5",
    "file_sha1",
    "file_sha256",
    "file_pdq",
    "file_viewed_by_service",
    "file_publicly_available",
    "file_annotations",
    "file_industry_classification",
    "file_upload_ip",
)
_MAX_FIELD = 1_000_000
_MAX_LINE_CHARS = 4 * _MAX_FIELD
"""The longest physical line kept; the rest of a longer one is skipped and its row quarantined."""
MAX_RECORD_LINES = 100
"""The most lines one row may span (quoted line breaks); more means a quote was not closed."""


def _split(value: str | None) -> list[str]:
    if not value:
        return []
    return [v.strip() for v in value.split(";") if v.strip()]


def _opt_bool(value: str | None, column: str) -> bool | None:
    if value is None or not value.strip():
        return None
    low = value.strip().lower()
    if low in ("true", "yes", "1"):
        return True
    if low in ("false", "no", "0"):
        return False
    raise ValueError(f"column {column} must be true, false or empty, got {value[:40]!r}")


def _clean(row: Mapping[str, str | None]) -> dict[str, str]:
    return {k: v.strip() for k, v in row.items() if k and v is not None and v.strip()}


def row_to_fields(row: dict[str, str]) -> dict[str, Any]:
    """Map one CSV row (column -> text) to the fields of a :class:`Referral`."""
    g = row.get
    fields: dict[str, Any] = {
        "report_id": g("report_id"),
        "source": g("source"),
        "received_at": g("received_at"),
        "incident_type": g("incident_type"),
        "incident_time": g("incident_time"),
        "platform": g("platform"),
        "escalation_reason": g("escalation_reason"),
        "report_annotations": _split(g("report_annotations")),
        "batched_reason": g("batched_reason"),
    }
    if g("country"):
        fields["supplied_geolocation"] = {"country_code": g("country"), "source": "csv"}
    if g("urls"):
        fields["internet_details"] = [{"kind": "web_page", "urls": _split(g("urls"))}]
    party: dict[str, Any] = {}
    for col, key in (
        ("reported_service", "esp_service"),
        ("reported_id", "esp_identifier"),
        ("reported_screen_name", "screen_name"),
    ):
        if g(col):
            party[key] = g(col)
    if g("reported_email"):
        party["person"] = {"emails": [{"address": e} for e in _split(g("reported_email"))]}
    if g("reported_ip"):
        event: dict[str, Any] = {"ip_address": g("reported_ip")}
        if g("reported_ip_event"):
            event["event_name"] = g("reported_ip_event")
        if g("reported_ip_time"):
            event["date_time"] = g("reported_ip_time")
        proxy = _opt_bool(g("reported_ip_proxy"), "reported_ip_proxy")
        if proxy is not None:
            event["possible_proxy"] = proxy
        party["ip_events"] = [event]
    if party:
        fields["reported"] = [party]
    if g("file_id"):
        hashes = {k: g(f"file_{k}") for k in ("md5", "sha1", "sha256", "pdq") if g(f"file_{k}")}
        media: dict[str, Any] = {
            "file_id": g("file_id"),
            "file_name": g("file_name"),
            "hashes": hashes,
            "viewed_by_service": Flag.from_bool(
                _opt_bool(g("file_viewed_by_service"), "file_viewed_by_service")
            ).value,
            "publicly_available": Flag.from_bool(
                _opt_bool(g("file_publicly_available"), "file_publicly_available")
            ).value,
            "annotations": _split(g("file_annotations")),
            "industry_classification": g("file_industry_classification"),
        }
        if g("file_upload_ip"):
            media["upload_ip"] = {"ip_address": g("file_upload_ip"), "event_name": "Upload"}
        fields["files"] = [{k: v for k, v in media.items() if v is not None}]
    elif any(g(c) for c in CSV_COLUMNS if c.startswith("file_")):
        raise ValueError("file columns are filled but file_id is empty")
    extra = {k: v for k, v in row.items() if k not in CSV_COLUMNS}
    if extra:
        fields["extra"] = extra
    out = {k: v for k, v in fields.items() if v is not None and v != []}
    if not out.get("report_id"):
        out["report_id"] = derive_report_id({k: v for k, v in out.items() if k != "report_id"})
    return out


class _CountingReader(io.RawIOBase):
    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.bytes_read += n
        return n


class _RunawayRecord(Exception):
    """A record asked for more physical lines than one record may span."""


class _LineSource:
    """The physical lines of a CSV text for :mod:`csv`, with lines handed back to be read again.

    The csv module asks for lines until a record is complete, so an unclosed quote makes it
    swallow the lines after it. Keeping the lines of the record being read lets the reader
    quarantine only the line where the runaway field starts and read the others again as rows.
    """

    def __init__(self, text: IO[str], max_record_lines: int) -> None:
        self._text = text
        self._back: deque[str] = deque()
        self._max_record_lines = max_record_lines
        self.first_line = 1
        """Line number of the first line of the record being read."""
        self.taken: list[str] = []
        """The lines of the record being read."""
        self.overlong: set[int] = set()
        """Numbers of the lines cut at the longest a line may be."""

    def __iter__(self) -> _LineSource:
        return self

    def __next__(self) -> str:
        if len(self.taken) >= self._max_record_lines:
            raise _RunawayRecord
        if self._back:
            line = self._back.popleft()
        else:
            line = self._text.readline(_MAX_LINE_CHARS + 1)
            if not line:
                raise StopIteration
            if len(line) > _MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
                # Keep memory bounded: the rest of an overlong line is skipped, and the
                # record that holds it is quarantined.
                self.overlong.add(self.first_line + len(self.taken))
                while True:
                    rest = self._text.readline(_MAX_LINE_CHARS)
                    if not rest or rest.endswith(("\n", "\r")):
                        break
                line = line[:_MAX_LINE_CHARS] + "\n"
        self.taken.append(line)
        return line

    def next_record(self, consumed: int) -> None:
        """The record took its first ``consumed`` lines; the rest are read again."""
        self._back.extendleft(reversed(self.taken[consumed:]))
        self.first_line += consumed
        self.taken = []


def read_csv_stream(
    stream: IO[bytes],
    source: str,
    *,
    on_bytes: Callable[[int], None] | None = None,
    max_record_lines: int = MAX_RECORD_LINES,
) -> Iterator[ReaderItem]:
    """Read referrals from a flat CSV byte stream (see the module docstring for columns).

    A row that cannot be split into the header's columns is quarantined with its line number:
    a row with more or fewer fields than the header, a quote that is not closed where the row
    ends, and a record spanning more than ``max_record_lines`` lines. When such a record ran
    over several lines (an unclosed quote swallows the rows after it), only its first line is
    quarantined and the lines after it are read again as rows of their own.
    """
    counter = _CountingReader(stream)
    text = io.TextIOWrapper(
        io.BufferedReader(counter), encoding="utf-8-sig", errors="surrogateescape", newline=""
    )
    csv.field_size_limit(_MAX_FIELD)
    lines = _LineSource(text, max_record_lines)
    # strict: a quote followed by more text, or a file ending inside quotes, is an error
    # rather than silently glued into one field.
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, None)
    except (csv.Error, _RunawayRecord) as exc:
        reason = "a quoted name runs on" if isinstance(exc, _RunawayRecord) else str(exc)
        yield ReaderItem(
            source, 0, "line 1", error=f"CSV header cannot be read: {reason}", fatal=True
        )
        return
    if not header:
        yield ReaderItem(source, 0, "line 1", error="the file is empty: no CSV header", fatal=True)
        return
    lines.next_record(len(lines.taken))
    names = [h.strip() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        yield ReaderItem(
            source,
            0,
            "line 1",
            error=f"CSV header lacks required column(s): {', '.join(missing)} "
            f"(found: {', '.join(n for n in names if n) or 'none'})",
            fatal=True,
        )
        return
    single_line_columns = [i for i, n in enumerate(names) if n in CSV_COLUMNS]
    index = 0
    while True:
        problem: str | None = None
        try:
            values = next(reader)
        except StopIteration:
            break
        except _RunawayRecord:
            values = []
            problem = (
                f"a quoted field starting on this line runs on over {len(lines.taken) - 1} "
                "more lines (an unclosed quote)"
            )
        except csv.Error as exc:
            values = []
            problem = (
                f"a quoted field starting on this line runs on over {len(lines.taken) - 1} "
                f"more lines (an unclosed quote: {exc})"
                if len(lines.taken) > 1
                else f"CSV cannot be read: {exc}"
            )
        first, span = lines.first_line, len(lines.taken)
        location = f"line {first}"
        line_text = lines.taken[0] if lines.taken else ""
        if problem is None and not any(v.strip() for v in values):
            lines.next_record(span)
            continue  # a blank line
        if problem is None and len(values) != len(names):
            problem = f"row has {len(values)} fields, the header {len(names)}"
        if problem is None and span > 1:
            runs_on = next(
                (names[i] for i in single_line_columns if "\n" in values[i] or "\r" in values[i]),
                None,
            )
            if runs_on is not None:
                problem = f"column {runs_on} runs on over {span - 1} more lines (an unclosed quote)"
        cut = [n for n in range(first, first + span) if n in lines.overlong]
        if problem is None and cut:
            problem = f"line {cut[0]} is longer than {_MAX_LINE_CHARS:,} characters"
        item_index = index
        index += 1
        if on_bytes is not None and index % 256 == 0:
            on_bytes(counter.bytes_read)
        if problem is not None:
            if span > 1:
                # Only the line where the record went wrong is taken; the lines it swallowed
                # are read again as rows of their own.
                problem += "; the lines after it are read as rows of their own"
                lines.next_record(1)
            else:
                lines.next_record(span)
            yield ReaderItem(
                source, item_index, location, error=problem, raw=line_text.rstrip("\r\n")
            )
            continue
        lines.next_record(span)
        row = dict(zip(names, values, strict=True))
        raw = json.dumps({k: v for k, v in row.items() if k}, ensure_ascii=False)
        if any(any(0xDC80 <= ord(c) <= 0xDCFF for c in v) for v in values):
            fixed = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            yield ReaderItem(
                source, item_index, location, error="row is not valid UTF-8", raw=fixed
            )
            continue
        cleaned = _clean(row)
        try:
            fields = row_to_fields(cleaned)
            referral = Referral.from_data(fields)
        except ValidationError as exc:
            yield ReaderItem(
                source,
                item_index,
                location,
                error=describe_validation_error(exc),
                raw=raw,
                key=cleaned.get("report_id"),
            )
            continue
        except ValueError as exc:
            yield ReaderItem(
                source, item_index, location, error=str(exc), raw=raw, key=cleaned.get("report_id")
            )
            continue
        yield ReaderItem(source, item_index, location, referral=referral, key=referral.report_id)
    if on_bytes is not None:
        on_bytes(counter.bytes_read)


def read_csv(path: Path, *, on_bytes: Callable[[int], None] | None = None) -> Iterator[ReaderItem]:
    """Read one flat CSV file (see :func:`read_csv_stream`)."""
    with path.open("rb") as fh:
        yield from read_csv_stream(fh, str(path), on_bytes=on_bytes)
