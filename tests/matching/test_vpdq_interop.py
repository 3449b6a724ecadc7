"""vPDQ that interoperates: entries keep each frame's quality, frames below the quality floor are
left out on both sides, entries made at another sampling rate still match, the distance is the
median of the matched frames, ThreatExchange's serialisation imports, and a vPDQ value without
its frames is refused. Videos are generated (smooth noise and black frames)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tipwatch.demo.images import generated_image
from tipwatch.errors import InputError
from tipwatch.formats.hashlists import (
    read_hash_csv,
    read_plain,
    read_vics,
    vpdq_features,
    vpdq_serialise,
)
from tipwatch.matching.lists import import_list
from tipwatch.matching.matcher import Matcher, match_media
from tipwatch.media import hash_file
from tipwatch.media.hashing import VideoFrameHash
from tipwatch.store import Store


def _clip(folder: Path, seed: int, *, dark_seconds: int) -> Path:
    """Three seconds of smooth noise (a new image each second) then ``dark_seconds`` of black,
    at 10 frames a second."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is needed to make test videos (make test installs it)")
    frames = folder / f"frames_{seed}"
    frames.mkdir()
    from PIL import Image

    for i in range(3):
        generated_image(seed + 7 * i, (320, 240), kind="noise").save(frames / f"f{i}.png")
    for i in range(3, 3 + dark_seconds):
        Image.new("RGB", (320, 240), (0, 0, 0)).save(frames / f"f{i}.png")
    path = folder / f"clip_{seed}.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-framerate",
            "1",
            "-i",
            str(frames / "f%d.png"),
            "-r",
            "10",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    return path


def _te_value(frames: list[VideoFrameHash]) -> str:
    """ThreatExchange's serialisation of a vPDQ hash: a JSON array of "hex,quality,seconds"."""
    return vpdq_serialise(
        [f.pdq for f in frames], [f.quality for f in frames], [f.seconds for f in frames]
    )


@pytest.mark.parametrize("dark_seconds", [0, 2])
def test_entries_at_both_sampling_rates_match_the_clip_near_distance_zero(
    store: Store, tmp_path: Path, dark_seconds: int
) -> None:
    clip = _clip(tmp_path, 300, dark_seconds=dark_seconds)
    every_frame = hash_file(clip, video_seconds_per_hash=0).vpdq
    per_second = hash_file(clip).vpdq
    assert every_frame and per_second
    assert len(every_frame) > 3 * len(per_second)  # the two entries really differ in rate
    if dark_seconds:
        # The black frames are there, and below the default floor of 50.
        assert sum(f.quality < 50 for f in per_second) >= dark_seconds
    other = _clip(tmp_path, 900, dark_seconds=0)
    csv = tmp_path / "videos.csv"
    csv.write_text(
        "hash_type,hash,category,media_id\n"
        + "\n".join(
            f'vpdq,"{_te_value(frames).replace(chr(34), chr(34) * 2)}",1,{name}'
            for name, frames in (("every", every_frame), ("second", per_second))
        )
        + "\n"
    )
    records = list(read_hash_csv(csv))
    assert [r.error for r in records] == [None, None]
    assert records[0].extra["qualities"] == [f.quality for f in every_frame]
    summary = import_list(store, "videos", records, version="1", fmt="csv", scheme="projectvic_us")
    assert summary.added == 2

    results = {Path(h.path).name: v for h, v in match_media(store, [clip, other])}
    verdict = results[clip.name]
    assert verdict is not None and verdict.status == "known"
    by_entry = {m.entry_id: m for m in verdict.matches if m.algorithm == "vpdq"}
    assert len(by_entry) == 2, verdict.matches
    for m in by_entry.values():
        assert m.distance <= 2, m
        assert m.query_percent == 100.0
        assert m.list_version == "1" and m.scheme == "projectvic_us"
        assert m.category_label == "Child abuse material (CAM)"
    assert results[other.name] is not None and results[other.name].status == "new"

    # The clip hashed at every frame (a query at another rate) matches both entries too.
    matcher = Matcher(store)
    hits = matcher.video([(f.pdq, f.quality) for f in every_frame])
    assert len(hits) == 2 and all(h.distance <= 2 for h in hits)


def test_dark_frames_of_the_entry_no_longer_stop_its_own_video_matching(
    store: Store, tmp_path: Path
) -> None:
    clip = _clip(tmp_path, 400, dark_seconds=3)
    frames = hash_file(clip).vpdq
    assert frames
    (tmp_path / "v.txt").write_text(_te_value(frames) + "\n")
    import_list(
        store, "v", read_plain(tmp_path / "v.txt", "vpdq"), version="1", fmt="plain", scheme="none"
    )
    # Requiring every usable frame of the entry: the dark ones are not among them.
    matcher = Matcher(store, video_list_percent=100.0)
    (hit,) = matcher.video([(f.pdq, f.quality) for f in frames])
    assert hit.distance == 0 and hit.list_percent == 100.0 and hit.query_percent == 100.0


def test_reported_distance_is_the_median_of_matched_frames(store: Store, tmp_path: Path) -> None:
    base = [f"{i:02x}" * 32 for i in (0x11, 0x22, 0x44, 0x88)]
    (tmp_path / "v.txt").write_text(";".join(f"{h},100" for h in base) + "\n")
    import_list(
        store, "v", read_plain(tmp_path / "v.txt", "vpdq"), version="1", fmt="plain", scheme="none"
    )
    # One query frame 24 bits away (still within the default 31), three identical.
    far = "ff" * 3 + base[3][6:]
    query = [(base[0], 100), (base[1], 100), (base[2], 100), (far, 100)]
    (hit,) = Matcher(store).video(query)
    assert hit.distance == 0  # the median, not the worst pair (24)
    # A query frame below the floor is left out rather than counted as unmatched.
    (hit,) = Matcher(store).video([*query[:3], ("0f" * 32, 10)])
    assert hit.query_percent == 100.0


def test_threatexchange_serialisations_import(tmp_path: Path) -> None:
    h = "e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c"
    current = json.dumps([f"{h},100,0.000", f"{h[::-1]},42,1.000"])
    frames = vpdq_features(current)
    assert [(f.quality, f.seconds) for f in frames] == [(100, 0.0), (42, 1.0)]
    older = json.dumps(
        {
            "0": {"hash": h, "quality": 90, "timestamp": 0},
            "1": {"hash": h, "quality": 7, "timestamp": 1.0},
        }
    )
    assert [f.quality for f in vpdq_features(older)] == [90, 7]
    doc = {
        "odata.metadata": "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Media",
        "value": [
            {
                "MediaID": 1,
                "Category": 1,
                "AlternativeHashes": [{"HashName": "vPDQ", "HashValue": current}],
            }
        ],
    }
    (tmp_path / "v.json").write_text(json.dumps(doc))
    (record,) = list(read_vics(tmp_path / "v.json"))
    assert record.error is None and record.algorithm == "vpdq"
    assert record.extra["qualities"] == [100, 42] and record.extra["seconds"] == [0.0, 1.0]
    bad = json.dumps([f"{h},101,0"])
    with pytest.raises(ValueError, match="quality must be 0 to 100"):
        vpdq_features(bad)


def test_a_plain_list_of_vpdq_values_without_frames_is_refused(
    store: Store, tmp_path: Path
) -> None:
    digests = tmp_path / "digests.txt"
    digests.write_text("vpdq-sha256:" + "ab" * 32 + "\n" + "vpdq-sha256:" + "cd" * 32 + "\n")
    records = list(read_plain(digests, "vpdq"))
    assert all("frame hashes" in (r.error or "") for r in records) and len(records) == 2
    with pytest.raises(InputError, match="all 2 of its records were rejected"):
        import_list(
            store, "v", read_plain(digests, "vpdq"), version="1", fmt="plain", scheme="none"
        )
