"""Change points: where a series' level shifts.

:func:`changepoints` works on any numeric series (counts or not, up to hundreds of thousands
of points) with no tuning: binary segmentation of the mean, each split accepted only when it
lowers the squared error by more than a penalty of ``penalty`` x sigma^2 x log(n), where sigma
is a robust estimate of the noise from the median absolute first difference (a level shift
barely moves it). Series of non-negative integers are read as counts and square-root
transformed first, so that busy and quiet periods weigh alike. Each split scans its segment
once with cumulative sums: the whole search is O(n x changes).

:func:`onset` refines where a rise *begins* (a ramp, not a step): a hinge, flat then rising,
fitted around a detected change, with an interval of the onsets the data cannot tell apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tipwatch.errors import InputError

__all__ = ["Change", "changepoints", "detect_changes", "noise_sigma", "onset"]

F64 = npt.NDArray[np.float64]

DEFAULT_PENALTY = 3.0
MAX_POINTS = 10_000_000


def noise_sigma(values: F64) -> float:
    """Noise standard deviation from the median absolute deviation of first differences."""
    if len(values) < 3:
        return float(np.std(values)) if len(values) else 0.0
    diffs = np.diff(values)
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    sigma = 1.4826 * mad / math.sqrt(2)
    if sigma == 0.0:
        # Mostly constant series: fall back on the plain spread of the differences.
        sigma = float(np.std(diffs)) / math.sqrt(2)
    return sigma


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


@dataclass(frozen=True, slots=True)
class Change:
    index: int
    """First index of the new segment."""
    gain: float
    """Reduction of the squared error, in units of the noise variance."""
    before: float
    """Mean of the segment before (on the analysed scale)."""
    after: float


def _best_split(csum: F64, a: int, b: int, min_size: int) -> tuple[int, float]:
    """Best split of ``x[a:b]`` by squared error; (index, gain) or (-1, 0)."""
    n = b - a
    if n < 2 * min_size:
        return -1, 0.0
    k = np.arange(min_size, n - min_size + 1, dtype=np.float64)
    s_left = csum[a + min_size : b - min_size + 1] - csum[a]
    total = csum[b] - csum[a]
    s_right = total - s_left
    # gain of splitting = n_l*mean_l^2 + n_r*mean_r^2 - n*mean^2
    gain = s_left**2 / k + s_right**2 / (n - k) - total**2 / n
    best = int(np.argmax(gain))
    return a + min_size + best, float(gain[best])


def detect_changes(
    values: Sequence[float] | F64,
    *,
    penalty: float = DEFAULT_PENALTY,
    min_size: int = 5,
    max_changes: int | None = None,
    transform: str = "auto",
) -> tuple[list[Change], float]:
    """Change points with their gains, and the noise sigma used (see the module docstring)."""
    arr = _as_array(values)
    if transform == "auto":
        transform = "sqrt" if _is_counts(arr) else "none"
    if transform == "sqrt":
        arr = np.sqrt(arr + 3.0 / 8.0)
    elif transform != "none":
        raise InputError(f"transform must be auto, sqrt or none, got {transform!r}")
    n = len(arr)
    min_size = max(1, int(min_size))
    if n < 2 * min_size:
        return [], 0.0
    sigma = noise_sigma(arr)
    if sigma == 0.0:
        # constant pieces with no noise: any shift above rounding error is a change
        sigma = 1e-6 * max(1e-300, float(np.abs(arr - np.median(arr)).max()))
    threshold = penalty * sigma**2 * math.log(n)
    offset = float(np.median(arr))
    arr = arr - offset  # centred: the cumulative sums keep their precision
    csum = np.concatenate([[0.0], np.cumsum(arr)])
    segments = [(0, n)]
    found: list[Change] = []
    while segments and (max_changes is None or len(found) < max_changes):
        best: tuple[float, int, int, int] | None = None
        for a, b in segments:
            index, gain = _best_split(csum, a, b, min_size)
            if index >= 0 and gain > threshold and (best is None or gain > best[0]):
                best = (gain, index, a, b)
        if best is None:
            break
        gain, index, a, b = best
        segments.remove((a, b))
        segments.extend([(a, index), (index, b)])
        before = (csum[index] - csum[a]) / (index - a) + offset
        after = (csum[b] - csum[index]) / (b - index) + offset
        found.append(Change(index, gain / sigma**2, float(before), float(after)))
    found.sort(key=lambda c: c.index)
    return found, sigma


def changepoints(
    values: Sequence[float] | F64,
    *,
    penalty: float = DEFAULT_PENALTY,
    min_size: int = 5,
    max_changes: int | None = None,
) -> list[int]:
    """Indices where the level of ``values`` changes (each the first index of a new level).

    Works on any numeric series, counts or not. ``penalty`` scales the evidence a change needs
    (higher: fewer changes); ``min_size`` is the shortest segment. The defaults need no tuning.
    """
    changes, _ = detect_changes(values, penalty=penalty, min_size=min_size, max_changes=max_changes)
    return [c.index for c in changes]


def onset(
    values: F64,
    near: int,
    *,
    sigma: float,
    before: int = 21,
    after: int = 14,
    max_ramp: int = 14,
) -> tuple[int, int, int]:
    """Where a rise begins: a flat level, a straight ramp of 1 to ``max_ramp`` days, a new
    level, fitted by least squares around the change found at ``near``.

    Returns ``(onset, low, high)``: the first raised index of the best fit, and the range of
    such indices whose best fit is within the 95% likelihood-ratio bound (3.84 noise
    variances) of the best.
    """
    n = len(values)
    w_lo = max(0, near - before - 14)
    w_hi = min(n, near + after + 7)
    y = values[w_lo:w_hi]
    t = np.arange(w_lo, w_hi, dtype=np.float64)
    taus = np.arange(max(w_lo + 3, near - before), min(w_hi - 3, near + 1) + 1)
    if len(taus) == 0:
        return near, near, near
    ramps = np.arange(1, max_ramp + 1)
    tau_grid, ramp_grid = np.meshgrid(taus, ramps, indexing="ij")
    # shape (taus, ramps, days): 0 before the onset, 1 after the ramp
    x = np.clip((t[None, None, :] - tau_grid[..., None]) / ramp_grid[..., None], 0.0, 1.0)
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
    per_tau = cost.min(axis=1)
    if not np.isfinite(per_tau).any():
        return near, near, near
    best = int(np.argmin(per_tau))
    bound = 3.84 * max(sigma, 1e-12) ** 2
    inside = taus[per_tau - per_tau[best] <= bound]
    # tau is the last index on the old level; the rise shows from the next one.
    return int(taus[best]) + 1, int(inside.min()) + 1, int(inside.max()) + 1
