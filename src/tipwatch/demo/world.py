"""The demo's invented world, calibrated on public figures, with its truth.

* Each country's daily baseline is its 2019 CyberTipline count (NCMEC, shipped) times the
  scale, over 365 days; 2020 runs 5% above 2019. All of 2019 and January to June 2020.
* Each country surges from its own OxCGRT stay-at-home date, the first order anywhere in the
  country (or its school-closure date when it had no stay-at-home order), after a lag of 0 to
  6 days, ramping to a peak, holding, and decaying. Sweden, which closed neither primary
  schools nor ordered people home, does not surge. The Netherlands peaks so that its four
  weeks from its order run at twice its baseline. The other countries share one peak factor,
  solved so that the world's April 2020 stands to April 2019 at about 4 (NCMEC: about 4.1
  million against 1.0 million); March then comes out near 2 (NCMEC: 2.0 million against 0.98
  million).
* Confounders: a viral batch (one meme shared by many accounts in one day in one country), a
  week-long outage of one reporting service, and a three-day data gap in one country.

Everything is drawn from the seed: the same seed gives the same world.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from importlib import resources
from typing import Any

import numpy as np

from tipwatch.countries import alpha3_to_alpha2
from tipwatch.trends.events import shipped_events
from tipwatch.trends.simulate import SurgeTruth, expected_counts, surge_multiplier, true_factor

__all__ = ["DEMO_COUNTRIES", "SERVICES", "DemoWorld", "build_world", "ncmec_2019"]

DEMO_COUNTRIES = (
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE GB NO CH IS"
).split()
"""EU27 and GB, NO, CH, IS: the countries of the shipped OxCGRT data, without the US."""

SERVICES = {
    "Example Photo Service": 0.45,
    "Example Chat": 0.25,
    "Example Video": 0.2,
    "Example Cloud Drive": 0.1,
}
"""Invented reporting services and their share of referrals."""

GROWTH_2020 = 1.05
DISPERSION = 50.0


def ncmec_2019() -> dict[str, int]:
    """NCMEC's 2019 CyberTipline reports by country (ISO alpha-2), for the demo countries."""
    name = "ncmec_cybertipline_reports_by_country_2019_2023.csv"
    text = (resources.files("tipwatch") / "data" / name).read_text(encoding="utf-8")
    out = {}
    for row in csv.DictReader(io.StringIO(text)):
        code = alpha3_to_alpha2(row["iso3"] or "")
        if code and row["reports_2019"]:
            out[code] = int(row["reports_2019"])
    return out


@dataclass
class DemoWorld:
    seed: int
    scale: float
    start: date
    end: date
    countries: dict[str, SurgeTruth]
    """The 2020 truth of each country (the 2019 year is the same baseline without a surge)."""
    years: tuple[int, ...]
    event_kind: dict[str, str]
    """Which event each country's surge follows: stay-at-home, school-closure or none."""
    viral: dict[str, Any]
    outage: dict[str, Any]
    gap: dict[str, Any]
    calibration: dict[str, float] = field(default_factory=dict)

    def truth_json(self) -> dict[str, Any]:
        def plain(t: SurgeTruth) -> dict[str, Any]:
            d = asdict(t)
            for k, v in list(d.items()):
                if isinstance(v, date):
                    d[k] = v.isoformat()
            d["surge_start"] = t.surge_start.isoformat() if t.surge_start else None
            d["factor_4_weeks_from_event"] = (
                round(true_factor(t, t.event), 3) if t.event and t.peak_factor != 1.0 else 1.0
            )
            d.pop("extra", None)
            d.pop("weekly", None)
            return d

        return {
            "seed": self.seed,
            "scale": self.scale,
            "years": list(self.years),
            "periods": {
                str(y): (
                    f"{self.start:%m-%d} to {self.end:%m-%d}" if y == self.start.year else "whole"
                )
                for y in self.years
            },
            "weekly_pattern_monday_to_sunday": list(next(iter(self.countries.values())).weekly),
            "dispersion": DISPERSION,
            "growth_2020": GROWTH_2020,
            "services": SERVICES,
            "countries": {c: plain(t) for c, t in sorted(self.countries.items())},
            "event_followed": self.event_kind,
            "confounders": {
                "viral_batch": self.viral,
                "service_outage": self.outage,
                "data_gap": self.gap,
            },
            "calibration": self.calibration,
        }


def _month_ratio(truths: dict[str, SurgeTruth], month: int, year_start: date) -> float:
    """World total of a 2020 month over the same month of 2019 (expected counts)."""
    first = date(year_start.year, month, 1)
    last = date(year_start.year, month + 1, 1) - timedelta(days=1)
    now = before = 0.0
    for t in truths.values():
        mult = surge_multiplier(t)
        i0, i1 = (first - t.start).days, (last - t.start).days + 1
        now += t.baseline * float(mult[i0:i1].sum())
        before += t.baseline / GROWTH_2020 * (i1 - i0)
    return now / before


def build_world(
    *,
    scale: float = 0.05,
    seed: int = 7,
    countries: list[str] | None = None,
    years: tuple[int, ...] = (2019, 2020),
) -> DemoWorld:
    """Calibrate the world (see the module docstring)."""
    rng = np.random.default_rng(seed)
    counts = ncmec_2019()
    wanted = countries or list(DEMO_COUNTRIES)
    events: dict[tuple[str, str], date] = {(e.country, e.kind): e.date for e in shipped_events()}
    start, end = date(2020, 1, 1), date(2020, 6, 30)
    days = (end - start).days + 1
    truths: dict[str, SurgeTruth] = {}
    followed: dict[str, str] = {}

    def make(country: str, peak: float) -> SurgeTruth:
        # the first stay-at-home order anywhere in the country (a region, or all of it)
        event = events.get((country, "stay-at-home-regional"))
        kind = "stay-at-home"
        if event is None:
            event, kind = events.get((country, "school-closure-regional")), "school-closure"
        if country == "SE":
            event, kind = None, "none"
        followed[country] = kind if event else "none"
        return SurgeTruth(
            country=country,
            start=start,
            days=days,
            baseline=counts.get(country, 1000) / 365 * scale * GROWTH_2020,
            event=event,
            lag=lags[country],
            peak_factor=peak if event else 1.0,
            ramp=ramps[country],
            plateau=21,
            decay_days=35.0,
            after=1.3,
            dispersion=DISPERSION,
        )

    lags = {c: int(rng.integers(0, 7)) for c in wanted}
    ramps = {c: int(rng.integers(4, 9)) for c in wanted}
    jitter = {c: float(rng.uniform(0.85, 1.15)) for c in wanted}

    def world_with(peak: float) -> dict[str, SurgeTruth]:
        out = {c: make(c, max(1.2, peak * jitter[c])) for c in wanted if c != "NL"}
        if "NL" in wanted:
            out["NL"] = make("NL", nl_peak)
        return out

    # The Netherlands: twice its baseline in the four weeks from its order.
    nl_peak = 2.0
    if "NL" in wanted:
        lo, hi = 1.0, 4.0
        for _ in range(40):
            mid = (lo + hi) / 2
            t = make("NL", mid)
            assert t.event is not None
            lo, hi = (mid, hi) if true_factor(t, t.event) < 2.0 else (lo, mid)
        nl_peak = (lo + hi) / 2
    # Everyone else: April 2020 about 4x April 2019 for the world.
    lo, hi = 1.0, 12.0
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _month_ratio(world_with(mid), 4, start) < 4.0 else (lo, mid)
    truths = world_with((lo + hi) / 2)
    calibration = {
        "peak_factor_others": round((lo + hi) / 2, 3),
        "peak_factor_nl": round(nl_peak, 3),
        "march_2020_over_2019": round(_month_ratio(truths, 3, start), 2),
        "april_2020_over_2019": round(_month_ratio(truths, 4, start), 2),
        "ncmec_march_2020_over_2019": round(2_000_000 / 983_000, 2),
        "ncmec_april_2020_over_2019": round(4_100_000 / 1_000_000, 2),
    }
    busiest = max(truths.values(), key=lambda t: t.baseline if t.event else 0)
    viral_country = "IT" if "IT" in truths else busiest.country
    viral_day = date(2020, 4, 21)
    viral_size = max(40, int(3 * truths[viral_country].baseline))
    gap_country = "PL" if "PL" in truths else busiest.country
    return DemoWorld(
        seed=seed,
        scale=scale,
        start=start,
        end=end,
        countries=truths,
        years=years,
        event_kind=followed,
        viral={
            "country": viral_country,
            "day": viral_day.isoformat(),
            "referrals": viral_size,
            "accounts": viral_size,
            "md5": f"{rng.integers(0, 2**63):016x}" * 2,
        },
        outage={"service": "Example Chat", "from": "2020-02-10", "to": "2020-02-16"},
        gap={"country": gap_country, "from": "2020-05-05", "to": "2020-05-07"},
        calibration=calibration,
    )


DAYS_2019 = 365
"""2019 is generated whole, so the store holds one unbroken series from 1 January 2019 to
30 June 2020 (a gap of half a year would read as zero referrals and as a change)."""


def expected_2019(truth: SurgeTruth) -> np.ndarray:
    """All of 2019: the baseline with the weekly pattern, no surge."""
    flat = SurgeTruth(
        truth.country, truth.start.replace(year=2019), DAYS_2019, truth.baseline / GROWTH_2020
    )
    return expected_counts(flat)
