"""Blocked-access accounting: every log format, the four counts, and bad lines."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.triage.mmdb import DOC_NETWORKS, write_mmdb
from tipwatch import services
from tipwatch.errors import ConfigError
from tipwatch.formats.access_logs import detect_log_format
from tipwatch.services import Actor, Role
from tipwatch.settings import load_settings
from tipwatch.store import Store
from tipwatch.store.schema import audit_events, signal_values
from tipwatch.urls import Scope, UrlIndex, entry_key
from tipwatch.urls._accounting import BlockedAccounting, pseudonymise

ANALYST = Actor("ana", Role.ANALYST)
KEY = b"test key, not a secret"
T0 = datetime(2020, 3, 30, 10, 0, tzinfo=UTC).timestamp()


def _index() -> UrlIndex:
    index = UrlIndex()
    index.add(entry_key("http://pages.invalid/a/one.html"), "hotline")
    index.add(entry_key("bad.invalid", Scope.HOST), "hotline")
    index.add(entry_key("wide.invalid", Scope.SUBDOMAINS), "hotline")
    return index


def _counter(**kwargs: object) -> BlockedAccounting:
    return BlockedAccounting(_index(), "hotline", "v1", 3, KEY, provider="isp-a", **kwargs)  # type: ignore[arg-type]


def _squid(t: float, client: str, code: str, method: str, url: str) -> str:
    return f"{t:.3f}     12 {client} {code} 3900 {method} {url} - HIER_NONE/- text/html\n"


def test_the_four_counts_on_a_squid_log(tmp_path: Path) -> None:
    a, b = "198.51.100.10", "198.51.100.11"
    lines = [
        # client a retries one page three times within 30 s: 3 requests, 1 attempt
        _squid(T0, a, "TCP_DENIED/403", "GET", "http://pages.invalid/a/one.html"),
        _squid(T0 + 5, a, "TCP_DENIED/403", "GET", "http://PAGES.invalid/a/./one.html?x=1"),
        _squid(T0 + 29, a, "TCP_DENIED/403", "GET", "http://pages.invalid/a/one.html"),
        # 30 s after the first: a new attempt
        _squid(T0 + 30, a, "TCP_DENIED/403", "GET", "http://pages.invalid/a/one.html"),
        # the same client, another entry (through CONNECT: only the host is known)
        _squid(T0 + 31, a, "TCP_DENIED/403", "CONNECT", "www.wide.invalid:443"),
        # another client, a host entry
        _squid(T0 + 32, b, "TCP_DENIED/403", "GET", "http://bad.invalid/anything"),
        # denied for another reason (not on the list), and listed but let through
        _squid(T0 + 33, b, "TCP_DENIED/403", "GET", "http://other.invalid/"),
        _squid(T0 + 34, b, "TCP_MISS/200", "GET", "http://bad.invalid/x"),
        # an unlisted page on a listed page's host: the page entry never widens
        _squid(T0 + 35, b, "TCP_DENIED/403", "GET", "http://pages.invalid/a/two.html"),
        # the next day
        _squid(T0 + 86400, b, "TCP_DENIED/403", "GET", "http://bad.invalid/"),
    ]
    path = tmp_path / "access.log"
    path.write_text("".join(lines))
    counter = _counter(country="NL")
    assert counter.read_file(path) == "squid"
    rows = counter.rows()
    assert [(r["day"], r["requests"], r["attempts"], r["pairs"], r["clients"]) for r in rows] == [
        (date(2020, 3, 30), 6, 4, 3, 2),
        (date(2020, 3, 31), 1, 1, 1, 1),
    ]
    assert rows[0]["country"] == "NL" and rows[0]["method"] == "http-proxy"
    assert counter.blocked_not_listed == 2 and counter.listed_not_blocked == 1
    assert counter.errors == 0 and counter.lines == 10


def test_bad_lines_are_reported_and_the_rest_read(tmp_path: Path) -> None:
    good = _squid(T0, "198.51.100.1", "TCP_DENIED/403", "GET", "http://bad.invalid/")
    path = tmp_path / "access.log"
    path.write_bytes(
        good.encode() * 3
        + b"1585562400.000 12 198.51.100.1 TCP_DEN\n"  # torn
        + b"\x00\x01\x02\xff binary junk \x00\n"
        + _squid(T0 - 3600, "198.51.100.1", "TCP_DENIED/403", "GET", "http://bad.invalid/").encode()
        + _squid(
            T0 + 10**9, "198.51.100.1", "TCP_DENIED/403", "GET", "http://bad.invalid/"
        ).encode()
        + _squid(T0 + 1, "198.51.100.1", "TCP_DENIED/403", "GET", "http://bad.invalid:x/").encode()
        + _squid(T0 + 2, "198.51.100.1", "TCP_DENIED/403", "GET", "http://[1:2]/").encode()
        + b"not a time at all 1 2 3 4 5 6 7 8\n"
        + b"1585562403.000 0 198.51.100.1 NONE_NONE/000 0 - error:transaction-end-before-headers - HIER_NONE/- -\n"
        + good.encode()
    )
    counter = _counter()
    counter.read_file(path, "squid")
    assert counter.errors == 7
    problems = "\n".join(counter.problems)
    for number, words in [
        (4, "torn line"),
        (5, "binary data"),
        (6, "goes back 3600 s"),
        (7, "outside 1990 to tomorrow"),
        (8, "not a number"),
        (9, "invalid IPv6"),
        (10, "not seconds since 1970"),
    ]:
        assert f"access.log:{number}: " in problems and words in problems, (number, words)
    assert counter.rows()[0]["requests"] == 4
    assert counter.rows()[0]["country"] == "ZZ"  # no country known


def test_other_formats(tmp_path: Path) -> None:
    stamp = datetime.fromtimestamp(T0, UTC)
    combined = tmp_path / "combined.log"
    clf = stamp.strftime("%d/%b/%Y:%H:%M:%S +0000")
    combined.write_text(
        f'198.51.100.5 - - [{clf}] "GET http://bad.invalid/x HTTP/1.1" 403 3900 "-" "curl" TCP_DENIED:HIER_NONE\n'
        f'198.51.100.5 - - [{clf}] "CONNECT www.wide.invalid:443 HTTP/1.1" 403 3900 "-" "curl" TCP_DENIED:HIER_NONE\n'
        f'198.51.100.5 - - [{clf}] "GET http://bad.invalid/y HTTP/1.1" 200 3900 "-" "curl" TCP_MISS:HIER_DIRECT\n'
    )
    bind = tmp_path / "rpz.log"
    day = stamp.strftime("%d-%b-%Y %H:%M:%S.000")
    bind.write_text(
        f"{day} rpz: info: client @0x7f01 198.51.100.6#5353 (bad.invalid): rpz QNAME NXDOMAIN rewrite bad.invalid/A/IN via bad.invalid.rpz.tipwatch.invalid\n"
        f"{day} rpz: info: client @0x7f01 198.51.100.6#5353 (x.wide.invalid): disabled rpz QNAME NXDOMAIN rewrite x.wide.invalid/A/IN via *.wide.invalid.rpz.tipwatch.invalid\n"
        f"{day} rpz: info: zone rpz.tipwatch.invalid loaded\n"
        f"{stamp:%Y-%m-%dT%H:%M:%S}.000Z rpz: info: client 198.51.100.7#5353 (BAD.invalid): rpz QNAME NXDOMAIN rewrite BAD.invalid/A/IN via bad.invalid.rpz.tipwatch.invalid\n"
    )
    unbound = tmp_path / "unbound.log"
    unbound.write_text(
        f"[{T0:.0f}] unbound[1:0] info: start of service (unbound 1.17.1).\n"
        f"[{T0:.0f}] unbound[1:0] info: rpz: applied [tipwatch] *.wide.invalid. rpz-nxdomain 198.51.100.8@4242 a.wide.invalid. A IN\n"
        f"[{T0:.0f}] unbound[1:0] info: rpz: applied [tipwatch] bad.invalid. rpz-passthru 198.51.100.8@4242 bad.invalid. A IN\n"
        f"[{T0:.0f}] unbound[1:0] info: rpz: applied [tipwatch] half\n"
    )
    table = tmp_path / "blocked.csv"
    table.write_text(
        "time,client,url,host,provider,country,method,action\n"
        "2020-03-30T10:00:00Z,198.51.100.9,http://pages.invalid/a/one.html,,isp-b,DE,http-proxy,blocked\n"
        f"{T0:.0f},198.51.100.9,,bad.invalid,isp-b,FR,sni,\n"
        "2020-03-30T10:00:05Z,198.51.100.9,,bad.invalid,isp-b,XX,sni,blocked\n"
        "2020-03-30T10:00:06Z,198.51.100.9,,bad.invalid\n"
    )
    for path, fmt in [
        (combined, "squid-combined"),
        (bind, "bind"),
        (unbound, "unbound"),
        (table, "csv"),
    ]:
        assert detect_log_format(path.read_text().splitlines()) == fmt, fmt
    counter = _counter()
    for path in (combined, bind, unbound, table):
        counter.read_file(path)
    got = {
        (r["provider"], r["country"], r["method"], r["mode"]): r["requests"] for r in counter.rows()
    }
    assert got == {
        ("isp-a", "ZZ", "http-proxy", "blocked"): 2,
        ("isp-a", "ZZ", "dns", "blocked"): 3,
        ("isp-a", "ZZ", "dns", "log-only"): 2,
        ("isp-b", "DE", "http-proxy", "blocked"): 1,
        ("isp-b", "FR", "sni", "blocked"): 1,
    }
    assert counter.listed_not_blocked == 1  # the combined log's 200
    assert counter.errors == 3  # unbound's half line, the CSV's XX country and its torn row
    assert counter.ignored == 2  # unbound's start-up line, BIND's zone load


def test_pseudonyms_are_keyed() -> None:
    assert pseudonymise(KEY, "198.51.100.1") == pseudonymise(KEY, "198.51.100.1")
    assert pseudonymise(KEY, "198.51.100.1") != pseudonymise(b"other", "198.51.100.1")
    assert "198.51.100.1" not in pseudonymise(KEY, "198.51.100.1")
    with pytest.raises(ConfigError, match="pseudonym_key"):
        BlockedAccounting(_index(), "l", "v", 1, b"")


def test_ingest_writes_series_trends_read_and_stores_no_address(
    store: Store, tmp_path: Path
) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("bad.invalid host\nhttp://pages.invalid/a/one.html\n")
    services.urls.import_list(store, ANALYST, listing, list_name="hotline", version="v1")
    geoip = write_mmdb(tmp_path / "geo.mmdb", DOC_NETWORKS)
    log = tmp_path / "access.log"
    log.write_text(
        "".join(
            _squid(T0 + day * 86400 + i, client, "TCP_DENIED/403", "GET", "http://bad.invalid/")
            for day in range(3)
            for i, client in enumerate(["192.0.2.1", "192.0.2.200", "198.51.100.3"])
        )
    )
    settings = load_settings(pseudonym_key="k" * 32)
    summary = services.urls.ingest_logs(
        store,
        ANALYST,
        [log],
        list_name="hotline",
        provider="isp-a",
        geoip=geoip,
        settings=settings,
    )
    assert summary["matched"] == 9 and summary["errors"] == 0
    assert {r["country"] for r in summary["cells"]} == {"NL", "DE", "FR"}
    series = services.trends.series(store, ANALYST, "blocked_attempts")
    assert sorted(series) == ["DE", "FR", "NL"]
    assert list(series["NL"].values) == [1.0, 1.0, 1.0]
    size = services.trends.series(store, ANALYST, "blocked_list_size")
    assert list(size["FR"].values) == [2.0, 2.0, 2.0]
    # again: the values are replaced, not added
    services.urls.ingest_logs(
        store,
        ANALYST,
        [log],
        list_name="hotline",
        provider="isp-a",
        geoip=geoip,
        settings=settings,
    )
    assert (
        list(services.trends.series(store, ANALYST, "blocked_requests")["NL"].values) == [1.0] * 3
    )
    with store.read() as conn:
        stored = " ".join(str(tuple(r)) for r in conn.execute(select(signal_values)))
        stored += " ".join(str(tuple(r)) for r in conn.execute(select(audit_events)))
    for address in ("192.0.2.1", "192.0.2.200", "198.51.100.3"):
        assert address not in stored
    with pytest.raises(ConfigError, match="pseudonym_key"):
        services.urls.ingest_logs(
            store, ANALYST, [log], list_name="hotline", settings=load_settings()
        )


def test_the_prefilter_never_hides_a_listed_host(tmp_path: Path) -> None:
    index = UrlIndex()
    index.add(entry_key("http://127.0.0.10/", Scope.HOST), "hotline")
    index.add(entry_key("localhost", Scope.SUBDOMAINS), "hotline")
    index.add(entry_key("b\u00fccher.invalid", Scope.HOST), "hotline")
    index.add(entry_key("listed.invalid", Scope.HOST), "hotline")
    urls = [
        "http://0x7f.0xa/page",  # 127.0.0.10 in hex
        "http://2130706442/",  # 127.0.0.10 as one number
        "http://x.localhost/",  # below a one-label entry
        "http://xn--bcher-kva.invalid/",
        "http://B%C3%9Ccher.invalid/",
        "http://listed..invalid/",  # listed.invalid
        "http://bad.invalid/",  # not listed
    ]
    path = tmp_path / "access.log"
    path.write_text(
        "".join(
            _squid(T0 + i, "198.51.100.1", "TCP_DENIED/403", "GET", u) for i, u in enumerate(urls)
        )
    )
    counter = BlockedAccounting(index, "hotline", "v1", 3, KEY, country="NL")
    counter.read_file(path, "squid")
    assert counter.errors == 0, counter.problems
    assert counter.matched == 6 and counter.blocked_not_listed == 1
