"""CyberTipline XML: ``<report>`` documents, ``<fileDetails>`` documents and tipwatch's envelope.

A source may hold:

* one ``<report>`` document, or several written one after another (a stream), each optionally
  with its own XML declaration;
* ``<fileDetails>`` documents on their own; each names its report by ``<reportId>`` and is
  merged into that referral (now, or when the report arrives later);
* tipwatch's **envelope**, which carries the id the schema's ``<report>`` lacks and keeps a
  report and its files together, so that many referrals fit in one file::

      <referrals>
        <referral id="9100001" source="NCMEC" received="2020-03-28T15:00:00Z">
          <report> ... </report>
          <fileDetails> ... </fileDetails>            (0..n; reportId may be left out)
          <geolocation countryCode="NL" region="North Holland" city="Amsterdam"
                       isp="Example ISP" source="NCMEC"/>      (optional, a supplied location)
        </referral>
      </referrals>

A report outside an envelope takes its id from the file name when the name is a number
(``9100001.xml``, first report of the file only) and otherwise a stable id derived from its
content (``auto-`` and 20 hex digits), so that ingesting the same file again is recognised.

The parser is hardened: documents are parsed inside one synthetic root element, where a DTD
(``<!DOCTYPE``, and with it any entity declaration) is not well-formed, so libxml2 itself
refuses it; entities are never resolved, nothing is fetched from the network, the parser bounds
nesting depth (256) and each record is bounded in bytes. Text that merely looks like markup (a
CDATA section quoting a web page's ``<!DOCTYPE html>``) is text and is read. UTF-8 is the default
encoding; a document starting with a UTF-16 byte-order mark is read as UTF-16. Reading is
streaming (``iterparse``): every record, and every top-level element that is not one, is
released once it has been yielded, so memory stays flat whatever the size of the source.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from lxml import etree
from pydantic import ValidationError

from tipwatch.errors import RecordError, UnsafeInputError
from tipwatch.formats._cybertip_elements import (
    derive_report_id,
    file_details_fields,
    local_name,
    report_fields,
)
from tipwatch.formats._records import LooseFile, ReaderItem, describe_validation_error
from tipwatch.models import MediaFile, Referral

__all__ = [
    "MAX_RECORD_BYTES",
    "derive_report_id",
    "read_xml",
    "read_xml_stream",
]

MAX_RECORD_BYTES = 64 * 1024 * 1024
"""Bytes one record may span; a larger one is refused as hostile or broken input."""
_RECORD_TAGS = frozenset({"report", "fileDetails", "referral", "referrals"})

_STREAM_TAG = "tipwatch-stream"
_CHUNK = 1 << 16
_DECL = re.compile(rb"<\?xml\s[^>]*\?>")
_WINDOW = 1 << 18
"""Bytes of recent parser input kept to name what the parser refused."""
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class _EncodingError(Exception):
    """The bytes are not valid in the encoding the byte-order mark names."""


class _GuardedStream(io.RawIOBase):
    """A byte stream that wraps concatenated documents in one root, for the parser.

    XML declarations after the first are removed (so a stream of documents parses as one),
    and the first one is kept ahead of the synthetic root so that a declared encoding holds.
    Inside that root a DTD is not well-formed, so the parser refuses it. A UTF-16 document
    (it starts with a byte-order mark) is handed on as UTF-8.
    """

    def __init__(self, raw: IO[bytes], max_record_bytes: int) -> None:
        super().__init__()
        self._raw = raw
        self._max_record_bytes = max_record_bytes
        self._pending = b""
        self._carry = b""
        self._started = False
        self._finished = False
        self._decoder: codecs.IncrementalDecoder | None = None
        self._raw_eof = False
        self.bytes_read = 0
        self.content_seen = False
        self.lines = 1
        self._record_start = 0
        self._window = b""
        self._window_line = 1

    def readable(self) -> bool:
        return True

    @property
    def at_end(self) -> bool:
        return self._finished and not self._pending

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        while not self._pending and not self._finished:
            self._fill()
        n = min(len(view), len(self._pending))
        handed = self._pending[:n]
        view[:n] = handed
        self.lines += handed.count(b"\n")
        self._pending = self._pending[n:]
        self._window += handed
        if len(self._window) > 2 * _WINDOW:
            dropped = len(self._window) - _WINDOW
            self._window_line += self._window.count(b"\n", 0, dropped)
            self._window = self._window[dropped:]
        return n

    def text_at(self, line: int, column: int) -> bytes:
        """Recent parser input around ``line`` and ``column`` (b"" when no longer kept)."""
        if line < self._window_line:
            return b""
        lines = self._window.split(b"\n")
        if line - self._window_line >= len(lines):
            return b""
        text = lines[line - self._window_line]
        return text[max(0, column - 16) : column + 16]

    def mark_record_end(self) -> None:
        """A record has ended: the size bound counts afresh from here."""
        self._record_start = self.bytes_read

    def _read(self) -> bytes:
        chunk = self._raw.read(_CHUNK)
        self.bytes_read += len(chunk)
        self._raw_eof = not chunk
        return self._transcode(chunk, final=not chunk)

    def _transcode(self, chunk: bytes, *, final: bool = False) -> bytes:
        if self._decoder is None:
            return chunk
        try:
            return self._decoder.decode(chunk, final=final).encode("utf-8")
        except UnicodeDecodeError as exc:
            raise _EncodingError(f"bytes that are not valid UTF-16: {exc.reason}") from None

    def _fill(self) -> None:
        if self.bytes_read - self._record_start > self._max_record_bytes:
            raise UnsafeInputError(
                f"refused: a single record, from byte {self._record_start:,}, spans more than "
                f"{self._max_record_bytes:,} bytes (or the file is not CyberTipline XML)"
            )
        prefix = b""
        if not self._started:
            self._started = True
            prefix, chunk = self._open()
        else:
            chunk = self._read()
        data = self._carry + chunk
        if self._raw_eof:
            data += self._transcode(b"", final=True)
            self._pending = prefix + _DECL.sub(b"", data) + f"</{_STREAM_TAG}>".encode()
            self._carry = b""
            self._finished = True
            return
        # Keep back a tail that may hold the start of a declaration cut by the chunk edge.
        cut = max(0, len(data) - 64)
        open_decl = data.rfind(b"<?", 0, cut)
        if open_decl != -1 and data.find(b"?>", open_decl) == -1:
            cut = open_decl
        self._pending = prefix + _DECL.sub(b"", data[:cut])
        self._carry = data[cut:]

    def _open(self) -> tuple[bytes, bytes]:
        # Read on until the first declaration (if any) is complete.
        chunk = b""
        while len(chunk) < 4096:
            more = self._raw.read(_CHUNK)
            if not more:
                self._raw_eof = True
                break
            self.bytes_read += len(more)
            chunk += more
        head = b""
        if chunk.startswith(_UTF16_BOMS):
            self._decoder = codecs.getincrementaldecoder("utf-16")()
            chunk = self._transcode(chunk)
            # Handed on as UTF-8: a declaration naming UTF-16 would now be false.
            chunk = _DECL.sub(b"", chunk.lstrip(), count=1)
        if chunk.startswith(b"\xef\xbb\xbf"):
            chunk = chunk[3:]
        stripped = chunk.lstrip()
        match = _DECL.match(stripped)
        if match:
            head = match.group(0)
            chunk = stripped[match.end() :]
        self.content_seen = bool(chunk.strip())
        return head + f"<{_STREAM_TAG}>".encode(), chunk


def _raw(el: Any) -> str:
    return etree.tostring(el, encoding="unicode")


_GEO_ATTRS = (
    ("country_code", "countryCode"),
    ("region", "region"),
    ("city", "city"),
    ("isp", "isp"),
    ("source", "source"),
)


class _Reader:
    """State of one pass over one source."""

    def __init__(self, source: str, name_id: str | None) -> None:
        self.source = source
        self.name_id = name_id
        self.index = 0

    def _next_index(self) -> int:
        i = self.index
        self.index += 1
        return i

    def report(self, el: Any, envelope: Any | None) -> ReaderItem:
        index = self._next_index()
        location = f"line {(envelope if envelope is not None else el).sourceline}"
        key: str | None = None
        try:
            fields = report_fields(el)
            files: list[dict[str, Any]] = []
            if envelope is not None:
                key = (envelope.get("id") or envelope.get("reportId") or "").strip() or None
                for fd in envelope:
                    if local_name(fd.tag) == "fileDetails":
                        rid, file_fields = file_details_fields(fd)
                        if rid is not None and key is not None and rid != key:
                            raise RecordError(
                                f"<fileDetails> line {fd.sourceline} names report {rid} "
                                f"inside the envelope of report {key}"
                            )
                        files.append(file_fields)
                    elif local_name(fd.tag) == "geolocation":
                        fields["supplied_geolocation"] = {
                            name: fd.get(attr) for name, attr in _GEO_ATTRS if fd.get(attr)
                        }
                if envelope.get("source"):
                    fields["source"] = envelope.get("source")
                if envelope.get("received"):
                    fields["received_at"] = envelope.get("received")
            elif self.name_id is not None:
                key = self.name_id
                self.name_id = None
            if key is None:
                key = derive_report_id(fields)
            fields["report_id"] = key
            fields["files"] = files
            referral = Referral.model_validate(fields)
        except (ValidationError, RecordError) as exc:
            record = envelope if envelope is not None else el
            return self._bad(index, location, exc, record, key)
        return ReaderItem(self.source, index, location, referral=referral, key=key)

    def _bad(
        self, index: int, location: str, exc: Exception, record: Any, key: str | None
    ) -> ReaderItem:
        """The item for a malformed record, keeping its text for the quarantine."""
        error = describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
        return ReaderItem(self.source, index, location, error=error, raw=_raw(record), key=key)

    def loose_file(self, el: Any) -> ReaderItem:
        index = self._next_index()
        location = f"line {el.sourceline}"
        report_id: str | None = None
        try:
            report_id, fields = file_details_fields(el)
            if report_id is None:
                raise RecordError("<fileDetails> outside an envelope needs a <reportId>")
            media = MediaFile.model_validate(fields)
        except (ValidationError, RecordError) as exc:
            return self._bad(index, location, exc, el, report_id)
        return ReaderItem(
            self.source, index, location, loose_file=LooseFile(report_id, media), key=report_id
        )

    def envelope(self, el: Any) -> ReaderItem:
        reports = [c for c in el if local_name(c.tag) == "report"]
        if len(reports) != 1:
            index = self._next_index()
            return ReaderItem(
                self.source,
                index,
                f"line {el.sourceline}",
                error=f"<referral> envelope must hold exactly one <report>, found {len(reports)}",
                raw=_raw(el),
                key=el.get("id"),
            )
        return self.report(reports[0], el)

    def unexpected(self, el: Any) -> ReaderItem:
        index = self._next_index()
        return ReaderItem(
            self.source,
            index,
            f"line {el.sourceline}",
            error=(
                f"unexpected element <{local_name(el.tag)}>: expected <report>, <fileDetails>, "
                "<referral> or <referrals> (is this a CyberTipline XML file?)"
            ),
            raw=None,
        )


def read_xml_stream(
    stream: IO[bytes],
    source: str,
    *,
    name_id: str | None = None,
    on_bytes: Callable[[int], None] | None = None,
    max_record_bytes: int | None = None,
) -> Iterator[ReaderItem]:
    """Read CyberTipline XML from a byte stream, one :class:`ReaderItem` per record.

    ``name_id`` is the report id taken from the file name, if any. ``on_bytes`` is called with
    the number of bytes read so far (for progress bars). Malformed records come back as error
    items; a document that cannot be parsed further ends the stream with a ``fatal`` item.
    A record longer than ``max_record_bytes`` (default :data:`MAX_RECORD_BYTES`) is refused.
    """
    guarded = _GuardedStream(stream, max_record_bytes or MAX_RECORD_BYTES)
    reader = _Reader(source, name_id)
    parser_args: dict[str, Any] = dict(
        # Every element's end, not only the records': a top-level element that is not a
        # record is reported and released as soon as it ends, not held until the next record.
        events=("end",),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    last_bytes = 0
    try:
        for _event, el in etree.iterparse(guarded, **parser_args):
            parent = el.getparent()
            if parent is None:
                # The end of the stream: whatever is left at the top is not a record.
                for child in el:
                    if local_name(child.tag) not in _RECORD_TAGS:
                        yield reader.unexpected(child)
                continue
            ptag = parent.tag
            if ptag != _STREAM_TAG:
                if local_name(ptag) != "referrals":
                    continue  # nested: inside a record, or inside something else
                grand = parent.getparent()
                if grand is None or grand.tag != _STREAM_TAG:
                    continue
            tag = local_name(el.tag)
            if tag not in _RECORD_TAGS:
                if type(el.tag) is str:
                    yield reader.unexpected(el)
                parent.remove(el)
                guarded.mark_record_end()
                continue
            if tag == "referrals":
                for child in el:
                    if local_name(child.tag) not in _RECORD_TAGS:
                        yield reader.unexpected(child)
                el.clear()
                continue
            while el.getprevious() is not None:
                sibling = parent[0]
                if local_name(sibling.tag) not in _RECORD_TAGS:
                    yield reader.unexpected(sibling)
                del parent[0]
            if tag == "report":
                item = reader.report(el, None)
            elif tag == "fileDetails":
                item = reader.loose_file(el)
            else:
                item = reader.envelope(el)
            el.clear()
            guarded.mark_record_end()
            if on_bytes is not None and guarded.bytes_read != last_bytes:
                last_bytes = guarded.bytes_read
                on_bytes(last_bytes)
            yield item
    except UnsafeInputError as exc:
        yield ReaderItem(source, reader.index, "document", error=str(exc), fatal=True)
    except _EncodingError as exc:
        yield ReaderItem(
            source, reader.index, "document", error=f"XML cannot be read: {exc}", fatal=True
        )
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else "?"
        message = str(exc.msg if hasattr(exc, "msg") else exc)
        refused = _refused_declaration(guarded, exc)
        mismatch = re.search(r"tag mismatch: (\S+) line (\d+) and " + _STREAM_TAG, message)
        if refused is not None:
            yield ReaderItem(source, reader.index, f"line {line}", error=refused, fatal=True)
            return
        if "Invalid bytes in character encoding" in message or "not proper UTF-8" in message:
            message = (
                "bytes that are not valid in the file's encoding (UTF-8 unless the XML "
                f"declaration names another): {message}"
            )
        elif mismatch:
            message = (
                f"the document ends before <{mismatch.group(1)}> (opened at line "
                f"{mismatch.group(2)}) is closed: the file is truncated"
            )
        elif _STREAM_TAG in message or (
            guarded.at_end and isinstance(exc.lineno, int) and exc.lineno >= guarded.lines
        ):
            message = f"the file ends in the middle of the XML: it is truncated ({message})"
        yield ReaderItem(
            source,
            reader.index,
            f"line {line}",
            error=f"XML cannot be read past line {line}: {message}",
            fatal=True,
        )
    else:
        if not guarded.content_seen:
            yield ReaderItem(
                source,
                reader.index,
                "document",
                error="the file is empty: it holds no XML",
                fatal=True,
            )
    if on_bytes is not None:
        on_bytes(guarded.bytes_read)


def _refused_declaration(guarded: _GuardedStream, exc: etree.XMLSyntaxError) -> str | None:
    """The refusal to report when the parser stopped at a DTD or entity declaration.

    The parser refuses these (they are not well-formed inside the synthetic root); this only
    names what it refused, from the input at the position it reports.
    """
    line, column = exc.position if exc.position else (0, 0)
    near = guarded.text_at(line, column).upper()
    for marker, kind in ((b"<!DOCTYPE", "DTD"), (b"<!ENTITY", "entity declaration")):
        if marker in near:
            return (
                f"refused: the document contains a {kind} ({marker.decode()}) at line {line}. "
                "tipwatch does not accept DTDs or entities in XML (they allow "
                "entity-expansion and external-entity attacks)"
            )
    return None


_NUMERIC_NAME = re.compile(r"^\d{1,19}$")


def read_xml(
    path: Path,
    *,
    on_bytes: Callable[[int], None] | None = None,
    max_record_bytes: int | None = None,
) -> Iterator[ReaderItem]:
    """Read one CyberTipline XML file (see :func:`read_xml_stream`)."""
    name_id = path.stem if _NUMERIC_NAME.match(path.stem) else None
    with path.open("rb") as fh:
        yield from read_xml_stream(
            fh, str(path), name_id=name_id, on_bytes=on_bytes, max_record_bytes=max_record_bytes
        )
