"""Forum monitoring: accuracy of themes and emerging terms, and the speed of theme tagging.

Three parts, each beside its baseline measured in the same run:

1. **Themes**: per-theme precision and recall of the tagger on a generated labelled set
   (``--labelled`` posts in six languages, one in Cyrillic; phrases of the shipped theme file,
   some disguised by look-alike letters, zero-width characters, leet digits, fullwidth letters,
   odd case and spacing; hard negatives with a phrase's words inside longer words or apart),
   beside a plain regular expression per theme over the same phrases (case-insensitive,
   Unicode word boundaries). Bar: 0.9 each.
2. **Emerging terms**: a generated stream (``--stream-days`` days, ``--stream-posts`` posts a
   day, 4,000 stable words, 10 planted terms starting at known dates, a term pushed by one
   author and one confined to one thread), analysed every day from day 63 with the defaults
   (7-day window, 8-week reference). Bars: planted terms found within 7 days of their start
   (recall >= 0.9); at most a handful of false emerging terms a month (terms that hold no
   planted word); the one-author and one-thread terms never reported.
3. **Speed**: tagging (themes and evidence) of ``--posts`` generated posts of about 200
   characters with a lexicon of 5,000 terms in 20 themes, on one core, against a plain
   regular-expression loop (one alternation per theme, searched in turn) over the same terms on
   ``--regex-posts`` of the posts. Times are CPU time of this process (``time.process_time``),
   so that other work on a shared machine does not count (it still slows the caches and the
   shared core: a calibration loop of ``str.lower().split()`` over the same posts is printed
   beside, to compare machines), and so is the tagger's reading before its code-page path
   (``Tagger.tag_by_characters``), which must give the same evidence. Bar: 150,000 posts a
   second.

    python benchmarks/forums.py [--posts 100000] [--labelled 6000] [--stream-days 150]
                                [--only themes|emerging|speed]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import timedelta

from tipwatch.forums.emerging import TermIndex
from tipwatch.forums.simulate import labelled_posts, regex_matchers, speed_corpus, term_stream
from tipwatch.forums.themes import Tagger, load_themes


def _scores(
    truth: list[frozenset[str]], predicted: list[set[str]], theme: str
) -> tuple[float, float]:
    tp = sum(1 for t, p in zip(truth, predicted, strict=True) if theme in t and theme in p)
    fp = sum(1 for t, p in zip(truth, predicted, strict=True) if theme not in t and theme in p)
    fn = sum(1 for t, p in zip(truth, predicted, strict=True) if theme in t and theme not in p)
    return round(tp / max(tp + fp, 1), 3), round(tp / max(tp + fn, 1), 3)


def themes_accuracy(n: int, seed: int) -> dict[str, object]:
    themes = load_themes()
    posts = labelled_posts(themes, n, seed=seed)
    tagger = Tagger(themes)
    regex = regex_matchers(themes)
    truth = [p.themes for p in posts]
    ours = [tagger.themes_of(p.text) for p in posts]
    plain = [{name for name, r in regex.items() if r.search(p.text)} for p in posts]
    rows = {}
    for theme in sorted(themes.themes):
        rows[theme] = {
            "tagger": dict(zip(("precision", "recall"), _scores(truth, ours, theme), strict=True)),
            "regex": dict(zip(("precision", "recall"), _scores(truth, plain, theme), strict=True)),
            "positives": sum(theme in t for t in truth),
        }
    return {"posts": n, "seed": seed, "themes": rows}


def emerging_accuracy(days: int, per_day: int, seed: int) -> dict[str, object]:
    stream = term_stream(seed=seed, days=days, posts_per_day=per_day, vocabulary=4000, planted=10)
    started = time.process_time()
    index = TermIndex(p.post_terms() for p in stream.posts)
    planted_words = {w for t in stream.planted for w in t.split()}
    found: dict[str, object] = {}
    false: dict[str, str] = {}
    for d in range(63, stream.days):
        day = stream.start + timedelta(days=d)
        for term in index.emerging(day):
            if term.term in stream.planted:
                found.setdefault(term.term, day)
            elif not set(term.term.split()) & planted_words:
                false.setdefault(term.term, day.isoformat())
    seconds = time.process_time() - started
    latencies = {
        term: (found[term] - began).days if term in found else None  # type: ignore[operator]
        for term, began in stream.planted.items()
    }
    within = sum(1 for v in latencies.values() if v is not None and v <= 7)
    months = (stream.days - 63) / 30
    return {
        "posts": len(stream.posts),
        "days_analysed": stream.days - 63,
        "planted": len(stream.planted),
        "recall_within_7_days": round(within / len(stream.planted), 3),
        "days_to_detection": sorted(v for v in latencies.values() if v is not None),
        "median_days": statistics.median(v for v in latencies.values() if v is not None),
        "false_terms": len(false),
        "false_per_month": round(len(false) / months, 2),
        "false_examples": dict(list(false.items())[:5]),
        "one_author_reported": stream.one_author in false,
        "one_thread_reported": stream.one_thread in false,
        "cpu_seconds_for_all_days": round(seconds, 1),
    }


def _cpu(work: Callable[[], object]) -> float:
    started = time.process_time()
    work()
    return time.process_time() - started


def tagging_speed(posts: int, regex_posts: int, seed: int) -> dict[str, object]:
    theme_set, texts = speed_corpus(posts=posts, terms=5000, themes=20, seed=seed)
    started = time.process_time()
    tagger = Tagger(theme_set)
    build = time.process_time() - started
    tagger.tag(texts[0])
    # The tagger and the calibration loop (str.lower().split() over the same posts) in turn,
    # best of five each: a busy shared machine slows both alike, so their ratio says what
    # to expect elsewhere.
    # The reading before the code-page path (tag_by_characters: ASCII by bytes, other text
    # through the character table word by word) is measured in turn with them, and must give
    # the same evidence.
    runs: list[float] = []
    calibration_runs: list[float] = []
    before_runs: list[float] = []
    tagged = 0
    same_as_before = 0
    for _ in range(5):
        started = time.process_time()
        results = [tagger.tag(t) for t in texts]
        runs.append(time.process_time() - started)
        tagged = sum(1 for r in results if r)
        started = time.process_time()
        before = [tagger.tag_by_characters(t) for t in texts]
        before_runs.append(time.process_time() - started)
        same_as_before = sum(a == b for a, b in zip(results, before, strict=True))
        del before
        started = time.process_time()
        for t in texts:
            t.lower().split()
        calibration_runs.append(time.process_time() - started)
    by_script = {}
    for name, part in (
        ("ascii", [t for t in texts if t.isascii()]),
        ("other", [t for t in texts if not t.isascii()]),
    ):

        def tag_all(posts: list[str] = part) -> object:
            return [tagger.tag(t) for t in posts]

        def tag_before(posts: list[str] = part) -> object:
            return [tagger.tag_by_characters(t) for t in posts]

        best = min(_cpu(tag_all) for _ in range(3))
        best_before = min(_cpu(tag_before) for _ in range(3))
        by_script[name] = {
            "posts": len(part),
            "posts_per_second": round(len(part) / best),
            "before_posts_per_second": round(len(part) / best_before),
        }
    regex = regex_matchers(theme_set)
    sample = texts[:regex_posts]
    started = time.process_time()
    plain = [{name for name, r in regex.items() if r.search(t)} for t in sample]
    regex_seconds = time.process_time() - started
    agree = sum(set(r) == p for r, p in zip(results, plain, strict=False))
    ours = posts / min(runs)
    calibration = posts / min(calibration_runs)
    baseline = len(sample) / regex_seconds
    return {
        "posts": posts,
        "mean_chars": round(sum(map(len, texts)) / len(texts), 1),
        "lexicon_terms": 5000,
        "build_seconds": round(build, 2),
        "posts_with_themes": tagged,
        "tagger_posts_per_second": round(ours),
        "tagger_runs_seconds": [round(r, 2) for r in runs],
        "before_posts_per_second": round(posts / min(before_runs)),
        "before_runs_seconds": [round(r, 2) for r in before_runs],
        "speedup_over_before": round(ours / (posts / min(before_runs)), 2),
        "same_evidence_as_before": f"{same_as_before}/{posts}",
        "regex_posts": len(sample),
        "regex_posts_per_second": round(baseline, 1),
        "speedup": round(ours / baseline),
        "same_themes_as_regex": f"{agree}/{len(sample)}",
        "calibration_lower_split_posts_per_second": round(calibration),
        "tagger_to_calibration": round(ours / calibration, 3),
        "tagger_by_script": by_script,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--regex-posts", type=int, default=2000)
    parser.add_argument("--labelled", type=int, default=6000)
    parser.add_argument("--stream-days", type=int, default=150)
    parser.add_argument("--stream-posts", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=("themes", "emerging", "speed"))
    args = parser.parse_args()
    parts: dict[str, Callable[[], dict[str, object]]] = {
        "themes": lambda: themes_accuracy(args.labelled, args.seed),
        "emerging": lambda: emerging_accuracy(args.stream_days, args.stream_posts, args.seed),
        "speed": lambda: tagging_speed(args.posts, args.regex_posts, args.seed),
    }
    out = {name: run() for name, run in parts.items() if args.only in (None, name)}
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
