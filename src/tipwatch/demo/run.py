"""The demo: generate the world, run every stage of tipwatch on it, compare with the truth.

Stages: write the world's files; ingest the CyberTipline XML; import the hash lists (VICS
JSON and CSV); match the referrals' files; triage (attribution with the generated GeoIP
database, links, priority); route the package for the Netherlands; import the feeds and the
forum export; trends and alerts; the assessment. Then :class:`DemoReport` puts what tipwatch
found beside the truth.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tipwatch.demo.generate import DemoFiles, write_world
from tipwatch.demo.world import DemoWorld, build_world
from tipwatch.services import Actor, Role
from tipwatch.store import Store
from tipwatch.store.schema import (
    attributions,
    file_matches,
    link_groups,
    referral_files,
    referral_links,
)
from tipwatch.trends.alerts import quality_alerts, surge_alerts
from tipwatch.trends.countries import CountryTrend, analyse_countries
from tipwatch.trends.events import Event
from tipwatch.trends.signals import referral_series

__all__ = ["CountryCheck", "DemoReport", "run_demo"]

Progress = Callable[[str, int, int], None]

DEMO_PSEUDONYM_KEY = "tipwatch-demo-only-pseudonym-key"
"""The key the demo pseudonymises its invented forum handles with where the ``pseudonym_key``
setting names none (a real deployment sets its own secret)."""


@dataclass
class CountryCheck:
    country: str
    event: str
    truth_factor: float
    factor: float | None
    low: float | None
    high: float | None
    truth_change: date | None
    change: date | None

    @property
    def factor_ok(self) -> bool:
        return (
            self.low is not None
            and self.high is not None
            and (self.low <= self.truth_factor <= self.high)
        )

    @property
    def change_days_off(self) -> int | None:
        if self.truth_change is None or self.change is None:
            return None
        return (self.change - self.truth_change).days


@dataclass
class DemoReport:
    out: Path
    world: DemoWorld
    files: DemoFiles
    seconds: dict[str, float]
    checks: list[CountryCheck]
    month_ratios: dict[str, float]
    links_found: int
    links_planted: int
    known_found: dict[str, int]
    known_planted: dict[str, int]
    new_found: int
    viral_surge_alert: bool
    viral_quality_alert: bool
    outage_seen: bool
    gap_seen: bool
    package: Path | None
    assessment: Path
    findings: list[str] = field(default_factory=list)
    trends: list[CountryTrend] = field(default_factory=list)
    linked_groups: int = 0
    cross_border_groups: int = 0
    """Linked groups whose members are attributed to more than one country."""
    truth_cross_border_share: float = 0.0
    """The share of planted groups that truly span more than one country."""
    file_only_groups: int = 0
    """Linked groups tied by files alone. The demo's new files are each in one referral, so
    such a group could only be tied by listed or circulating files: there must be none."""

    @property
    def cross_border_share(self) -> float:
        return self.cross_border_groups / self.linked_groups if self.linked_groups else 0.0

    @property
    def surging(self) -> list[CountryCheck]:
        """The countries that truly surged."""
        return [c for c in self.checks if c.truth_change is not None]

    @property
    def changes_within_3_days(self) -> int:
        return sum(
            1 for c in self.surging if c.change_days_off is not None and abs(c.change_days_off) <= 3
        )

    @property
    def intervals_covering_truth(self) -> int:
        return sum(1 for c in self.surging if c.factor_ok)

    def as_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "changes_within_3_days": self.changes_within_3_days,
            "intervals_covering_truth": self.intervals_covering_truth,
            "referrals": self.files.referrals,
            "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
            "countries": [
                {
                    "country": c.country,
                    "event": c.event,
                    "truth_factor": round(c.truth_factor, 2),
                    "factor": None if c.factor is None else round(c.factor, 2),
                    "interval": None if c.low is None else [round(c.low, 2), round(c.high or 0, 2)],
                    "factor_interval_covers_truth": c.factor_ok,
                    "truth_change": c.truth_change.isoformat() if c.truth_change else None,
                    "change": c.change.isoformat() if c.change else None,
                    "change_days_off": c.change_days_off,
                }
                for c in self.checks
            ],
            "month_ratios": self.month_ratios,
            "links_found": self.links_found,
            "links_planted": self.links_planted,
            "linked_groups": self.linked_groups,
            "cross_border_share": round(self.cross_border_share, 4),
            "truth_cross_border_share": round(self.truth_cross_border_share, 4),
            "file_only_groups": self.file_only_groups,
            "known_found": self.known_found,
            "known_planted": self.known_planted,
            "viral_batch_reported_as_surge": self.viral_surge_alert,
            "viral_batch_reported_as_data_quality": self.viral_quality_alert,
            "service_outage_seen": self.outage_seen,
            "data_gap_seen": self.gap_seen,
            "assessment": str(self.assessment),
            "package": None if self.package is None else str(self.package),
            "findings": self.findings,
        }


def _timed(seconds: dict[str, float], name: str) -> Callable[[], None]:
    started = time.perf_counter()

    def done() -> None:
        seconds[name] = time.perf_counter() - started

    return done


def run_demo(
    out: Path,
    *,
    scale: float = 0.05,
    seed: int = 7,
    countries: list[str] | None = None,
    years: tuple[int, ...] = (2019, 2020),
    progress: Progress | None = None,
    assessment: bool = True,
    actor: Actor | None = None,
) -> DemoReport:
    """Generate the world into ``out`` (made afresh) and run tipwatch on it.

    Every step goes through the services, as ``actor`` (by default ``tipwatch-demo``, an
    admin), so the demo's store carries the audit log of a real day's work.
    """
    from tipwatch import services

    actor = actor or Actor("tipwatch-demo", Role.ADMIN)
    config = services.triage.load_triage_config()

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    seconds: dict[str, float] = {}
    done = _timed(seconds, "generate")
    world = build_world(scale=scale, seed=seed, countries=countries, years=years)
    files = write_world(world, out / "world", progress)
    _sample_media(out / "media", seed)
    done()
    store = Store.open(str(out / "tipwatch.db"))
    try:
        done = _timed(seconds, "ingest")
        services.referrals.ingest(store, actor, files.referral_files, progress=progress)
        done()
        done = _timed(seconds, "match")
        if progress:
            progress("matching", 0, 1)
        services.matching.import_list(
            store,
            actor,
            files.vics,
            name="demo-vics",
            version="2020-04",
            list_format="vics",
            scheme="projectvic_us",
        )
        services.matching.import_list(
            store,
            actor,
            files.hash_csv,
            name="demo-csv",
            version="2020-04",
            list_format="csv",
            scheme="industry",
        )
        services.matching.match_referrals(store, actor)
        done()
        done = _timed(seconds, "triage")
        services.triage.run_triage(
            store, actor, config=config, geoip=files.geoip, progress=progress
        )
        done()
        done = _timed(seconds, "route")
        package = services.triage.route(store, actor, "NL", out / "packages" / "NL", config=config)
        done()
        done = _timed(seconds, "signals")
        services.trends.import_signals(store, actor, files.blocked, "blocked")
        services.trends.import_signals(store, actor, files.helpline, "helpline")
        if files.forum is not None:
            services.forums.ingest(
                store, actor, [files.forum], pseudonym_key=DEMO_PSEUDONYM_KEY, progress=progress
            )
        done()
        done = _timed(seconds, "trends")
        report = _compare(store, world, files, out, seconds)
        report.package = package.folder
        done()
        if assessment:
            done = _timed(seconds, "assessment")
            if progress:
                progress("writing the assessment", 0, 1)
            written = services.assessment.write_assessment(
                store, actor, since=world.start, until=world.end, out=report.assessment
            )
            report.findings = [f.text for f in written.assessment.findings]
            done()
    finally:
        store.close()
    (out / "summary.json").write_text(
        json.dumps(report.as_dict(), indent=2, default=str) + "\n", encoding="utf-8"
    )
    return report


def _sample_media(folder: Path, seed: int, count: int = 4) -> None:
    """A few generated, benign images (shapes and text cards) to try ``tipwatch hash`` on."""
    from tipwatch.demo.images import generated_image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image = generated_image(seed * 7919 + i, (640, 480), kind=("shapes", "card")[i % 2])
        image.save(folder / f"sample-{i + 1}.jpg", "JPEG", quality=90)


def _compare(
    store: Store, world: DemoWorld, files: DemoFiles, out: Path, seconds: dict[str, float]
) -> DemoReport:
    from tipwatch.trends.simulate import true_factor

    series = referral_series(store, start=world.start, end=world.end)
    series.pop("unknown", None)
    followed = [
        Event(c, t.event, "followed", world.event_kind[c], "demo truth")
        for c, t in world.countries.items()
        if t.event is not None
    ]
    trends = analyse_countries(series, followed, event_kind="followed")
    by_country = {t.country: t for t in trends}
    checks = []
    for country, truth in sorted(world.countries.items()):
        trend = by_country.get(country)
        event = truth.event
        surge = trend.surge if trend else None
        change = trend.change if trend else None
        checks.append(
            CountryCheck(
                country=country,
                event=world.event_kind[country],
                truth_factor=true_factor(truth, event) if event and truth.peak_factor != 1 else 1.0,
                factor=surge.factor if surge else None,
                low=surge.low if surge else None,
                high=surge.high if surge else None,
                truth_change=truth.surge_start,
                change=change.date if change else None,
            )
        )
    ratios = _month_ratios(store, world)
    groups = _groups(store)
    found = sum(
        1
        for ids in files.planted_links
        if len({groups.get(i) for i in ids}) == 1 and groups.get(ids[0]) is not None
    )
    known_found, new_found = _known(store, files)
    linked_groups, cross_border, file_only = _group_countries(store)
    planted_cross = sum(len(set(c)) > 1 for c in files.planted_link_countries)
    planted: dict[str, int] = {}
    for kind in files.known_files.values():
        planted[kind] = planted.get(kind, 0) + 1
    alerts = surge_alerts(series)
    viral_day = date.fromisoformat(world.viral["day"])
    viral_country = world.viral["country"]
    quality = quality_alerts(store, series)
    gap_from = date.fromisoformat(world.gap["from"])
    outage_seen = _outage_seen(quality, world)
    return DemoReport(
        out=out,
        world=world,
        files=files,
        seconds=seconds,
        checks=checks,
        month_ratios=ratios,
        links_found=found,
        links_planted=len(files.planted_links),
        known_found=known_found,
        known_planted=planted,
        new_found=new_found,
        viral_surge_alert=any(a.country == viral_country and a.day == viral_day for a in alerts),
        viral_quality_alert=any(
            q.kind == "viral-batch" and q.country == viral_country and q.day == viral_day
            for q in quality
        ),
        outage_seen=outage_seen,
        gap_seen=any(
            q.kind == "gap"
            and q.country == world.gap["country"]
            and gap_from <= q.day <= gap_from + timedelta(days=2)
            for q in quality
        ),
        package=None,
        assessment=out / "assessment.html",
        trends=trends,
        linked_groups=linked_groups,
        cross_border_groups=cross_border,
        truth_cross_border_share=planted_cross / len(files.planted_links)
        if files.planted_links
        else 0.0,
        file_only_groups=file_only,
    )


def _month_ratios(store: Store, world: DemoWorld) -> dict[str, float]:
    """The world's March and April 2020 referrals over 2019 (all countries, all referrals)."""
    out: dict[str, float] = {}
    if 2019 not in world.years:
        return out
    totals: dict[tuple[int, int], float] = {}
    for year in (2019, 2020):
        found = referral_series(
            store, start=date(year, 3, 1), end=date(year, 4, 30), collapse_viral=False
        )
        for s in found.values():
            for i, v in enumerate(s.values):
                d = s.day(i)
                totals[(d.year, d.month)] = totals.get((d.year, d.month), 0.0) + float(v)
    for month, name in ((3, "march"), (4, "april")):
        if totals.get((2019, month)):
            out[f"{name}_2020_over_2019"] = round(totals[(2020, month)] / totals[(2019, month)], 2)
            out[f"{name}_truth"] = world.calibration[f"{name}_2020_over_2019"]
            out[f"{name}_ncmec"] = world.calibration[f"ncmec_{name}_2020_over_2019"]
    return out


def _groups(store: Store) -> dict[str, int]:
    link = referral_links.c
    with store.read() as conn:
        return {
            r.report_id: r.group_id
            for r in conn.execute(
                select(link.report_id, link.group_id).where(link.kind == "linked")
            )
        }


def _group_countries(store: Store) -> tuple[int, int, int]:
    """``(linked groups, of them spanning countries, of them tied by files alone)``."""
    link, a, g = referral_links.c, attributions.c, link_groups.c
    countries: dict[int, set[str]] = {}
    file_only = 0
    with store.read() as conn:
        for r in conn.execute(
            select(link.group_id, a.country)
            .select_from(referral_links.outerjoin(attributions, a.report_id == link.report_id))
            .where(link.kind == "linked")
        ):
            found = countries.setdefault(r.group_id, set())
            if r.country:
                found.add(r.country)
        for r in conn.execute(select(g.reasons).where(g.kind == "linked")):
            if not {"account", "ip"} & set(json.loads(r.reasons)):
                file_only += 1
    return len(countries), sum(len(c) > 1 for c in countries.values()), file_only


def _known(store: Store, files: DemoFiles) -> tuple[dict[str, int], int]:
    """Planted known files found with the right kind of match; files found new."""
    f, m = referral_files.c, file_matches.c
    with store.read() as conn:
        kinds: dict[str, set[str]] = {}
        for row in conn.execute(select(m.report_id, m.file_id, m.kind)):
            kinds.setdefault(f"{row.report_id}/{row.file_id}", set()).add(row.kind)
        new = sum(1 for _ in conn.execute(select(f.file_id).where(f.match_status == "new")))
    found: dict[str, int] = {}
    for key, kind in files.known_files.items():
        if kind in kinds.get(key, set()):
            found[kind] = found.get(kind, 0) + 1
    return found, new


def _outage_seen(quality: list[Any], world: DemoWorld) -> bool:
    """Whether the data-quality alerts name the planted outage on its days."""
    first = date.fromisoformat(world.outage["from"])
    last = date.fromisoformat(world.outage["to"])
    flagged = {
        q.day for q in quality if q.kind == "service-outage" and world.outage["service"] in q.detail
    }
    return all(first + timedelta(days=i) in flagged for i in range((last - first).days + 1))
