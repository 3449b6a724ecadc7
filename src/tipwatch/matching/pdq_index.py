"""An in-memory index of PDQ hashes for Hamming-radius search (multi-index hashing).

Each 256-bit hash is cut into 16 chunks of 16 bits. Two hashes within distance ``r`` agree,
in at least one chunk, to within ``r // 16`` bits (pigeonhole), so looking up each chunk of a
query and its neighbours within that many bits finds every hash within ``r``; every candidate
is then checked by its exact distance. Results are exactly those of a brute-force scan.

Memory: the hashes themselves (32 bytes each) plus, per chunk, a permutation of the entries
sorted by that chunk (3 bytes each below 16.7 million entries, else 4) and a table of bucket
starts (65,537 entries), plus a 4-byte id: under 90 bytes a hash at a million entries, within
three times the raw hashes. Additions go to a small unsorted segment that is scanned
by brute force and merged when it grows; removals are marked and skipped.

Nothing is loaded from disk: the index is built from hashes handed to it (from the store).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import numpy.typing as npt

__all__ = ["PDQIndex", "RangeResult", "hex_to_bytes", "hexes_to_array"]

CHUNKS = 16
_BUCKETS = 1 << 16
_MERGE_FRACTION = 0.05
_MIN_MERGE = 4096

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]


def hex_to_bytes(value: str) -> bytes:
    """The 32 bytes of a 64-hex-digit PDQ hash."""
    raw = bytes.fromhex(value)
    if len(raw) != 32:
        raise ValueError(f"a PDQ hash has 64 hexadecimal digits, got {len(value)}")
    return raw


def hexes_to_array(values: Iterable[str]) -> U8:
    """An (n, 32) uint8 array of PDQ hashes given in hex."""
    data = b"".join(hex_to_bytes(v) for v in values)
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, 32).copy()


def _popcount_rows(x: npt.NDArray[np.uint8] | npt.NDArray[np.uint64]) -> npt.NDArray[np.int32]:
    counts = np.bitwise_count(x)
    # Adding the columns is several times faster than a reduction along a short axis.
    total = counts[:, 0].astype(np.int32)
    for k in range(1, counts.shape[1]):
        total += counts[:, k]
    return total


def _words(hashes: U8) -> npt.NDArray[np.uint64]:
    """The same hashes as (n, 4) 64-bit words (a view, no copy)."""
    return np.ascontiguousarray(hashes).view(np.uint64)


def _chunks(hashes: U8) -> npt.NDArray[np.uint16]:
    """(n, 16) chunk values: big-endian 16-bit words of each hash."""
    return hashes.view(">u2").astype(np.uint16)


def _flip_masks(bits: int) -> npt.NDArray[np.uint16]:
    """All 16-bit masks with at most ``bits`` bits set."""
    masks = [0]
    for k in range(1, bits + 1):
        for combo in combinations(range(16), k):
            m = 0
            for b in combo:
                m |= 1 << b
            masks.append(m)
    return np.array(masks, dtype=np.uint16)


@dataclass(frozen=True, slots=True)
class RangeResult:
    """All (query, entry) pairs within the radius, with their distance, sorted."""

    query: I64
    entry: I64
    distance: npt.NDArray[np.int32]

    def __len__(self) -> int:
        return int(self.query.shape[0])

    def pairs(self) -> set[tuple[int, int, int]]:
        return set(
            zip(self.query.tolist(), self.entry.tolist(), self.distance.tolist(), strict=True)
        )


class PDQIndex:
    """Exact Hamming-radius search over PDQ hashes; entries are identified by int64 ids."""

    def __init__(self, hashes: U8 | None = None, ids: I64 | None = None) -> None:
        self._hashes: U8 = np.zeros((0, 32), dtype=np.uint8)
        self._ids: I64 = np.zeros(0, dtype=np.int64)
        self._perm: npt.NDArray[np.uint32] | U8 = np.zeros(0, dtype=np.uint32)
        self._starts: npt.NDArray[np.int64] | npt.NDArray[np.uint32] = np.zeros(
            (CHUNKS, _BUCKETS + 1), dtype=np.uint32
        )
        self._extra_hashes: U8 = np.zeros((0, 32), dtype=np.uint8)
        self._extra_ids: I64 = np.zeros(0, dtype=np.int64)
        self._removed: set[int] = set()
        if hashes is not None:
            ids = np.arange(len(hashes), dtype=np.int64) if ids is None else ids
            self._build(np.ascontiguousarray(hashes, dtype=np.uint8), np.asarray(ids, np.int64))

    # -- building -------------------------------------------------------------------------

    def _build(self, hashes: U8, ids: I64) -> None:
        if hashes.ndim != 2 or hashes.shape[1] != 32:
            raise ValueError("hashes must be an (n, 32) array of bytes")
        if len(ids) != len(hashes):
            raise ValueError("one id per hash")
        n = len(hashes)
        if n >= 2**32:
            raise ValueError("too many hashes for one index")
        if len(ids) and int(ids.min()) >= -(2**31) and int(ids.max()) < 2**31:
            ids = ids.astype(np.int32)  # half the memory; widened again on the way out
        self._hashes, self._ids = hashes, ids
        self._words = _words(hashes)
        chunks = _chunks(hashes)
        perm = np.empty(CHUNKS * n, dtype=np.uint32)
        starts = np.empty(
            (CHUNKS, _BUCKETS + 1), dtype=np.int64 if CHUNKS * n >= 2**32 else np.uint32
        )
        for j in range(CHUNKS):
            column = chunks[:, j]
            order = np.argsort(column, kind="stable").astype(np.uint32)
            perm[j * n : (j + 1) * n] = order
            counts = np.bincount(column, minlength=_BUCKETS)
            starts[j, 0] = j * n
            np.cumsum(counts, out=starts[j, 1:])
            starts[j, 1:] += j * n
        if n < 2**24:
            # Positions fit in three bytes: a quarter less memory (the index stays within
            # three times the raw hashes).
            packed = perm.view(np.uint8).reshape(-1, 4)[:, :3].copy()
            self._perm = packed
        else:
            self._perm = perm
        self._starts = starts

    def _positions(self, offsets: I64) -> I64:
        """Entry positions stored at ``offsets`` of the permutation table."""
        if self._perm.ndim == 1:
            return np.take(self._perm, offsets).astype(np.int64)
        raw = np.take(self._perm, offsets, axis=0)
        out = raw[:, 0].astype(np.int64)
        out |= raw[:, 1].astype(np.int64) << 8
        out |= raw[:, 2].astype(np.int64) << 16
        return out

    def add(self, hashes: U8, ids: I64) -> None:
        """Add entries (searched at once; merged into the sorted part when many)."""
        hashes = np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, 32)
        ids = np.asarray(ids, dtype=np.int64)
        self._removed.difference_update(ids.tolist())
        self._extra_hashes = np.concatenate([self._extra_hashes, hashes])
        self._extra_ids = np.concatenate([self._extra_ids, ids])
        if len(self._extra_ids) > max(_MIN_MERGE, _MERGE_FRACTION * len(self._ids)):
            self.compact()

    def remove(self, ids: Iterable[int]) -> None:
        """Remove entries by id (skipped at once; dropped at the next compaction)."""
        self._removed.update(int(i) for i in ids)

    def compact(self) -> None:
        """Merge additions and drop removals: a full rebuild."""
        hashes = np.concatenate([self._hashes, self._extra_hashes])
        ids = np.concatenate([self._ids, self._extra_ids])
        if self._removed:
            keep = ~np.isin(ids, np.fromiter(self._removed, dtype=np.int64))
            hashes, ids = hashes[keep], ids[keep]
        self._extra_hashes = np.zeros((0, 32), dtype=np.uint8)
        self._extra_ids = np.zeros(0, dtype=np.int64)
        self._removed = set()
        self._build(np.ascontiguousarray(hashes), ids)

    def __len__(self) -> int:
        return len(self._ids) + len(self._extra_ids) - len(self._removed)

    @property
    def nbytes(self) -> int:
        """Memory held by the index (arrays only)."""
        return int(
            self._hashes.nbytes
            + self._ids.nbytes
            + self._perm.nbytes
            + self._starts.nbytes
            + self._extra_hashes.nbytes
            + self._extra_ids.nbytes
        )

    # -- searching ------------------------------------------------------------------------

    def search(
        self, queries: U8, radius: int, *, batch: int | None = None, threads: int = 1
    ) -> RangeResult:
        """Every (query row, entry id) within ``radius`` bits, with the distance.

        ``threads`` > 1 searches parts of the queries in threads (numpy releases the GIL in
        the heavy steps, so two threads run nearly twice as fast on two cores).
        """
        queries = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, 32)
        if threads > 1 and len(queries) >= 4096:
            from concurrent.futures import ThreadPoolExecutor

            bounds = np.linspace(0, len(queries), threads * 4 + 1).astype(np.int64)
            spans = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
            with ThreadPoolExecutor(threads) as pool:
                found = list(
                    pool.map(
                        lambda se: self.search(queries[se[0] : se[1]], radius, batch=batch), spans
                    )
                )
            return RangeResult(
                np.concatenate([f.query + se[0] for f, se in zip(found, spans, strict=True)]),
                np.concatenate([f.entry for f in found]),
                np.concatenate([f.distance for f in found]),
            )
        if not 0 <= radius <= 256:
            raise ValueError("radius must be between 0 and 256")
        masks = _flip_masks(radius // CHUNKS) if radius < 64 else None
        if batch is None:
            # Keep the candidates of one batch to about two million (64 MB of hashes).
            per_query = (
                CHUNKS
                * (len(masks) if masks is not None else 1)
                * max(1.0, len(self._ids) / _BUCKETS)
            )
            batch = int(min(256, max(8, 2_000_000 / per_query)))
        parts: list[tuple[I64, I64, npt.NDArray[np.int32]]] = []
        for start in range(0, len(queries), batch):
            block = queries[start : start + batch]
            if masks is None:
                q, e, d = self._scan(block, self._hashes, np.arange(len(self._ids)), radius)
            else:
                q, e, d = self._probe(block, masks, radius)
            parts.append((q + start, self._ids[e].astype(np.int64), d))
            if len(self._extra_ids):
                q2, e2, d2 = self._scan(block, self._extra_hashes, None, radius)
                parts.append((q2 + start, self._extra_ids[e2], d2))
        if parts:
            qs = np.concatenate([p[0] for p in parts])
            es = np.concatenate([p[1] for p in parts])
            ds = np.concatenate([p[2] for p in parts])
        else:
            qs = es = np.zeros(0, dtype=np.int64)
            ds = np.zeros(0, dtype=np.int32)
        if self._removed and len(es):
            keep = ~np.isin(es, np.fromiter(self._removed, dtype=np.int64))
            qs, es, ds = qs[keep], es[keep], ds[keep]
        order = np.lexsort((es, qs))
        return RangeResult(qs[order], es[order], ds[order])

    def _probe(
        self, block: U8, masks: npt.NDArray[np.uint16], radius: int
    ) -> tuple[I64, I64, npt.NDArray[np.int32]]:
        nq = len(block)
        if len(self._ids) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0, dtype=np.int32)
        chunks = _chunks(block)  # (nq, 16)
        probes = (chunks[:, :, None] ^ masks[None, None, :]).astype(np.int64)  # (nq, 16, m)
        rows = np.arange(CHUNKS)[None, :, None]
        flat = (rows * (_BUCKETS + 1) + probes).ravel()
        lo = np.take(self._starts, flat).astype(np.int64)
        hi = np.take(self._starts, flat + 1).astype(np.int64)
        lengths = hi - lo
        total = int(lengths.sum())
        if total == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0, dtype=np.int32)
        ends = np.cumsum(lengths)
        offsets = np.repeat(lo - (ends - lengths), lengths) + np.arange(total, dtype=np.int64)
        # np.take gathers rows several times faster than fancy indexing. Candidates come
        # grouped by query, so each query's words are repeated rather than gathered.
        candidates = self._positions(offsets)
        per_query = lengths.reshape(nq, -1).sum(axis=1)
        cand_query = np.repeat(np.arange(nq, dtype=np.int64), per_query)
        words = np.take(self._words, candidates, axis=0)
        np.bitwise_xor(words, np.repeat(_words(block), per_query, axis=0), out=words)
        dist = _popcount_rows(words)
        hit = np.nonzero(dist <= radius)[0]
        # A pair found through several chunks is kept once (there are few hits to sort).
        key = np.unique(cand_query[hit] * len(self._ids) + candidates[hit])
        q, e = np.divmod(key, len(self._ids))
        return q, e, _popcount_rows(self._hashes[e] ^ block[q])

    @staticmethod
    def _scan(
        block: U8, hashes: U8, _ids: object, radius: int
    ) -> tuple[I64, I64, npt.NDArray[np.int32]]:
        """Brute force (for the small added segment, and very large radii)."""
        if len(hashes) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0, dtype=np.int32)
        qs, es, ds = [], [], []
        for i, q in enumerate(block):
            dist = _popcount_rows(hashes ^ q)
            hit = np.nonzero(dist <= radius)[0]
            qs.append(np.full(len(hit), i, dtype=np.int64))
            es.append(hit.astype(np.int64))
            ds.append(dist[hit])
        return np.concatenate(qs), np.concatenate(es), np.concatenate(ds)


def brute_force(hashes: U8, ids: I64, queries: U8, radius: int) -> set[tuple[int, int, int]]:
    """The reference answer: every pair within ``radius`` by a full scan."""
    out: set[tuple[int, int, int]] = set()
    for qi, q in enumerate(np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, 32)):
        dist = _popcount_rows(hashes ^ q)
        for e in np.nonzero(dist <= radius)[0]:
            out.add((qi, int(ids[e]), int(dist[e])))
    return out
