"""Real filters on 127.0.0.1: Unbound loads the exported response-policy zone, Squid the
exported ACLs; their own log lines are read back through ``urls ingest-log``.

The programs are Debian's ``unbound``, ``bind9`` (named), ``bind9-utils`` (named-checkzone),
``bind9-dnsutils`` (dig), ``squid`` and ``curl`` (the Makefile installs them for ``make test``). Without them a
test is skipped saying which is missing, unless TIPWATCH_REQUIRE_FILTERS=1 (``make test``),
which makes their absence a failure.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tipwatch import services
from tipwatch.services import Actor, Role
from tipwatch.settings import load_settings
from tipwatch.store import Store

ANALYST = Actor("ana", Role.ANALYST)
LIST = """bad.invalid host
wide.invalid host+subdomains
http://pages.invalid/a.html
"""


def _require(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None]
    if not missing:
        return
    message = (
        f"{', '.join(missing)} not installed "
        "(Debian: unbound bind9 bind9-utils bind9-dnsutils squid curl)"
    )
    if os.environ.get("TIPWATCH_REQUIRE_FILTERS") == "1":
        pytest.fail(f"{message} (TIPWATCH_REQUIRE_FILTERS=1)")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, *, udp: bool, seconds: float = 20.0, status: str = "") -> None:
    """Until something answers on ``port`` (over UDP: a DNS answer to ``ok.invalid``, with
    ``status`` when one is named)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if udp:
            probe = subprocess.run(
                ["dig", "+time=1", "+tries=1", "-p", str(port), "@127.0.0.1", "ok.invalid"],
                capture_output=True,
                text=True,
            )
            if f"status: {status}" in probe.stdout:
                return
        else:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
        time.sleep(0.2)
    raise AssertionError(f"nothing answered on 127.0.0.1:{port} within {seconds:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def listed(tmp_path: Path) -> Iterator[Store]:
    """A store holding the list (SQLite only: the filters, not the store, are under test)."""
    store = Store.open(str(tmp_path / "tipwatch.db"))
    path = tmp_path / "list.txt"
    path.write_text(LIST)
    services.urls.import_list(store, ANALYST, path, list_name="hotline", version="1")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def loose_dir() -> Iterator[Path]:
    """A folder every user may write (Squid and Unbound may drop to an unprivileged user)."""
    folder = Path(tempfile.mkdtemp(prefix="tipwatch-filter-"))
    folder.chmod(0o777)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _counts(summary: dict[str, object]) -> list[tuple[object, ...]]:
    cells = summary["cells"]
    assert isinstance(cells, list)
    return [
        (c["method"], c["mode"], c["requests"], c["attempts"], c["pairs"], c["clients"])
        for c in cells
    ]


def test_the_rpz_export_passes_named_checkzone(listed: Store, tmp_path: Path) -> None:
    _require("named-checkzone")
    zone = tmp_path / "rpz.zone"
    result = services.urls.export_list(listed, ANALYST, "hotline", "rpz", zone)
    assert result.left_out_pages == 1
    check = subprocess.run(
        ["named-checkzone", "rpz.tipwatch.invalid", str(zone)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "loaded serial 1" in check.stdout


def test_unbound_round_trip(listed: Store, loose_dir: Path) -> None:
    _require("unbound", "dig")
    zone = loose_dir / "rpz.zone"
    services.urls.export_list(listed, ANALYST, "hotline", "rpz", zone)
    port = _free_port()
    log = loose_dir / "unbound.log"
    conf = loose_dir / "unbound.conf"
    conf.write_text(
        f"""server:
  interface: 127.0.0.1
  port: {port}
  username: ""
  chroot: ""
  directory: "{loose_dir}"
  pidfile: "{loose_dir}/unbound.pid"
  logfile: "{log}"
  use-syslog: no
  verbosity: 1
  do-daemonize: no
  module-config: "respip iterator"
  access-control: 127.0.0.0/8 allow
  # .invalid is answered locally by default; let the policy zone see it
  local-zone: "invalid." nodefault
  local-data: "ok.invalid. A 192.0.2.1"
remote-control:
  control-enable: no
rpz:
  name: rpz.tipwatch.invalid
  zonefile: {zone}
  rpz-log: yes
  rpz-log-name: tipwatch
"""
    )
    process = subprocess.Popen(["unbound", "-d", "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        # BIND answers before its zones are loaded (SERVFAIL meanwhile): wait for the last
        # zone of the configuration to answer, then the response policy zones are in too.
        _wait_for(port, udp=True, status="NOERROR")

        def dig(name: str, client: str) -> str:
            out = subprocess.run(
                ["dig", "+time=2", "+tries=1", "-b", client, "-p", str(port), "@127.0.0.1", name],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            return out.split("status: ", 1)[1].split(",", 1)[0]

        asked = [
            ("bad.invalid", "127.0.0.2", "NXDOMAIN"),
            ("bad.invalid", "127.0.0.2", "NXDOMAIN"),
            ("BAD.invalid", "127.0.0.2", "NXDOMAIN"),
            ("x.wide.invalid", "127.0.0.2", "NXDOMAIN"),
            ("ok.invalid", "127.0.0.2", "NOERROR"),
            ("bad.invalid", "127.0.0.3", "NXDOMAIN"),
            ("ok.invalid", "127.0.0.3", "NOERROR"),
        ]
        for name, client, status in asked:
            assert dig(name, client) == status, (name, client)
    finally:
        _stop(process)
    lines = log.read_text()
    assert lines.count("rpz: applied") == 5, lines
    summary = services.urls.ingest_logs(
        listed,
        ANALYST,
        [log],
        list_name="hotline",
        provider="resolver",
        country="NL",
        settings=load_settings(pseudonym_key="k" * 32),
    )
    assert summary["formats"] == ["unbound"] and summary["errors"] == 0
    # 5 requests; 127.0.0.2 asked bad.invalid three times within 30 s: one attempt
    assert _counts(summary) == [("dns", "blocked", 5, 3, 3, 2)]
    for metric, value in [
        ("blocked_requests", 5),
        ("blocked_attempts", 3),
        ("blocked_pairs", 3),
        ("blocked_clients", 2),
        ("blocked_list_size", 3),
    ]:
        series = services.trends.series(listed, ANALYST, metric)
        assert list(series["NL"].values) == [value], metric
    for address in ("127.0.0.2", "127.0.0.3"):
        assert address not in repr(summary)


def test_bind_round_trip(listed: Store, loose_dir: Path) -> None:
    """BIND enforces the zone, and logs (only) a second zone whose policy is disabled."""
    _require("named", "dig")
    zone = loose_dir / "rpz.zone"
    services.urls.export_list(listed, ANALYST, "hotline", "rpz", zone)
    (loose_dir / "logonly.zone").write_text(
        "$TTL 300\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 300\n"
        "@ NS localhost.\nprobe.invalid CNAME .\n"
    )
    (loose_dir / "ok.zone").write_text(
        "$TTL 300\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 300\n"
        "@ NS localhost.\n@ A 192.0.2.1\n"
    )
    port = _free_port()
    log = loose_dir / "rpz.log"
    conf = loose_dir / "named.conf"
    conf.write_text(
        f"""options {{
  directory "{loose_dir}";
  listen-on port {port} {{ 127.0.0.1; }};
  listen-on-v6 {{ none; }};
  pid-file "{loose_dir}/named.pid";
  recursion yes;
  allow-query {{ 127.0.0.0/8; }};
  dnssec-validation no;
  response-policy {{
    zone "rpz.tipwatch.invalid";
    zone "logonly.tipwatch.invalid" policy disabled;
  }} qname-wait-recurse no;
}};
controls {{ }};
zone "rpz.tipwatch.invalid" {{ type primary; file "{zone}"; }};
zone "logonly.tipwatch.invalid" {{ type primary; file "{loose_dir}/logonly.zone"; }};
zone "ok.invalid" {{ type primary; file "{loose_dir}/ok.zone"; }};
logging {{
  channel rpzlog {{ file "{log}"; print-time yes; print-category yes; print-severity yes;
                    severity info; }};
  category rpz {{ rpzlog; }};
  category default {{ null; }};
}};
"""
    )
    for path in loose_dir.iterdir():
        path.chmod(0o644)
    process = subprocess.Popen(
        ["named", "-f", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        # BIND answers before its zones are loaded (SERVFAIL meanwhile): wait for the last
        # zone of the configuration to answer, then the response policy zones are in too.
        _wait_for(port, udp=True, status="NOERROR")

        def dig(name: str, client: str) -> str:
            out = subprocess.run(
                ["dig", "+time=1", "+tries=1", "-b", client, "-p", str(port), "@127.0.0.1", name],
                capture_output=True,
                text=True,
            ).stdout
            return out.split("status: ", 1)[1].split(",", 1)[0] if "status: " in out else "-"

        assert dig("bad.invalid", "127.0.0.2") == "NXDOMAIN"
        assert dig("bad.invalid", "127.0.0.2") == "NXDOMAIN"
        assert dig("x.wide.invalid", "127.0.0.3") == "NXDOMAIN"
        assert dig("ok.invalid", "127.0.0.3") == "NOERROR"
        dig("probe.invalid", "127.0.0.3")  # logged, not rewritten (then unresolvable here)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            not log.exists() or log.read_text().count("rpz QNAME") < 4
        ):
            time.sleep(0.2)
    finally:
        _stop(process)
    text = log.read_text()
    assert text.count("rpz QNAME") == 4 and "disabled rpz QNAME" in text, text
    # the log-only zone's name is on the list too, so its lines count (as log-only)
    extra = loose_dir / "probe.txt"
    extra.write_text("probe.invalid host\n")
    services.urls.import_list(listed, ANALYST, extra, list_name="hotline", version="2", delta=True)
    summary = services.urls.ingest_logs(
        listed,
        ANALYST,
        [log],
        list_name="hotline",
        provider="resolver",
        country="BE",
        settings=load_settings(pseudonym_key="k" * 32),
    )
    assert summary["formats"] == ["bind"] and summary["errors"] == 0, summary["problems"]
    assert _counts(summary) == [("dns", "blocked", 3, 2, 2, 2), ("dns", "log-only", 1, 1, 1, 1)]


def test_squid_round_trip(listed: Store, loose_dir: Path) -> None:
    _require("squid", "curl")
    acl = loose_dir / "acl"
    services.urls.export_list(listed, ANALYST, "hotline", "squid", acl)
    for path in acl.iterdir():
        path.chmod(0o644)
    acl.chmod(0o755)
    port = _free_port()
    log = loose_dir / "access.log"
    conf = loose_dir / "squid.conf"
    conf.write_text(
        f"""http_port 127.0.0.1:{port}
pid_filename {loose_dir}/squid.pid
access_log stdio:{log} squid
cache_log {loose_dir}/cache.log
cache deny all
cache_mem 8 MB
coredump_dir {loose_dir}
include {acl}/tipwatch-acl.conf
acl loopback src 127.0.0.0/8
http_access allow loopback
http_access deny all
dns_nameservers 127.0.0.1
shutdown_lifetime 1 seconds
"""
    )
    process = subprocess.Popen(
        ["squid", "-N", "-f", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _wait_for(port, udp=False)

        def fetch(url: str, client: str, seconds: int = 10) -> str:
            out = subprocess.run(
                [
                    "curl",
                    "-s",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "--max-time",
                    str(seconds),
                    "--interface",
                    client,
                    "-x",
                    f"http://127.0.0.1:{port}",
                    url,
                ],
                capture_output=True,
                text=True,
            )
            return out.stdout

        assert fetch("http://bad.invalid/x", "127.0.0.2") == "403"
        assert fetch("http://bad.invalid/x", "127.0.0.2") == "403"
        assert fetch("http://pages.invalid/a.html?q=1", "127.0.0.2") == "403"
        assert fetch("https://www.wide.invalid/", "127.0.0.2") in ("000", "403")  # CONNECT
        assert fetch("http://bad.invalid/", "127.0.0.3") == "403"
        assert fetch("http://pages.invalid/b.html", "127.0.0.3", 2) != "403"  # not listed
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and log.read_text().count("\n") < 6:
            time.sleep(0.2)
    finally:
        _stop(process)
    text = log.read_text()
    assert text.count("TCP_DENIED/403") == 5, text
    assert "CONNECT www.wide.invalid:443" in text
    summary = services.urls.ingest_logs(
        listed,
        ANALYST,
        [log],
        list_name="hotline",
        provider="proxy",
        country="DE",
        settings=load_settings(pseudonym_key="k" * 32),
    )
    assert summary["formats"] == ["squid"] and summary["errors"] == 0, summary["problems"]
    assert _counts(summary) == [("http-proxy", "blocked", 5, 4, 4, 2)]
    out = io.StringIO()
    services.urls.export_list(listed, ANALYST, "hotline", "plain", out)
    assert out.getvalue().count("\n") == 3


def test_a_missing_filter_skips_by_default_and_fails_when_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TIPWATCH_REQUIRE_FILTERS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-filter not installed"):
        _require("no-such-filter")
    monkeypatch.setenv("TIPWATCH_REQUIRE_FILTERS", "1")
    with pytest.raises(pytest.fail.Exception, match="TIPWATCH_REQUIRE_FILTERS=1"):
        _require("no-such-filter")
