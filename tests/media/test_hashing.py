"""Media hashing on generated benign images and test-pattern videos."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pdqhash
import pytest
from PIL import Image

from tipwatch.demo.images import generated_image, write_generated_images
from tipwatch.media import hash_file, hash_paths
from tipwatch.media.hashing import pdq_hex, sniff_kind


def reference_pdq(path: Path) -> tuple[str, int]:
    """Meta's reference implementation on the full-size decode: the ground truth."""
    with Image.open(path) as im:
        vector, quality = pdqhash.compute(np.asarray(im.convert("RGB")))
    return pdq_hex(vector), int(quality)


def damaged_copies(clean: bytes, seed: str, count: int, *, most_bytes: int) -> list[bytes]:
    """``count`` copies of a file with up to ``most_bytes`` random bytes overwritten; every
    third one also cut short. The same seed gives the same copies."""
    import random

    rng = random.Random(seed)
    out = []
    for i in range(count):
        data = bytearray(clean)
        for _ in range(rng.randint(1, most_bytes)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if i % 3 == 0:
            data = data[: rng.randrange(1, len(data))]
        out.append(bytes(data))
    return out


def distance(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    folder = tmp_path_factory.mktemp("samples")
    return {
        "jpeg": write_generated_images(folder / "jpeg", 8, fmt="JPEG"),
        "png": write_generated_images(folder / "png", 8, size=(640, 480), fmt="PNG"),
        "webp": write_generated_images(folder / "webp", 4, size=(300, 200), fmt="WEBP"),
    }


def test_pdq_of_every_sample_image_is_checked_against_the_reference(
    samples: dict[str, list[Path]],
) -> None:
    for paths in samples.values():
        for path in paths:
            ours = hash_file(path)
            assert ours.error is None and ours.pdq is not None
            assert (ours.pdq, ours.pdq_quality) == reference_pdq(path), path
            assert ours.decoded_at == (ours.width, ours.height)


def test_reference_option_computes_with_pdqhash_itself(samples: dict[str, list[Path]]) -> None:
    for path in samples["jpeg"][:3] + samples["png"][:2]:
        by_reference = hash_file(path, reference=True, dihedral=True)
        ours = hash_file(path, dihedral=True)
        assert (by_reference.pdq, by_reference.pdq_quality) == reference_pdq(path)
        assert by_reference.pdq_dihedral == ours.pdq_dihedral and ours.pdq_dihedral is not None
        assert len(ours.pdq_dihedral) == 8 and ours.pdq_dihedral[0] == ours.pdq


def test_reduced_decoding_stays_within_its_tolerance_on_large_photos(
    samples: dict[str, list[Path]], tmp_path: Path
) -> None:
    large = write_generated_images(tmp_path / "large", 4, size=(3200, 2400), start=40)
    for path in large:
        reduced = hash_file(path, reduced=True)
        ref_hash, ref_quality = reference_pdq(path)
        assert reduced.pdq is not None and reduced.decoded_at == (1600, 1200)  # half size
        if ref_quality >= 50:
            assert distance(reduced.pdq, ref_hash) <= 8, path  # the documented tolerance
    for path in samples["jpeg"]:  # 1024x768: not a large photo, decoded whole
        reduced = hash_file(path, reduced=True)
        assert reduced.decoded_at == (1024, 768) and reduced.pdq == reference_pdq(path)[0]
    png = samples["png"][0]  # only JPEGs decode at reduced size
    assert hash_file(png, reduced=True).pdq == reference_pdq(png)[0]


def test_image_modes_are_hashed_as_their_rgb(tmp_path: Path) -> None:
    base = generated_image(5, (320, 240), kind="shapes")
    for mode in ("L", "P", "RGBA", "CMYK", "I;16"):
        path = tmp_path / f"{mode.replace(';', '')}.{'jpg' if mode == 'CMYK' else 'png'}"
        (base.convert("L").convert(mode) if mode == "I;16" else base.convert(mode)).save(path)
        ours = hash_file(path)
        assert ours.error is None, (mode, ours.error)
        assert (ours.pdq, ours.pdq_quality) == reference_pdq(path), mode


def test_heic_avif_and_jpeg_2000_are_images_hashed_like_the_reference(tmp_path: Path) -> None:
    """Phone cameras write HEIC (and AVIF): ISO media files like MP4, but still images."""
    png = tmp_path / "card.png"
    generated_image(7, (640, 480), kind="shapes").save(png)
    original = hash_file(png)
    for suffix in ("heic", "avif", "jp2"):
        path = tmp_path / f"card.{suffix}"
        with Image.open(png) as im:
            options = {"quality_layers": [20]} if suffix == "jp2" else {"quality": 85}
            im.save(path, **options)  # pillow-heif writes HEIC; Pillow the others
        ours = hash_file(path)
        assert ours.error is None, ours.error
        assert (ours.kind, ours.width, ours.height) == ("image", 640, 480)
        assert ours.sha1 is not None and ours.vpdq is None
        assert (ours.pdq, ours.pdq_quality) == reference_pdq(path)
        assert original.pdq and ours.pdq and distance(original.pdq, ours.pdq) <= 31
        cut = tmp_path / f"cut.{suffix}"
        cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        broken = hash_file(cut)
        assert broken.kind == "image" and broken.error is not None and broken.pdq is None


def test_heic_without_a_heif_decoder_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import UnidentifiedImageError

    from tipwatch.media import hashing

    assert hashing._heif_decoder()  # registers HEIC with Pillow, to write the sample
    path = tmp_path / "photo.heic"
    generated_image(8, (320, 240)).save(path)

    def no_heif(*_args: object, **_kwargs: object) -> None:
        raise UnidentifiedImageError("cannot identify image file")

    monkeypatch.setattr(hashing, "_heif_decoder", lambda: False)
    monkeypatch.setattr(Image, "open", no_heif)
    result = hash_file(path)
    assert result.kind == "image" and result.pdq is None
    assert result.error is not None and "need the pillow-heif package" in result.error


def test_cryptographic_hashes_are_of_the_file_bytes(samples: dict[str, list[Path]]) -> None:
    import hashlib

    path = samples["png"][0]
    data = path.read_bytes()
    result = hash_file(path)
    assert result.md5 == hashlib.md5(data).hexdigest()
    assert result.sha1 == hashlib.sha1(data).hexdigest()
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert (result.kind, result.size, result.width, result.height) == ("image", len(data), 640, 480)


def test_resized_and_reencoded_variants_stay_near(tmp_path: Path) -> None:
    img = generated_image(3, (800, 600), kind="shapes")
    img.save(tmp_path / "a.png")
    img.resize((400, 300)).save(tmp_path / "b.jpg", quality=70)
    a, b = hash_file(tmp_path / "a.png"), hash_file(tmp_path / "b.jpg")
    assert a.pdq and b.pdq and distance(a.pdq, b.pdq) <= 31


def test_parallel_hashing_gives_the_same_results_in_order(samples: dict[str, list[Path]]) -> None:
    paths = samples["jpeg"] + samples["png"]
    one = [r.as_dict() for r in hash_paths(paths, jobs=1)]
    two = [r.as_dict() for r in hash_paths(paths, jobs=2)]
    assert one == two and [r["path"] for r in one] == [str(p) for p in paths]


# -- bad input ----------------------------------------------------------------------------


def test_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert hash_file(tmp_path / "empty.jpg").error == "empty file (0 bytes)"


def test_non_media_file(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not an image")
    r = hash_file(tmp_path / "notes.txt")
    assert r.error == "not an image or video (unrecognised format)" and r.pdq is None


def test_truncated_jpeg(tmp_path: Path) -> None:
    buf = io.BytesIO()
    generated_image(1, (640, 480)).save(buf, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    r = hash_file(tmp_path / "cut.jpg")
    assert r.error == "the image is truncated" and r.md5 is not None and r.pdq is None


def test_corrupt_image(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 50)
    r = hash_file(tmp_path / "bad.png")
    assert r.error is not None and r.pdq is None


@pytest.mark.parametrize(
    ("fmt", "suffix"),
    [
        ("JPEG", "jpg"),
        ("PNG", "png"),
        ("HEIF", "heic"),
        ("AVIF", "avif"),
        ("WEBP", "webp"),
        ("GIF", "gif"),
        ("TIFF", "tif"),
        ("BMP", "bmp"),
    ],
)
def test_damaged_images_never_stop_the_run(tmp_path: Path, fmt: str, suffix: str) -> None:
    """Random bytes overwritten and files cut short: each gets a result, never an exception.
    (Found this way: a damaged AVIF made the decoder raise RuntimeError.)"""

    from tipwatch.media.hashing import _heif_decoder

    _heif_decoder()  # to write HEIC samples
    buf = io.BytesIO()
    generated_image(3, (160, 120), kind="shapes").save(buf, fmt)
    clean = buf.getvalue()
    for i, data in enumerate(damaged_copies(clean, f"{fmt}-damage", 25, most_bytes=20)):
        path = tmp_path / f"damaged_{i}.{suffix}"
        path.write_bytes(data)
        result = hash_file(path)
        assert result.md5 is not None or result.error is not None
        assert (result.pdq is None) == (result.error is not None) or result.kind == "video"


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    # A tiny PNG that claims 20000 x 20000 pixels.
    Image.new("1", (20_000, 20_000)).save(tmp_path / "bomb.png", optimize=True)
    assert (tmp_path / "bomb.png").stat().st_size < 100_000
    r = hash_file(tmp_path / "bomb.png")
    assert r.error is not None and "decompression bomb" in r.error


def test_a_strip_longer_than_any_real_image_is_refused_before_decoding(tmp_path: Path) -> None:
    # 3 x 70,000 pixels: under the pixel limit, over the side limit (a hostile shape).
    Image.new("RGB", (70_000, 3)).save(tmp_path / "strip.png")
    r = hash_file(tmp_path / "strip.png")
    assert r.error is not None and "side longer than the limit of 65,535" in r.error
    assert (r.width, r.height) == (70_000, 3) and r.md5 is not None and r.pdq is None


def test_missing_file_and_the_run_goes_on(tmp_path: Path, samples: dict[str, list[Path]]) -> None:
    results = list(hash_paths([tmp_path / "gone.jpg", samples["png"][0]]))
    assert results[0].error is not None and "cannot read" in results[0].error
    assert results[1].error is None


def test_sniffing() -> None:
    assert sniff_kind(b"\xff\xd8\xff\xe0") == "image"
    assert sniff_kind(b"\x00\x00\x00\x18ftypmp42") == "video"
    assert sniff_kind(b"\x00\x00\x00\x1cftypisom\x00\x00\x02\x00isomiso2avc1mp41") == "video"
    assert sniff_kind(b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00mif1heicmiaf") == "image"
    assert sniff_kind(b"\x00\x00\x00\x20ftypavif\x00\x00\x00\x00avifmif1miafMA1B") == "image"
    assert sniff_kind(b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00") == "image"
    assert sniff_kind(b"\xff\xff\xff\xffftyp") == "video"  # a hostile box size: no crash
    assert sniff_kind(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image"
    assert sniff_kind(b"hello") is None


# -- video ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def test_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is needed to make the test video (make test installs it)")
    path = tmp_path_factory.mktemp("video") / "pattern.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=4:size=320x240:rate=10",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    return path


def test_video_gets_vpdq_one_hash_per_second(test_video: Path) -> None:
    r = hash_file(test_video)
    assert r.error is None and r.kind == "video"
    assert r.vpdq is not None and 3 <= len(r.vpdq) <= 5
    assert all(len(f.pdq) == 64 for f in r.vpdq)
    assert r.md5 is not None and r.sha256 is not None and r.pdq is None


def test_damaged_videos_never_stop_the_run(test_video: Path, tmp_path: Path) -> None:
    """Overwriting random bytes of a test video made FFmpeg's scaler abort the whole process
    (about one variant in sixteen); videos are decoded in a child process, so only that file
    fails and every file gets its result."""

    paths = []
    for i, data in enumerate(
        damaged_copies(test_video.read_bytes(), "video-damage-30-4", 16, most_bytes=30)
    ):
        paths.append(tmp_path / f"damaged_{i}.mp4")
        paths[-1].write_bytes(data)
    results = list(hash_paths([*paths, test_video], jobs=1))
    assert [r.path for r in results] == [str(p) for p in [*paths, test_video]]
    assert results[-1].error is None and results[-1].vpdq
    assert all((r.vpdq is None) == (r.error is not None) for r in results if r.kind == "video")


def test_a_decoder_that_kills_its_process_fails_only_that_file(
    test_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import vpdq

    def abort(**_kwargs: object) -> None:
        os.write(2, b"Assertion desc failed at swscale_internal.h:725\n")
        os.abort()  # what FFmpeg's failed assertion does

    monkeypatch.setattr(vpdq, "computeHash", abort)  # the forked child inherits it
    result = hash_file(test_video)
    assert result.vpdq is None and result.md5 is not None
    assert result.error is not None and "decoder stopped the process" in result.error
    assert "(the decoder said: Assertion desc failed at swscale_internal.h:725)" in result.error


def test_corrupt_video(tmp_path: Path) -> None:
    (tmp_path / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500)
    r = hash_file(tmp_path / "bad.mp4")
    assert r.kind == "video" and r.error is not None
