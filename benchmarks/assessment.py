"""Benchmark: the threat assessment for 30 countries and 6 months (issue 6).

Builds (once, kept in ``benchmarks/out/``) a store of generated referrals for 30 countries
(EU27, GB, NO, CH) over January to June 2020, each surging after its shipped OxCGRT
stay-at-home date (Sweden, Norway and Iceland, which had none, do not surge), ingested and
triaged through tipwatch itself. Then times ``build_assessment`` + ``render_html`` for the
half-year (the bar: 20 s), June alone and the whole of 2020, and, apart, the HTML and PDF
written together (two printings). Baseline in the same run: reading the 30 daily series from
the store (``referral_series``), the data the report rests on.

    python benchmarks/assessment.py
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "out"
COUNTRIES = (
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE GB NO CH"
).split()


def build_store() -> tuple[Path, float, int]:
    from tipwatch.intake import ingest_paths
    from tipwatch.store import Store
    from tipwatch.trends.events import list_events
    from tipwatch.trends.simulate import SurgeTruth, referral_records
    from tipwatch.triage.run import triage_store

    OUT.mkdir(exist_ok=True)
    db = OUT / "assessment-30.db"
    if db.exists():
        return db, 0.0, 0
    rng = np.random.default_rng(30)
    stay = {e.country: e.date for e in list_events(None, kind="stay-at-home")}
    truths = [
        SurgeTruth(
            c,
            date(2020, 1, 1),
            182,
            float(rng.choice([8, 20, 45])),
            stay.get(c),
            int(rng.integers(0, 7)),
            float(rng.uniform(1.4, 2.6)) if c in stay else 1.0,
            ramp=int(rng.integers(3, 10)),
        )
        for c in COUNTRIES
    ]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "referrals.jsonl"
        n = 0
        with path.open("w") as fh:
            for record in referral_records(truths, seed=30):
                fh.write(json.dumps(record) + "\n")
                n += 1
        building = db.with_suffix(".building")
        building.unlink(missing_ok=True)
        store = Store.open(str(building))
        ingest_paths(store, [path])
        triage_store(store)
        store.close()
    os.replace(building, db)
    return db, time.perf_counter() - start, n


def main() -> None:
    from tipwatch.report.assessment import build_assessment
    from tipwatch.report.render import render_html, write_report
    from tipwatch.store import Store
    from tipwatch.trends.signals import referral_series

    db, built_s, referrals = build_store()
    store = Store.open(str(db))
    start, end = date(2020, 1, 1), date(2020, 6, 30)
    t = time.perf_counter()
    series = referral_series(store, start=start, end=end)
    read_s = time.perf_counter() - t
    t = time.perf_counter()
    assessment = build_assessment(store, start=start, end=end)
    html = render_html(assessment)
    build_s = time.perf_counter() - t
    periods = {}
    for name, (a, b) in {
        "june_2020": (date(2020, 6, 1), date(2020, 6, 30)),
        "year_2020": (date(2020, 1, 1), date(2020, 12, 31)),
    }.items():
        t = time.perf_counter()
        render_html(build_assessment(store, start=a, end=b))
        periods[f"{name}_html_s"] = round(time.perf_counter() - t, 2)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "a.html"
        t = time.perf_counter()
        # two printings: the second carries the contents' page numbers read from the first
        write_report(assessment, page, Path(tmp) / "a.pdf")
        pdf_s = time.perf_counter() - t
        pdf_mb = (Path(tmp) / "a.pdf").stat().st_size / 1e6
    print(
        json.dumps(
            {
                "benchmark": "assessment",
                "countries": len(series),
                "days": (end - start).days + 1,
                "referrals": referrals or "earlier run",
                "baseline_read_series_s": round(read_s, 2),
                "tipwatch_assessment_html_s": round(build_s, 2),
                "assessment_vs_read": round(build_s / read_s, 1),
                **periods,
                "html_mb": round(len(html.encode()) / 1e6, 2),
                "findings": len(assessment.findings),
                "sections": len(assessment.sections),
                "charts": len(assessment.charts),
                "html_and_pdf_s": round(pdf_s, 2),
                "pdf_mb": round(pdf_mb, 2),
                "store_built_in_s": round(built_s, 1) if built_s else "earlier run",
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "date": datetime.now(UTC).date().isoformat(),
            }
        )
    )


if __name__ == "__main__":
    main()
