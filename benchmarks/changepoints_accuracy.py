"""Benchmark: how right the generic change points are on varied series (issue 13).

Generated series of nine families, each with its planted truth (change indices; none where
the series only wanders, trends or repeats a season): piecewise constant with AR(1) noise
(phi up to 0.9), random walks with and without level shifts, linear and exponential trends
with breaks in slope, seasonal series, heavy-tailed noise and outliers, short series (15-60
points) and counts. Per family, F1 (a found change within 5 points of a planted one, each
matched once; the start of the series counts as a change in both sets, so a series without
changes scores 1 when nothing is found) and segmentation covering, for tipwatch's defaults,
for a detector that never reports a change, and for ``ruptures`` Binseg and PELT (``l2``
cost, their default ``min_size`` and ``jump``, the BIC penalty of ruptures' documentation,
log(n) x sigma^2, with sigma from the first differences) measured in the same run.

    python benchmarks/changepoints_accuracy.py
    python benchmarks/changepoints_accuracy.py --per-family 10     # quicker
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
Series = tuple[F64, list[int]]


def _ar1(rng: np.random.Generator, n: int, phi: float, sd: float = 1.0) -> F64:
    e = rng.normal(0, sd * math.sqrt(1 - phi * phi), n)
    x = np.empty(n)
    x[0] = rng.normal(0, sd)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    return x


def _cuts(rng: np.random.Generator, n: int, count: int, gap: int = 20) -> list[int]:
    while True:
        cuts = sorted(int(c) for c in rng.integers(gap, n - gap, count))
        if all(b - a >= gap for a, b in itertools.pairwise(cuts)):
            return cuts


def _steps(rng: np.random.Generator, n: int, cuts: list[int], size: float) -> F64:
    level = np.zeros(n)
    current = 0.0
    for c in cuts:
        current += size * rng.choice([-1.0, 1.0]) * rng.uniform(1.0, 2.0)
        level[c:] = current
    return level


def piecewise_ar(rng: np.random.Generator) -> Series:
    n = int(rng.integers(200, 800))
    phi = float(rng.choice([0.0, 0.3, 0.6, 0.8, 0.9]))
    cuts = _cuts(rng, n, int(rng.integers(0, 4)), gap=40)
    # shifts of 2 to 4 long-run deviations of the noise
    lr = math.sqrt((1 + phi) / (1 - phi))
    return _steps(rng, n, cuts, 2.0 * lr) + _ar1(rng, n, phi), cuts


def random_walk(rng: np.random.Generator) -> Series:
    n = int(rng.integers(100, 600))
    return np.cumsum(rng.normal(0, 1, n)), []


def random_walk_shifts(rng: np.random.Generator) -> Series:
    n = int(rng.integers(100, 600))
    cuts = _cuts(rng, n, int(rng.integers(1, 4)), gap=30)
    return np.cumsum(rng.normal(0, 1, n)) + _steps(rng, n, cuts, 10.0), cuts


def trend_breaks(rng: np.random.Generator) -> Series:
    n = int(rng.integers(150, 600))
    cuts = _cuts(rng, n, int(rng.integers(0, 3)), gap=40)
    slope = np.full(n, rng.normal(0, 0.05))
    for c in cuts:
        slope[c:] += rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.3)
    return np.cumsum(slope) + rng.normal(0, 1, n), cuts


def exponential(rng: np.random.Generator) -> Series:
    n = int(rng.integers(50, 300))
    rate = rng.uniform(0.005, 0.02)
    t = np.arange(n)
    y = 100 * np.exp(rate * t)
    return y * (1 + rng.normal(0, 0.02, n)), []


def seasonal(rng: np.random.Generator) -> Series:
    n = int(rng.integers(120, 500))
    period = int(rng.choice([7, 12, 24]))
    t = np.arange(n)
    cuts = _cuts(rng, n, int(rng.integers(0, 2)), gap=40)
    y = 3 * np.sin(2 * np.pi * t / period) + rng.normal(0, 1, n)
    return y + _steps(rng, n, cuts, 4.0), cuts


def heavy_tails(rng: np.random.Generator) -> Series:
    n = int(rng.integers(200, 800))
    cuts = _cuts(rng, n, int(rng.integers(0, 3)), gap=40)
    noise = rng.standard_t(3, n)
    spikes = rng.random(n) < 0.01
    noise[spikes] += rng.choice([-1.0, 1.0], int(spikes.sum())) * 15
    return _steps(rng, n, cuts, 3.0) + noise, cuts


def short(rng: np.random.Generator) -> Series:
    n = int(rng.integers(15, 61))
    cuts = [n // 2] if rng.random() < 0.5 else []
    return _steps(rng, n, cuts, 3.0) + rng.normal(0, 1, n), cuts


def counts(rng: np.random.Generator) -> Series:
    n = int(rng.integers(200, 700))
    cuts = _cuts(rng, n, int(rng.integers(0, 3)), gap=40)
    level = np.full(n, float(rng.choice([3, 20, 200])))
    for c in cuts:
        level[c:] *= rng.choice([0.5, 1.8])
    k = 20.0  # negative binomial overdispersion
    return rng.poisson(rng.gamma(k, level / k)).astype(float), cuts


FAMILIES: dict[str, Callable[[np.random.Generator], Series]] = {
    "piecewise_ar1": piecewise_ar,
    "random_walk": random_walk,
    "random_walk_shifts": random_walk_shifts,
    "trend_slope_breaks": trend_breaks,
    "exponential_trend": exponential,
    "seasonal": seasonal,
    "heavy_tails_outliers": heavy_tails,
    "short_15_60": short,
    "counts": counts,
}


def f1_score(truth: list[int], found: list[int], margin: int = 5) -> float:
    true_set, found_set = [0, *truth], [0, *found]
    used: set[int] = set()
    hits = 0
    for t in true_set:
        for i, f in enumerate(found_set):
            if i not in used and abs(f - t) <= margin:
                used.add(i)
                hits += 1
                break
    precision = hits / len(found_set)
    recall = hits / len(true_set)
    return 2 * precision * recall / (precision + recall) if hits else 0.0


def covering(truth: list[int], found: list[int], n: int) -> float:
    def segments(cuts: list[int]) -> list[tuple[int, int]]:
        edges = [0, *sorted(set(c for c in cuts if 0 < c < n)), n]
        return list(itertools.pairwise(edges))

    found_segments = segments(found)
    total = 0.0
    for a, b in segments(truth):
        best = 0.0
        for c, d in found_segments:
            inter = max(0, min(b, d) - max(a, c))
            if inter:
                best = max(best, inter / (max(b, d) - min(a, c)))
        total += (b - a) * best
    return total / n


def _ruptures(kind: str) -> Callable[[F64], list[int]]:
    import ruptures

    from tipwatch.trends.changepoints import noise_sigma

    def detect(y: F64) -> list[int]:
        sigma = noise_sigma(y) or 1e-9
        algo = ruptures.Binseg(model="l2") if kind == "binseg" else ruptures.Pelt(model="l2")
        try:
            return list(algo.fit(y).predict(pen=math.log(len(y)) * sigma**2)[:-1])
        except ruptures.exceptions.BadSegmentationParameters:
            return []

    return detect


def main() -> None:
    from tipwatch.trends.changepoints import changepoints

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-family", type=int, default=40)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    detectors: dict[str, Callable[[F64], list[int]]] = {
        "tipwatch": lambda y: changepoints(y),
        "no_change": lambda y: [],
        "ruptures_binseg": _ruptures("binseg"),
        "ruptures_pelt": _ruptures("pelt"),
    }
    overall: dict[str, list[tuple[float, float]]] = {d: [] for d in detectors}
    for family, make in FAMILIES.items():
        rng = np.random.default_rng([args.seed, len(family)])
        series = [make(rng) for _ in range(args.per_family)]
        row: dict[str, object] = {"benchmark": "changepoints_accuracy", "family": family}
        for name, detect in detectors.items():
            start = time.perf_counter()
            scores = []
            for y, truth in series:
                found = detect(y)
                scores.append((f1_score(truth, found), covering(truth, found, len(y))))
            overall[name].extend(scores)
            row[name] = {
                "f1": round(float(np.mean([s[0] for s in scores])), 3),
                "covering": round(float(np.mean([s[1] for s in scores])), 3),
                "s": round(time.perf_counter() - start, 2),
            }
        print(json.dumps(row), flush=True)
    summary: dict[str, object] = {"benchmark": "changepoints_accuracy", "family": "all"}
    for name, scores in overall.items():
        summary[name] = {
            "f1": round(float(np.mean([s[0] for s in scores])), 3),
            "covering": round(float(np.mean([s[1] for s in scores])), 3),
        }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
