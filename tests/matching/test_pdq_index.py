"""The PDQ index returns exactly what a brute-force scan returns."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tipwatch.matching.pdq_index import PDQIndex, brute_force, hex_to_bytes, hexes_to_array


def flip(h: np.ndarray, bits: np.ndarray) -> np.ndarray:
    out = h.copy()
    for b in bits:
        out[b // 8] ^= 1 << (7 - b % 8)
    return out


def clustered(rng: np.random.Generator, centres: int, per: int, spread: int) -> np.ndarray:
    """Hashes in tight clusters (near-duplicates), the hard case for an index."""
    base = rng.integers(0, 256, size=(centres, 32), dtype=np.uint8)
    rows = []
    for c in base:
        for _ in range(per):
            rows.append(
                flip(c, rng.choice(256, size=int(rng.integers(0, spread + 1)), replace=False))
            )
    return np.array(rows, dtype=np.uint8)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 3000),
    radius=st.sampled_from([0, 1, 8, 15, 16, 31, 32, 47, 63, 64, 90]),
    kind=st.sampled_from(["random", "clustered"]),
)
def test_search_equals_brute_force(seed: int, n: int, radius: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    if kind == "random":
        hashes = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    else:
        hashes = clustered(rng, max(1, n // 20), 20, 40)[:n]
    ids = rng.permutation(10 * max(n, 1))[: len(hashes)].astype(np.int64)
    queries = rng.integers(0, 256, size=(30, 32), dtype=np.uint8)
    if len(hashes):
        picks = hashes[rng.integers(0, len(hashes), size=30)]
        for i in range(30):
            picks[i] = flip(picks[i], rng.choice(256, size=int(rng.integers(0, 45)), replace=False))
        queries = np.concatenate([queries, picks])
    index = PDQIndex(hashes, ids)
    assert index.search(queries, radius).pairs() == brute_force(hashes, ids, queries, radius)


def test_incremental_add_and_remove_match_a_rebuilt_index() -> None:
    rng = np.random.default_rng(7)
    base = clustered(rng, 50, 20, 30)
    more = clustered(rng, 20, 10, 30)
    ids = np.arange(len(base), dtype=np.int64)
    more_ids = np.arange(len(base), len(base) + len(more), dtype=np.int64)
    index = PDQIndex(base, ids)
    index.add(more, more_ids)
    index.remove([0, 5, int(more_ids[3])])
    queries = np.concatenate([base[:40], more[:40]])
    all_h = np.concatenate([base, more])
    all_ids = np.concatenate([ids, more_ids])
    keep = ~np.isin(all_ids, [0, 5, int(more_ids[3])])
    expected = brute_force(all_h[keep], all_ids[keep], queries, 31)
    assert index.search(queries, 31).pairs() == expected
    index.compact()
    assert index.search(queries, 31).pairs() == expected
    assert len(index) == int(keep.sum())


def test_large_additions_are_merged_automatically() -> None:
    rng = np.random.default_rng(3)
    index = PDQIndex(rng.integers(0, 256, size=(100, 32), dtype=np.uint8))
    extra = rng.integers(0, 256, size=(5000, 32), dtype=np.uint8)
    index.add(extra, np.arange(100, 5100))
    assert len(index._extra_ids) == 0 and len(index) == 5100
    assert index.search(extra[:3], 0).entry.tolist() == [100, 101, 102]


def test_memory_is_at_most_three_times_the_raw_hashes_at_scale() -> None:
    rng = np.random.default_rng(1)
    n = 200_000
    index = PDQIndex(rng.integers(0, 256, size=(n, 32), dtype=np.uint8))
    # Fixed tables (16 x 65,537 bucket starts, 4 MB) weigh less as the index grows.
    fixed = 16 * 65_537 * 4
    assert (index.nbytes - fixed) / n <= 32 + 16 * 3 + 4 <= 3 * 32


def test_hex_helpers() -> None:
    h = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    assert hexes_to_array([h]).tobytes() == hex_to_bytes(h)
    with pytest.raises(ValueError, match="64 hexadecimal"):
        hex_to_bytes("abcd")


def test_empty_index_and_bad_radius() -> None:
    index = PDQIndex()
    assert len(index.search(np.zeros((2, 32), dtype=np.uint8), 31)) == 0
    with pytest.raises(ValueError, match="radius"):
        index.search(np.zeros((1, 32), dtype=np.uint8), 300)


def test_threaded_search_equals_one_thread() -> None:
    rng = np.random.default_rng(5)
    hashes = clustered(rng, 300, 20, 40)
    ids = np.arange(len(hashes), dtype=np.int64) * 3
    index = PDQIndex(hashes, ids)
    one = index.search(hashes, 31)
    two = index.search(hashes, 31, threads=2)
    assert len(one) > len(hashes), "clusters give matches beyond each hash itself"
    for a, b in ((one.query, two.query), (one.entry, two.entry), (one.distance, two.distance)):
        assert np.array_equal(a, b)
    first = {p for p in two.pairs() if p[0] < 500}
    assert first == brute_force(hashes, ids, hashes[:500], 31)
