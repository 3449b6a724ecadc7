"""Emerging terms: words and two-word phrases whose use rose in a window against a reference.

A term is reported when all of these hold (defaults in brackets):

* its **weighted log-odds** with an informative Dirichlet prior (Monroe, Colaresi and Quinn,
  2008, "Fightin' Words"), window against reference, has ``z >= min_z`` [3]; the prior is the
  term's share of window and reference together, of strength ``prior_share`` [50%] of their
  size, so that a rare term needs more evidence than a common one;
* **Dunning's G2** (log-likelihood ratio of the 2x2 table window/reference x term/other)
  agrees: ``G2 >= min_g2`` [10.83, p < 0.001 for one degree of freedom];
* its rate in the window is at least ``min_ratio`` [2] times its rate in the reference
  (smoothed by the prior): a significant rise of a common word is not an emerging term;
* it is used in at least ``min_posts`` [5] posts of the window, by at least ``min_authors`` [3]
  distinct (pseudonymous) authors, in more than one thread [``min_threads`` 2]: one spammer or
  one thread cannot make a trend.

Counts are posts using the term (a post repeating a word counts once). The window is the
``window_days`` [7] days up to ``until``; the reference the ``reference_days`` [56, eight weeks]
before it. For each term reported, :func:`kleinberg_bursts` (Kleinberg 2002, the two-state
automaton over daily batches) says when it took off, and up to ``examples`` post ids (newest
first, one per author) show where: never more text than needed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from tipwatch.forums.normalise import light_words

__all__ = [
    "EmergingSettings",
    "EmergingTerm",
    "PostTerms",
    "TermIndex",
    "dunning_g2",
    "emerging_terms",
    "kleinberg_bursts",
    "terms_of",
]

MAX_TERMS_PER_POST = 400


def terms_of(text: str) -> list[str]:
    """The terms of a post: its words (two letters or more, not only digits) and its
    two-word phrases, each once, in order of first use."""
    words = [w for w in light_words(text) if len(w) >= 2 and not w.isdigit() and len(w) <= 40]
    seen: dict[str, None] = {}
    for i, w in enumerate(words):
        seen.setdefault(w, None)
        if i + 1 < len(words):
            seen.setdefault(f"{w} {words[i + 1]}", None)
        if len(seen) >= MAX_TERMS_PER_POST:
            break
    return list(seen)


@dataclass(frozen=True, slots=True)
class PostTerms:
    """What emerging-term detection needs of a post: no text, only its terms."""

    post_id: str
    thread: str
    author: str
    day: date
    terms: frozenset[str]
    forum: str = ""


@dataclass(frozen=True)
class EmergingSettings:
    window_days: int = 7
    reference_days: int = 56
    min_z: float = 3.0
    min_g2: float = 10.83
    min_ratio: float = 2.0
    min_posts: int = 5
    min_authors: int = 3
    min_threads: int = 2
    prior_share: float = 0.5
    examples: int = 5
    burst_ratio: float = 2.0
    burst_gamma: float = 1.0


@dataclass
class EmergingTerm:
    term: str
    z: float
    log_odds: float
    g2: float
    ratio: float
    window_posts: int
    reference_posts: int
    authors: int
    threads: int
    burst_start: date | None
    burst_end: date | None
    examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "term": self.term,
            "z": round(self.z, 2),
            "log_odds": round(self.log_odds, 3),
            "g2": round(self.g2, 1),
            "ratio": round(self.ratio, 2) if math.isfinite(self.ratio) else None,
            "window_posts": self.window_posts,
            "reference_posts": self.reference_posts,
            "authors": self.authors,
            "threads": self.threads,
            "burst_start": self.burst_start,
            "burst_end": self.burst_end,
            "examples": list(self.examples),
        }


def dunning_g2(a: float, b: float, c: float, d: float) -> float:
    """Dunning's log-likelihood ratio G2 of the 2x2 table ``[[a, b], [c, d]]``."""
    total = a + b + c + d
    if total <= 0:
        return 0.0

    def part(observed: float, expected: float) -> float:
        return observed * math.log(observed / expected) if observed > 0 and expected > 0 else 0.0

    rows = (a + b, c + d)
    cols = (a + c, b + d)
    return 2.0 * (
        part(a, rows[0] * cols[0] / total)
        + part(b, rows[0] * cols[1] / total)
        + part(c, rows[1] * cols[0] / total)
        + part(d, rows[1] * cols[1] / total)
    )


def kleinberg_bursts(
    hits: Sequence[float], totals: Sequence[float], *, ratio: float = 2.0, gamma: float = 1.0
) -> list[tuple[int, int]]:
    """The bursts of a term over daily batches (Kleinberg's two-state automaton): ``hits[t]``
    posts with the term among ``totals[t]`` posts on day ``t``. Returns (first, last) day
    indexes of each run of the high state."""
    r = np.asarray(hits, dtype=np.float64)
    d = np.asarray(totals, dtype=np.float64)
    n = len(r)
    if n == 0 or d.sum() <= 0 or r.sum() <= 0:
        return []
    p0 = min(r.sum() / d.sum(), 0.999)
    p1 = min(p0 * ratio, 0.9999)
    with np.errstate(divide="ignore", invalid="ignore"):
        cost0 = -(r * math.log(p0) + (d - r) * math.log(1 - p0))
        cost1 = -(r * math.log(p1) + (d - r) * math.log(1 - p1))
    up = gamma * math.log(max(n, 2))
    # Viterbi over two states: 0 (base rate) and 1 (burst); going up costs, going down is free.
    best = np.zeros((n, 2))
    back = np.zeros((n, 2), dtype=np.int8)
    best[0] = (cost0[0], cost1[0] + up)
    for t in range(1, n):
        stay0, from1 = best[t - 1, 0], best[t - 1, 1]
        if stay0 <= from1:
            best[t, 0], back[t, 0] = stay0 + cost0[t], 0
        else:
            best[t, 0], back[t, 0] = from1 + cost0[t], 1
        climb, stay1 = best[t - 1, 0] + up, best[t - 1, 1]
        if climb < stay1:
            best[t, 1], back[t, 1] = climb + cost1[t], 0
        else:
            best[t, 1], back[t, 1] = stay1 + cost1[t], 1
    state = int(np.argmin(best[-1]))
    states = [0] * n
    for t in range(n - 1, -1, -1):
        states[t] = state
        state = int(back[t, state])
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for t, s in enumerate(states):
        if s == 1 and start is None:
            start = t
        elif s == 0 and start is not None:
            runs.append((start, t - 1))
            start = None
    if start is not None:
        runs.append((start, n - 1))
    return runs


class TermIndex:
    """Posts by day with their terms' daily counts, for repeated emerging-term analyses
    (one for each day of a period) without counting twice."""

    def __init__(self, posts: Iterable[PostTerms]) -> None:
        self.by_day: dict[date, list[PostTerms]] = {}
        for post in posts:
            self.by_day.setdefault(post.day, []).append(post)
        self.counts: dict[date, Counter[str]] = {}
        self.sizes: dict[date, int] = {}
        for day, day_posts in self.by_day.items():
            counter: Counter[str] = Counter()
            for post in day_posts:
                counter.update(post.terms)
            self.counts[day] = counter
            self.sizes[day] = sum(counter.values())

    @property
    def first_day(self) -> date | None:
        return min(self.by_day) if self.by_day else None

    @property
    def last_day(self) -> date | None:
        return max(self.by_day) if self.by_day else None

    def _days(self, start: date, end: date) -> list[date]:
        return [start + timedelta(days=i) for i in range((end - start).days + 1)]

    def emerging(self, until: date, settings: EmergingSettings | None = None) -> list[EmergingTerm]:
        """The emerging terms of the window ending on ``until`` (included), strongest first."""
        s = settings or EmergingSettings()
        w_start = until - timedelta(days=s.window_days - 1)
        r_end = w_start - timedelta(days=1)
        r_start = r_end - timedelta(days=s.reference_days - 1)
        window_days = self._days(w_start, until)
        reference_days = self._days(r_start, r_end)
        window: Counter[str] = Counter()
        for day in window_days:
            window.update(self.counts.get(day, {}))
        n_w = float(sum(self.sizes.get(d, 0) for d in window_days))
        n_r = float(sum(self.sizes.get(d, 0) for d in reference_days))
        if n_w <= 0 or n_r <= 0:
            return []
        alpha0 = s.prior_share * (n_w + n_r)
        candidates: list[tuple[str, float, float, float, float, float]] = []
        for term, y_w in window.items():
            if y_w < s.min_posts:
                continue
            y_r = float(
                sum(self.counts[d].get(term, 0) for d in reference_days if d in self.counts)
            )
            alpha = alpha0 * (y_w + y_r) / (n_w + n_r)
            delta = math.log((y_w + alpha) / (n_w + alpha0 - y_w - alpha)) - math.log(
                (y_r + alpha) / (n_r + alpha0 - y_r - alpha)
            )
            z = delta / math.sqrt(1.0 / (y_w + alpha) + 1.0 / (y_r + alpha))
            if z < s.min_z:
                continue
            ratio = ((y_w + alpha) / n_w) / ((y_r + alpha) / n_r)
            if ratio < s.min_ratio:
                continue
            g2 = dunning_g2(y_w, n_w - y_w, y_r, n_r - y_r)
            if g2 < s.min_g2:
                continue
            candidates.append((term, z, delta, g2, ratio, y_r))
        if not candidates:
            return []
        wanted = {c[0] for c in candidates}
        authors: dict[str, set[str]] = {t: set() for t in wanted}
        threads: dict[str, set[str]] = {t: set() for t in wanted}
        examples: dict[str, list[tuple[date, str, str]]] = {t: [] for t in wanted}
        for day in window_days:
            for post in self.by_day.get(day, ()):
                for term in post.terms & wanted:
                    authors[term].add(post.author)
                    threads[term].add(post.thread)
                    examples[term].append((post.day, post.post_id, post.author))
        out: list[EmergingTerm] = []
        all_days = self._days(r_start, until)
        totals = [len(self.by_day.get(d, ())) for d in all_days]
        for term, z, delta, g2, ratio, y_r in candidates:
            if len(authors[term]) < s.min_authors or len(threads[term]) < s.min_threads:
                continue
            hits = [self.counts[d].get(term, 0) if d in self.counts else 0 for d in all_days]
            bursts = kleinberg_bursts(hits, totals, ratio=s.burst_ratio, gamma=s.burst_gamma)
            burst = bursts[-1] if bursts else None
            shown: list[str] = []
            seen_authors: set[str] = set()
            for _day, post_id, author in sorted(examples[term], reverse=True):
                if author in seen_authors:
                    continue
                seen_authors.add(author)
                shown.append(post_id)
                if len(shown) >= s.examples:
                    break
            out.append(
                EmergingTerm(
                    term=term,
                    z=z,
                    log_odds=delta,
                    g2=g2,
                    ratio=ratio,
                    window_posts=int(window[term]),
                    reference_posts=int(y_r),
                    authors=len(authors[term]),
                    threads=len(threads[term]),
                    burst_start=all_days[burst[0]] if burst else None,
                    burst_end=all_days[burst[1]] if burst else None,
                    examples=shown,
                )
            )
        out.sort(key=lambda t: (-t.z, t.term))
        return _without_nested(out)


def _without_nested(terms: list[EmergingTerm]) -> list[EmergingTerm]:
    """One name for one rise: a two-word phrase that holds an emerging word is left out (the
    word says it), and a word used about only in an emerging phrase is left out (the phrase
    says it)."""
    words = {t.term: t for t in terms if " " not in t.term}
    explained: set[str] = set()
    dropped: set[str] = set()
    for phrase in (t for t in terms if " " in t.term):
        inside = [words[w] for w in phrase.term.split(" ") if w in words]
        if not inside:
            continue
        if all(w.window_posts <= 1.1 * phrase.window_posts for w in inside):
            explained.update(w.term for w in inside)
        else:
            dropped.add(phrase.term)
    return [t for t in terms if t.term not in explained and t.term not in dropped]


def emerging_terms(
    posts: Iterable[PostTerms],
    *,
    until: date | None = None,
    settings: EmergingSettings | None = None,
) -> list[EmergingTerm]:
    """The emerging terms of ``posts`` in the window ending on ``until`` (default: the last
    day with posts)."""
    index = TermIndex(posts)
    last = until or index.last_day
    if last is None:
        return []
    return index.emerging(last, settings)
