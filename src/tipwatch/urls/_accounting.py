"""Blocked-access accounting: filter logs in, four daily counts per cell out.

A cell is a UTC day, a country, a provider, a method (http-proxy, dns, sni, other), the list
version the log was checked against and the mode (``blocked``, or ``log-only`` for a policy
that only logs). For each cell (definitions in ``docs/urls.md``):

* ``blocked_requests``: log lines that were blocked and match an entry of the list;
* ``blocked_attempts``: the same, but requests by one client for one entry within the window
  (default 30 s) from the first of them count once;
* ``blocked_pairs``: distinct (client, entry) pairs;
* ``blocked_clients``: distinct clients.

Clients are pseudonymised with a keyed hash (HMAC-SHA-256) as each line is read; the raw
address is used only to look up its country and is never kept. A line that cannot be read
(torn, binary, another format, a time that jumps back or lies outside any log's span) is
reported with its file and line and the rest is read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from tipwatch.countries import is_country, normalise_country
from tipwatch.errors import ConfigError, InputError
from tipwatch.formats.access_logs import (
    LOG_FORMATS,
    METHOD_OF_FORMAT,
    LogParser,
    csv_parser,
    detect_log_format,
    parser_for,
)
from tipwatch.pseudonyms import keyed_hex
from tipwatch.store.signals import SignalValue
from tipwatch.urls._canonical import MAX_URL_LENGTH, URLError, canonical_parts
from tipwatch.urls._list import UrlIndex

__all__ = [
    "BLOCKED_METRICS",
    "METHODS",
    "UNKNOWN_COUNTRY",
    "BlockedAccounting",
    "CellCounts",
    "pseudonymise",
]

BLOCKED_METRICS = ("blocked_requests", "blocked_attempts", "blocked_pairs", "blocked_clients")
LIST_SIZE_METRIC = "blocked_list_size"
METHODS = ("http-proxy", "dns", "sni", "other")
UNKNOWN_COUNTRY = "ZZ"
"""The country of a client no GeoIP database or column places (ISO's code for unknown)."""
_EARLIEST = datetime(1990, 1, 1, tzinfo=UTC).timestamp()
_MAX_PROBLEMS = 1000
_PLAIN_HOST = re.compile(r"[a-z0-9_.-]*\.[a-z_][a-z0-9_-]*\Z")
"""With no ``..`` in it: a host already canonical whose last label starts with a letter (so
it is no IPv4 address in any encoding): the two-label prefilter can be trusted for it; any
other host is canonicalised before it is looked up."""


def _country(text: str) -> tuple[str | None, str | None]:
    code, why = normalise_country(text)
    if code is not None and not is_country(code):
        return None, f"unknown country code {text[:20]!r}"
    return code, why


def pseudonymise(key: bytes, client: str) -> str:
    """The keyed hash that stands for a client: the first 16 bytes of HMAC-SHA-256, hex."""
    return keyed_hex(key, client)[:32]


@dataclass
class CellCounts:
    requests: int = 0
    attempts: int = 0
    pairs: set[tuple[str, str]] = field(default_factory=set)
    clients: set[str] = field(default_factory=set)


Cell = tuple[date, str, str, str, str]
"""(day, country, provider, method, mode)"""


@dataclass
class BlockedAccounting:
    """Reads filter logs against one list version and counts per cell.

    ``country_of`` gives the country of a client address (a GeoIP lookup) or ``None``;
    ``country`` is the country of every client when the provider serves one country."""

    index: UrlIndex
    list_name: str
    list_version: str
    list_size: int
    key: bytes
    provider: str = "unknown"
    country: str | None = None
    country_of: Callable[[str], str | None] | None = None
    window: float = 30.0
    clock_tolerance: float = 300.0
    max_url_length: int = MAX_URL_LENGTH
    now: float = field(default_factory=lambda: datetime.now(UTC).timestamp())
    files: int = 0
    lines: int = 0
    requests: int = 0
    matched: int = 0
    blocked_not_listed: int = 0
    listed_not_blocked: int = 0
    ignored: int = 0
    errors: int = 0
    problems: list[str] = field(default_factory=list)
    cells: dict[Cell, CellCounts] = field(default_factory=dict)
    _attempts: dict[tuple[str, str, str, str, str], float] = field(default_factory=dict)
    _days: dict[int, date] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.key:
            raise ConfigError(
                "blocked-access accounting needs the pseudonym_key setting: clients are "
                "pseudonymised with it and never stored",
                hint="set pseudonym_key (TIPWATCH_PSEUDONYM_KEY) to a long random secret",
            )
        if self.window <= 0:
            raise InputError(f"the attempt window must be positive, not {self.window}")
        if self.country is not None:
            code, why = _country(self.country)
            if code is None:
                raise InputError(f"country {self.country!r}: {why}")
            self.country = code

    def _problem(self, where: str, message: str) -> None:
        self.errors += 1
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(f"{where}: {message}")

    def read_file(self, path: Path, fmt: str | None = None) -> str:
        """Count the lines of one log file; returns the format read."""
        try:
            f = path.open(encoding="utf-8", errors="replace", newline="")
        except OSError as exc:
            raise InputError(f"{path}: cannot be read: {exc}") from exc
        self.files += 1
        with f:
            head: list[str] = []
            for line in f:
                head.append(line)
                if len(head) >= 20:
                    break
            fmt = fmt or detect_log_format(head)
            if fmt is None:
                raise InputError(
                    f"{path}: not a log format tipwatch reads ({', '.join(LOG_FORMATS)})",
                    hint="name the format",
                )
            if fmt not in LOG_FORMATS:
                raise InputError(f"unknown log format {fmt!r}: {', '.join(LOG_FORMATS)}")
            number = 0
            if fmt == "csv":
                if not head:
                    return fmt
                made = csv_parser(head[0])
                if isinstance(made, str):
                    raise InputError(f"{path}: {made}")
                parse: LogParser = made
                number = 1
                head = head[1:]
            else:
                parse = parser_for(fmt)
            self._read_lines(
                path, parse, METHOD_OF_FORMAT[fmt], number, head, f, squid=fmt == "squid"
            )
        return fmt

    def _read_lines(
        self,
        path: Path,
        parse: LogParser,
        default_method: str,
        number: int,
        head: list[str],
        rest: Any,
        *,
        squid: bool = False,
    ) -> None:
        """Read the lines. With ``squid``, a line of Squid's native log whose http URL's host
        the prefilter rules out is checked (fields, result code, time, clock) and counted
        here, without the general parse: most lines of a proxy's log are such lines. Any
        other line takes the general way, which reads it again and reports its problems."""
        import itertools

        index = self.index
        tails = index._tails
        singles = index._single_labels
        plain = _PLAIN_HOST.match
        last = -1.0
        tolerance = self.clock_tolerance
        latest = self.now + 86400
        lines = requests = skipped_blocked = 0
        try:
            for line in itertools.chain(head, rest):
                number += 1
                lines += 1
                if "\x00" in line or "\ufffd" in line:
                    self._problem(f"{path}:{number}", "binary data (not a text log line)")
                    continue
                if squid:
                    f = line.split(None, 7)
                    if len(f) >= 7 and "/" in f[3] and f[6].startswith("http://"):
                        url = f[6]
                        end = url.find("/", 7)
                        host = url[7:end] if end > 0 else url[7:]
                        if plain(host) and ".." not in host:
                            dot = host.rfind(".")
                            tail = host[host.rfind(".", 0, dot) + 1 :]
                            if tail not in tails and (
                                not singles or host[dot + 1 :] not in singles
                            ):
                                try:
                                    t = float(f[0])
                                except ValueError:
                                    t = -1.0
                                if _EARLIEST <= t <= latest and t >= last - tolerance:
                                    if t > last:
                                        last = t
                                    requests += 1
                                    if f[3].startswith("TCP_DENIED"):
                                        skipped_blocked += 1
                                    continue
                line = line.rstrip("\r\n")
                if not line or line.isspace():
                    continue
                hit = parse(line)
                if hit is None:
                    self.ignored += 1
                    continue
                if isinstance(hit, str):
                    self._problem(f"{path}:{number}", hit)
                    continue
                t = hit[0]
                if not _EARLIEST <= t <= latest:
                    self._problem(f"{path}:{number}", f"time {t:.0f} lies outside 1990 to tomorrow")
                    continue
                if t < last - tolerance:
                    self._problem(
                        f"{path}:{number}",
                        f"time goes back {last - t:.0f} s from the line before (a clock jump; "
                        f"at most {tolerance:.0f} s is read as late logging)",
                    )
                    continue
                if t > last:
                    last = t
                requests += 1
                host = hit[2]
                if plain(host) and ".." not in host:
                    # The two-label prefilter (UrlIndex.may_match_host), inlined.
                    dot = host.rfind(".")
                    tail = host[host.rfind(".", 0, dot) + 1 :] if dot >= 0 else host
                    if tail not in tails and (not singles or host[dot + 1 :] not in singles):
                        if hit[4] == "blocked":
                            skipped_blocked += 1
                        continue
                self._count(path, number, hit, default_method)
        finally:
            self.lines += lines
            self.requests += requests
            self.blocked_not_listed += skipped_blocked

    def _count(self, path: Path, number: int, hit: Any, default_method: str) -> None:
        t, client, host, url, mode, method, provider, country = hit
        try:
            if url is not None:
                matches = self.index.lookup(canonical_parts(url, max_length=self.max_url_length))
            else:
                parts = canonical_parts(f"http://{host}/", max_length=self.max_url_length)
                matches = self.index.lookup_host(parts.host, ip=parts.ip)
        except URLError as exc:
            self._problem(f"{path}:{number}", f"{exc} ({(url or host)[:80]!r})")
            return
        if not matches:
            if mode == "blocked":
                self.blocked_not_listed += 1
            return
        if mode == "allowed":
            self.listed_not_blocked += 1
            return
        method = method or default_method
        if method not in METHODS:
            self._problem(f"{path}:{number}", f"method {method[:20]!r} is not {', '.join(METHODS)}")
            return
        code = None
        if country:
            code, why = _country(country)
            if code is None:
                self._problem(f"{path}:{number}", f"country {country[:10]!r}: {why}")
                return
        code = code or self.country
        if code is None and self.country_of is not None:
            code = self.country_of(client)
        code = code or UNKNOWN_COUNTRY
        self.matched += 1
        who = pseudonymise(self.key, client)
        first = matches[0]
        entry = f"{first.scope.value}\t{first.key}"
        day_number = int(t // 86400)
        day = self._days.get(day_number)
        if day is None:
            day = self._days[day_number] = datetime.fromtimestamp(t, UTC).date()
        provider = provider or self.provider
        cell = (day, code, provider, method, mode)
        counts = self.cells.get(cell)
        if counts is None:
            counts = self.cells[cell] = CellCounts()
        counts.requests += 1
        counts.pairs.add((who, entry))
        counts.clients.add(who)
        attempt_key = (who, entry, provider, method, mode)
        start = self._attempts.get(attempt_key)
        if start is None or abs(t - start) >= self.window:
            self._attempts[attempt_key] = t
            counts.attempts += 1

    def rows(self) -> list[dict[str, Any]]:
        """One row per cell with its four counts, in order."""
        return [
            {
                "day": day,
                "country": country,
                "provider": provider,
                "method": method,
                "mode": mode,
                "list": self.list_name,
                "list_version": self.list_version,
                "requests": c.requests,
                "attempts": c.attempts,
                "pairs": len(c.pairs),
                "clients": len(c.clients),
                "list_size": self.list_size,
            }
            for (day, country, provider, method, mode), c in sorted(self.cells.items())
        ]

    def signal_values(self, source: str | None = None) -> list[SignalValue]:
        """The counts as signal values (feed ``blocked``), with the list's size each day."""
        out: list[SignalValue] = []
        sizes: set[tuple[date, str, str, str]] = set()
        for (day, country, provider, method, mode), c in self.cells.items():
            dims = {
                "provider": provider,
                "method": method,
                "list_name": self.list_name,
                "list_version": self.list_version,
                "mode": mode,
            }
            for metric, value in zip(
                BLOCKED_METRICS,
                (c.requests, c.attempts, len(c.pairs), len(c.clients)),
                strict=True,
            ):
                out.append(
                    SignalValue("blocked", country, metric, "day", day, float(value), dims, source)
                )
            sizes.add((day, country, provider, method))
        for day, country, provider, method in sorted(sizes):
            dims = {
                "provider": provider,
                "method": method,
                "list_name": self.list_name,
                "list_version": self.list_version,
            }
            out.append(
                SignalValue(
                    "blocked",
                    country,
                    LIST_SIZE_METRIC,
                    "day",
                    day,
                    float(self.list_size),
                    dims,
                    source,
                )
            )
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "list": self.list_name,
            "list_version": self.list_version,
            "files": self.files,
            "lines": self.lines,
            "requests": self.requests,
            "matched": self.matched,
            "blocked_not_listed": self.blocked_not_listed,
            "listed_not_blocked": self.listed_not_blocked,
            "ignored": self.ignored,
            "errors": self.errors,
            "problems": list(self.problems),
            "cells": self.rows(),
        }
