"""Small forum exports written for tests: invented handles, benign text."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

KEY = "test-pseudonym-key-0123456789"

STABLE = (
    "weather garden bread train library bicycle kettle recipe lentils fence painted cat "
    "morning evening river bridge window coffee tea market village mountain lake"
).split()


def post(
    post_id: str,
    text: str,
    *,
    author: str = "HandleOne",
    thread: str = "t1",
    when: datetime = datetime(2020, 3, 20, 12, 0),
    forum: str = "board-a",
    language: str | None = "en",
    reply_to: str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "forum": forum,
        "thread": thread,
        "post_id": post_id,
        "author": author,
        "time": when.isoformat() + "Z",
        "text": text,
    }
    if language:
        out["language"] = language
    if reply_to:
        out["reply_to"] = reply_to
    return out


def write_jsonl(path: Path, posts: list[dict[str, Any]], extra_lines: Sequence[str] = ()) -> Path:
    lines = [json.dumps(p, ensure_ascii=False) for p in posts] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_csv(path: Path, posts: list[dict[str, Any]]) -> Path:
    fields = ["forum", "thread", "post_id", "author", "time", "language", "text", "reply_to"]
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for p in posts:
            writer.writerow({k: p.get(k, "") for k in fields})
    return path


def stream_export(
    *, days: int = 70, per_day: int = 12, start: date = date(2020, 1, 20), seed: int = 1
) -> list[dict[str, Any]]:
    """Posts over ``days`` from stable words; in the last week a new word ("zorblat") used by
    six authors in three threads, and lockdown posts that also say "blorptime"."""
    rng = random.Random(seed)
    out = []
    n = 0
    for d in range(days):
        day = start + timedelta(days=d)
        for i in range(per_day + rng.randrange(-3, 4)):
            n += 1
            words = rng.sample(STABLE, 6)
            author = f"Handle{rng.randrange(20):02d}"
            thread = f"t{rng.randrange(8)}"
            if d >= days - 7 and i < 3:
                words.insert(2, "zorblat")
                author = f"Newcomer{(d + i) % 6}"
                thread = f"t{i}"
            if d % 5 == 0 and i == 4:
                words = ["the", "kids", "at", "home", "again", "blorptime", *words[:3]]
                author = f"Parent{d % 4}"
            when = datetime.combine(day, datetime.min.time()) + timedelta(hours=1 + i)
            out.append(post(f"p{n}", " ".join(words), author=author, thread=thread, when=when))
    return out
