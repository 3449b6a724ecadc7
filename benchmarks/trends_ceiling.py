"""How close the change dating comes to what the generated data allow (issue 13, point 2).

``tipwatch.trends.analysis.detect_change`` dates each rise of the faulty scenario
(``tipwatch.trends.simulate.faulty_scenario``, the countries and noise of
``benchmarks/trends_accuracy.py``) without knowing anything about it. Beside it, on the same
countries in the same run, a *reference* that is told everything the generator used except the
onset and the ramp's length: the country's level, yearly growth, weekly pattern, spikes, gaps,
overdispersion, and the surge's shape after the ramp (plateau, fade and the level it settles
at). It weighs every onset within 25 days of the truth and every ramp of 1 to 28 days by the
exact negative-binomial likelihood of the observed counts and a prior on the ramp's length, and
dates the rise with the rule ``detect_change`` uses (the onset most likely to be within 3 days
for a ramp of up to a week, within 7 for a longer one). Four references:

- ``factor known``: also told the surge's factor;
- ``factor unknown``: the factor marginalised over 1.2 to 3.6 (flat);
- each with tipwatch's prior on the ramp (flat in its logarithm, 1 to 28 days) or with the
  scenario's own mix (two thirds of ramps 1 to 7 days, one sixth 8 to 20, one sixth exactly
  21), which no analysis of real data could know.

Scored as ``tipwatch.trends.accuracy`` scores the analyses: rises of at least 5 a day, ramps
of up to 7 days within 3 days, 21-day ramps within 7, ramps of 8 to 20 days within 7.

    python benchmarks/trends_ceiling.py                    # k = 8, worlds 0 to 19
    python benchmarks/trends_ceiling.py --first 20 --worlds 20
    python benchmarks/trends_ceiling.py --ignore fade --read-after 35   # what the fade is worth
    python benchmarks/trends_ceiling.py --ignore spikes                  # what the spikes are worth
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from tipwatch.errors import InsufficientDataError
from tipwatch.trends.analysis import DailySeries, detect_change
from tipwatch.trends.changepoints import placement_evidence
from tipwatch.trends.simulate import (
    SurgeTruth,
    expected_counts,
    faulty_scenario,
    simulate_values,
    surge_shape,
)

F64 = npt.NDArray[np.float64]
RAMPS = np.arange(1, 29)
FACTORS = np.arange(1.2, 3.61, 0.1)
SEARCH = 25
"""Onsets the references weigh: within this many days of the truth."""


def tipwatch_prior() -> F64:
    return np.asarray(1.0 / RAMPS, dtype=np.float64)


def scenario_prior() -> F64:
    """The ramp mix ``faulty_scenario`` draws from, among rises."""
    prior = np.where(RAMPS <= 7, (2 / 3) / 7, np.where(RAMPS < 21, (1 / 6) / 13, 0.0))
    return np.asarray(np.where(RAMPS == 21, 1 / 6, prior), dtype=np.float64)


IGNORE: set[str] = set()
"""What the references are not told (``--ignore``): ``fade`` (they fit a level that holds after
the ramp; the reference that searches the two years is then left out: a surge that never fades
fits nowhere in them), ``spikes`` (they read the one-day spikes as level), ``level`` (the level
before the rise is marginalised over 0.8 to 1.25 times the truth)."""
SCALES = np.exp(np.linspace(np.log(0.8), np.log(1.25), 7))
READ_AFTER = 60
"""Days after the truth the told-where-to-look references read (``--read-after``)."""


def _told(truth: SurgeTruth) -> SurgeTruth:
    """The truth as the references are told it."""
    if "fade" in IGNORE:
        truth = replace(truth, plateau=10**6)
    if "spikes" in IGNORE:
        truth = replace(truth, spikes=())
    return truth


def _shape(truth: SurgeTruth, since: npt.ArrayLike, ramp: npt.ArrayLike, factor: float) -> F64:
    """The truth's surge shape with the given factor, for a grid of days since onset and ramps."""
    return surge_shape(
        since,
        ramp,
        peak=factor,
        plateau=truth.plateau,
        decay_days=truth.decay_days,
        after=truth.after,
    )


def _nb_terms(values: F64, known: npt.NDArray[np.bool_], mu: F64, k: float) -> F64:
    """The negative-binomial log likelihood of each day with data (0 on the others), less the
    terms that do not depend on ``mu``."""
    y = np.where(known, values, 0.0)
    return np.asarray(np.where(known, y * np.log(mu) - (y + k) * np.log(k + mu), 0.0))


def _log_likelihood(truth: SurgeTruth, values: F64, factors: F64) -> tuple[F64, F64]:
    """(onsets, log likelihood of shape (factors, onsets, ramps)), the factor marginalised
    later. Onsets are indices of the first raised day."""
    truth = _told(truth)
    s0 = _start_index(truth)
    lo, hi = max(s0 - 40, 0), min(s0 + READ_AFTER, truth.days)
    base = expected_counts(replace(truth, peak_factor=1.0, event=None))[lo:hi]
    y = values[lo:hi]
    known = np.isfinite(y)
    onsets = np.arange(s0 - SEARCH, s0 + SEARCH + 1)
    since = np.arange(lo, hi)[None, None, :] - onsets[:, None, None]
    ramp = RAMPS[None, :, None].astype(np.float64)
    k = truth.dispersion
    out = []
    scales = SCALES if "level" in IGNORE else np.array([1.0])
    for factor in factors:
        mult = base[None, None, :] * _shape(truth, since, ramp, factor)
        for scale in scales:
            out.append(_nb_terms(y, known, scale * mult, k).sum(axis=2))
    return onsets.astype(np.float64), np.asarray(out, dtype=np.float64)


def _start_index(truth: SurgeTruth) -> int:
    start = truth.surge_start
    assert start is not None
    return (start - truth.start).days


def reference_onset(truth: SurgeTruth, values: F64, *, prior: F64, factor_known: bool) -> int:
    """The index of the first raised day the reference gives, told where to look (onsets
    within ``SEARCH`` days of the truth)."""
    factors = np.array([truth.peak_factor]) if factor_known else FACTORS
    onsets, loglik = _log_likelihood(truth, values, factors)
    likelihood = np.exp(loglik - loglik.max()).mean(axis=0)  # (onsets, ramps)
    return _placed(onsets, likelihood * prior[None, :])


def _placed(onsets: F64, posterior: F64) -> int:
    """The onset most likely to be placed (within 3 days for a ramp of up to a week, 7 for a
    longer one): the rule of ``detect_change``."""
    placed = placement_evidence(posterior, RAMPS, tolerance=3, gradual_tolerance=7)
    return int(onsets[int(np.argmax(placed))])


def searching_onset(truth: SurgeTruth, values: F64, *, prior: F64, horizon: int = 200) -> int:
    """Like :func:`reference_onset` with the factor known, but not told where to look: every
    onset from day 60 to 60 days before the end of the two years is weighed by the likelihood
    of the whole series (the days from ``horizon`` days after the onset on at the level the
    surge settles at)."""
    truth = _told(truth)
    k = truth.dispersion
    base = expected_counts(replace(truth, peak_factor=1.0, event=None))
    known = np.isfinite(values)
    flat = np.concatenate([[0.0], np.cumsum(_nb_terms(values, known, base, k))])
    settles = truth.peak_factor if "fade" in IGNORE else truth.after
    settled = np.concatenate([[0.0], np.cumsum(_nb_terms(values, known, base * settles, k))])
    n = truth.days
    onsets = np.arange(60, n - 60)
    mult = _shape(truth, np.arange(horizon)[None, :], RAMPS[:, None], truth.peak_factor)
    loglik = np.empty((len(onsets), len(RAMPS)))
    for i, onset in enumerate(onsets):
        end = min(onset + horizon, n)
        mu = base[None, onset:end] * mult[:, : end - onset]
        window = _nb_terms(values[onset:end], known[onset:end], mu, k).sum(axis=1)
        loglik[i] = flat[onset] + window + settled[n] - settled[end]
    likelihood = np.exp(loglik - loglik.max())
    return _placed(onsets.astype(np.float64), likelihood * prior[None, :])


def _kind(truth: SurgeTruth) -> str:
    return "fast" if truth.ramp <= 7 else "slow" if truth.ramp == 21 else "middle"


def _positive(kind: type[float] | type[int], *, zero: bool = False) -> Callable[[str], float]:
    """An argparse type: a number above 0 (or 0 and above with ``zero``)."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value < 0 or (value == 0 and not zero):
            raise argparse.ArgumentTypeError(f"must be {'0 or more' if zero else 'above 0'}")
        return value

    return parse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dispersion",
        type=_positive(float),
        default=8.0,
        help="overdispersion k of the counts (default 8)",
    )
    parser.add_argument(
        "--first", type=_positive(int, zero=True), default=0, help="first world (seed)"
    )
    parser.add_argument(
        "--worlds", type=_positive(int), default=20, help="how many worlds (default 20)"
    )
    parser.add_argument(
        "--ignore",
        action="append",
        choices=("fade", "spikes", "level"),
        default=[],
        help="what the references are not told (repeatable)",
    )
    parser.add_argument(
        "--read-after", type=_positive(int), default=60, help="days read after the truth"
    )
    parser.add_argument(
        "--factor",
        choices=("known", "unknown", "both"),
        default="both",
        help="which references to run (the factor-unknown ones take ten times longer)",
    )
    args = parser.parse_args()
    global READ_AFTER
    IGNORE.update(args.ignore)
    READ_AFTER = args.read_after
    methods: dict[str, Callable[[SurgeTruth, F64, DailySeries], int | None]] = {}

    def tipwatch(truth: SurgeTruth, values: F64, series: DailySeries) -> int | None:
        try:
            change = detect_change(series)
        except InsufficientDataError:
            return None
        if change is None or change.direction != "up":
            return None
        return (change.date - truth.start).days

    methods["tipwatch detect_change"] = tipwatch
    kinds = {"known": (True,), "unknown": (False,), "both": (True, False)}[args.factor]
    for known in kinds:
        for name, prior in (("tipwatch's", tipwatch_prior()), ("the scenario's", scenario_prior())):
            label = f"reference, factor {'known' if known else 'unknown'}, {name} ramp prior"

            def ref(
                truth: SurgeTruth, values: F64, series: DailySeries, p: F64 = prior, f: bool = known
            ) -> int | None:
                return reference_onset(truth, values, prior=p, factor_known=f)

            methods[label] = ref

    def searching(truth: SurgeTruth, values: F64, series: DailySeries) -> int | None:
        return searching_onset(truth, values, prior=tipwatch_prior())

    if not IGNORE and True in kinds:
        methods["reference, factor known, tipwatch's ramp prior, searching the two years"] = (
            searching
        )
    hits = {name: {"fast": [0, 0], "slow": [0, 0], "middle": [0, 0]} for name in methods}
    seconds = dict.fromkeys(methods, 0.0)
    for seed in range(args.first, args.first + args.worlds):
        # the same draws as tipwatch.trends.accuracy.faulty_accuracy
        rng = np.random.default_rng(10_000 + seed)
        for truth in faulty_scenario(seed, 40, dispersion=args.dispersion):
            values = simulate_values(truth, rng)
            if truth.direction != "up" or truth.baseline < 5:
                continue
            series = DailySeries(truth.start, values, truth.country)
            kind = _kind(truth)
            tolerance = 3 if kind == "fast" else 7
            for name, method in methods.items():
                began = time.process_time()
                onset = method(truth, values, series)
                seconds[name] += time.process_time() - began
                placed = onset is not None and abs(onset - _start_index(truth)) <= tolerance
                hits[name][kind][0] += placed
                hits[name][kind][1] += 1
    for name in methods:
        row: dict[str, object] = {
            "benchmark": "trends_ceiling",
            "dispersion": args.dispersion,
            "worlds": f"{args.first}-{args.first + args.worlds - 1}",
            "method": name,
            "references_not_told": sorted(IGNORE),
            "read_after": READ_AFTER,
        }
        for kind, (hit, total) in hits[name].items():
            row[f"{kind}_placed"] = round(hit / total, 3) if total else None
            row[f"{kind}_n"] = total
        row["cpu_seconds"] = round(seconds[name], 1)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
