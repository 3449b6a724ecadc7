"""tipwatch's PDQ against the reference implementation (pdqhash), bit for bit."""

from __future__ import annotations

import numpy as np
import pdqhash
import pytest

from tipwatch.media import pdq as pdq_module
from tipwatch.media.hashing import pdq_hex
from tipwatch.media.pdq import pdq_of_rgb


def reference(rgb: np.ndarray) -> tuple[list[str], int]:
    vectors, quality = pdqhash.compute_dihedral(rgb)
    return [pdq_hex(v) for v in vectors], int(quality)


def smooth_image(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth benign pattern (two waves and a little noise) in three different channels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    wave = np.sin(xx / width * (3 + seed % 5)) + np.cos(yy / height * (2 + seed % 3))
    grey = (wave * 60 + 128 + rng.normal(0, 3, (height, width))).clip(0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.stack([grey, grey[::-1], 255 - grey], axis=-1))


SIZES = [
    (5, 5),
    (5, 300),
    (300, 7),
    (63, 64),
    (64, 64),
    (64, 65),
    (65, 64),
    (127, 129),
    (128, 128),
    (129, 257),
    (768, 1024),
    (1000, 333),
    (2001, 1503),
]


def distance(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def test_every_size_and_all_eight_orientations_match_the_reference() -> None:
    """Noise and smooth images of many sizes, in all eight orientations.

    The only freedom is the order of floating-point operations: where a DCT coefficient lies
    within rounding of the median, one coefficient can cross it and two bits differ. Anything
    more, or often, is a bug."""
    compared = identical = 0
    for height, width in SIZES:
        rng = np.random.default_rng(height * 10_000 + width)
        noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        for rgb in (noise, smooth_image(height, width, height + width)):
            ref_hashes, ref_quality = reference(rgb)
            ours = pdq_of_rgb(rgb, dihedral=True)
            assert {h.quality for h in ours} == {ref_quality}, (height, width)
            for mine, theirs in zip(ours, ref_hashes, strict=True):
                assert distance(mine.hex, theirs) <= 2, (height, width)
                compared += 1
                identical += mine.hex == theirs
            single = pdq_of_rgb(rgb)
            assert len(single) == 1 and single[0] == ours[0]
    assert compared == len(SIZES) * 2 * 8
    assert identical >= 0.95 * compared


def test_a_large_photo_sized_image_in_bands_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    rgb = smooth_image(3000, 4000, 11)
    ref_hashes, ref_quality = reference(rgb)
    whole = pdq_of_rgb(rgb)[0]
    # Force the row pass into bands of one output row: the same result, less scratch memory.
    monkeypatch.setattr(pdq_module, "_WORK_BYTES", 1)
    banded = pdq_of_rgb(rgb)[0]
    assert whole == banded
    assert (whole.hex, whole.quality) == (ref_hashes[0], ref_quality)


def test_images_smaller_than_five_pixels_get_the_empty_hash() -> None:
    for shape in ((4, 100, 3), (100, 4, 3), (1, 1, 3)):
        rgb = np.full(shape, 200, dtype=np.uint8)
        vector, quality = pdqhash.compute(rgb)
        ours = pdq_of_rgb(rgb)[0]
        assert (ours.hex, ours.quality) == (pdq_hex(vector), quality) == ("0" * 64, 0)


def test_one_flat_colour_has_quality_zero_as_in_the_reference() -> None:
    # Nothing to hash: the DCT is rounding noise, so only the quality is comparable.
    for value in (0, 128, 255):
        rgb = np.full((480, 640, 3), value, dtype=np.uint8)
        assert pdq_of_rgb(rgb)[0].quality == pdqhash.compute(rgb)[1] == 0


def test_sides_beyond_the_limit_are_refused() -> None:
    with pytest.raises(ValueError, match="65,535"):
        pdq_of_rgb(np.zeros((5, 70_000, 3), dtype=np.uint8))


def test_non_rgb_arrays_are_refused() -> None:
    with pytest.raises(ValueError, match="uint8"):
        pdq_of_rgb(np.zeros((64, 64), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        pdq_of_rgb(np.zeros((64, 64, 3), dtype=np.float32))
