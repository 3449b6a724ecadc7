"""Benchmark: the workspace's queue and dossier pages over a large store, beside a static page.

Prints one JSON line: the server time (median of ``--repeat`` requests through the app
in-process, no network) of

- the baseline, measured in the same run: the stylesheet (a static file) and the sign-in page
  (a template, no store);
- the queue page (first page by priority, a page further on, and filtered by country);
- a referral's dossier, as an analyst and as a reviewer (second factor; the reviewer's page
  also looks for kept media and counts the day's exposures).

    python benchmarks/workspace.py --count 1000000     # the issue's figure (store kept)
    python benchmarks/workspace.py --count 100000

The store: ``--base`` synthetic referrals go through the real intake and triage (two files
each, accounts that repeat and link); their referral, priority and attribution rows are then
copied in SQL, with new report ids and scores spread, up to ``--count`` referrals in the
queue. The dossier is read for one of the real, fully triaged referrals. The store is kept in
``benchmarks/out/`` for later runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"
PASSWORD = "benchmark password 1"


def _copy_rows(store: Any, base: int, count: int) -> None:
    """Copy the triaged referrals (referrals, priorities, attributions) up to ``count``."""
    from sqlalchemy import text

    from tipwatch.store.schema import attributions, priorities, referrals

    copies = -(-(count - base) // base)
    with store.atomic() as conn:
        for k in range(1, copies + 1):
            need = min(base, count - base * k)
            if need <= 0:
                break
            for table in (referrals, priorities, attributions):
                cols = [c.name for c in table.columns]
                picked = []
                for c in cols:
                    if c == "report_id":
                        picked.append(f"report_id || '-c{k}'")
                    elif table is priorities and c == "score":
                        # Spread the scores so that the copies interleave with the originals.
                        picked.append("score + (abs(random()) % 1000) / 100.0")
                    else:
                        picked.append(c)
                conn.execute(
                    text(
                        f"INSERT INTO {table.name} ({', '.join(cols)}) "
                        f"SELECT {', '.join(picked)} FROM {table.name} "
                        f"WHERE report_id IN (SELECT report_id FROM referrals "
                        f"WHERE report_id NOT LIKE '%-c%' ORDER BY report_id LIMIT {need})"
                    )
                )


def build_store(count: int, base: int) -> tuple[Path, float]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from tipwatch.demo.synthetic import write_envelope
    from tipwatch.intake import ingest_paths
    from tipwatch.store import Store
    from tipwatch.triage.run import triage_store
    from triage import geoip  # the triage benchmark's GeoIP database over the doc ranges

    OUT.mkdir(exist_ok=True)
    db = OUT / f"workspace-{count}-{base}.db"
    if db.exists():
        return db, 0.0
    building = db.with_suffix(".building")
    for suffix in ("", "-wal", "-shm"):
        Path(str(building) + suffix).unlink(missing_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "referrals.xml"
        with xml.open("wb") as fh:
            write_envelope(fh, base, seed=11, pdq_fraction=0.2)
        store = Store.open(str(building))
        ingest_paths(store, [xml])
        triage_store(store, geoip=geoip(Path(tmp) / "geo.mmdb"))
        _copy_rows(store, base, count)
        store.close()
    os.replace(building, db)
    for suffix in ("-wal", "-shm"):
        Path(str(building) + suffix).unlink(missing_ok=True)
    return db, time.perf_counter() - start


def with_audit_log(db: Path, events: int) -> tuple[Path, float]:
    """A copy of ``db`` whose audit log holds ``events`` more entries (dossier views and queue
    reads of the stored referrals), chained as the log chains its entries (each hash over the
    entry and the one before, :func:`tipwatch.store.audit.canonical_form`) and written in bulk;
    the head is moved to the last one, so that the chain still verifies."""
    import hashlib
    import random
    import shutil

    from sqlalchemy import insert, select, update

    from tipwatch.store import Store
    from tipwatch.store.audit import canonical_form
    from tipwatch.store.schema import audit_events, audit_head

    out = db.with_name(f"{db.stem}-audit{events}.db")
    if out.exists():
        return out, 0.0
    building = out.with_suffix(".building")
    start = time.perf_counter()
    shutil.copyfile(db, building)
    store = Store.open(str(building))
    rng = random.Random(5)
    with store.atomic() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT report_id FROM referrals LIMIT 100000")]
        head = conn.execute(select(audit_head)).one()
        last_id, last_hash = int(head.last_id), str(head.last_hash)
        when = datetime.now(UTC).replace(tzinfo=None)
        rows = []
        for n in range(events):
            viewed = rng.random() < 0.5
            values = {
                "id": last_id + 1,
                "at": when,
                "actor": "someone",
                "role": "analyst",
                "action": "referral.show" if viewed else "queue.read",
                "object_type": "referral",
                "outcome": "ok",
                "detail": "",
                "prev_hash": last_hash,
            }
            object_ids = [rng.choice(ids)] if viewed else []
            last_hash = hashlib.sha256(canonical_form(object_ids=object_ids, **values)).hexdigest()
            last_id += 1
            rows.append({**values, "object_ids": json.dumps(object_ids), "hash": last_hash})
            if len(rows) == 50_000 or n == events - 1:
                conn.execute(insert(audit_events), rows)
                rows = []
        conn.execute(
            update(audit_head).values(
                last_id=last_id, last_hash=last_hash, entry_count=head.entry_count + events
            )
        )
    store.close()
    os.replace(building, out)
    return out, time.perf_counter() - start


def _median_ms(client: Any, path: str, repeat: int, expect: str) -> float:
    answer = client.get(path)  # warm: templates compiled, pages cached by SQLite
    assert answer.status_code == 200 and expect in answer.text, (path, answer.status_code)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        answer = client.get(path)
        times.append(time.perf_counter() - start)
        assert answer.status_code == 200
    return round(statistics.median(times) * 1000, 1)


def _reviewer_dossier_ms(store: Any, admin: Any, report_id: str, repeat: int) -> float:
    """The dossier as a reviewer sees it (signed in with the second factor): the page also
    asks for kept media and the reviewer's exposure count of the day (none kept here: the
    deployment default)."""
    import pyotp
    from fastapi.testclient import TestClient

    from tipwatch import services
    from tipwatch.web.app import create_app

    name = f"bench-reviewer-{os.getpid()}"
    added = services.identity.add_user(store, admin, name, "reviewer", PASSWORD)
    code = pyotp.TOTP(added["totp_enrolment"]["secret"]).now()
    # The session cookie is Secure by default: the client speaks https (in process).
    client = TestClient(create_app(store), base_url="https://testserver")
    answer = client.post(
        "/api/v1/session", json={"name": name, "password": PASSWORD, "totp": code}
    )
    assert answer.status_code in (200, 201), answer.text
    return _median_ms(client, f"/referrals/{report_id}", repeat, "Files")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--base", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--audit-events", type=int, default=0, help="audit events to add first (0: none)"
    )
    args = parser.parse_args()
    db, built_s = build_store(args.count, args.base)
    audit_s = 0.0
    if args.audit_events:
        db, audit_s = with_audit_log(db, args.audit_events)

    from fastapi.testclient import TestClient
    from sqlalchemy import func, select

    from tipwatch import services
    from tipwatch.services.access import Actor, Role
    from tipwatch.store import Store
    from tipwatch.store.schema import attributions, priorities, referral_files
    from tipwatch.web.app import create_app

    store = Store.open(str(db))
    with store.read() as conn:
        queued = conn.execute(select(func.count()).select_from(priorities)).scalar_one()
        real = conn.execute(
            select(referral_files.c.report_id).order_by(referral_files.c.report_id).limit(1)
        ).scalar_one()
        country = conn.execute(
            select(attributions.c.country).where(attributions.c.country.is_not(None)).limit(1)
        ).scalar_one()
    admin = Actor("benchmark", Role.ADMIN)
    name = f"bench-{os.getpid()}"
    services.identity.add_user(store, admin, name, "analyst", PASSWORD)
    client = TestClient(create_app(store))
    login = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token})
    r = args.repeat
    figures = {
        "static_css_ms": _median_ms(client, "/static/workspace.css", r, "tipwatch"),
        "static_sign_in_page_ms": _median_ms(client, "/login", r, "Sign in"),
        "queue_first_page_ms": _median_ms(client, "/queue", r, "Next page"),
        "queue_page_20_ms": _median_ms(client, "/queue?page=20", r, "Page 20"),
        "queue_country_ms": _median_ms(client, f"/queue?country={country}", r, "Queue"),
        "dossier_ms": _median_ms(client, f"/referrals/{real}", r, "Files"),
    }
    figures["dossier_reviewer_ms"] = _reviewer_dossier_ms(store, admin, real, r)
    store.close()
    print(
        json.dumps(
            {
                "benchmark": "workspace",
                "referrals_in_queue": queued,
                "triaged_through_intake": args.base,
                **figures,
                "queue_vs_sign_in_page": round(
                    figures["queue_first_page_ms"] / figures["static_sign_in_page_ms"], 1
                ),
                "dossier_vs_sign_in_page": round(
                    figures["dossier_ms"] / figures["static_sign_in_page_ms"], 1
                ),
                "reviewer_dossier_vs_sign_in_page": round(
                    figures["dossier_reviewer_ms"] / figures["static_sign_in_page_ms"], 1
                ),
                "audit_events_added": args.audit_events,
                "repeat": r,
                "store_built_in_s": round(built_s, 1) if built_s else "earlier run",
                "audit_log_built_in_s": round(audit_s, 1) if audit_s else None,
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "date": datetime.now(UTC).date().isoformat(),
            }
        )
    )


if __name__ == "__main__":
    main()
