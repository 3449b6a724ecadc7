"""A matcher brought up to date in place gives what a matcher built afresh gives: after a new
version, after a list is removed, and after a list is removed and made again."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tipwatch.formats.hashlists import read_hash_csv
from tipwatch.matching.lists import import_list, remove_list
from tipwatch.matching.matcher import Matcher
from tipwatch.store import Store


def _hashes(seed: int, n: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [bytes(row).hex() for row in rng.integers(0, 256, size=(n, 32), dtype=np.uint8)]


def _import(store: Store, tmp: Path, name: str, version: str, hashes: list[str]) -> None:
    path = tmp / f"{name}-{version}.csv"
    path.write_text("hash_type,hash\n" + "".join(f"pdq,{h}\n" for h in hashes))
    import_list(
        store, name, read_hash_csv(path), version=version, fmt="csv", scheme="none", force=True
    )


def _known(matcher: Matcher, queries: list[str]) -> list[set[tuple[str, int]]]:
    return [
        {(m.list_name, m.entry_id) for m in hits}
        for hits in matcher.near(queries, [None] * len(queries))
    ]


def test_refresh_in_place_equals_a_fresh_build(store: Store, tmp_path: Path) -> None:
    a1, a2, b = _hashes(1, 50), _hashes(2, 50), _hashes(3, 50)
    queries = a1[:5] + a2[:5] + b[:5] + _hashes(4, 5)
    _import(store, tmp_path, "a", "1", a1)
    _import(store, tmp_path, "b", "1", b)
    live = Matcher(store)
    index = live.index
    steps = [
        lambda: _import(store, tmp_path, "a", "2", a1[:25] + a2),  # half retired, 50 added
        lambda: remove_list(store, "b"),
        lambda: _import(store, tmp_path, "b", "1", b[:10]),  # made again, smaller
        lambda: None,  # nothing changed
    ]
    for step in steps:
        step()
        live.refresh()
        assert _known(live, queries) == _known(Matcher(store), queries)
    assert live.index is index  # never rebuilt
    found = _known(live, queries)
    assert all(found[i] for i in range(5, 10)) and not any(found[i] for i in range(15, 20))
    assert [bool(found[i]) for i in range(10, 15)] == [True] * 5
