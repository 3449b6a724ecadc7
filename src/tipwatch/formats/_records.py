"""What every reader yields: one :class:`ReaderItem` per record of the source, good or bad."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from tipwatch.models import MediaFile, Referral

__all__ = ["LooseFile", "ReaderItem", "describe_validation_error"]

MAX_RAW_CHARS = 1_000_000
"""The most of a bad record's text kept in quarantine (enough to fix and retry it)."""


@dataclass(slots=True)
class LooseFile:
    """A ``<fileDetails>`` document that arrived on its own; it belongs to ``report_id``."""

    report_id: str
    file: MediaFile


@dataclass(slots=True)
class ReaderItem:
    """One record read from a source.

    Exactly one of ``referral``, ``loose_file`` and ``error`` is set. ``index`` counts the
    records of the source from 0 in reading order (resuming an interrupted run skips by it);
    ``location`` is human-readable (``line 12``); ``raw`` is the record's own text, kept with
    an error so that it can be fixed and retried.
    """

    source: str
    index: int
    location: str
    referral: Referral | None = None
    loose_file: LooseFile | None = None
    error: str | None = None
    raw: str | None = None
    key: str | None = None
    fatal: bool = False
    """True when the reader could not go on past this point in the source."""

    def __post_init__(self) -> None:
        if self.raw is not None:
            self.raw = _printable(self.raw[:MAX_RAW_CHARS])
        if self.error is not None:
            self.error = _printable(self.error)
        if self.key is not None:
            self.key = _printable(self.key)


def _printable(text: str) -> str:
    """Text safe to store and print: undecodable bytes (kept as surrogates) and NUL characters
    (which PostgreSQL cannot store in text) become U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text


def describe_validation_error(exc: ValidationError, limit: int = 5) -> str:
    """Turn a Pydantic error into one readable line: ``field.path: problem (got 'value')``."""
    parts: list[str] = []
    errors = exc.errors(include_url=False)
    for err in errors[:limit]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "extra") or "record"
        msg = str(err.get("msg", "invalid"))
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        got = err.get("input")
        shown = (
            ""
            if isinstance(got, dict | list) or got is None or str(got)[:80] in msg
            else f" (got {str(got)[:80]!r})"
        )
        parts.append(f"{loc}: {msg}{shown}")
    if len(errors) > limit:
        parts.append(f"... and {len(errors) - limit} more problems")
    return "; ".join(parts)
