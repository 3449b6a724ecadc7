"""Benchmark: bulk hashing on Dask distributed against one process, in the same run.

Hashes the same generated JPEGs (default 2,000 at 1024x768, quality 90) six ways, once each:

1. one process (``hash_paths(jobs=1)``), the baseline;
2. the standard library's process pool on every CPU (``jobs=0``, tipwatch's default);
3. ``--cluster local:N`` (a Dask LocalCluster of N worker processes, one thread each), as
   tipwatch starts it: the nanny's ``MALLOC_TRIM_THRESHOLD_`` left out, the allocator tuned;
4. the same cluster with the nanny's ``MALLOC_TRIM_THRESHOLD_`` kept (as on workers started
   with ``dask worker`` and Dask's default configuration), the allocator tuned by tipwatch;
5. the same with the nanny's default and no tuning (the trap);
6. then, for the 50-million-photo model, one process over a few generated 12-megapixel
   (4000x3000) JPEGs, full and reduced decoding: the per-photo cost.

For each: wall seconds, images per second, and CPU seconds of this process and every process
below it (sampled with psutil; it includes starting the workers). The CPU overhead per file of
going through Dask is (CPU of 3 - CPU of starting the cluster - CPU of 1) / files, where the
cost of starting is measured by a run over one file per worker.

    python benchmarks/cluster.py [--count 2000] [--workers 2] [--photos 12]

Every hash of 2-5 is checked against the baseline's (same hashes, same order).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class _CpuMeter:
    """CPU seconds of this process and every process below it (workers, the forkserver,
    Dask's nanny and workers), sampled every 50 ms while the run lasts: a worker's last 50 ms
    before it exits may be missed."""

    def __init__(self) -> None:
        import psutil

        self.me = psutil.Process()
        self.start_self = self._self()
        self.start: dict[tuple[int, float], float] = self._children()
        self.last: dict[tuple[int, float], float] = dict(self.start)
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _self(self) -> float:
        t = self.me.cpu_times()
        return float(t.user + t.system)

    def _children(self) -> dict[tuple[int, float], float]:
        import psutil

        out = {}
        for child in self.me.children(recursive=True):
            try:
                t = child.cpu_times()
                out[(child.pid, child.create_time())] = float(t.user + t.system)
            except psutil.Error:
                continue
        return out

    def _sample(self) -> None:
        while self.running:
            self.last.update(self._children())
            time.sleep(0.05)

    def stop(self) -> float:
        self.last.update(self._children())
        self.running = False
        self.thread.join()
        children = sum(v - self.start.get(k, 0.0) for k, v in self.last.items())
        return self._self() - self.start_self + children


def _run(paths: list[Path], **options: Any) -> tuple[list[str], float, float]:
    from tipwatch.media import hash_paths

    meter = _CpuMeter()
    wall = time.perf_counter()
    hashes = []
    for result in hash_paths(paths, **options):
        assert result.error is None and result.pdq is not None, result.error
        hashes.append(f"{result.sha256}:{result.pdq}")
    wall = time.perf_counter() - wall
    return hashes, wall, meter.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--photos", type=int, default=12, help="12-megapixel photos to time")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()

    from tipwatch.compute import Compute
    from tipwatch.demo.images import write_generated_images

    out: dict[str, Any] = {
        "benchmark": "cluster",
        "images": args.count,
        "size": "1024x768 JPEG q90",
        "workers": args.workers,
        "batch": args.batch,
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_generated_images(Path(tmp) / "img", args.count)
        runs = {
            "one_process": {"jobs": 1},
            "process_pool": {"jobs": args.workers},
            "dask_local": {
                "compute": Compute(cluster=f"local:{args.workers}", batch_size=args.batch)
            },
            "dask_local_nanny_variable_tuned": {
                "compute": Compute(
                    cluster=f"local:{args.workers}", batch_size=args.batch, restore_malloc=False
                )
            },
            "dask_local_nanny_default_malloc": {
                "compute": Compute(
                    cluster=f"local:{args.workers}",
                    batch_size=args.batch,
                    restore_malloc=False,
                    tune_malloc=False,
                )
            },
        }
        baseline: list[str] | None = None
        saved = os.environ.get("MALLOC_TRIM_THRESHOLD_")
        # The fixed cost of a cluster (starting the scheduler and workers, importing
        # tipwatch in them), from a run over one file per worker.
        _h, startup_wall, startup_cpu = _run(paths[: args.workers], **runs["dask_local"])
        out["dask_local_startup_seconds"] = round(startup_wall, 2)
        out["dask_local_startup_cpu_seconds"] = round(startup_cpu, 2)
        for name, options in runs.items():
            hashes, wall, cpu = _run(paths, **options)
            if baseline is None:
                baseline = hashes
            assert hashes == baseline, f"{name}: hashes differ from one process"
            out[f"{name}_seconds"] = round(wall, 2)
            out[f"{name}_images_per_s"] = round(args.count / wall, 1)
            out[f"{name}_cpu_seconds"] = round(cpu, 2)
            print(name, round(wall, 2), "s", round(cpu, 2), "cpu s", flush=True)
        if saved is None:  # the in-process nanny set it in this process too
            os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        one = out["one_process_seconds"]
        out["speedup_process_pool"] = round(one / out["process_pool_seconds"], 2)
        out["speedup_dask_local"] = round(one / out["dask_local_seconds"], 2)
        out["speedup_dask_local_nanny_variable_tuned"] = round(
            one / out["dask_local_nanny_variable_tuned_seconds"], 2
        )
        out["speedup_dask_local_nanny_default_malloc"] = round(
            one / out["dask_local_nanny_default_malloc_seconds"], 2
        )
        out["dask_cpu_overhead_ms_per_file"] = round(
            1000
            * (out["dask_local_cpu_seconds"] - startup_cpu - out["one_process_cpu_seconds"])
            / args.count,
            3,
        )
        out["dask_cpu_overhead_ms_per_file_with_startup"] = round(
            1000 * (out["dask_local_cpu_seconds"] - out["one_process_cpu_seconds"]) / args.count, 3
        )
        out["one_process_cpu_ms_per_file"] = round(
            1000 * out["one_process_cpu_seconds"] / args.count, 3
        )
        out["nanny_default_malloc_cpu_ratio"] = round(
            out["dask_local_nanny_default_malloc_cpu_seconds"] / out["dask_local_cpu_seconds"], 2
        )
        if args.photos:
            photos = write_generated_images(
                Path(tmp) / "photo", args.photos, size=(4000, 3000), quality=90
            )
            full, _wall_full, cpu_full = _run(photos, jobs=1)
            reduced, _wall_red, cpu_red = _run(photos, jobs=1, reduced=True)
            bits = sorted(
                bin(int(a.split(":")[1], 16) ^ int(b.split(":")[1], 16)).count("1")
                for a, b in zip(full, reduced, strict=True)
            )
            out["photo_size"] = "4000x3000 JPEG q90 (12 megapixels)"
            out["photos"] = args.photos
            out["photo_full_decode_cpu_ms"] = round(1000 * cpu_full / args.photos, 1)
            out["photo_reduced_decode_cpu_ms"] = round(1000 * cpu_red / args.photos, 1)
            out["photo_reduced_pdq_bits_differing_median"] = bits[len(bits) // 2]
            out["photo_reduced_pdq_bits_differing_max"] = bits[-1]
    out["python"] = platform.python_version()
    out["date"] = datetime.now(UTC).date().isoformat()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
