"""Benchmark: image hashing, tipwatch's pipeline against the reference pipeline.

The reference pipeline decodes each JPEG at full size with Pillow and hashes it with
``pdqhash`` (Meta's reference PDQ). tipwatch's pipeline (``tipwatch.media.hash_file``) decodes
JPEGs at reduced size and also computes MD5, SHA-1 and SHA-256 of the file. Both run on the same
1,000 generated 1024x768 JPEGs, on one CPU, best of 3; then tipwatch on both CPUs. The PDQ
difference (bits) between tipwatch's hash and the full-resolution reference is reported as the
median and the 99th percentile.

    python benchmarks/hashing.py [--count 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path


def reference_pdq_with_quality(paths: list[Path]) -> list[tuple[str, int]]:
    import numpy as np
    import pdqhash
    from PIL import Image

    from tipwatch.media.hashing import pdq_hex

    out = []
    for p in paths:
        with Image.open(p) as im:
            vector, quality = pdqhash.compute(np.asarray(im.convert("RGB")))
        out.append((pdq_hex(vector), int(quality)))
    return out


def reference_pdq(paths: list[Path]) -> list[str]:
    import numpy as np
    import pdqhash
    from PIL import Image

    from tipwatch.media.hashing import pdq_hex

    out = []
    for p in paths:
        with Image.open(p) as im:
            vector, _quality = pdqhash.compute(np.asarray(im.convert("RGB")))
        out.append(pdq_hex(vector))
    return out


def tipwatch_pdq(paths: list[Path], jobs: int = 1) -> list[str]:
    from tipwatch.media import hash_paths

    out = []
    for result in hash_paths(paths, jobs=jobs):
        assert result.error is None and result.pdq is not None, result.error
        out.append(result.pdq)
    return out


def best_of(repeats: int, fn, *args):  # type: ignore[no-untyped-def]
    best, result = None, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return result, best


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_memory(count: int) -> None:
    """Resident memory while hashing a folder of ``count`` images (one process)."""
    from tipwatch.demo.images import write_generated_images
    from tipwatch.media import hash_paths

    with tempfile.TemporaryDirectory() as tmp:
        paths = write_generated_images(Path(tmp), count)
        readings = []
        start = _rss_mb()
        for n, result in enumerate(hash_paths(paths, jobs=1), 1):
            assert result.error is None, result.error
            if n % max(1, count // 20) == 0:
                readings.append(round(_rss_mb(), 1))
    print(
        json.dumps(
            {
                "benchmark": "hashing_memory",
                "images": count,
                "rss_mb_before": round(start, 1),
                "rss_mb_readings": readings,
                "rss_mb_growth_after_first_tenth": round(max(readings[2:]) - readings[1], 1),
                "python": platform.python_version(),
                "date": datetime.now(UTC).date().isoformat(),
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory", type=int, metavar="N", help="RSS while hashing N images")
    args = parser.parse_args()
    if args.memory:
        run_memory(args.memory)
        return
    from tipwatch.demo.images import write_generated_images

    cpus = sorted(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_generated_images(Path(tmp), args.count)
        os.sched_setaffinity(0, {cpus[-1]})
        ref, t_ref = best_of(args.repeats, reference_pdq, paths)
        ours, t_ours = best_of(args.repeats, tipwatch_pdq, paths)
        os.sched_setaffinity(0, set(cpus))
        _, t_both = best_of(args.repeats, tipwatch_pdq, paths, len(cpus))
        qualities = [q for _h, q in reference_pdq_with_quality(paths)]
    diffs = sorted(bin(int(a, 16) ^ int(b, 16)).count("1") for a, b in zip(ref, ours, strict=True))
    usable = sorted(
        bin(int(a, 16) ^ int(b, 16)).count("1")
        for a, b, q in zip(ref, ours, qualities, strict=True)
        if q >= 50
    )
    n = len(diffs)
    print(
        json.dumps(
            {
                "benchmark": "hashing",
                "images": n,
                "size": "1024x768 JPEG q90",
                "best_of": args.repeats,
                "baseline_reference_full_decode_images_per_s": round(n / t_ref, 1),
                "tipwatch_one_cpu_images_per_s": round(n / t_ours, 1),
                "speedup_vs_reference_one_cpu": round(t_ref / t_ours, 2),
                "tipwatch_all_cpus_images_per_s": round(n / t_both, 1),
                "speedup_all_cpus_vs_one": round(t_ours / t_both, 2),
                "cpus": len(cpus),
                "pdq_bits_differing_median": diffs[n // 2],
                "pdq_bits_differing_p99": diffs[min(n - 1, int(n * 0.99))],
                "pdq_bits_differing_max": diffs[-1],
                "images_with_quality_at_least_50": len(usable),
                "pdq_bits_differing_median_quality_50": usable[len(usable) // 2]
                if usable
                else None,
                "pdq_bits_differing_p99_quality_50": (
                    usable[min(len(usable) - 1, int(len(usable) * 0.99))] if usable else None
                ),
                "python": platform.python_version(),
                "date": datetime.now(UTC).date().isoformat(),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
