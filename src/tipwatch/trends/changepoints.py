"""Change points: where a series' level (or its trend) shifts.

:func:`changepoints` works on any numeric series (counts or not, up to hundreds of thousands
of points) with no tuning. Real series are rarely white noise around flat levels, so the
default allows for three things the simplest detectors read as changes:

- **Dependent noise.** The noise is modelled as AR(1): its lag-1 correlation ``phi`` comes
  from the robust spreads (median absolute deviations) of the lag-1 and lag-2 differences,
  which a level shift barely moves. Evidence is measured in units of the *long-run* variance
  ``sigma^2 (1 + phi) / (1 - phi)`` (the variance of a mean of dependent noise, the scale
  Lavielle and Moulines use for least-squares change points under dependence), so slow
  wandering of AR noise does not pass for a shift.
- **Trends.** Each segment is a mean, or a straight line where that fits better by more than
  the price of a change; a steady trend is then one segment, and a break in slope a change.
- **Integrated series.** The spread of lag-k differences grows like (1 - phi^k)/(1 - phi)
  for AR(1) noise and like k (or faster) for a random walk or a smooth curve with little
  noise; ``phi`` is the value whose profile fits the spreads at lags 1 to 21 (at most n/20)
  best. From ``INTEGRATED_PHI`` on, no level of the series is stable enough to shift, and
  only jumps far outside its usual steps (outliers of the first differences, the level
  shifts of a random walk) are reported.

The number of changes is chosen by binary segmentation with a penalty of ``penalty`` x
long-run variance x log(n) per change (3 log n, as the modified BIC of Zhang and Siegmund
charges a change in mean). Single outlying points are clipped to 3 noise deviations of a
running median first (the robust loss idea of robust FPOP), so a one-day spike is not a
change. Series of non-negative integers are read as counts and square-root transformed
first, so that busy and quiet periods weigh alike; a positive series whose level spans a
factor of 2 or more and whose noise grows with it (:func:`choose_transform`) is read on a log
scale, where exponential growth is a line and its noise even. Each split scans its segment once with
cumulative sums, and each segment's best split is kept: the whole search is O(n x changes).

:func:`onset` refines where a rise *begins* (a ramp, not a step): a hinge, flat then rising,
fitted around a detected change, with an interval of the onsets the data cannot tell apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tipwatch.errors import InputError

__all__ = [
    "Change",
    "NoiseModel",
    "changepoints",
    "choose_transform",
    "clip_spikes",
    "detect_changes",
    "noise_model",
    "noise_sigma",
    "onset",
    "placement_evidence",
]

F64 = npt.NDArray[np.float64]
Indices = npt.NDArray[np.int64]

DEFAULT_PENALTY = 3.0
MAX_POINTS = 10_000_000
MAX_PHI = 0.95
"""Largest lag-1 correlation the noise model accepts; beyond it the series is integrated."""
INTEGRATED_PHI = 0.95
"""Fitted lag-1 correlation from which a series is read as integrated (a random walk)."""
_LAGS = (1, 2, 3, 5, 8, 13, 21)
_PHI_GRID = np.linspace(0.0, 1.0, 201)
CLIP_DEVIATIONS = 3.0
_CLIP_HALF_WINDOW = 3
_MAD_TO_SD = 1.4826


def _robust_var(diffs: F64) -> float:
    """Variance from the median absolute deviation: robust, but noisy on short series."""
    if len(diffs) == 0:
        return 0.0
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    return (_MAD_TO_SD * mad) ** 2


def _trimmed_var(diffs: F64) -> float:
    """Variance of the differences within 3 robust deviations of their median, corrected to
    the normal scale: nearly as efficient as the plain variance, and deaf to the few large
    differences that level shifts and outliers make."""
    if len(diffs) == 0:
        return 0.0
    centre = float(np.median(diffs))
    rough = _robust_var(diffs)
    if rough == 0.0:
        return 0.0
    kept = diffs[np.abs(diffs - centre) <= 3.0 * math.sqrt(rough)]
    # a normal variable kept within 3 sd has 0.9733 of its variance
    return float(np.mean((kept - centre) ** 2)) / 0.9733


def noise_sigma(values: F64) -> float:
    """Noise standard deviation from the median absolute deviation of first differences
    (the white-noise reading; :func:`noise_model` allows for autocorrelation)."""
    if len(values) < 3:
        return float(np.std(values)) if len(values) else 0.0
    diffs = np.diff(values)
    sigma = math.sqrt(_robust_var(diffs) / 2)
    if sigma == 0.0:
        # Mostly constant series: fall back on the plain spread of the differences.
        sigma = float(np.std(diffs)) / math.sqrt(2)
    return sigma


@dataclass(frozen=True, slots=True)
class NoiseModel:
    """AR(1) noise around the levels of a series, estimated robustly."""

    sigma: float
    """Standard deviation of the noise itself (its marginal spread)."""
    phi: float
    """Lag-1 correlation of the noise (0 for white noise)."""
    integrated: bool
    """True for a random walk or a smooth curve: no stable level to shift."""

    @property
    def long_run_sigma(self) -> float:
        """Standard deviation that sets the evidence scale: sigma x sqrt((1+phi)/(1-phi))."""
        return self.sigma * math.sqrt((1 + self.phi) / (1 - self.phi))


def noise_model(values: F64) -> NoiseModel:
    """Robust AR(1) noise model of ``values`` (see the module docstring)."""
    n = len(values)
    white = noise_sigma(values)
    lags = [k for k in _LAGS if k <= max(2, n // 20)]
    if n < 8:
        return NoiseModel(white, 0.0, False)
    spreads = np.array([_trimmed_var(values[k:] - values[:-k]) for k in lags])
    if spreads[0] == 0.0 or not np.all(spreads > 0):
        return NoiseModel(white, 0.0, False)
    # Var(x[t+k] - x[t]) / Var(x[t+1] - x[t]) is (1 - phi^k) / (1 - phi) for AR(1) noise and
    # k for a random walk (phi = 1): the phi whose profile fits the measured ratios best.
    k = np.array(lags, dtype=np.float64)
    phis = _PHI_GRID[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        profile = np.where(phis < 1.0, (1 - phis**k) / (1 - phis), k)
    misfit = ((np.log(profile) - np.log(spreads / spreads[0])) ** 2).sum(axis=1)
    phi_fit = float(_PHI_GRID[int(np.argmin(misfit))])
    phi = min(phi_fit, MAX_PHI)
    sigma = math.sqrt(float(spreads[0]) / (2 * (1 - phi)))
    return NoiseModel(sigma, phi, phi_fit >= INTEGRATED_PHI)


def _as_array(values: Sequence[float] | F64) -> F64:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"the series must be numbers: {exc}") from exc
    if arr.ndim != 1:
        raise InputError("the series must be one-dimensional")
    if len(arr) > MAX_POINTS:
        raise InputError(f"the series has {len(arr):,} points; at most {MAX_POINTS:,}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise InputError(f"value {bad} of the series is not a finite number ({arr[bad]})")
    return arr


def _is_counts(arr: F64) -> bool:
    return bool(len(arr)) and bool(np.all(arr >= 0)) and bool(np.all(arr == np.round(arr)))


PROPORTIONAL_SLOPE = 0.5
"""How steeply the spread of a positive series' steps must grow with its level (on log-log
axes: 1 when the noise is a fixed share of the level, 0 when it is fixed) for the series to be
read on a log scale."""


def _is_proportional(arr: F64) -> bool:
    """True for a positive series whose level spans at least a factor of 2 and whose noise
    grows with it (the spread of its steps, in four bands of level, rises at least
    ``PROPORTIONAL_SLOPE`` on log-log axes): a log makes its noise even and its growth a line."""
    n = len(arr)
    if n < 40 or not bool(np.all(arr > 0)):
        return False
    level = (arr[1:] + arr[:-1]) / 2
    low, high = np.quantile(level, [0.05, 0.95])
    if high < 2 * low:
        return False
    steps = np.diff(arr)
    bands = np.array_split(np.argsort(level), 4)
    spreads = []
    for band in bands:
        d = steps[band]
        spreads.append(float(np.median(np.abs(d - np.median(d)))))
    if min(spreads) <= 0:
        return False
    x = np.log([float(np.median(level[band])) for band in bands])
    y = np.log(spreads)
    slope = float(np.polyfit(x, y, 1)[0])
    return slope >= PROPORTIONAL_SLOPE


def choose_transform(values: Sequence[float] | F64) -> str:
    """The scale :func:`detect_changes` reads a series on by default: ``sqrt`` for counts,
    ``log`` for a positive series whose noise grows in proportion to its level, else
    ``none``."""
    arr = _as_array(values)
    if _is_counts(arr):
        return "sqrt"
    return "log" if _is_proportional(arr) else "none"


@dataclass(frozen=True, slots=True)
class Change:
    index: int
    """First index of the new segment."""
    gain: float
    """Reduction of the penalised squared error, in units of the long-run noise variance
    (for an integrated series: the squared jump, in units of the variance of its steps)."""
    before: float
    """Level just before the change (on the analysed scale): the segment's mean, or the end
    of its line where the segment is a trend."""
    after: float
    """Level at the change: the next segment's mean, or the start of its line."""


def _running_median(arr: F64, half: int) -> F64:
    padded = np.pad(arr, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    return np.asarray(np.median(windows, axis=1), dtype=np.float64)


class _Segmenter:
    """Costs of segments (a mean, or a line when it pays its price) from cumulative sums."""

    def __init__(self, arr: F64, slope_price: float, min_size: int) -> None:
        self.n = len(arr)
        self.offset = float(np.median(arr))
        centred = arr - self.offset  # the cumulative sums keep their precision
        t = np.arange(self.n, dtype=np.float64) - self.n / 2
        self.s1 = np.concatenate([[0.0], np.cumsum(centred)])
        self.st = np.concatenate([[0.0], np.cumsum(t * centred)])
        self.slope_price = slope_price
        self.min_size = min_size

    def _slope_saving(self, a: Indices | int, b: Indices | int) -> F64:
        """How much a line beats the mean on ``[a, b)``, less the line's price (>= 0)."""
        a_ = np.asarray(a, dtype=np.float64)
        b_ = np.asarray(b, dtype=np.float64)
        m = b_ - a_
        ai = np.asarray(a, dtype=np.int64)
        bi = np.asarray(b, dtype=np.int64)
        sx = self.s1[bi] - self.s1[ai]
        stx = self.st[bi] - self.st[ai]
        mid = (a_ + b_ - 1) / 2 - self.n / 2  # mean of t on the segment
        cov = stx - mid * sx
        with np.errstate(divide="ignore", invalid="ignore"):
            var_t = m * (m * m - 1) / 12
            explained = np.where(m > 2, cov * cov / np.where(var_t > 0, var_t, 1.0), 0.0)
        return np.asarray(np.maximum(explained - self.slope_price, 0.0), dtype=np.float64)

    def best_split(self, a: int, b: int) -> tuple[int, float]:
        """Best split of ``[a, b)``: (index, cost reduction) or (-1, 0)."""
        n = b - a
        ms = self.min_size
        if n < 2 * ms:
            return -1, 0.0
        idx = np.arange(a + ms, b - ms + 1, dtype=np.int64)
        k = (idx - a).astype(np.float64)
        s_left = self.s1[idx] - self.s1[a]
        total = self.s1[b] - self.s1[a]
        s_right = total - s_left
        # reduction of the squared error by two means instead of one
        gain = s_left**2 / k + s_right**2 / (n - k) - total**2 / n
        if self.slope_price < math.inf:
            gain = (
                gain
                - float(self._slope_saving(a, b))
                + self._slope_saving(np.full_like(idx, a), idx)
                + self._slope_saving(idx, np.full_like(idx, b))
            )
        best = int(np.argmax(gain))
        return int(idx[best]), float(gain[best])

    def level(self, a: int, b: int, at: int) -> float:
        """Fitted level of segment ``[a, b)`` at index ``at`` (its line if it pays, else mean)."""
        m = b - a
        sx = float(self.s1[b] - self.s1[a])
        mean = sx / m
        if m > 2 and float(self._slope_saving(a, b)) > 0:
            stx = float(self.st[b] - self.st[a])
            mid = (a + b - 1) / 2 - self.n / 2
            slope = (stx - mid * sx) / (m * (m * m - 1) / 12)
            return mean + slope * (at - (a + b - 1) / 2) + self.offset
        return mean + self.offset


def _integrated_jumps(arr: F64, sigma_step: float, threshold_sd: float, min_size: int) -> list[int]:
    """Level shifts of an integrated series: first differences far outside the usual steps."""
    diffs = np.diff(arr)
    half = max(min_size, 3)
    centre = _running_median(diffs, half) if len(diffs) > 2 * half else np.median(diffs)
    outside = np.abs(diffs - centre) > threshold_sd * sigma_step
    found: list[int] = []
    for i in np.flatnonzero(outside):
        index = int(i) + 1
        if min_size <= index <= len(arr) - min_size and (
            not found or index - found[-1] >= min_size
        ):
            found.append(index)
    return found


def clip_spikes(values: F64, sigma: float) -> F64:
    """``values`` with one-point outliers clipped to ``CLIP_DEVIATIONS`` x ``sigma`` of a
    running median of 7 points: a one-day spike is neither a change nor the start of one."""
    if sigma <= 0 or len(values) <= 2 * _CLIP_HALF_WINDOW + 1:
        return values
    centre = _running_median(values, _CLIP_HALF_WINDOW)
    bound = CLIP_DEVIATIONS * sigma
    return np.asarray(np.clip(values, centre - bound, centre + bound), dtype=np.float64)


def detect_changes(
    values: Sequence[float] | F64,
    *,
    penalty: float = DEFAULT_PENALTY,
    min_size: int = 5,
    max_changes: int | None = None,
    transform: str = "auto",
    trends: bool = True,
    slope_penalty: float | None = None,
) -> tuple[list[Change], float]:
    """Change points with their gains, and the long-run noise sigma used (see the module
    docstring). ``trends=False`` fits a mean to every segment (no lines). ``slope_penalty``
    prices a segment's line (x long-run variance x log n; default ``penalty``): a line has
    no position to search, so a price below ``penalty`` keeps a gentle trend from being
    read as a step."""
    arr = _as_array(values)
    if transform == "auto":
        transform = choose_transform(arr)
    if transform == "sqrt":
        arr = np.sqrt(arr + 3.0 / 8.0)
    elif transform == "log":
        if not bool(np.all(arr > 0)):
            bad = int(np.flatnonzero(arr <= 0)[0])
            raise InputError(f"value {bad} of the series is {arr[bad]}: a log needs values above 0")
        arr = np.log(arr)
    elif transform != "none":
        raise InputError(f"transform must be auto, sqrt, log or none, got {transform!r}")
    n = len(arr)
    min_size = max(1, int(min_size))
    if n < 2 * min_size:
        return [], 0.0
    noise = noise_model(arr)
    sigma = noise.long_run_sigma
    scale = max(1e-300, float(np.abs(arr - np.median(arr)).max()))
    if sigma == 0.0:
        # constant pieces with no noise: any shift above rounding error is a change
        sigma = 1e-6 * scale
    else:
        arr = clip_spikes(arr, noise.sigma)
    threshold = penalty * sigma**2 * math.log(n)
    if noise.integrated:
        step = math.sqrt(_robust_var(np.diff(arr))) or 1e-6 * scale
        jumps = _integrated_jumps(arr, step, math.sqrt(2 * penalty * math.log(n)), min_size)
        if max_changes is not None:
            jumps = jumps[:max_changes]
        bounds = [0, *jumps, n]
        changes = []
        for i, index in enumerate(jumps):
            before = float(np.mean(arr[bounds[i] : index]))
            after = float(np.mean(arr[index : bounds[i + 2]]))
            jump = float(arr[index] - arr[index - 1])
            changes.append(Change(index, jump * jump / step**2, before, after))
        return changes, sigma
    slope_price = (
        math.inf
        if not trends
        else threshold
        if slope_penalty is None
        else slope_penalty * sigma**2 * math.log(n)
    )
    segmenter = _Segmenter(arr, slope_price, min_size)
    best_of: dict[tuple[int, int], tuple[int, float]] = {(0, n): segmenter.best_split(0, n)}
    cuts: list[tuple[int, float]] = []
    while best_of and (max_changes is None or len(cuts) < max_changes):
        (a, b), (index, gain) = max(best_of.items(), key=lambda item: item[1][1])
        if index < 0 or gain <= threshold:
            break
        del best_of[(a, b)]
        best_of[(a, index)] = segmenter.best_split(a, index)
        best_of[(index, b)] = segmenter.best_split(index, b)
        cuts.append((index, gain))
    cuts.sort()
    edges = [0, *(c for c, _ in cuts), n]
    found = [
        Change(
            index,
            gain / sigma**2,
            segmenter.level(edges[i], index, index - 1),
            segmenter.level(index, edges[i + 2], index),
        )
        for i, (index, gain) in enumerate(cuts)
    ]
    return found, sigma


def changepoints(
    values: Sequence[float] | F64,
    *,
    penalty: float = DEFAULT_PENALTY,
    min_size: int = 5,
    max_changes: int | None = None,
) -> list[int]:
    """Indices where the level or trend of ``values`` changes (each the first index of a
    new segment).

    Works on any numeric series, counts or not. ``penalty`` scales the evidence a change needs
    (higher: fewer changes); ``min_size`` is the shortest segment. The defaults need no tuning.
    """
    changes, _ = detect_changes(values, penalty=penalty, min_size=min_size, max_changes=max_changes)
    return [c.index for c in changes]


def placement_evidence(
    joint: F64,
    ramps: npt.ArrayLike,
    *,
    tolerance: int,
    gradual_tolerance: int,
    fast_ramp: int = 7,
) -> F64:
    """For each candidate onset (rows of ``joint``, one a day), the evidence of the onsets and
    ramps (columns, of lengths ``ramps``) it would place: those within ``tolerance`` days of it
    for a ramp of up to ``fast_ramp`` days, within ``gradual_tolerance`` for a longer one.
    ``joint`` holds each onset's and ramp's relative likelihood (times its prior)."""
    count = joint.shape[0]
    sums = np.concatenate([np.zeros((1, joint.shape[1])), np.cumsum(joint, axis=0)], axis=0)
    at = np.arange(count)
    placed = np.zeros(count)
    for j, ramp in enumerate(np.asarray(ramps).tolist()):
        reach = tolerance if ramp <= fast_ramp else gradual_tolerance
        lo = np.clip(at - reach, 0, count)
        hi = np.clip(at + reach + 1, 0, count)
        placed += sums[hi, j] - sums[lo, j]
    return placed


def onset(
    values: F64,
    near: int,
    *,
    sigma: float,
    before: int = 21,
    after: int = 14,
    max_ramp: int = 14,
    later: int = 0,
    marginal: bool = False,
    ramp_penalty: float = 0.0,
    shape: Callable[[F64], F64] | None = None,
    tolerance: int = 0,
    history: int = 14,
    gradual_tolerance: int | None = None,
    fast_ramp: int = 7,
    days: F64 | None = None,
) -> tuple[int, int, int]:
    """Where a rise begins: a flat level, a straight ramp of 1 to ``max_ramp`` days, a new
    level, fitted by least squares around the change found at ``near``. The rise may begin
    up to ``before`` days before ``near`` and ``later`` days after it.

    ``shape`` bends the ramp (it maps the straight ramp's 0..1 onto the analysed scale, e.g.
    a straight ramp of counts seen through a square root). ``ramp_penalty`` x sigma^2 x
    log(ramp) is added to each fit (2: a prior flat in the logarithm of the ramp's length).
    ``marginal``: each onset's evidence is summed over the ramp lengths instead of taking its
    best one. ``tolerance``: the onset returned is the centre of the ``2 tolerance + 1`` onsets
    holding the most evidence (the one most likely within ``tolerance`` of the truth).
    ``history``: days of the old level fitted before the earliest onset searched.
    ``gradual_tolerance`` (with ``marginal`` and ``tolerance``): a rise whose ramp is longer
    than ``fast_ramp`` days counts as placed when within ``gradual_tolerance`` days of its
    start, a faster one within ``tolerance``; the onset returned is the one most likely to be
    placed, the evidence of each onset and ramp length weighed with its own tolerance (a
    gradual rise has no sharp start, so a date a week off is as close as its data allow).

    ``days``: the day of each value, increasing (a series with days left out: gaps, spikes).
    Ramps, onsets and tolerances are then counted in days, not in values, so that a stretch
    without data inside a ramp does not shorten it, and the results are days.

    Returns ``(onset, low, high)``: the first raised index (day, with ``days``) of the best
    fit, and the range of such indices whose best fit is within the 95% likelihood-ratio
    bound (3.84 noise variances) of the best.
    """
    n = len(values)
    w_lo = max(0, near - before - history)
    w_hi = min(n, near + later + after + 7)
    y = values[w_lo:w_hi]
    if days is None:
        days = np.arange(n, dtype=np.float64)
    elif len(days) != n:
        raise ValueError(f"days has {len(days)} values, the series {n}")
    t = np.asarray(days[w_lo:w_hi], dtype=np.float64)
    centre = int(days[near])
    # onsets (the last day on the old level) with at least four values before and three after
    first = max(int(days[min(w_lo + 3, n - 1)]), centre - before)
    last = min(int(days[max(w_hi - 4, 0)]) + 1, centre + 1 + later)
    taus = np.arange(first, last + 1)
    if len(taus) == 0:
        return centre, centre, centre
    ramps = np.arange(1, max_ramp + 1)
    tau_grid, ramp_grid = np.meshgrid(taus, ramps, indexing="ij")
    # shape (taus, ramps, days): 0 before the onset, 1 after the ramp
    x = np.clip((t[None, None, :] - tau_grid[..., None]) / ramp_grid[..., None], 0.0, 1.0)
    if shape is not None:
        x = shape(x)
    m = len(y)
    sx = x.sum(axis=2)
    sxx = (x * x).sum(axis=2)
    sxy = (x * y).sum(axis=2)
    sy, syy = float(y.sum()), float((y * y).sum())
    var_x = sxx - sx * sx / m
    cov = sxy - sx * sy / m
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(var_x > 0, cov / var_x, 0.0)
        explained = np.where(var_x > 0, cov * cov / var_x, 0.0)
    cost = (syy - sy * sy / m) - explained
    cost = np.where(slope > 0, cost, np.inf)  # a rise, not a fall
    if ramp_penalty:
        cost = cost + ramp_penalty * max(sigma, 1e-12) ** 2 * np.log(ramp_grid)
    s2 = 2 * max(sigma, 1e-12) ** 2
    joint: F64 | None = None
    if marginal and np.isfinite(cost).any():
        # Each onset's evidence summed over the ramp lengths, rather than its best ramp alone.
        floor = float(np.min(cost))
        joint = np.exp(-(cost - floor) / s2)  # (taus, ramps): relative likelihood
        weight = joint.mean(axis=1)
        safe = np.where(weight > 0, weight, 1.0)
        per_tau = np.where(weight > 0, floor - s2 * np.log(safe), np.inf)
    else:
        per_tau = cost.min(axis=1)
    if not np.isfinite(per_tau).any():
        return centre, centre, centre
    best = int(np.argmin(per_tau))
    bound = 3.84 * max(sigma, 1e-12) ** 2
    inside = taus[per_tau - per_tau[best] <= bound]
    if tolerance > 0 and joint is not None and gradual_tolerance is not None:
        # The onset most likely to be placed: for each candidate, the evidence of the onsets
        # and ramps it would place (within ``tolerance`` of a fast ramp's start, within
        # ``gradual_tolerance`` of a gradual one's).
        placed = placement_evidence(
            joint,
            ramps,
            tolerance=tolerance,
            gradual_tolerance=gradual_tolerance,
            fast_ramp=fast_ramp,
        )
        ties = np.flatnonzero(placed >= placed.max() * (1 - 1e-9))
        best = int(ties[np.argmin(np.abs(ties - best))])
    elif tolerance > 0:
        # The onset most likely to be within ``tolerance`` days of the truth: the centre of
        # the window of onsets with the most evidence (likelihood) in it.
        mass = np.exp(-(per_tau - per_tau[best]) / s2)
        width = 2 * tolerance + 1
        windows = np.convolve(mass, np.ones(width), mode="same")
        # among equally good windows, the one nearest the best single onset
        ties = np.flatnonzero(windows >= windows.max() * (1 - 1e-9))
        best = int(ties[np.argmin(np.abs(ties - best))])
    # tau is the last index on the old level; the rise shows from the next one.
    return int(taus[best]) + 1, int(inside.min()) + 1, int(inside.max()) + 1
