"""The generic change-point function on many kinds of series."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from tipwatch.errors import InputError
from tipwatch.trends.changepoints import (
    changepoints,
    choose_transform,
    detect_changes,
    noise_model,
    noise_sigma,
)


def steps(levels: list[float], length: int, noise: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = np.repeat(levels, length).astype(float)
    return y + rng.normal(0, noise, len(y))


def test_clear_steps_are_found_exactly_enough() -> None:
    y = steps([0, 5, 1, 8], 200, 1.0)
    found = changepoints(y)
    assert len(found) == 3
    for got, truth in zip(found, [200, 400, 600], strict=True):
        assert abs(got - truth) <= 3


def test_no_change_in_noise() -> None:
    for seed in range(20):
        assert changepoints(np.random.default_rng(seed).normal(10, 2, 2000)) == []


def test_heavy_tailed_noise_gives_few_false_changes() -> None:
    false = sum(len(changepoints(np.random.default_rng(s).standard_t(3, 1000))) for s in range(20))
    assert false <= 4


def test_counts_are_square_root_transformed() -> None:
    rng = np.random.default_rng(1)
    y = np.r_[rng.poisson(5, 300), rng.poisson(9, 300)]
    found = changepoints(y)
    assert len(found) == 1 and abs(found[0] - 300) <= 10


def test_scale_does_not_matter() -> None:
    y = steps([0, 3, -2], 150, 1.0, seed=4)
    assert changepoints(y) == changepoints(y * 1e6) == changepoints(y * 1e-6 + 1e3)


def test_constant_and_tiny_series() -> None:
    assert changepoints([]) == []
    assert changepoints([1.0]) == []
    assert changepoints([3.0] * 100) == []
    assert changepoints([0.0] * 50 + [1.0] * 50) == [50]


def test_min_size_and_max_changes() -> None:
    y = steps([0, 10, 0, 10, 0], 40, 0.5)
    assert len(changepoints(y)) == 4
    assert len(changepoints(y, max_changes=2)) == 2
    # no segment shorter than min_size; with means only, halves of equal mean do not split
    found = changepoints(y, min_size=100)
    assert all(b - a >= 100 for a, b in zip([0, *found], [*found, len(y)], strict=True))
    assert detect_changes(y, min_size=100, trends=False)[0] == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([1.0, float("nan"), 2.0], "value 1 of the series is not a finite number"),
        ([1.0, float("inf")], "not a finite number"),
        (["a", "b"], "must be numbers"),
        ([[1, 2], [3, 4]], "one-dimensional"),
    ],
)
def test_bad_values(values: list[object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        changepoints(values)  # type: ignore[arg-type]


def test_noise_sigma_ignores_level_shifts() -> None:
    y = steps([0, 100], 500, 2.0)
    assert 1.8 < noise_sigma(y) < 2.2


def test_hundred_thousand_points_under_a_second() -> None:
    y = steps(list(np.random.default_rng(3).normal(0, 5, 50)), 2000, 1.0)
    start = time.perf_counter()
    found = changepoints(y)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"{elapsed:.2f} s"
    assert len(found) >= 40  # most of the 49 level changes (some are too small to see)


def ar1(n: int, phi: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.normal(0, math.sqrt(1 - phi * phi), n)
    x = np.empty(n)
    x[0] = rng.normal()
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    return x


def test_no_change_in_autocorrelated_noise() -> None:
    # AR(1) noise wanders slowly; the old white-noise reading split it into dozens of levels
    for seed in range(10):
        assert changepoints(ar1(1000, 0.8, seed)) == [], seed


def test_autocorrelation_is_estimated_despite_shifts() -> None:
    y = ar1(2000, 0.8, 1) + np.repeat([0.0, 8.0], 1000)
    model = noise_model(y)
    assert 0.7 < model.phi < 0.9
    assert not model.integrated


def test_planted_shifts_found_in_autocorrelated_noise() -> None:
    truth = [300, 600, 900]
    for seed, phi in enumerate([0.3, 0.6, 0.8, 0.9]):
        # shifts of 3 to 4.5 long-run deviations of the noise
        scale = math.sqrt((1 + phi) / (1 - phi))
        y = ar1(1200, phi, seed) + np.repeat([0.0, 3.0, -1.5, 2.5], 300) * scale
        found = changepoints(y)
        assert len(found) == 3, (phi, found)
        for got, want in zip(found, truth, strict=True):
            assert abs(got - want) <= 10, (phi, found)


def test_no_change_in_a_smooth_trend() -> None:
    t = np.arange(500, dtype=float)
    rng = np.random.default_rng(2)
    assert changepoints(0.05 * t + rng.normal(0, 1, 500)) == []  # a straight trend
    # a smooth S-shaped curve with little noise (a growing population)
    curve = 1000 / (1 + np.exp(-(t - 250) / 60)) + rng.normal(0, 0.5, 500)
    assert changepoints(curve) == []


def test_break_in_slope_is_a_change() -> None:
    t = np.arange(400, dtype=float)
    slope = np.where(t < 200, 0.0, 0.2)
    y = np.cumsum(slope) + np.random.default_rng(5).normal(0, 1, 400)
    found = changepoints(y)
    assert len(found) == 1 and abs(found[0] - 200) <= 15, found


def test_no_change_in_a_random_walk() -> None:
    for seed in range(10):
        walk = np.cumsum(np.random.default_rng(seed).normal(0, 1, 1000))
        assert changepoints(walk) == [], seed


def test_level_shifts_of_a_random_walk_are_found() -> None:
    rng = np.random.default_rng(8)
    walk = np.cumsum(rng.normal(0, 1, 600)) + np.repeat([0.0, 15.0], 300)
    assert changepoints(walk) == [300]


def test_one_point_outliers_are_not_changes() -> None:
    rng = np.random.default_rng(6)
    y = rng.normal(0, 1, 500)
    y[[50, 200, 201, 420]] += 25.0
    assert changepoints(y) == []


def exponential(n: int, rate: float, seed: int, jump_at: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    level = 100 * np.exp(rate * np.arange(n))
    if jump_at is not None:
        level[jump_at:] *= 1.5
    return np.asarray(level * (1 + rng.normal(0, 0.02, n)), dtype=np.float64)


def test_no_change_in_exponential_growth() -> None:
    """Noise a fixed share of a growing level: read on a log scale, the growth is one line (on
    the scale of the data, the widening noise and the curve read as a dozen changes)."""
    for seed in range(10):
        y = exponential(300, 0.015, seed)
        assert changepoints(y) == [], seed
        assert len(detect_changes(y, transform="none")[0]) >= 3


def test_a_jump_in_exponential_growth_is_found() -> None:
    found = changepoints(exponential(300, 0.01, 3, jump_at=150))
    assert len(found) == 1 and abs(found[0] - 150) <= 3, found


def test_the_scale_is_chosen_from_the_noise() -> None:
    rng = np.random.default_rng(4)
    t = np.arange(400, dtype=float)
    assert choose_transform(rng.poisson(20, 300).astype(float)) == "sqrt"
    assert choose_transform(exponential(300, 0.01, 1)) == "log"
    # a positive trend with noise that does not grow with it
    assert choose_transform(50 + 0.5 * t + rng.normal(0, 2, 400)) == "none"
    # a level that hardly varies: the scale does not matter
    assert choose_transform(1000 + rng.normal(0, 30, 400)) == "none"
    with pytest.raises(InputError, match=r"value 0 of the series is -1\.0: a log needs values"):
        detect_changes([-1.0, 2.0, 3.0], transform="log")
