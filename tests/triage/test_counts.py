"""Referral counts by triage results (triage.counts), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import insert

from tipwatch.store import Store
from tipwatch.store.schema import attributions, referral_links, referrals
from tipwatch.triage.counts import (
    AttributionQuality,
    DailyCount,
    attribution_quality,
    daily_counts_by_country,
)

NOW = datetime(2021, 6, 1)
D1, D2, D3 = date(2021, 3, 1), date(2021, 3, 2), date(2021, 3, 3)

# report id, incident time, service, attributed country ("-": none; None: not attributed),
# confidence, evidence, viral
REFERRALS = [
    ("r1", datetime(2021, 3, 1, 0, 0), "Svc A", "NL", 0.9, "ip", False),
    ("r2", datetime(2021, 3, 1, 23, 59), "Svc A", "NL", 0.4, "ip possible proxy", True),
    ("r3", datetime(2021, 3, 1, 12, 0), "Svc B", "NL", 0.9, "ip", True),
    ("r4", datetime(2021, 3, 2, 8, 0), None, "BE", 0.3, "account", False),
    ("r5", datetime(2021, 3, 2, 9, 0), "Svc B", "-", 0.0, "nothing", False),
    ("r6", datetime(2021, 3, 3, 9, 0), "Svc A", None, 0.0, "", True),
]


def _fill(store: Store) -> None:
    with store.atomic() as conn:
        for report_id, when, service, country, confidence, evidence, viral in REFERRALS:
            conn.execute(
                insert(referrals).values(
                    report_id=report_id,
                    incident_type="child-pornography",
                    incident_time=when,
                    platform=service,
                    escalated=False,
                    batched=False,
                    file_count=0,
                    revision=1,
                    content_hash="0" * 64,
                    document="{}",
                    ingested_at=NOW,
                    updated_at=NOW,
                )
            )
            if country is not None:
                conn.execute(
                    insert(attributions).values(
                        report_id=report_id,
                        country=None if country == "-" else country,
                        confidence=confidence,
                        evidence=json.dumps({"items": [evidence]}),
                        referral_revision=1,
                        attributed_at=NOW,
                    )
                )
            if viral:
                conn.execute(
                    insert(referral_links).values(report_id=report_id, group_id=1, kind="viral")
                )


def test_daily_counts_by_country_service_and_viral(store: Store) -> None:
    _fill(store)
    assert sorted(daily_counts_by_country(store), key=lambda c: (c.day, c.country)) == [
        DailyCount("NL", D1, 3),
        DailyCount("BE", D2, 1),
        DailyCount("unknown", D2, 1),
        DailyCount("unknown", D3, 1),
    ]
    by_service = daily_counts_by_country(store, by_service=True)
    assert sorted(by_service, key=lambda c: (c.day, c.country, c.service or "")) == [
        DailyCount("NL", D1, 2, "Svc A"),
        DailyCount("NL", D1, 1, "Svc B"),
        DailyCount("BE", D2, 1, None),
        DailyCount("unknown", D2, 1, "Svc B"),
        DailyCount("unknown", D3, 1, "Svc A"),
    ]
    viral = daily_counts_by_country(store, viral_only=True)
    assert sorted(viral, key=lambda c: c.day) == [
        DailyCount("NL", D1, 2),
        DailyCount("unknown", D3, 1),
    ]
    # Both ends of the range are whole days included.
    ranged = daily_counts_by_country(store, since=D2, until=D2)
    assert sorted((c.country, c.referrals) for c in ranged) == [("BE", 1), ("unknown", 1)]
    assert daily_counts_by_country(store, since=D1, until=D1) == [DailyCount("NL", D1, 3)]


def test_attribution_quality_of_a_period(store: Store) -> None:
    _fill(store)
    assert attribution_quality(store, since=D1, until=D2) == AttributionQuality(
        referrals=5, possible_proxy=1, low_confidence=3, unattributable=1
    )
    # Unattributable counts the whole store; the rest only the period.
    assert attribution_quality(store, since=D3, until=D3) == AttributionQuality(0, 0, 0, 1)
    assert attribution_quality(store, since=D1, until=D1, low_confidence=0.95).low_confidence == 3
