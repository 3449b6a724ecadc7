"""JSON Lines of the canonical referral form: one :class:`~tipwatch.models.Referral` per line.

Blank lines are skipped. A line that is not valid UTF-8, not JSON, not an object or not a
valid referral is reported on its own (with its line number); the other lines are read.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from tipwatch.formats._records import ReaderItem, describe_validation_error
from tipwatch.formats.cybertip_xml import derive_report_id
from tipwatch.models import Referral

__all__ = ["MAX_LINE_BYTES", "read_jsonl", "read_jsonl_stream", "referral_from_json", "write_jsonl"]

MAX_LINE_BYTES = 16 * 1024 * 1024
"""The longest line read; a longer one is reported and skipped."""


def referral_from_json(data: Any) -> Referral:
    """Validate one decoded JSON value as a referral (deriving an id when it has none)."""
    if not isinstance(data, dict):
        kind = type(data).__name__.replace("dict", "object").replace("list", "array")
        raise ValueError(f"expected a JSON object, got {kind}")
    if not data.get("report_id"):
        data = dict(data)
        data["report_id"] = derive_report_id({k: v for k, v in data.items() if k != "report_id"})
    return Referral.from_data(data)


def read_jsonl_stream(
    stream: IO[bytes],
    source: str,
    *,
    on_bytes: Callable[[int], None] | None = None,
    max_line_bytes: int | None = None,
) -> Iterator[ReaderItem]:
    """Read referrals from a JSON Lines byte stream; a line longer than ``max_line_bytes``
    (default :data:`MAX_LINE_BYTES`) is skipped as an error item."""
    limit = max_line_bytes or MAX_LINE_BYTES
    line_no = 0
    done = 0
    while True:
        line = stream.readline(limit + 1)
        if not line:
            break
        line_no += 1
        done += len(line)
        location = f"line {line_no}"
        index = line_no - 1
        if len(line) > limit and not line.endswith(b"\n"):
            skipped = len(line)
            while True:
                rest = stream.readline(limit)
                done += len(rest)
                skipped += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
            yield ReaderItem(
                source,
                index,
                location,
                error=f"line is {skipped:,} bytes long, more than the limit of {limit:,}; skipped",
                raw=None,
            )
            continue
        if on_bytes is not None and line_no % 256 == 0:
            on_bytes(done)
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield ReaderItem(
                source,
                index,
                location,
                error=f"not valid UTF-8 (byte 0x{line[exc.start]:02x} at column {exc.start + 1})",
                raw=line.decode("utf-8", errors="replace"),
            )
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            yield ReaderItem(
                source,
                index,
                location,
                error=f"not valid JSON: {exc.msg} at column {exc.colno}",
                raw=text,
            )
            continue
        except RecursionError:
            yield ReaderItem(
                source, index, location, error="JSON nested too deeply to read", raw=text
            )
            continue
        except ValueError:
            # Python refuses to convert integers of more than 4,300 digits (a denial-of-service
            # guard, sys.get_int_max_str_digits()): such a number is not read.
            yield ReaderItem(
                source,
                index,
                location,
                error=f"a number of more than {sys.get_int_max_str_digits():,} digits",
                raw=text,
            )
            continue
        key = data.get("report_id") if isinstance(data, dict) else None
        try:
            referral = referral_from_json(data)
        except ValidationError as exc:
            yield ReaderItem(
                source,
                index,
                location,
                error=describe_validation_error(exc),
                raw=text,
                key=str(key) if key else None,
            )
            continue
        except ValueError as exc:
            yield ReaderItem(source, index, location, error=str(exc), raw=text)
            continue
        yield ReaderItem(source, index, location, referral=referral, key=referral.report_id)
    if on_bytes is not None:
        on_bytes(done)


def read_jsonl(
    path: Path,
    *,
    on_bytes: Callable[[int], None] | None = None,
    max_line_bytes: int | None = None,
) -> Iterator[ReaderItem]:
    """Read one JSON Lines file (see :func:`read_jsonl_stream`)."""
    with path.open("rb") as fh:
        yield from read_jsonl_stream(
            fh, str(path), on_bytes=on_bytes, max_line_bytes=max_line_bytes
        )


def write_jsonl(referrals: Iterable[Referral], out: IO[str]) -> int:
    """Write referrals in the canonical form, one per line; returns how many were written."""
    n = 0
    for referral in referrals:
        out.write(referral.model_dump_json(exclude_defaults=True))
        out.write("\n")
        n += 1
    return n
