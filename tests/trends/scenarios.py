"""The truth scenarios of the accuracy tests: 30 countries, each surging after its own event."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from tipwatch.trends.simulate import SurgeTruth


def surge_scenario(seed: int, countries: int = 30, *, dispersion: float = 50.0) -> list[SurgeTruth]:
    """Half a year from January, events spread over March, surges of 1.5x to 3x."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(countries):
        event = date(2020, 3, 1) + timedelta(days=int(rng.integers(0, 31)))
        out.append(
            SurgeTruth(
                country=f"C{i:02d}",
                start=date(2020, 1, 1),
                days=182,
                baseline=float(rng.choice([40, 150, 600, 2500])),
                event=event,
                lag=int(rng.integers(0, 8)),
                peak_factor=float(rng.uniform(1.5, 3.0)),
                ramp=int(rng.integers(3, 11)),
                plateau=14,
                dispersion=dispersion,
            )
        )
    return out


def quiet_scenario(seed: int, countries: int = 30, *, dispersion: float = 50.0) -> list[SurgeTruth]:
    """A year with no surge anywhere."""
    rng = np.random.default_rng(seed)
    return [
        SurgeTruth(
            country=f"Q{i:02d}",
            start=date(2019, 1, 1),
            days=365,
            baseline=float(rng.choice([40, 150, 600, 2500])),
            dispersion=dispersion,
        )
        for i in range(countries)
    ]
