"""Filter logs: what a web proxy or a resolver wrote when it blocked (or would have blocked)
a request. Each reader turns one line into a :data:`LogHit`, ``None`` (a line of the log that
is no request: start-up messages, other categories) or an error message.

Formats (``docs/urls.md`` shows a line of each):

* ``squid``: Squid's native access log. Blocked: result code ``TCP_DENIED`` (any status).
  ``CONNECT host:443`` carries the host only.
* ``squid-combined``: Squid's ``logformat combined`` (Apache style); blocked: status 403
  (and ``TCP_DENIED`` where the line ends with Squid's result code).
* ``bind``: BIND's ``rpz`` category with a printed time (``print-time yes`` or
  ``iso8601``/``iso8601-utc``); ``disabled`` policies (log only) are read as not blocked.
* ``unbound``: Unbound's ``rpz: applied`` lines (``rpz-log: yes``) with the default
  ``[epoch]`` time: ``[T] unbound[P:T] info: rpz: applied [ZONE] RULE ACTION CLIENT@PORT
  QNAME TYPE CLASS``; an action of ``rpz-passthru`` or ``disabled`` is read as log-only.
* ``csv``: a header naming ``time`` (ISO 8601 or seconds since 1970), ``client``, and
  ``url`` or ``host``; optional ``provider``, ``country``, ``method`` (http-proxy, dns, sni,
  other), ``action`` (blocked, allowed or log-only).

A hit is ``(time, client, host, url, mode, method, provider, country)``: seconds since 1970
(UTC), the client address as written, the host (lower-case from a name, as written from a
URL: canonicalise it before comparing), the URL (``None`` when only the
host is known), ``blocked``/``log-only``/``allowed``, and the CSV's own columns (else
``None``).
"""

from __future__ import annotations

import csv
import re
from calendar import timegm
from collections.abc import Callable
from datetime import datetime

__all__ = [
    "LOG_FORMATS",
    "METHOD_OF_FORMAT",
    "LogHit",
    "LogParser",
    "csv_parser",
    "detect_log_format",
    "parser_for",
]

LogHit = tuple[float, str, str, str | None, str, str | None, str | None, str | None]
LogParser = Callable[[str], "LogHit | str | None"]

LOG_FORMATS = ("squid", "squid-combined", "bind", "unbound", "csv")
METHOD_OF_FORMAT = {
    "squid": "http-proxy",
    "squid-combined": "http-proxy",
    "bind": "dns",
    "unbound": "dns",
    "csv": "other",
}
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}


_URL_AUTHORITY = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)")


def _host_of_url(url: str) -> str:
    if url.startswith(("http://", "https://")):
        start = 7 if url[4] == ":" else 8
        end = url.find("/", start)
        authority = url[start:] if end < 0 else url[start:end]
        if (
            "?" not in authority
            and ":" not in authority
            and "@" not in authority
            and "#" not in authority
        ):
            # Upper case and stray dots stay: a reader canonicalises such a host in full.
            return authority
    m = _URL_AUTHORITY.match(url)
    authority = m.group(1) if m is not None else url.split("/", 1)[0]
    if "@" in authority:
        authority = authority.rpartition("@")[2]
    if authority[:1] == "[":
        return authority[: authority.find("]") + 1].lower()
    return authority.partition(":")[0].lower().strip(".")


def _squid(line: str) -> LogHit | str | None:
    f = line.split(None, 7)
    if len(f) < 7:
        return f"{len(f)} fields; a Squid access log line has at least 10 (torn line?)"
    try:
        t = float(f[0])
    except ValueError:
        return f"time {f[0][:30]!r} is not seconds since 1970"
    code = f[3]
    if "/" not in code:
        return f"result code {code[:30]!r} is not CODE/STATUS"
    mode = "blocked" if code.startswith("TCP_DENIED") else "allowed"
    url = f[6]
    if url.startswith("error:") or f[5] == "-":
        return None  # a transaction that carried no request (error:transaction-end-...)
    if f[5] == "CONNECT":
        host = url.rpartition(":")[0] if url.count(":") == 1 or url.startswith("[") else url
        return (t, f[2], host.lower(), None, mode, None, None, None)
    # The host of an http URL without port, user or query in its authority (most lines),
    # else the general reading.
    if url.startswith("http://"):
        end = url.find("/", 7)
        host = url[7:end] if end > 0 else url[7:]
        if ":" in host or "@" in host or "?" in host or "#" in host:
            host = _host_of_url(url)
    else:
        host = _host_of_url(url)
    return (t, f[2], host, url, mode, None, None, None)


_COMBINED = re.compile(
    r'^(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) (?P<url>\S+)(?: [^"]*)?" '
    r"(?P<status>\d{3}) \S+(?P<rest>.*)$"
)


def _clf_time(text: str) -> float:
    # 30/Nov/2026:08:00:00 +0000
    day, month, rest = text.split("/", 2)
    year, hh, mm, ss_zone = rest.split(":", 3)
    ss, _, zone = ss_zone.partition(" ")
    stamp = timegm((int(year), _MONTHS[month], int(day), int(hh), int(mm), int(ss), 0, 0, 0))
    if zone:
        sign = -1 if zone[0] == "-" else 1
        offset = sign * (int(zone[1:3]) * 3600 + int(zone[3:5]) * 60)
        stamp -= offset
    return float(stamp)


def _squid_combined(line: str) -> LogHit | str | None:
    m = _COMBINED.match(line)
    if m is None:
        return 'not a combined log line (client ident user [time] "request" status bytes)'
    try:
        t = _clf_time(m.group("time"))
    except (ValueError, KeyError, IndexError):
        return f"time {m.group('time')[:40]!r} is not day/Mon/year:hh:mm:ss zone"
    rest = m.group("rest")
    denied = m.group("status") == "403" and ("TCP_DENIED" in rest or "TCP_" not in rest)
    mode = "blocked" if denied else "allowed"
    url = m.group("url")
    if m.group("method") == "CONNECT":
        return (t, m.group("client"), url.rpartition(":")[0].lower(), None, mode, None, None, None)
    return (t, m.group("client"), _host_of_url(url), url, mode, None, None, None)


_BIND = re.compile(
    r"client (?:@0x[0-9a-fA-F]+ )?(?P<ip>[0-9a-fA-F.:]+)#\d+ \((?P<name>[^)]*)\): "
    r"(?:view [^:]+: )?(?P<disabled>disabled )?rpz (?P<trigger>\S+) (?P<action>\S+) rewrite"
)
_BIND_TIME = re.compile(
    r"^(?:(?P<d>\d{2})-(?P<mon>[A-Z][a-z]{2})-(?P<y>\d{4}) (?P<clock>\d{2}:\d{2}:\d{2})"
    r"|(?P<iso>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.\d+)?(?P<zone>Z|[+-]\d{2}:?\d{2})?)"
)


def _bind(line: str) -> LogHit | str | None:
    tm = _BIND_TIME.match(line)
    if tm is None:
        return "no time at the start (BIND logs need print-time yes or iso8601)"
    if "rpz" not in line:
        return None
    m = _BIND.search(line)
    if m is None:
        if " rpz " in line and "rewrite" in line:
            return "an rpz line whose client and name cannot be read"
        return None  # other rpz-category messages (zone loads, ...)
    if tm.group("iso"):
        stamp = datetime.fromisoformat(tm.group("iso") + (tm.group("zone") or "+00:00"))
        t = stamp.timestamp()
    else:
        h, mi, s = tm.group("clock").split(":")
        t = float(
            timegm(
                (
                    int(tm.group("y")),
                    _MONTHS[tm.group("mon")],
                    int(tm.group("d")),
                    int(h),
                    int(mi),
                    int(s),
                    0,
                    0,
                    0,
                )
            )
        )
    action = m.group("action").upper()
    mode = "log-only" if m.group("disabled") or action == "PASSTHRU" else "blocked"
    name = m.group("name").rstrip(".").lower()
    return (t, m.group("ip"), name, None, mode, None, None, None)


_UNBOUND = re.compile(
    r"rpz: applied (?:\[(?P<zone>[^\]]*)\] )?(?P<rule>\S+) (?P<action>[a-z-]+) "
    r"(?P<ip>[0-9a-fA-F.:]+)@\d+ (?P<name>\S+) "
)


def _unbound(line: str) -> LogHit | str | None:
    if not line.startswith("[") or "]" not in line[:24]:
        return "no [time] at the start (an Unbound log line begins [seconds since 1970])"
    try:
        t = float(line[1 : line.index("]")])
    except ValueError:
        return f"time {line[1 : line.index(']')][:24]!r} is not seconds since 1970"
    if "rpz: applied" not in line:
        return None
    m = _UNBOUND.search(line)
    if m is None:
        return "an rpz: applied line whose name and client cannot be read"
    action = m.group("action").removeprefix("rpz-")
    mode = "log-only" if action in ("passthru", "disabled") else "blocked"
    return (t, m.group("ip"), m.group("name").rstrip(".").lower(), None, mode, None, None, None)


def _parse_time(text: str) -> float:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        return float(timegm(stamp.timetuple())) + stamp.microsecond / 1e6
    return stamp.timestamp()


_CSV_ACTIONS = {"blocked": "blocked", "log-only": "log-only", "allowed": "allowed", "": "blocked"}


def csv_parser(header: str) -> LogParser | str:
    """A parser of the CSV log's data lines given its header line, or why it cannot be."""
    names = [n.strip().lower() for n in next(csv.reader([header]))]
    if "time" not in names or "client" not in names or not ({"url", "host"} & set(names)):
        return f"the CSV header needs time, client and url or host (found {names[:8]})"
    at = {n: i for i, n in enumerate(names)}

    def cell(row: list[str], name: str) -> str | None:
        i = at.get(name)
        return row[i].strip() if i is not None and i < len(row) and row[i].strip() else None

    def parse(line: str) -> LogHit | str | None:
        try:
            row = next(csv.reader([line]))
        except csv.Error as exc:
            return f"not CSV: {exc}"
        if len(row) != len(names):
            return f"{len(row)} cells; the header has {len(names)} (torn line?)"
        try:
            t = _parse_time(row[at["time"]])
        except ValueError:
            return f"time {row[at['time']][:30]!r} is neither ISO 8601 nor seconds since 1970"
        url = cell(row, "url")
        host = cell(row, "host")
        if url is None and host is None:
            return "neither url nor host"
        action = (cell(row, "action") or "").lower()
        if action not in _CSV_ACTIONS:
            return f"action {action[:20]!r} is not blocked, log-only or allowed"
        return (
            t,
            row[at["client"]].strip(),
            (host or _host_of_url(url or "")).lower().rstrip("."),
            url,
            _CSV_ACTIONS[action],
            cell(row, "method"),
            cell(row, "provider"),
            cell(row, "country"),
        )

    return parse


_PARSERS: dict[str, LogParser] = {
    "squid": _squid,
    "squid-combined": _squid_combined,
    "bind": _bind,
    "unbound": _unbound,
}


def parser_for(fmt: str) -> LogParser:
    """The line parser of ``fmt`` (not ``csv``, whose parser needs the header)."""
    return _PARSERS[fmt]


def detect_log_format(lines: list[str]) -> str | None:
    """The format most of the first lines of a log read without error, or ``None``."""
    sample = [line for line in lines if line.strip()][:20]
    if not sample:
        return None
    first = sample[0].lower()
    if "time" in first and "client" in first and "," in first:
        return "csv"
    best, score = None, 0
    for name, parse in _PARSERS.items():
        good = sum(1 for line in sample if not isinstance(parse(line), str))
        if good > score:
            best, score = name, good
    return best if score * 2 >= len(sample) else None
