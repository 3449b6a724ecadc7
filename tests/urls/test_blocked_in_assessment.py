"""Counts from a filter log reach the assessment: its finding, chart and caveat."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tests.report.test_assessment import world  # noqa: F401 (the generated, triaged store)
from tipwatch import services
from tipwatch.report.assessment import build_assessment
from tipwatch.services import Actor, Role
from tipwatch.settings import load_settings
from tipwatch.store import Store

ANALYST = Actor("ana", Role.ANALYST)


def test_blocked_counts_appear_in_the_assessment(world: Path, tmp_path: Path) -> None:  # noqa: F811
    db = tmp_path / "world.db"
    shutil.copy(world, db)
    store = Store.open(str(db))
    try:
        listing = tmp_path / "list.txt"
        listing.write_text("bad.invalid host\n")
        services.urls.import_list(store, ANALYST, listing, list_name="hotline", version="1")
        first = date(2020, 3, 1)
        per_day = {first + timedelta(days=i): 5 + (i % 7) for i in range(40)}
        log = tmp_path / "access.log"
        with log.open("w") as f:
            for day, n in per_day.items():
                t = datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp()
                for k in range(n):
                    f.write(
                        f"{t + k:.3f} 3 192.0.2.{k + 1} TCP_DENIED/403 3900 GET "
                        "http://bad.invalid/p - HIER_NONE/- text/html\n"
                    )
        summary = services.urls.ingest_logs(
            store,
            ANALYST,
            [log],
            list_name="hotline",
            provider="isp-a",
            country="NL",
            settings=load_settings(pseudonym_key="k" * 32),
        )
        assert summary["matched"] == sum(per_day.values())
        assessment = build_assessment(store, start=date(2020, 1, 1), end=date(2020, 6, 30))
    finally:
        store.close()
    found = [f for f in assessment.findings if f.id == "blocked-busiest"]
    assert len(found) == 1
    values = list(per_day.values())
    busiest = max(sum(values[i : i + 28]) for i in range(len(values) - 27))
    assert found[0].numbers["requests"] == busiest
    assert "blocked" in {s.id for s in assessment.sections}
    assert any(c.startswith("blocked") for c in assessment.charts), list(assessment.charts)
    assert any("requests, not people" in c for c in assessment.caveats)
