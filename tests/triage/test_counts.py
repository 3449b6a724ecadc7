"""Referral counts by triage results (triage.counts), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import insert

from tipwatch.store import Store
from tipwatch.store.schema import attributions, referral_links, referrals
from tipwatch.triage.attribution import Attribution, Evidence
from tipwatch.triage.counts import (
    AttributionQuality,
    DailyCount,
    attribution_quality,
    country_attribution_quality,
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


def _attribution(*evidence: Evidence) -> Attribution:
    from tipwatch.triage.attribution import decide

    return decide(list(evidence))


def test_country_attribution_quality_by_evidence_confidence_and_proxy(store: Store) -> None:
    """Attributions made by the real decision rule from evidence of each kind: an upload IP
    (high), an unverified estimated location (medium), a login IP (low), an upload IP behind
    a flagged proxy (the deciding evidence a proxy: lowered), and clean evidence beside a
    flagged address at the same level."""
    upload = Evidence("file_upload_ip", "file f1 upload IP 192.0.2.10", "NL")
    cases = {
        "q1": (datetime(2021, 3, 1, 9), _attribution(upload)),
        "q2": (
            datetime(2021, 3, 1, 10),
            _attribution(Evidence("estimated_unverified", "account u estimated", "NL")),
        ),
        "q3": (
            datetime(2021, 3, 2, 10),
            _attribution(Evidence("login_ip", "account u login IP 192.0.2.11", "NL")),
        ),
        "q4": (
            datetime(2021, 3, 2, 11),
            _attribution(
                Evidence("file_upload_ip", "file f2 upload IP 203.0.113.70", "NL", proxy=True)
            ),
        ),
        "q5": (
            datetime(2021, 3, 3, 11),
            _attribution(
                upload,
                Evidence("file_upload_ip", "file f3 upload IP 192.0.2.12", "NL", proxy=True),
            ),
        ),
        "q6": (datetime(2021, 3, 2, 12), _attribution(upload)),  # renamed to BE below
        "q7": (datetime(2021, 3, 2, 13), _attribution()),  # no evidence: no country
        "q8": (datetime(2021, 3, 2, 14), None),  # not triaged
        "q9": (datetime(2021, 4, 1, 9), _attribution(upload)),  # outside the period
    }
    with store.atomic() as conn:
        for report_id, (when, found) in cases.items():
            conn.execute(
                insert(referrals).values(
                    report_id=report_id,
                    incident_type="child-pornography",
                    incident_time=when,
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
            if found is None:
                continue
            conn.execute(
                insert(attributions).values(
                    report_id=report_id,
                    country="BE" if report_id == "q6" else found.country,
                    confidence=found.confidence,
                    level=found.level,
                    evidence=json.dumps(found.evidence_json()),
                    referral_revision=1,
                    attributed_at=NOW,
                )
            )
    got = country_attribution_quality(store, "NL", since=D1, until=D3)
    assert got.attributed == 5
    assert got.by_level == {
        "file_upload_ip": 3,
        "estimated_unverified": 1,
        "login_ip": 1,
    }
    assert list(got.by_level) == ["file_upload_ip", "estimated_unverified", "login_ip"]
    # High: q1 (0.9) and q5 (its clean address outvotes the flagged one: 0.9). Medium: q2
    # (0.55) and q4 (0.9 lowered to 0.54, its deciding address a proxy). Low: q3 (0.4).
    assert got.by_confidence == {"high": 2, "medium": 2, "low": 1}
    assert (got.possible_proxy, got.proxy_decided) == (2, 1)
    assert got.proxy_share == 2 / 5
    assert (got.unattributed, got.not_triaged) == (1, 1)
    # One day; an open end; another country; a period with none.
    day = country_attribution_quality(store, "NL", since=D2, until=D2)
    assert (day.attributed, day.by_confidence, day.unattributed, day.not_triaged) == (
        2,
        {"high": 0, "medium": 1, "low": 1},
        1,
        1,
    )
    assert country_attribution_quality(store, "NL").attributed == 6
    # The first and last days a date can name are ends like any other.
    widest = country_attribution_quality(store, "NL", since=date.min, until=date.max)
    assert widest.attributed == 6 and widest.not_triaged == 1
    # Referrals not attributed yet are counted in the whole store, whatever the period.
    assert country_attribution_quality(store, "NL", since=D3, until=D3).not_triaged == 1
    assert country_attribution_quality(store, "BE", since=D1, until=D3).by_level == {
        "file_upload_ip": 1
    }
    none = country_attribution_quality(store, "FR", since=D1, until=D3)
    assert (none.attributed, none.proxy_share, none.by_level) == (0, None, {})
    assert none.by_confidence == {"high": 0, "medium": 0, "low": 0}
