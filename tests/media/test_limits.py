"""Media limits are real limits: the documented pixel limit is the one enforced, bytes after an
image and huge video frames stay within a memory bound, videos have a time limit, and a path
that is no regular file is that path's error. Hostile files are generated here, cheaply."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from tipwatch.cli import app
from tipwatch.errors import InputError
from tipwatch.formats.detect import iter_source_files
from tipwatch.media.hashing import MAX_IMAGE_PIXELS, VIDEO_MEMORY_BYTES, hash_file
from tipwatch.settings import get_settings

MIB = 1024**2


def write_png(
    path: Path, width: int, height: int, rgb: tuple[int, int, int] = (40, 90, 160)
) -> Path:
    """A PNG of one colour, written row by row (a 108-megapixel one in about a second)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(tag + data))
        return struct.pack(">I", len(data)) + tag + data + crc

    row = b"\x00" + bytes(rgb) * width
    packer = zlib.compressobj(1)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def run_measured(code: str) -> tuple[dict[str, object], int, int]:
    """Run ``code`` (which prints one JSON line) in a fresh Python; return what it printed and
    the peak resident memory, in MiB, of that process and of its children."""
    # The peak carried over from the process that started this one (preserved across exec) is
    # reset first; the peak is then read from the kernel's own high-water mark.
    probe = (
        "import json, re, resource\n"
        "open('/proc/self/clear_refs', 'w').write('5')\n"
        + code
        + "\nstatus = open('/proc/self/status').read()\n"
        "peak = int(re.search(r'VmHWM:\\s+(\\d+)', status).group(1))\n"
        "print(json.dumps({'self': peak,"
        " 'children': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=300
    )
    lines = done.stdout.strip().splitlines()
    peaks = json.loads(lines[-1])
    return json.loads(lines[-2]), peaks["self"] // 1024, peaks["children"] // 1024


def test_a_108_megapixel_photo_is_hashed_and_the_documented_limit_is_the_one_enforced(
    tmp_path: Path,
) -> None:
    # Pillow's own guard (89.5 million pixels) refused this photo while the limit said 120.
    photo = write_png(tmp_path / "phone.png", 12_000, 9_000)
    result, peak, _ = run_measured(
        "from tipwatch.media.hashing import hash_file\n"
        f"r = hash_file({str(photo)!r})\n"
        "print(json.dumps({'error': r.error, 'pdq': r.pdq, 'size': [r.width, r.height]}))"
    )
    assert result["error"] is None and result["size"] == [12_000, 9_000]
    assert isinstance(result["pdq"], str) and len(result["pdq"]) == 64
    assert peak < 1_400, peak  # the documented bound for an image at the limit (measured 1,075)
    # Over the limit: refused by tipwatch's own check, with its numbers, before decoding.
    over = write_png(tmp_path / "over.png", 11_000, MAX_IMAGE_PIXELS // 11_000 + 1)
    refused = hash_file(over)
    assert refused.error is not None and "larger than the limit of 120,000,000" in refused.error
    assert Image.MAX_IMAGE_PIXELS == MAX_IMAGE_PIXELS


def test_a_gigabyte_after_a_jpeg_costs_no_memory(tmp_path: Path) -> None:
    small = tmp_path / "small.jpg"
    Image.new("RGB", (640, 480), (200, 30, 30)).save(small)
    padded = tmp_path / "padded.jpg"
    shutil.copy(small, padded)
    os.truncate(padded, 1024**3)  # sparse: a gigabyte of zeros after the image's end
    result, peak, _ = run_measured(
        "from tipwatch.media.hashing import hash_file\n"
        f"r = hash_file({str(padded)!r})\n"
        "print(json.dumps({'error': r.error, 'pdq': r.pdq, 'size': r.size, 'md5': r.md5}))"
    )
    assert result["error"] is None and result["size"] == 1024**3
    assert result["pdq"] == hash_file(small).pdq  # the image, decoded from the file
    assert isinstance(result["md5"], str) and len(result["md5"]) == 32  # of all the bytes
    assert peak < 200, peak  # it was 2,074 MiB when the file was read into memory whole


def _ffmpeg() -> str:
    found = shutil.which("ffmpeg")
    if found is None:
        pytest.skip("ffmpeg is needed to make the test video (make test installs it)")
    return found


def test_a_16000_pixel_video_frame_stays_within_the_memory_limit(tmp_path: Path) -> None:
    # A grey 16000x16000 JPEG as a two-frame Motion-JPEG video, put in AVI without decoding.
    frame = tmp_path / "frame.jpg"
    Image.new("L", (16_000, 16_000), 128).save(frame, quality=5)
    video = tmp_path / "huge.avi"
    subprocess.run(
        [
            _ffmpeg(),
            "-v",
            "error",
            "-loop",
            "1",
            "-framerate",
            "1",
            "-t",
            "2",
            "-i",
            str(frame),
            "-c:v",
            "copy",
            str(video),
        ],
        check=True,
    )
    result, _, child_peak = run_measured(
        "from tipwatch.media.hashing import hash_file\n"
        f"r = hash_file({str(video)!r})\n"
        "print(json.dumps({'error': r.error, 'vpdq': r.vpdq}))"
    )
    # Unbounded, decoding it took 5.6 GiB and 35 s; now it stops at the limit.
    assert result["vpdq"] is None
    assert "needs more memory than the limit of 2,048 MiB" in str(result["error"])
    assert child_peak < VIDEO_MEMORY_BYTES // MIB + 100, child_peak


def test_a_video_is_stopped_at_its_time_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = tmp_path / "clip.mp4"
    subprocess.run(
        [
            _ffmpeg(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=20:size=640x480:rate=30",
            "-pix_fmt",
            "yuv420p",
            str(video),
        ],
        check=True,
    )
    # A limit no decoder can meet (starting the decoding process alone takes longer), so that
    # the test does not depend on how busy the machine is.
    stopped = hash_file(video, video_seconds=0.001)
    assert stopped.vpdq is None and stopped.error == (
        "the video took longer than the limit of 0.001 s to hash; stopped"
    )
    # The setting reaches the command.
    assert get_settings().media_video_seconds == 600
    monkeypatch.setenv("TIPWATCH_MEDIA_VIDEO_SECONDS", "0.001")
    from tipwatch.settings import reload_settings

    reload_settings()
    out = CliRunner().invoke(app, ["hash", str(video), "--jobs", "1"])
    assert out.exit_code == 0 and "longer than the limit of 0.001 s" in out.output


def test_a_fifo_or_symlink_loop_named_is_that_paths_error(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    Image.new("RGB", (64, 64), (10, 200, 10)).save(good)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    runner = CliRunner()
    out = runner.invoke(app, ["hash", str(fifo), str(loop), str(good), "--jobs", "1"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.output.splitlines() if line.startswith("{")]
    assert [Path(r["path"]).name for r in rows] == ["pipe", "loop", "good.png"]
    assert rows[0]["error"] == "not a regular file: a named pipe (FIFO)"
    assert "cannot read the file: Too many levels of symbolic links" in rows[1]["error"]
    assert rows[2].get("error") is None and len(rows[2]["pdq"]) == 64
    # Readers that need regular files still refuse them, now by what they are.
    for path in (fifo, loop):
        with pytest.raises(InputError, match="not a regular file or folder"):
            list(iter_source_files([path]))
    with pytest.raises(InputError, match="no such file or folder"):
        list(iter_source_files([tmp_path / "absent"]))
