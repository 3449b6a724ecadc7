"""PDQ, computed with array operations: the reference algorithm's hash, several times faster.

PDQ (Meta's perceptual hash) reduces an image to a 64x64 luminance buffer with two passes of
a box filter along each axis (the "Jarosz" filter) and keeps one pixel in every block; it then
takes 16x16 low-frequency DCT coefficients and sets each bit whose coefficient is above their
median. The reference implementation (the ``pdqhash`` package) runs the box filter over every
pixel of the full image, column by column, which is what makes it slow.

Here the two box passes, which are linear, are folded into one set of weights per output sample
(a "tent" of at most ``2 * window - 1`` pixels), and only the pixels under those weights are
read: one weighted sum over rows of the RGB image, then one across columns with the luminance
coefficients folded into the weights. The window sizes, edge handling,
sampling positions, quality metric, DCT matrix, median (lower median, as the reference's
``torben``) and bit order are the reference's. Only the order of floating-point operations
differs, which moves the 16x16 coefficients by a few thousandths at most. On every test sample
image and on all 1,000 benchmark images the hash and quality are bit for bit the reference's
(the test suite checks each sample image against ``pdqhash``). Where a coefficient lies within
that rounding of the median, it can fall on the other side and two bits differ (44 of 2,400
hashes of synthetic noise and smooth-wave images in all eight orientations, never more than
two bits: ``benchmarks/hashing.py --agreement 300``); the reference's own bits there depend on
rounding too. Images with nothing
to hash (one flat colour, quality 0) have a DCT of rounding noise; their bits can differ freely.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_SIDE",
    "MIN_HASHABLE_SIDE",
    "PdqHash",
    "pdq_hex",
    "pdq_of_luma64",
    "pdq_of_rgb",
]

MIN_HASHABLE_SIDE = 5
"""Images narrower or shorter than this get the reference's empty hash and quality 0."""
MAX_SIDE = 65_535
"""Longer sides are refused (the JPEG and WebP limit): a 5 x 20,000,000 strip is within any
pixel limit but would need gigabytes of scratch memory for its 64 row sums."""

_SIDE = 64
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_WORK_BYTES = 1024 * 1024
"""About how much scratch memory one band of rows may take (small bands stay in cache)."""

# The reference's transforms of the 16x16 DCT for the image's rotations and flips, in
# ``pdqhash.compute_dihedral``'s order: (transpose?, sign pattern over (i, j)).
_I, _J = np.indices((16, 16))
_DIHEDRAL_TRANSFORMS: tuple[tuple[bool, npt.NDArray[np.float64]], ...] = (
    (False, np.ones((16, 16))),  # original
    (True, np.where(_J & 1, 1.0, -1.0)),  # rotate 90
    (False, np.where((_I + _J) & 1, -1.0, 1.0)),  # rotate 180
    (True, np.where(_I & 1, 1.0, -1.0)),  # rotate 270
    (False, np.where(_I & 1, 1.0, -1.0)),  # flip x
    (False, np.where(_J & 1, 1.0, -1.0)),  # flip y
    (True, np.ones((16, 16))),  # flip about the main diagonal
    (True, np.where((_I + _J) & 1, -1.0, 1.0)),  # flip about the other diagonal
)


@dataclass(frozen=True, slots=True)
class PdqHash:
    """A PDQ hash (64 hex digits, first bit most significant) and its quality (0-100)."""

    hex: str
    quality: int


def _dct_matrix() -> npt.NDArray[np.float64]:
    i = np.arange(1, 17, dtype=np.float64)[:, None]
    j = np.arange(_SIDE, dtype=np.float64)[None, :]
    matrix: npt.NDArray[np.float64] = np.sqrt(2.0 / _SIDE) * np.cos(
        (np.pi / 2 / _SIDE) * i * (2 * j + 1)
    )
    return matrix.astype(np.float32).astype(np.float64)  # the reference's float32 entries


_DCT = _dct_matrix()


def _box_bounds(n: int, window: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """First and last input index averaged into each output of the reference's box filter."""
    half = (window + 2) // 2
    k = np.arange(n)
    return np.maximum(0, k - (window - half)), np.minimum(n - 1, k + half - 1)


@lru_cache(maxsize=256)
def _tent(n: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
    """For a side of ``n`` pixels: which pixels, and with what weights, make each of the 64
    samples after two box-filter passes. Returns (64, width) indexes and float32 weights.

    Sample ``s`` averages the first pass's outputs ``m`` in its window; each of those averages
    the pixels in its own window. Each first-pass output adds ``1 / its count`` over its
    window (a difference array, summed along the row), and the sum is divided by the sample's
    own count."""
    window = (n + 2 * _SIDE - 1) // (2 * _SIDE)
    samples = ((np.arange(_SIDE) + 0.5) * n / _SIDE).astype(np.intp)
    lo, hi = _box_bounds(n, window)
    width = min(n, 2 * window - 1)
    start = np.minimum(lo[lo[samples]], n - width)
    index = start[:, None] + np.arange(width)[None, :]
    outer_lo, outer_hi = lo[samples], hi[samples]
    first = outer_lo[:, None] + np.arange(window)[None, :]  # the first-pass outputs averaged
    inside = first <= outer_hi[:, None]
    first = np.minimum(first, n - 1)
    share = np.where(inside, 1.0 / (hi[first] - lo[first] + 1), 0.0)
    rows = np.broadcast_to(np.arange(_SIDE)[:, None], first.shape)
    steps = np.zeros((_SIDE, width + 1))
    np.add.at(steps, (rows, lo[first] - start[:, None]), share)
    np.add.at(steps, (rows, hi[first] - start[:, None] + 1), -share)
    weight = np.cumsum(steps, axis=1)[:, :width] / (outer_hi - outer_lo + 1)[:, None]
    return index.astype(np.intp), weight.astype(np.float32)


@lru_cache(maxsize=256)
def _tent_rgb(n: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
    """The column weights over interleaved RGB values, with luminance folded in: for each of
    the 64 samples, the indexes into ``3 * n`` values and weights ``tent * luma coefficient``."""
    index, weight = _tent(n)
    channels = np.arange(3)
    rgb_index = (3 * index[:, :, None] + channels).reshape(_SIDE, -1)
    rgb_weight = (weight[:, :, None] * _LUMA).reshape(_SIDE, -1)
    return rgb_index, rgb_weight.astype(np.float32)


def _luma64(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    """The reference's 64x64 luminance buffer of an (height, width, 3) uint8 image.

    Weighted sums only (``einsum``), no BLAS: the result does not depend on a BLAS library's
    threads, and hashing processes running side by side do not fight over cores.
    """
    height, width, _ = rgb.shape
    flat = rgb.reshape(height, width * 3)
    index, weight = _tent(height)
    per_row = index.shape[1] * width * 3 + width * 3 * 4  # the uint8 gather and its sums
    band = max(1, min(_SIDE, _WORK_BYTES // max(1, per_row)))
    rows = np.empty((_SIDE, width * 3), dtype=np.float32)
    for first in range(0, _SIDE, band):
        last = min(_SIDE, first + band)
        taken = flat[index[first:last].ravel()].reshape(last - first, index.shape[1], -1)
        rows[first:last] = np.einsum("bk,bkn->bn", weight[first:last], taken)
    column_index, column_weight = _tent_rgb(width)
    luma: npt.NDArray[np.float32] = np.einsum("rsk,sk->rs", rows[:, column_index], column_weight)
    return luma.astype(np.float64)


def _quality(buffer: npt.NDArray[np.float64]) -> int:
    down = np.trunc((buffer[:-1, :] - buffer[1:, :]).astype(np.float32) * 100 / 255)
    across = np.trunc((buffer[:, :-1] - buffer[:, 1:]).astype(np.float32) * 100 / 255)
    gradient = int(np.abs(down).sum() + np.abs(across).sum())
    return min(100, gradient // 90)


def pdq_hex(bits: npt.ArrayLike) -> str:
    """The 64-hex-digit form of a PDQ bit vector, first bit most significant (the order of
    ``pdqhash``'s vectors)."""
    return bytes(np.packbits(np.asarray(bits, dtype=np.uint8))).hex()


def _bits_hex(dct: npt.NDArray[np.float64]) -> str:
    median = np.partition(dct.ravel(), 127)[127]  # the lower median, as the reference
    return pdq_hex((dct > median).ravel()[::-1])  # the reference's bit 0 is the last digit's


def pdq_of_luma64(buffer: npt.NDArray[np.float64], *, dihedral: bool = False) -> list[PdqHash]:
    """PDQ from a 64x64 luminance buffer: one hash, or the eight of its rotations and flips."""
    quality = _quality(buffer)
    dct = _DCT @ buffer @ _DCT.T
    if not dihedral:
        return [PdqHash(_bits_hex(dct), quality)]
    out = []
    for transpose, signs in _DIHEDRAL_TRANSFORMS:
        moved = (dct * signs).T if transpose else dct * signs
        out.append(PdqHash(_bits_hex(moved), quality))
    return out


def pdq_of_rgb(rgb: npt.NDArray[np.uint8], *, dihedral: bool = False) -> list[PdqHash]:
    """PDQ of an (height, width, 3) uint8 RGB image, as the reference computes it.

    Returns one hash, or with ``dihedral=True`` the eight of the image's rotations and flips
    (original, rotate 90, 180, 270, flip x, flip y, the two diagonal flips).
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected a (height, width, 3) uint8 array, got {rgb.shape} {rgb.dtype}")
    height, width, _ = rgb.shape
    if max(height, width) > MAX_SIDE:
        raise ValueError(f"a side of {max(height, width):,} pixels is over {MAX_SIDE:,}")
    if height < MIN_HASHABLE_SIDE or width < MIN_HASHABLE_SIDE:
        return [PdqHash("0" * 64, 0)] * (8 if dihedral else 1)
    return pdq_of_luma64(_luma64(np.ascontiguousarray(rgb)), dihedral=dihedral)
