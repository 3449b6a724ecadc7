"""URL lists: the files a list is imported from, and the files filters load.

Readers (each yields one :class:`UrlRecord` per record, bad ones with ``error`` set):

* **plain**: one URL a line, optionally followed by whitespace and a scope
  (``http://a.invalid/x page``); ``#`` starts a comment line. In a delta file a line may start
  with ``+`` (add, the default) or ``-`` (remove).
* **CSV** with a header: ``url`` required; ``scope``, ``category``, ``source``, ``added``
  (a date), ``action`` (``add`` or ``remove``, for a delta) optional.
* **JSONL**: one object a line with the same names.

Writers (each takes the entries as ``(scope, key, category)``, keys as the list holds them):
a DNS response-policy zone (:func:`write_rpz`), a hosts file (:func:`write_hosts`), Squid ACL
files (:func:`write_squid`), the plain state (:func:`write_plain_state`), CSV
(:func:`write_url_csv`) and the splash page a filter shows (:func:`write_splash`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO

from tipwatch.errors import InputError
from tipwatch.formats.csv_safety import neutralise_cell, restore_cell

__all__ = [
    "URL_CSV_COLUMNS",
    "URL_LIST_FORMATS",
    "ExportCounts",
    "UrlRecord",
    "detect_url_format",
    "read_url_list",
    "write_hosts",
    "write_plain_state",
    "write_rpz",
    "write_splash",
    "write_squid",
    "write_url_csv",
]

URL_LIST_FORMATS = ("plain", "csv", "jsonl")
URL_CSV_COLUMNS = ("scope", "key", "url", "category", "list", "added_version")
_MAX_LINE = 1_000_000
_HOST_SCOPES = ("host", "host+subdomains")


@dataclass(slots=True)
class UrlRecord:
    """One record of a URL list file: where it is, what it says, or why it cannot be read."""

    line: int
    url: str = ""
    scope: str | None = None
    category: str | None = None
    source: str | None = None
    added: date | None = None
    remove: bool = False
    error: str | None = None


def detect_url_format(path: Path) -> str:
    """``csv``, ``jsonl`` or ``plain``, from the name, else the first line."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    try:
        with path.open("rb") as f:
            head = f.readline(4096).lstrip()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read: {exc}") from exc
    if head.startswith(b"{"):
        return "jsonl"
    if head.lower().startswith(b"url,") or b",url," in head.lower() or head.lower() == b"url":
        return "csv"
    return "plain"


def _date(text: str | None, line: int) -> tuple[date | None, str | None]:
    if not text:
        return None, None
    try:
        return date.fromisoformat(text.strip()[:10]), None
    except ValueError:
        return None, f"line {line}: added {text[:30]!r} is not a date (YYYY-MM-DD)"


def _action(text: str | None, line: int) -> tuple[bool, str | None]:
    value = (text or "add").strip().lower()
    if value in ("add", "+", ""):
        return False, None
    if value in ("remove", "-", "delete"):
        return True, None
    return False, f"line {line}: action {value[:20]!r} is neither add nor remove"


def _lines(path: Path) -> Iterator[tuple[int, str | None, str | None]]:
    """``(line number, text, error)`` per line; a line that is not UTF-8 or too long is an
    error, not the end of the file."""
    try:
        f = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot be read: {exc}") from exc
    with f:
        for number, raw in enumerate(f, 1):
            if len(raw) > _MAX_LINE:
                yield number, None, f"line {number}: longer than {_MAX_LINE:,} bytes"
                continue
            try:
                yield number, raw.decode("utf-8").rstrip("\r\n"), None
            except UnicodeDecodeError as exc:
                yield number, None, f"line {number}: not UTF-8 ({exc.reason} at byte {exc.start})"


def read_url_list(path: Path, fmt: str | None = None) -> Iterator[UrlRecord]:
    """The records of a URL list file in ``fmt`` (detected when ``None``)."""
    fmt = fmt or detect_url_format(path)
    if fmt == "plain":
        yield from _read_plain(path)
    elif fmt == "csv":
        yield from _read_csv(path)
    elif fmt == "jsonl":
        yield from _read_jsonl(path)
    else:
        raise InputError(f"unknown URL list format {fmt!r}: plain, csv or jsonl")


def _read_plain(path: Path) -> Iterator[UrlRecord]:
    for number, text, error in _lines(path):
        if error is not None or text is None:
            yield UrlRecord(number, error=error)
            continue
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        remove = False
        if stripped[0] in "+-" and len(stripped) > 1 and stripped[1] in " \t":
            remove = stripped[0] == "-"
            stripped = stripped[1:].strip()
        fields = stripped.split()
        if len(fields) > 2:
            yield UrlRecord(
                number,
                error=f"line {number}: {len(fields)} fields; a line is a URL and an optional scope",
            )
            continue
        yield UrlRecord(number, fields[0], fields[1] if len(fields) == 2 else None, remove=remove)


def _record(number: int, row: dict[str, str | None]) -> UrlRecord:
    url = (row.get("url") or "").strip()
    if not url:
        return UrlRecord(number, error=f"line {number}: no url")
    added, bad_date = _date(row.get("added"), number)
    remove, bad_action = _action(row.get("action"), number)
    if bad_date or bad_action:
        return UrlRecord(number, error=bad_date or bad_action)
    return UrlRecord(
        number,
        url,
        (row.get("scope") or "").strip() or None,
        (row.get("category") or "").strip() or None,
        (row.get("source") or "").strip() or None,
        added,
        remove,
    )


def _read_csv(path: Path) -> Iterator[UrlRecord]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot be read: {exc}") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    if "url" not in header:
        raise InputError(f"{path}: a URL list CSV needs a url column (found {header[:8]})")
    reader.fieldnames = header
    try:
        for row in reader:
            number = reader.line_num
            if None in row:
                yield UrlRecord(number, error=f"line {number}: more cells than the header has")
                continue
            cells = {k: restore_cell(v) if v else v for k, v in row.items()}
            yield _record(number, cells)
    except csv.Error as exc:
        yield UrlRecord(reader.line_num, error=f"line {reader.line_num}: {exc}")


def _read_jsonl(path: Path) -> Iterator[UrlRecord]:
    for number, text, error in _lines(path):
        if error is not None or text is None:
            yield UrlRecord(number, error=error)
            continue
        if not text.strip():
            continue
        try:
            doc = json.loads(text)
        except ValueError as exc:
            yield UrlRecord(number, error=f"line {number}: not JSON ({exc})")
            continue
        if not isinstance(doc, dict):
            yield UrlRecord(number, error=f"line {number}: not a JSON object")
            continue
        row = {k: (None if v is None else str(v)) for k, v in doc.items()}
        yield _record(number, row)


# -- writers --------------------------------------------------------------------------------


@dataclass
class ExportCounts:
    """What an export wrote and what it had to leave out, with why."""

    written: int = 0
    left_out_pages: int = 0
    """Page, page+query and folder entries: a name-based filter cannot act on them."""
    left_out_other: int = 0
    """Host entries the format cannot hold (IP addresses, names that are not DNS names)."""
    notes: list[str] | None = None


_DNS_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


def _dns_name(host: str) -> bool:
    labels = host.split(".")
    return len(host) <= 253 and all(_DNS_LABEL.match(label) for label in labels)


def _is_ip(host: str) -> bool:
    return host.startswith("[") or bool(re.fullmatch(r"\d+\.\d+\.\d+\.\d+", host))


def write_rpz(
    out: IO[str],
    entries: Iterable[tuple[str, str, str | None]],
    *,
    zone: str,
    serial: int,
    header: Iterable[str] = (),
) -> ExportCounts:
    """A response-policy zone (RPZ) in master-file format: ``NAME CNAME .`` (NXDOMAIN) for
    each host entry, and ``*.NAME`` too for host+subdomains. Page entries cannot be enforced
    by name; they are counted as left out and said so in the zone's comments."""
    counts = ExportCounts()
    origin = zone.rstrip(".") + "."
    body = io.StringIO()
    for scope, key, _category in entries:
        if scope not in _HOST_SCOPES:
            counts.left_out_pages += 1
            continue
        if _is_ip(key) or not _dns_name(key):
            counts.left_out_other += 1
            continue
        body.write(f"{key} CNAME .\n")
        if scope == "host+subdomains":
            body.write(f"*.{key} CNAME .\n")
        counts.written += 1
    for line in header:
        out.write(f"; {line}\n")
    out.write(
        f"; {counts.written} host entries; {counts.left_out_pages} page, page+query and folder "
        "entries left out (a DNS filter acts on names, not pages); "
        f"{counts.left_out_other} hosts left out that are IP addresses or not DNS names\n"
    )
    out.write(f"$TTL 300\n$ORIGIN {origin}\n")
    out.write(f"@ SOA localhost. hostmaster.localhost. {serial} 3600 600 86400 300\n")
    out.write("@ NS localhost.\n")
    out.write(body.getvalue())
    return counts


def write_hosts(
    out: IO[str],
    entries: Iterable[tuple[str, str, str | None]],
    *,
    address: str = "0.0.0.0",
    header: Iterable[str] = (),
) -> ExportCounts:
    """A hosts file: ``ADDRESS NAME`` per host entry. A hosts file cannot name subdomains:
    a host+subdomains entry blocks the name itself only (counted in the notes)."""
    counts = ExportCounts(notes=[])
    lines = []
    widened = 0
    for scope, key, _category in entries:
        if scope not in _HOST_SCOPES:
            counts.left_out_pages += 1
            continue
        if _is_ip(key) or not _dns_name(key):
            counts.left_out_other += 1
            continue
        widened += scope == "host+subdomains"
        lines.append(f"{address} {key}\n")
        counts.written += 1
    for line in header:
        out.write(f"# {line}\n")
    out.write(
        f"# {counts.written} hosts; {counts.left_out_pages} page entries left out; "
        f"{widened} host+subdomains entries cover the name itself only\n"
    )
    out.writelines(lines)
    assert counts.notes is not None
    counts.notes.append(f"{widened} host+subdomains entries cover the name itself only")
    return counts


def _squid_regex(scope: str, key: str) -> str:
    host, _, rest = key.partition("/")
    path = "/" + rest
    anchored = "^https?://" + re.escape(host) + "(:[0-9]+)?" + re.escape(path)
    if scope == "page":
        return anchored + r"(\?.*)?$"
    if scope == "page+query":
        return anchored + "$"
    return anchored  # folder: every page under it


def write_squid(
    folder: Path, entries: Iterable[tuple[str, str, str | None]], *, header: Iterable[str] = ()
) -> ExportCounts:
    """Squid ACL files in ``folder``: ``blocked_domains.txt`` (``dstdomain``: ``name`` for a
    host, ``.name`` for host+subdomains), ``blocked_urls.txt`` (``url_regex``, one anchored
    expression per page, page+query and folder entry) and ``tipwatch-acl.conf``, the lines
    that load them."""
    folder.mkdir(parents=True, exist_ok=True)
    counts = ExportCounts()
    domains: list[str] = []
    urls: list[str] = []
    for scope, key, _category in entries:
        if scope in _HOST_SCOPES:
            if key.startswith("["):
                counts.left_out_other += 1
                continue
            domains.append(("." if scope == "host+subdomains" else "") + key)
        else:
            urls.append(_squid_regex(scope, key))
        counts.written += 1
    head = "".join(f"# {line}\n" for line in header)
    (folder / "blocked_domains.txt").write_text(
        head + "".join(d + "\n" for d in domains), encoding="utf-8"
    )
    (folder / "blocked_urls.txt").write_text(
        head + "".join(u + "\n" for u in urls), encoding="utf-8"
    )
    (folder / "tipwatch-acl.conf").write_text(
        head
        + f'acl tipwatch_hosts dstdomain "{folder.resolve() / "blocked_domains.txt"}"\n'
        + f'acl tipwatch_pages url_regex -i "{folder.resolve() / "blocked_urls.txt"}"\n'
        + "http_access deny tipwatch_hosts\nhttp_access deny tipwatch_pages\n",
        encoding="utf-8",
    )
    return counts


def write_plain_state(out: IO[str], lines: Iterable[str]) -> int:
    """The state lines (``scope<TAB>key``, already sorted), each ending in a newline: the
    bytes whose SHA-256 is the version's state hash."""
    n = 0
    for line in lines:
        out.write(line + "\n")
        n += 1
    return n


def write_url_csv(out: IO[str], rows: Iterable[tuple[str, str, str | None, str, str]]) -> int:
    """CSV of ``(scope, key, category, list, added_version)`` rows, with the canonical URL."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(URL_CSV_COLUMNS)
    n = 0
    for scope, key, category, list_name, added in rows:
        url = "" if scope in _HOST_SCOPES else "http://" + key
        writer.writerow(
            [neutralise_cell(c) for c in (scope, key, url, category or "", list_name, added)]
        )
        n += 1
    return n


def write_splash(out: IO[str], *, message: str, helpline: str, helpline_url: str) -> None:
    """The page a filter shows in place of a blocked one: the deterrence message and the
    helpline, self-contained (no script, no outside resource)."""
    from html import escape

    link = (
        f'<p><a href="{escape(helpline_url, quote=True)}">{escape(helpline_url)}</a></p>'
        if helpline_url
        else ""
    )
    out.write(
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Access blocked</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;"
        "padding:0 1em;line-height:1.5;color:#222}h1{font-size:1.6em}</style></head>\n"
        "<body><main><h1>Access blocked</h1>\n"
        f"<p>{escape(message)}</p>\n"
        f"<p>{escape(helpline)}</p>\n{link}\n</main></body></html>\n"
    )
