"""Benchmark: PDQ radius search, tipwatch's index against faiss in the same run.

Random PDQ hashes (1,000,000 and 10,000,000) and 10,000 queries (half near an indexed hash,
half random), radius 31, one CPU. Baselines: faiss ``IndexBinaryFlat`` (exhaustive) and
``IndexBinaryMultiHash`` (faiss's own multi-index hashing). All three must return the same
result set; the script fails if they do not.

    python benchmarks/pdq_matching.py [--sizes 1000000 10000000] [--queries 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime

import numpy as np


def make_data(n: int, queries: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    q = rng.integers(0, 256, size=(queries, 32), dtype=np.uint8)
    near = queries // 2
    picks = rng.integers(0, n, size=near)
    q[:near] = hashes[picks]
    for i in range(near):  # flip 0-40 bits: some within the radius, some just outside
        for b in rng.choice(256, size=int(rng.integers(0, 41)), replace=False):
            q[i, b // 8] ^= 1 << (7 - b % 8)
    return hashes, q


def faiss_pairs(index, q: np.ndarray, radius: int) -> set[tuple[int, int, int]]:  # type: ignore[no-untyped-def]
    lims, dist, ids = index.range_search(q, radius + 1)  # faiss keeps distance < radius
    out = set()
    for i in range(len(q)):
        for j in range(lims[i], lims[i + 1]):
            out.add((i, int(ids[j]), int(dist[j])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--radius", type=int, default=31)
    parser.add_argument(
        "--flat-queries",
        type=int,
        default=1_000,
        help="queries timed on IndexBinaryFlat (it is slow); all are checked",
    )
    args = parser.parse_args()
    import faiss

    from tipwatch.matching.pdq_index import PDQIndex

    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    faiss.omp_set_num_threads(1)
    for n in args.sizes:
        hashes, q = make_data(n, args.queries)
        t0 = time.perf_counter()
        ours = PDQIndex(hashes)
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = ours.search(q, args.radius)
        t_ours = time.perf_counter() - t0
        flat = faiss.IndexBinaryFlat(256)
        flat.add(hashes)
        nf = min(args.flat_queries, len(q))
        t0 = time.perf_counter()
        flat_pairs = faiss_pairs(flat, q[:nf], args.radius)
        t_flat = time.perf_counter() - t0
        multi = faiss.IndexBinaryMultiHash(256, 16, 16)
        multi.nflip = args.radius // 16
        multi.add(hashes)
        t0 = time.perf_counter()
        multi_pairs = faiss_pairs(multi, q, args.radius)
        t_multi = time.perf_counter() - t0
        ours_pairs = result.pairs()
        ours_first = {p for p in ours_pairs if p[0] < nf}
        assert ours_first == flat_pairs, "tipwatch and IndexBinaryFlat differ"
        assert ours_pairs == multi_pairs, "tipwatch and IndexBinaryMultiHash differ"
        print(
            json.dumps(
                {
                    "benchmark": "pdq_matching",
                    "hashes": n,
                    "queries": len(q),
                    "radius": args.radius,
                    "matches": len(ours_pairs),
                    "baseline_faiss_flat_queries_per_s": round(nf / t_flat, 1),
                    "baseline_faiss_flat_queries_timed": nf,
                    "baseline_faiss_multihash_queries_per_s": round(len(q) / t_multi, 1),
                    "tipwatch_queries_per_s": round(len(q) / t_ours, 1),
                    "speedup_vs_flat": round((len(q) / t_ours) / (nf / t_flat), 2),
                    "speedup_vs_multihash": round(t_multi / t_ours, 2),
                    "identical_results": True,
                    "tipwatch_index_bytes_per_hash": round(ours.nbytes / n, 1),
                    "raw_bytes_per_hash": 32,
                    "tipwatch_build_s": round(build, 2),
                    "cpu": cpu,
                    "faiss": faiss.__version__,
                    "python": platform.python_version(),
                    "date": datetime.now(UTC).date().isoformat(),
                }
            ),
            flush=True,
        )
        del ours, flat, multi, hashes


if __name__ == "__main__":
    main()
