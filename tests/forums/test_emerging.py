"""The pieces of emerging-term detection: terms, Dunning's G2, Kleinberg's bursts, one name
per rise."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from scipy.stats import chi2_contingency

from tipwatch.forums.emerging import (
    EmergingSettings,
    PostTerms,
    dunning_g2,
    emerging_terms,
    kleinberg_bursts,
    terms_of,
)


def test_terms_are_words_and_pairs_once_each() -> None:
    assert terms_of("Kids at home, kids at HOME! 2020 a") == [
        "kids",
        "kids at",
        "at",
        "at home",
        "home",
        "home kids",
    ]


@pytest.mark.parametrize("table", [(10, 90, 5, 995), (1, 1, 1, 1), (50, 950, 40, 8960)])
def test_g2_is_the_log_likelihood_ratio(table: tuple[int, int, int, int]) -> None:
    a, b, c, d = table
    expected, *_ = chi2_contingency(
        np.array([[a, b], [c, d]]), correction=False, lambda_="log-likelihood"
    )
    assert dunning_g2(a, b, c, d) == pytest.approx(expected)
    assert dunning_g2(0, 0, 0, 0) == 0.0


def test_kleinberg_finds_the_burst_where_the_rate_rises() -> None:
    totals = [200] * 60
    hits = [2] * 40 + [12] * 20  # from 1% to 6% of posts on day 40
    bursts = kleinberg_bursts(hits, totals)
    assert bursts and bursts[-1][1] == 59
    assert 39 <= bursts[-1][0] <= 41
    assert kleinberg_bursts([2] * 60, totals) == []
    assert kleinberg_bursts([0] * 5, [10] * 5) == []


def _posts(term_by_day: dict[int, list[tuple[str, str, str]]], days: int) -> list[PostTerms]:
    """Background posts every day, and the given (term, author, thread) posts."""
    start = date(2020, 1, 1)
    out = []
    n = 0
    for d in range(days):
        day = start + timedelta(days=d)
        for i in range(30):
            n += 1
            words = {f"w{(i * 7 + d) % 50}", f"w{(i * 3 + 1) % 50}", "common"}
            out.append(PostTerms(f"p{n}", f"t{i % 6}", f"u{i % 25}", day, frozenset(words)))
        for term, author, thread in term_by_day.get(d, []):
            n += 1
            out.append(PostTerms(f"p{n}", thread, author, day, frozenset({term, "common"})))
    return out


def test_a_phrase_and_its_words_are_one_rise() -> None:
    burst = {
        d: [("new", f"a{k}", f"t{k % 3}") for k in range(4)]
        + [("new phrase", f"a{k}", f"t{k % 3}") for k in range(4)]
        + [("phrase", f"a{k}", f"t{k % 3}") for k in range(4)]
        for d in range(63, 70)
    }
    # one post holds the phrase and both words (as terms_of would give)
    posts = [
        PostTerms(p.post_id, p.thread, p.author, p.day, p.terms | {"new", "phrase", "new phrase"})
        if p.terms & {"new", "phrase", "new phrase"}
        else p
        for p in _posts(burst, 70)
    ]
    found = [t.term for t in emerging_terms(posts)]
    assert found == ["new phrase"]


def test_the_author_and_thread_rules() -> None:
    lone = {d: [("solo", "spammer", f"t{d % 5}") for _ in range(5)] for d in range(63, 70)}
    assert emerging_terms(_posts(lone, 70)) == []
    loose = EmergingSettings(min_authors=1)
    assert [t.term for t in emerging_terms(_posts(lone, 70), settings=loose)] == ["solo"]
    one_thread = {d: [("inthread", f"a{k}", "t-one") for k in range(5)] for d in range(63, 70)}
    assert emerging_terms(_posts(one_thread, 70)) == []
    spread = {d: [("spread", f"a{k}", f"t{k}") for k in range(5)] for d in range(63, 70)}
    found = emerging_terms(_posts(spread, 70))
    assert [t.term for t in found] == ["spread"]
    assert found[0].authors == 5 and found[0].threads == 5 and found[0].reference_posts == 0
    assert found[0].burst_start is not None and found[0].burst_start >= date(2020, 3, 3)
    assert len(found[0].examples) == 5
