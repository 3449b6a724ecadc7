"""The generic change-point function on many kinds of series."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tipwatch.errors import InputError
from tipwatch.trends.changepoints import changepoints, noise_sigma


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
    assert changepoints(y, min_size=100) == []


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


def test_hundred_thousand_points_under_two_seconds() -> None:
    y = steps(list(np.random.default_rng(3).normal(0, 5, 50)), 2000, 1.0)
    start = time.perf_counter()
    found = changepoints(y)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"{elapsed:.2f} s"
    assert len(found) >= 40  # most of the 49 level changes (some are too small to see)
