"""Benchmark: reduced-size JPEG decoding, PDQ bits lost against time saved, by target size.

With ``reduced=True`` tipwatch asks the JPEG decoder for a smaller image (DCT scaling by 1/2,
1/4 or 1/8, Pillow's draft mode), keeping at least ``DRAFT_MIN_SIDE`` pixels on the shorter
side. This measures, for several such floors, the PDQ bits that differ from the full decode
(median, 95th percentile, maximum; only hashes of quality >= 50, the lists' default floor) and
the CPU milliseconds per image, on two sets measured in the same run:

* the JPEGs of ThreatExchange's PDQ test data (``../shared/conformance/pdq/``) whose shorter
  side is at least 512 pixels: a real photograph and its edits (blur, sharpen, contrast,
  rotations, CMYK), 1600x1004;
* generated 12-megapixel photos (4000x3000, quality 90).

    python benchmarks/reduced_decode.py [--photos 12] [--shared ../shared]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FLOORS = (256, 512, 768, 1024)


def _bits(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def _measure(paths: list[Path]) -> dict[str, Any]:
    import tipwatch.media.hashing as hashing

    def run(reduced: bool) -> tuple[list[tuple[str, int]], float]:
        start = time.process_time()
        out = []
        for p in paths:
            r = hashing.hash_file(p, reduced=reduced)
            assert r.pdq is not None and r.pdq_quality is not None, (p, r.error)
            out.append((r.pdq, r.pdq_quality))
        return out, time.process_time() - start

    full, full_cpu = run(False)
    result: dict[str, Any] = {
        "images": len(paths),
        "full_decode_cpu_ms": round(1000 * full_cpu / len(paths), 1),
    }
    for floor in FLOORS:
        hashing.DRAFT_MIN_SIDE = floor  # type: ignore[misc]
        reduced, cpu = run(True)
        bits = sorted(
            _bits(a, b) for (a, qa), (b, _qb) in zip(full, reduced, strict=True) if qa >= 50
        )
        result[f"min_side_{floor}"] = {
            "cpu_ms": round(1000 * cpu / len(paths), 1),
            "speedup": round(full_cpu / cpu, 2),
            "bits_median": statistics.median(bits) if bits else None,
            "bits_p95": bits[min(len(bits) - 1, int(0.95 * len(bits)))] if bits else None,
            "bits_max": bits[-1] if bits else None,
            "quality_50_images": len(bits),
        }
    hashing.DRAFT_MIN_SIDE = 256  # type: ignore[misc]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=12)
    parser.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared"
    )
    args = parser.parse_args()
    from PIL import Image

    from tipwatch.demo.images import write_generated_images

    conformance = []
    for p in sorted((args.shared / "conformance" / "pdq").rglob("*")):
        if p.suffix.lower() in (".jpg", ".jpeg"):
            with Image.open(p) as im:
                if min(im.size) >= 512:
                    conformance.append(p)
    out: dict[str, Any] = {"benchmark": "reduced_decode", "floors": list(FLOORS)}
    out["conformance"] = _measure(conformance)
    with tempfile.TemporaryDirectory() as tmp:
        photos = write_generated_images(Path(tmp), args.photos, size=(4000, 3000), quality=90)
        out["photos_12mp"] = _measure(photos)
    out["cpus"] = os.cpu_count()
    out["python"] = platform.python_version()
    out["date"] = datetime.now(UTC).date().isoformat()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
