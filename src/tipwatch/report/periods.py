"""Periods of an assessment: a month, a quarter, a year or any span of days, with the periods
it is compared with (the one before, and the same one a year earlier), and the statistics of
those comparisons (a ratio of two totals with its interval, and how confident it is)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

__all__ = ["Period", "RatioEstimate", "confidence_of", "ratio_estimate"]


def _shift_year(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _month_end(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


@dataclass(frozen=True)
class Period:
    """A span of days, both ends included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def kind(self) -> str:
        """``month``, ``quarter``, ``half-year``, ``year`` or ``days``."""
        s, e = self.start, self.end
        if s.day != 1 or e != _month_end(e):
            return "days"
        months = (e.year - s.year) * 12 + e.month - s.month + 1
        if months == 1:
            return "month"
        if months == 3 and s.month in (1, 4, 7, 10):
            return "quarter"
        if months == 6 and s.month in (1, 7):
            return "half-year"
        if months == 12 and s.month == 1:
            return "year"
        return "days"

    @property
    def label(self) -> str:
        """``June 2020``, ``Q2 2020``, ``H1 2020``, ``2020``, or ``1 January to 30 June 2020``."""
        s, kind = self.start, self.kind
        if kind == "month":
            return f"{s:%B %Y}"
        if kind == "quarter":
            return f"Q{(s.month - 1) // 3 + 1} {s.year}"
        if kind == "half-year":
            return f"H{1 if s.month == 1 else 2} {s.year}"
        if kind == "year":
            return str(s.year)
        return self.span

    @property
    def span(self) -> str:
        """The dates in words, whatever the kind: ``1 June to 30 June 2020``."""
        s, e = self.start, self.end
        if s.year == e.year:
            return f"{s.day} {s:%B} to {e.day} {e:%B %Y}"
        return f"{s.day} {s:%B %Y} to {e.day} {e:%B %Y}"

    def previous(self) -> Period:
        """The period just before, of the same kind: the month, quarter or year before; for
        a span of days, as many days before."""
        kind = self.kind
        if kind in ("month", "quarter", "half-year", "year"):
            months = {"month": 1, "quarter": 3, "half-year": 6, "year": 12}[kind]
            index = self.start.year * 12 + self.start.month - 1 - months
            start = date(index // 12, index % 12 + 1, 1)
            return Period(start, self.start - timedelta(days=1))
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def year_earlier(self) -> Period:
        """The same dates a year earlier."""
        if self.kind != "days":
            start = _shift_year(self.start, -1)
            return Period(start, _month_end(_shift_year(self.end, -1).replace(day=1)))
        return Period(_shift_year(self.start, -1), _shift_year(self.end, -1))

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class RatioEstimate:
    """The total of a period against the total of a comparison period, per day."""

    current: float
    compared: float
    ratio: float
    low: float
    high: float
    """95% interval of the ratio."""
    dispersion: float

    @property
    def change(self) -> float:
        """The change as a fraction: +0.25 for 25% more."""
        return self.ratio - 1.0

    @property
    def confidence(self) -> str:
        return confidence_of(self.low, self.high)


def ratio_estimate(current: np.ndarray, compared: np.ndarray) -> RatioEstimate | None:
    """The ratio of the mean daily count of ``current`` to that of ``compared`` with a 95%
    interval on the log scale, widened by the counts' overdispersion (variance over mean of
    the daily counts, at least 1): ``None`` when either has a missing day or no count."""
    a = np.asarray(current, dtype=float)
    b = np.asarray(compared, dtype=float)
    if len(a) == 0 or len(b) == 0 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return None
    total_a, total_b = float(a.sum()), float(b.sum())
    if total_a <= 0 or total_b <= 0:
        return None
    phis = [float(x.var(ddof=1) / x.mean()) for x in (a, b) if len(x) > 1 and x.mean() > 0]
    phi = max(1.0, float(np.mean(phis))) if phis else 1.0
    ratio = (total_a / len(a)) / (total_b / len(b))
    se = math.sqrt(phi / total_a + phi / total_b)
    return RatioEstimate(
        current=total_a,
        compared=total_b,
        ratio=ratio,
        low=ratio * math.exp(-1.96 * se),
        high=ratio * math.exp(1.96 * se),
        dispersion=phi,
    )


def confidence_of(low: float, high: float) -> str:
    """How confident a ratio's 95% interval lets a reader be that something changed:
    ``high`` when the interval excludes 1 and spans less than a factor of 1.5, ``moderate``
    when it excludes 1, ``low`` when it includes 1 (no change cannot be ruled out)."""
    if low > 1.0 or high < 1.0:
        return "high" if high / max(low, 1e-12) < 1.5 else "moderate"
    return "low"
