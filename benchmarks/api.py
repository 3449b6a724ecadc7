"""Benchmark: the REST API on loopback, one server process over an SQLite store.

1. Match requests (one PDQ hash each, half near an indexed hash) against a list of
   ``--hashes`` PDQ hashes (1,000,000 by default) at ``--rate`` requests/s offered (200),
   open loop, beside the same server's static health endpoint at the same rate in the same
   run: p50/p99 latency (from each request's scheduled time, so queueing counts) and the
   requests/s achieved. Target: match p99 under 50 ms.
2. Referral search by account over ``--referrals`` referrals (rows written straight into the
   store, with their identifier rows, as intake writes them): p50/p99 of ``GET
   /api/v1/referrals?by=account`` on loopback (an upper bound of the server's time), beside
   the health endpoint. Target: under 100 ms.
3. The server's resident memory over ``--memory-requests`` match requests (10,000) and
   ``--refreshes`` list refreshes (20): a small list gets a new version, then a match makes
   the server's index catch up. Read from /proc/PID/status (VmRSS, VmHWM).

    python benchmarks/api.py [--hashes 1000000] [--referrals 1000000] [--rate 200]
                             [--seconds 20] [--memory-requests 10000] [--refreshes 20]

Every action is audited, matches included: each match request appends an audit event (an
SQLite write) as well as searching the index.

The client runs on the same machine: each phase reports the CPU seconds the server process
(with its worker processes) and this client used, per request, and the load average, so a
figure taken on a shared machine can be judged. ``--db`` names a PostgreSQL database to use
instead of a new SQLite file (it must be empty: it is filled); ``--workers`` server processes
(PostgreSQL only).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its children (a server's
    worker processes), from /proc."""
    total = 0.0
    stack = [pid]
    tick = os.sysconf("SC_CLK_TCK")
    while stack:
        p = stack.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def client_cpu_s() -> float:
    """CPU seconds used so far by this process (all its threads)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU used by the server and by this client over a phase, per request."""

    def __init__(self, server_pid: int) -> None:
        self.pid = server_pid
        self.server = tree_cpu_s(server_pid)
        self.client = client_cpu_s()
        self.load = os.getloadavg()[0]

    def report(self, requests: int) -> dict[str, float]:
        server = tree_cpu_s(self.pid) - self.server
        client = client_cpu_s() - self.client
        return {
            "server_cpu_ms_per_request": round(server * 1000 / max(1, requests), 3),
            "client_cpu_ms_per_request": round(client * 1000 / max(1, requests), 3),
            "load_average_1min_start": round(self.load, 2),
            "load_average_1min_end": round(os.getloadavg()[0], 2),
        }


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


def write_list(path: Path, hashes: np.ndarray) -> None:
    with path.open("w") as fh:
        fh.write("hash_type,hash,category\n")
        for row in hashes:
            fh.write(f"pdq,{row.tobytes().hex()},1\n")


def fill_referrals(store: Any, n: int, accounts: int) -> float:
    """``n`` referrals, each naming one of ``accounts`` accounts, written in bulk."""
    from tipwatch.store.bulk import bulk_insert
    from tipwatch.store.schema import referral_identifiers, referrals

    started = time.perf_counter()
    base = datetime(2020, 1, 1)
    now = datetime.now(UTC).replace(tzinfo=None)
    batch = 20_000
    for start in range(0, n, batch):
        rows = []
        ids = []
        for i in range(start, min(n, start + batch)):
            rid = f"b{i:08d}"
            account = f"acct-{i % accounts}"
            document = json.dumps({"report_id": rid, "reported": [{"esp_identifier": account}]})
            rows.append(
                {
                    "report_id": rid,
                    "source": "bench",
                    "received_at": base + timedelta(minutes=i),
                    "incident_type": "Child Pornography (possession, manufacture, and "
                    "distribution)",
                    "incident_time": base + timedelta(minutes=i),
                    "platform": "bench",
                    "country": None,
                    "escalated": False,
                    "batched": False,
                    "file_count": 0,
                    "revision": 1,
                    "content_hash": f"{i:064x}",
                    "document": document,
                    "source_file": None,
                    "ingested_at": now,
                    "updated_at": now,
                }
            )
            ids.append({"report_id": rid, "kind": "account", "value": account})
        with store.atomic() as conn:
            bulk_insert(conn, referrals, rows)
            bulk_insert(conn, referral_identifiers, ids)
    return time.perf_counter() - started


def open_loop(
    url: str,
    *,
    rate: float,
    count: int,
    method: str = "GET",
    bodies: list[Any] | None = None,
    headers: dict[str, str] | None = None,
    threads: int = 16,
) -> dict[str, float]:
    """Send ``count`` requests at ``rate``/s, each at its scheduled time whatever the answers
    before it (``threads`` clients with kept-alive connections take the next due request);
    latency counts from the scheduled time, so time spent waiting for a free client counts."""
    import threading

    import httpx

    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    next_index = 0
    start = time.perf_counter() + 0.2

    def client_loop() -> None:
        nonlocal next_index, failures
        with httpx.Client(timeout=60, headers=headers) as client:
            while True:
                with lock:
                    i = next_index
                    next_index += 1
                if i >= count:
                    return
                scheduled = start + i / rate
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                try:
                    if method == "GET":
                        response = client.get(url)
                    else:
                        body = bodies[i % len(bodies)] if bodies else None
                        response = client.post(url, json=body)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False  # counted as a failure, its time as a latency
                took = time.perf_counter() - scheduled
                with lock:
                    latencies.append(took)
                    failures += not ok

    workers = [threading.Thread(target=client_loop) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    return {
        "requests": count,
        "failures": failures,
        "achieved_per_s": round(count / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
    }


def search_plan(store: Any, account: str) -> list[str]:
    """The database's plan of the search by account: the API's filter, join and order."""
    from sqlalchemy import select

    from tipwatch.store.referrals import ReferralFilter, referrals
    from tipwatch.store.schema import attributions

    c = referrals.c
    query = (
        select(attributions.c.country, c.report_id, c.incident_time)
        .select_from(referrals.outerjoin(attributions, attributions.c.report_id == c.report_id))
        .order_by(c.incident_time, c.report_id)
    )
    query = ReferralFilter(identifier=("account", account), limit=50).apply(query).limit(50)
    with store.read() as conn:
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        if store.dialect == "sqlite":
            return [str(r[3]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
        return [str(r[0]) for r in conn.exec_driver_sql("EXPLAIN ANALYZE " + sql)]


def match_bodies(hashes: np.ndarray, n: int, seed: int = 5) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        if i % 2 == 0:
            q = hashes[int(rng.integers(0, len(hashes)))].copy()
            for b in rng.choice(256, size=int(rng.integers(0, 20)), replace=False):
                q[b // 8] ^= 1 << (7 - b % 8)
        else:
            q = rng.integers(0, 256, size=32, dtype=np.uint8)
        out.append({"items": [{"pdq": q.tobytes().hex()}]})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--referrals", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--memory-requests", type=int, default=10_000)
    parser.add_argument("--refreshes", type=int, default=20)
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument(
        "--db", default=None, help="an empty PostgreSQL database URL (default: a new SQLite file)"
    )
    parser.add_argument("--workers", type=int, default=1, help="server processes (PostgreSQL)")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO / "src"))
    from tipwatch import services
    from tipwatch.services.access import SCOPES, Actor, Role
    from tipwatch.store import Store

    operator = Actor("bench", Role.ADMIN)
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared)",
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
        "sizes": {"hashes": args.hashes, "referrals": args.referrals, "rate": args.rate},
        "server_processes": args.workers,
    }
    with tempfile.TemporaryDirectory(prefix="tipwatch-api-bench-") as folder:
        tmp = Path(folder)
        db = args.db or str(tmp / "bench.db")
        rng = np.random.default_rng(1)
        hashes = rng.integers(0, 256, size=(args.hashes, 32), dtype=np.uint8)
        store = Store.open(db)
        report["store"] = store.dialect
        t = time.perf_counter()
        write_list(tmp / "big.csv", hashes)
        services.matching.import_list(
            store, operator, tmp / "big.csv", name="big", version="1", scheme="none"
        )
        report["setup_list_import_s"] = round(time.perf_counter() - t, 1)
        report["setup_referrals_s"] = round(
            fill_referrals(store, args.referrals, max(1, args.referrals // 4)), 1
        )
        services.identity.add_user(store, operator, "svc", "admin", "bench password 1234")
        token, _ = services.identity.create_token(store, operator, "svc", "b", list(SCOPES))
        (tmp / "empty.toml").touch()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TIPWATCH_")},
            "TIPWATCH_CONFIG": str(tmp / "empty.toml"),
            "PYTHONPATH": str(REPO / "src"),
        }
        port = free_port()
        base = f"http://127.0.0.1:{port}/api/v1"
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "tipwatch.cli", "serve", "--port", str(port)),
                *("--db", db, "--workers", str(args.workers)),
            ],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        auth = {"Authorization": f"Bearer {token}"}
        try:
            while True:
                try:
                    urllib.request.urlopen(f"{base}/health", timeout=1).read()
                    break
                except OSError:
                    if server.poll() is not None:
                        raise SystemExit("the server did not start") from None
                    time.sleep(0.2)
            report["rss_kib_started"] = rss_kib(server.pid)[0]
            bodies = match_bodies(hashes, 2000)
            request = urllib.request.Request(
                f"{base}/match",
                data=json.dumps(bodies[0]).encode(),
                headers={**auth, "Content-Type": "application/json"},
            )
            t = time.perf_counter()
            urllib.request.urlopen(request, timeout=600).read()
            report["first_match_builds_index_s"] = round(time.perf_counter() - t, 2)
            if args.workers > 1:
                # each server process builds its own index at its first match: a few rounds of
                # requests on new connections, as many at once as there are processes
                import threading

                def one() -> None:
                    urllib.request.urlopen(request, timeout=600).read()

                t = time.perf_counter()
                for _ in range(4):
                    round_ = [threading.Thread(target=one) for _ in range(args.workers * 2)]
                    for th in round_:
                        th.start()
                    for th in round_:
                        th.join()
                report["warm_up_other_processes_s"] = round(time.perf_counter() - t, 2)
            report["rss_kib_index_built"] = rss_kib(server.pid)[0]

            n = int(args.rate * args.seconds)
            meter = CpuMeter(server.pid)
            report["health"] = open_loop(f"{base}/health", rate=args.rate, count=n)
            report["health"].update(meter.report(n))
            meter = CpuMeter(server.pid)
            report["match"] = open_loop(
                f"{base}/match", rate=args.rate, count=n, method="POST", bodies=bodies, headers=auth
            )
            report["match"].update(meter.report(n))
            report["match_p99_over_health_p99"] = round(
                report["match"]["p99_ms"] / report["health"]["p99_ms"], 2
            )

            # search by account, one at a time (latency, not load)
            import httpx

            accounts = max(1, args.referrals // 4)
            search_ms: list[float] = []
            health_ms: list[float] = []
            search_cpu = 0.0
            with httpx.Client(headers=auth, timeout=60) as client:
                load = os.getloadavg()[0]
                for i in range(args.searches):
                    account = f"acct-{random.Random(i).randrange(accounts)}"
                    before = tree_cpu_s(server.pid)
                    t = time.perf_counter()
                    r = client.get(f"{base}/referrals", params={"by": "account", "value": account})
                    search_ms.append((time.perf_counter() - t) * 1000)
                    search_cpu += tree_cpu_s(server.pid) - before
                    assert r.status_code == 200 and len(r.json()["items"]) >= 1, r.text[:200]
                    t = time.perf_counter()
                    client.get(f"{base}/health")
                    health_ms.append((time.perf_counter() - t) * 1000)
            report["search_by_account"] = {
                "referrals": args.referrals,
                "requests": args.searches,
                "p50_ms": round(percentile(search_ms, 50), 2),
                "p99_ms": round(percentile(search_ms, 99), 2),
                "max_ms": round(max(search_ms), 2),
                "server_cpu_ms_per_request": round(search_cpu * 1000 / args.searches, 3),
                "health_p50_ms": round(percentile(health_ms, 50), 2),
                "health_p99_ms": round(percentile(health_ms, 99), 2),
                "load_average_1min_start": round(load, 2),
                "load_average_1min_end": round(os.getloadavg()[0], 2),
                "plan": search_plan(store, "acct-1"),
            }

            # memory over many match requests and list refreshes
            samples: list[tuple[str, int]] = [("before", rss_kib(server.pid)[0])]
            per_refresh = max(1, args.memory_requests // max(1, args.refreshes))
            done = 0
            churn = np.random.default_rng(9)
            with httpx.Client(headers=auth, timeout=60) as client:
                for k in range(args.refreshes):
                    small = churn.integers(0, 256, size=(1000, 32), dtype=np.uint8)
                    write_list(tmp / "small.csv", small)
                    services.matching.import_list(
                        store,
                        operator,
                        tmp / "small.csv",
                        name="churn",
                        version=str(k + 1),
                        scheme="none",
                        force=True,
                    )
                    for _ in range(per_refresh):
                        r = client.post(f"{base}/match", json=bodies[done % len(bodies)])
                        assert r.status_code == 200
                        done += 1
                    samples.append(
                        (f"after {done} matches, {k + 1} refreshes", rss_kib(server.pid)[0])
                    )
            rss, hwm = rss_kib(server.pid)
            first_after = samples[1][1]
            report["memory"] = {
                "match_requests": done,
                "refreshes": args.refreshes,
                "rss_kib_before": samples[0][1],
                "rss_kib_after_first_refresh": first_after,
                "rss_kib_end": rss,
                "rss_kib_peak": hwm,
                "growth_after_first_refresh_kib": rss - first_after,
                "samples": samples,
            }
        finally:
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
            store.close()
    report["load_average_at_end"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
