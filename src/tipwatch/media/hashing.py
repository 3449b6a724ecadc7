"""Hash media files: read, hash, release. Nothing of the media is stored.

Images get PDQ (with its quality score, 0-100) and MD5, SHA-1 and SHA-256 of the file bytes;
videos get vPDQ (one PDQ per second of video) and MD5 and SHA-256.

Images are decoded at full size and PDQ is computed by :mod:`tipwatch.media.pdq`, which gives
the reference implementation's hash bit for bit, several times faster (the tests check every
sample image against the reference, the ``pdqhash`` package; ``reference=True`` computes with
``pdqhash`` itself). ``reduced=True`` decodes large JPEG photos at reduced size (the decoder's
DCT scaling, Pillow's *draft* mode, down to :data:`DRAFT_MIN_SIDE` on the shorter side): a
12-megapixel photo about 4.8 times faster, its PDQ within 8 bits of the full decode's (see
``docs/benchmarks.md``).

Every problem with one file (empty, truncated, corrupt, not media, a decompression bomb, not
a regular file, a video over its time or memory limit) is reported on that file's result;
hashing goes on with the next file.

Limits, each a real bound: an image of at most :data:`MAX_IMAGE_PIXELS` pixels (the limit
Pillow's own bomb guard is set to as well) and :data:`~tipwatch.media.pdq.MAX_SIDE` a side;
the file is hashed as a stream and decoded from the file, so bytes after the image's end cost
no memory; a video is decoded in a child process whose memory (``RLIMIT_DATA``) is capped at
``video_memory_bytes`` and which is stopped after ``video_seconds``.
"""

from __future__ import annotations

import faulthandler
import hashlib
import os
import stat
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from tipwatch.compute import Compute

__all__ = [
    "DIHEDRAL",
    "DRAFT_MIN_SIDE",
    "MAX_IMAGE_PIXELS",
    "VIDEO_MEMORY_BYTES",
    "VIDEO_SECONDS",
    "MediaHashes",
    "VideoFrameHash",
    "hash_file",
    "hash_paths",
    "is_heif",
    "pdq_hex",
    "sniff_kind",
]

MAX_IMAGE_PIXELS = 120_000_000
"""Images larger than this (width x height) are refused as possible decompression bombs."""
MAX_FILE_BYTES = 4 * 1024**3
"""Files larger than this are not read."""
VIDEO_SECONDS = 600.0
"""The default time limit for hashing one video (the ``media_video_seconds`` setting)."""
VIDEO_MEMORY_BYTES = 2 * 1024**3
"""The default memory limit of the process that decodes one video (the
``media_video_memory_bytes`` setting)."""
DRAFT_MIN_SIDE = 768
"""Reduced JPEG decoding keeps at least this many pixels on the shorter side, so only large
photos (a shorter side of 1,536 pixels or more) are decoded smaller: a 12-megapixel photo at
half size, about 4.8 times faster, its PDQ at most 4 bits from the full decode's (measured,
``benchmarks/reduced_decode.py``; the documented tolerance is 8 bits). At a floor of 256 the
same photos were 10 times faster but up to 26 bits off, too near the match threshold of 31."""

MediaKind = Literal["image", "video"]

_IMAGE_MAGIC: tuple[tuple[int, bytes], ...] = (
    (0, b"\xff\xd8\xff"),  # JPEG
    (0, b"\x89PNG\r\n\x1a\n"),
    (0, b"GIF87a"),
    (0, b"GIF89a"),
    (0, b"BM"),
    (0, b"II*\x00"),  # TIFF
    (0, b"MM\x00*"),
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n"),  # JPEG 2000 (JP2)
    (0, b"\xff\x4f\xff\x51"),  # JPEG 2000 codestream
)
_VIDEO_MAGIC: tuple[tuple[int, bytes], ...] = (
    (4, b"ftyp"),  # MP4, MOV, 3GP
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska, WebM
    (0, b"\x00\x00\x01\xba"),  # MPEG program stream
    (0, b"FLV"),
)


_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
)
"""``ftyp`` brands of HEIF still images and image sequences: HEIC photos, AVIF."""


def _ftyp_brands(head: bytes) -> list[bytes]:
    """The major and compatible brands of an ISO media file's ``ftyp`` box."""
    size = int.from_bytes(head[:4], "big")
    end = min(len(head), max(16, size))
    return [head[8:12]] + [head[i : i + 4] for i in range(16, end - 3, 4)]


def is_heif(head: bytes) -> bool:
    """Whether a file's first bytes are those of a HEIF image (HEIC, AVIF), not a video."""
    return head[4:8] == b"ftyp" and any(b in _HEIF_BRANDS for b in _ftyp_brands(head))


def sniff_kind(head: bytes) -> MediaKind | None:
    """``image``, ``video`` or ``None`` from a file's first bytes (its magic number)."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image"
    if is_heif(head):  # before the video check: HEIC and AVIF are ISO media files too
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video"
    for offset, magic in _IMAGE_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return "image"
    for offset, magic in _VIDEO_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return "video"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "video"  # MPEG transport stream
    return None


@dataclass(slots=True)
class VideoFrameHash:
    """The PDQ of one sampled video frame."""

    frame: int
    seconds: float
    pdq: str
    quality: int


@dataclass(slots=True)
class MediaHashes:
    """The hashes of one file, or the reason it could not be hashed."""

    path: str
    size: int = 0
    kind: MediaKind | None = None
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    width: int | None = None
    height: int | None = None
    vpdq: list[VideoFrameHash] | None = None
    pdq_dihedral: list[str] | None = None
    """With ``dihedral=True``: PDQ of the 8 rotations and flips, in :data:`DIHEDRAL` order."""
    error: str | None = None
    decoded_at: tuple[int, int] | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("decoded_at", None)
        if self.vpdq is None:
            out.pop("vpdq")
        if self.pdq_dihedral is None:
            out.pop("pdq_dihedral")
        return {k: v for k, v in out.items() if v is not None}


DIHEDRAL = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flip_vertical",
    "flip_horizontal",
    "rotate90_flip_vertical",
    "rotate90_flip_horizontal",
)
"""The order of the eight PDQ hashes of an image's rotations and flips (``pdqhash``'s)."""


def _image_pdq(
    path: Path,
    head: bytes,
    result: MediaHashes,
    *,
    reduced: bool,
    reference: bool,
    dihedral: bool,
) -> None:
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from tipwatch.media.pdq import MAX_SIDE, pdq_of_rgb

    _heif_decoder()
    # Pillow's own guard (89.5 million pixels by default) would refuse photos under the
    # documented limit; it is set to that limit, which is checked here too.
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Decoded from the file, not from its bytes in memory: what follows the image
            # (a gigabyte appended, say) is never read.
            with Image.open(path) as im:
                width, height = im.size
                result.width, result.height = width, height
                if width * height > MAX_IMAGE_PIXELS:
                    raise _Refused(
                        f"image of {width}x{height} pixels is larger than the limit of "
                        f"{MAX_IMAGE_PIXELS:,} pixels (possible decompression bomb)"
                    )
                if max(width, height) > MAX_SIDE:
                    raise _Refused(
                        f"image of {width}x{height} pixels has a side longer than the limit "
                        f"of {MAX_SIDE:,} pixels (broken or hostile file)"
                    )
                if reduced and im.format == "JPEG":
                    scale = max(1, min(width, height) // DRAFT_MIN_SIDE)
                    if scale > 1:
                        im.draft("RGB", (width // scale, height // scale))
                im.load()
                rgb = im if im.mode == "RGB" else im.convert("RGB")
                result.decoded_at = rgb.size
                array = np.asarray(rgb)
    except _Refused as exc:
        result.error = str(exc)
        return
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's guard, set to the same limit, fires as the header is read.
        result.error = (
            f"image larger than the limit of {MAX_IMAGE_PIXELS:,} pixels (possible "
            f"decompression bomb): {exc}"
        )
        return
    except UnidentifiedImageError:
        if is_heif(head) and not _heif_decoder():
            result.error = "HEIC/HEIF images need the pillow-heif package (pip install pillow-heif)"
        else:
            result.error = "not a readable image (unknown or corrupt format)"
        return
    except (OSError, SyntaxError, ValueError) as exc:
        message = str(exc)
        if "truncated" in message:
            result.error = "the image is truncated"
        else:
            result.error = f"the image cannot be decoded: {message}"
        return
    except Exception as exc:  # a decoder plugin's own error (AVIF raises RuntimeError)
        result.error = f"the image cannot be decoded: {type(exc).__name__}: {exc}"
        return
    if reference:
        hexes, quality = _reference_pdq(array, dihedral)
    else:
        hashes = pdq_of_rgb(array, dihedral=dihedral)
        hexes, quality = [h.hex for h in hashes], hashes[0].quality
    result.pdq = hexes[0]
    result.pdq_quality = quality
    if dihedral:
        result.pdq_dihedral = hexes


_HEIF_DECODER: bool | None = None


def _heif_decoder() -> bool:
    """Register the HEIF decoder (HEIC photos) with Pillow, once; whether there is one.

    Pillow reads AVIF itself; HEIC (the iPhone camera's default format) needs the
    ``pillow-heif`` package, a dependency of tipwatch."""
    global _HEIF_DECODER
    if _HEIF_DECODER is None:
        try:
            import pillow_heif
        except ImportError:
            _HEIF_DECODER = False
        else:
            pillow_heif.register_heif_opener()
            _HEIF_DECODER = True
    return _HEIF_DECODER


def pdq_hex(bits: Any) -> str:
    """The 64-hex-digit form of a PDQ bit vector (see :func:`tipwatch.media.pdq.pdq_hex`)."""
    from tipwatch.media import pdq

    return pdq.pdq_hex(bits)


def _reference_pdq(array: Any, dihedral: bool) -> tuple[list[str], int]:
    """PDQ by the reference implementation itself (the ``pdqhash`` package)."""
    import pdqhash

    if dihedral:
        vectors, quality = pdqhash.compute_dihedral(array)
        return [pdq_hex(v) for v in vectors], int(quality)
    vector, quality = pdqhash.compute(array)
    return [pdq_hex(vector)], int(quality)


class _Refused(Exception):
    pass


def _vpdq_in_child(
    path: str, stderr_fd: int, memory_bytes: int, seconds_per_hash: float, send: Connection
) -> None:
    """In the child process: vPDQ of one video, sent back as plain tuples. The decoder's own
    messages go to ``stderr_fd`` (read by the parent for the file's error), not the terminal;
    a crash is reported by the parent, so no traceback dump here either. The process's data
    memory is capped at ``memory_bytes``: a huge frame fails to allocate instead of growing
    the worker without bound."""
    faulthandler.disable()
    os.dup2(stderr_fd, 2)
    try:
        import resource

        # RLIMIT_DATA (heap and private mappings), not RLIMIT_AS: the decoder's threads
        # reserve address space they never use.
        resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))
    except (ImportError, ValueError, OSError):  # no such limit here: the time limit remains
        pass
    try:
        import vpdq

        features = vpdq.computeHash(input_video_filename=path, seconds_per_hash=seconds_per_hash)
        frames = [
            (int(f.frame_number), float(f.timestamp), str(f.hex), int(f.quality)) for f in features
        ]
        send.send(("ok", frames))
    except MemoryError as exc:
        send.send(("memory", str(exc)))
    except Exception as exc:  # the binding raises plain exceptions for unreadable video
        send.send(("error", str(exc)))
    finally:
        send.close()


def _video_vpdq(
    path: Path,
    result: MediaHashes,
    *,
    seconds: float,
    memory_bytes: int,
    seconds_per_hash: float = 1.0,
) -> None:
    """vPDQ of a video, decoded in a child process of its own.

    FFmpeg's scaler aborts the whole process on some damaged videos (an assertion in
    libswscale, found by overwriting random bytes of a test video); in a child, that ends
    only the child, and the file gets an error while the run goes on. The child is stopped
    after ``seconds``, and its memory is capped at ``memory_bytes``.
    """
    try:
        import vpdq  # noqa: F401  (checked here, used in the child)
    except ImportError:
        result.error = "video hashing needs the vpdq package (see the README's install notes)"
        return
    from tipwatch.compute import run_in_child

    with tempfile.TemporaryFile() as messages:
        outcome = run_in_child(
            _vpdq_in_child,
            (str(path), messages.fileno(), memory_bytes, seconds_per_hash),
            seconds=seconds,
        )
        status, payload = outcome.message if outcome.status == "sent" else (outcome.status, None)
        messages.seek(0)
        said = messages.read(4096).decode("utf-8", "replace").strip().splitlines()
    detail = f" (the decoder said: {said[-1].strip()})" if said else ""
    if status == "timeout":
        result.error = f"the video took longer than the limit of {seconds:g} s to hash; stopped"
        return
    memory_note = f"the video needs more memory than the limit of {_mib(memory_bytes)} to decode"
    if status == "memory" or (status == "crashed" and "alloc" in detail.lower()):
        result.error = memory_note + detail
        return
    if status == "crashed":
        result.error = (
            "the video cannot be decoded: the decoder stopped the process "
            f"(exit code {outcome.exitcode}); the file is probably damaged{detail}"
        )
        return
    if status == "error":
        result.error = f"the video cannot be decoded: {payload}{detail}"
        if "alloc" in f"{payload}{detail}".lower():
            result.error += f" ({memory_note})"
        return
    if not payload:
        result.error = "the video holds no decodable frames"
        return
    result.vpdq = [
        VideoFrameHash(frame=frame, seconds=round(seconds, 3), pdq=hex_, quality=quality)
        for frame, seconds, hex_, quality in payload
    ]


def _mib(n: int) -> str:
    return f"{n / 1024**2:,.0f} MiB"


_NOT_REGULAR = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def hash_file(
    path: str | Path,
    *,
    reduced: bool = False,
    reference: bool = False,
    dihedral: bool = False,
    video_seconds: float = VIDEO_SECONDS,
    video_memory_bytes: int = VIDEO_MEMORY_BYTES,
    video_seconds_per_hash: float = 1.0,
) -> MediaHashes:
    """Hash one file. Never raises for a bad file: the problem is in ``error``.

    ``reduced``: decode JPEGs at reduced size (faster, PDQ a few bits from the reference's);
    ``reference``: compute PDQ with the reference implementation (``pdqhash``) itself;
    ``dihedral``: also the PDQ of the image's 8 rotations and flips; ``video_seconds`` and
    ``video_memory_bytes``: the time and memory limits for one video;
    ``video_seconds_per_hash``: vPDQ's sampling, one frame hashed per so many seconds (``0``:
    every frame).
    """
    path = Path(path)
    result = MediaHashes(path=str(path))
    try:
        info = path.stat()  # a symlink loop fails here, before anything is opened
    except OSError as exc:
        result.error = f"cannot read the file: {exc.strerror or exc}"
        return result
    if not stat.S_ISREG(info.st_mode):
        # Never opened: opening a FIFO waits for a writer, a device may never end.
        what = next((name for test, name in _NOT_REGULAR if test(info.st_mode)), "not a file")
        result.error = f"not a regular file: {what}"
        return result
    size = info.st_size
    result.size = size
    if size == 0:
        result.error = "empty file (0 bytes)"
        return result
    if size > MAX_FILE_BYTES:
        result.error = f"file of {size:,} bytes is larger than the limit of {MAX_FILE_BYTES:,}"
        return result
    try:
        with path.open("rb") as fh:
            head = fh.read(512)
            kind = sniff_kind(head)
            if kind is None:
                result.error = "not an image or video (unrecognised format)"
                return result
            result.kind = kind
            md5, sha1, sha256 = hashlib.md5(), hashlib.sha1(), hashlib.sha256()
            for h in (md5, sha1, sha256):
                h.update(head)
            # Streamed: memory stays at one chunk whatever the file's size.
            while chunk := fh.read(1 << 20):
                md5.update(chunk)
                sha1.update(chunk)
                sha256.update(chunk)
    except OSError as exc:
        result.error = f"cannot read the file: {exc.strerror or exc}"
        return result
    result.md5, result.sha256 = md5.hexdigest(), sha256.hexdigest()
    if kind == "image":
        result.sha1 = sha1.hexdigest()
        _image_pdq(path, head, result, reduced=reduced, reference=reference, dihedral=dihedral)
    else:
        _video_vpdq(
            path,
            result,
            seconds=video_seconds,
            memory_bytes=video_memory_bytes,
            seconds_per_hash=video_seconds_per_hash,
        )
    return result


def keep_freed_memory_for_reuse() -> None:
    """Let the C allocator keep freed image buffers for the next file (glibc only; once).

    Every image needs buffers of a few megabytes (its decoded pixels, their copy as an array).
    By default glibc serves blocks of that size as fresh memory maps and unmaps them when
    freed, so each image makes the kernel zero new pages: in a fresh process hashing 1024x768
    JPEGs, 179 images/s without this setting and 397 with it (``benchmarks/hashing.py
    --allocator``). See :func:`tipwatch.compute.tune_allocator`, which every worker calls.
    """
    from tipwatch.compute import tune_allocator

    tune_allocator()


def _file_identity(path: str) -> str:
    """What names a file's content for a batch key: path, size and modification time."""
    try:
        info = os.stat(path)
    except OSError:
        return path
    return f"{path}\x00{info.st_size}\x00{info.st_mtime_ns}"


_OPTIONS: dict[str, Any] = {}


def _set_options(options: dict[str, Any]) -> None:
    _OPTIONS.clear()
    _OPTIONS.update(options)


def _hash_batch(files: Sequence[str]) -> list[MediaHashes]:
    return [hash_file(f, **_OPTIONS) for f in files]


def _crashed(path: str, reason: str) -> MediaHashes:
    return MediaHashes(path=path, error=f"hashing this file stopped its worker process: {reason}")


def hash_paths(
    paths: Iterable[Path],
    *,
    jobs: int = 1,
    reduced: bool = False,
    reference: bool = False,
    dihedral: bool = False,
    video_seconds: float = VIDEO_SECONDS,
    video_memory_bytes: int = VIDEO_MEMORY_BYTES,
    compute: Compute | None = None,
) -> Iterator[MediaHashes]:
    """Hash files in order, on ``jobs`` processes (0: one per CPU) or as ``compute`` says (a
    Dask cluster); options as :func:`hash_file`.

    Files go to the workers in batches (see :mod:`tipwatch.compute`); a file that stops its
    worker process every time is reported with that reason, and the other files are hashed.
    """
    from tipwatch.compute import Compute, make_batches, map_batches

    files = [str(p) for p in paths]
    options: dict[str, Any] = {
        "reduced": reduced,
        "reference": reference,
        "dihedral": dihedral,
        "video_seconds": video_seconds,
        "video_memory_bytes": video_memory_bytes,
    }
    if compute is None:
        compute = Compute(workers=jobs)
    if not compute.cluster:
        if len(files) < 2:
            compute = replace(compute, workers=1)
        elif compute.local_processes > 1:
            # Small runs still reach every worker: batches of at most an even share.
            share = -(-len(files) // compute.local_processes)
            compute = replace(compute, batch_size=max(1, min(compute.batch_size, share)))
    batches = make_batches(files, compute.batch_size, _file_identity, label="hash")
    for _batch, results in map_batches(
        _hash_batch,
        batches,
        compute=compute,
        setup=_set_options,
        shared=options,
        on_crash=_crashed,
    ):
        yield from results
