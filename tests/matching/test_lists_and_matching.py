"""Hash lists (VICS JSON, CSV, plain) with versions, export round trips, and matching of
generated images and stored referrals, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tipwatch.demo.images import generated_image
from tipwatch.errors import ConfigError
from tipwatch.formats import hashlists
from tipwatch.formats.hashlists import read_hash_csv, read_plain, read_vics
from tipwatch.intake import ingest_paths
from tipwatch.matching.lists import get_list, import_list, iter_entries, list_lists, remove_list
from tipwatch.matching.matcher import file_matches_for, match_media, match_referrals
from tipwatch.media import hash_file
from tipwatch.store import Store

MD5_A = "0cc175b9c0f1b6a831c399e269772661"
MD5_B = "92eb5ffee6ae2fec3ad71c777531578f"
SHA1_A = "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"


def vics_1x(media: list[dict]) -> dict:
    return {
        "odata.metadata": "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Media",
        "value": media,
    }


def vics_2(media: list[dict]) -> dict:
    return {
        "@odata.context": "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Cases",
        "value": [{"CaseID": "c-1", "CaseNumber": "T-1", "Media": media}],
    }


def write_json(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc))
    return path


def test_vics_both_generations_flags_as_strings_or_booleans(tmp_path: Path) -> None:
    media = [
        {
            "MediaID": 1,
            "Category": 1,
            "MD5": MD5_A.upper(),
            "SHA1": SHA1_A,
            "VictimIdentified": "true",
            "IsDistributed": False,
            "Series": "S-1",
            "AlternativeHashes": [{"HashName": "PhotoDNA", "HashValue": "QUJD" * 36}],
            "MimeType": "image/jpeg",
        },
        {"MediaID": 2, "Category": "2", "MD5": MD5_B, "OffenderIdentified": "false"},
    ]
    for doc in (vics_1x(media), vics_2(media)):
        records = list(read_vics(write_json(tmp_path / "l.json", doc)))
        assert [r.error for r in records] == [None] * 4
        assert [(r.algorithm, r.value) for r in records] == [
            ("md5", MD5_A),
            ("sha1", SHA1_A),
            ("PhotoDNA", "QUJD" * 36),
            ("md5", MD5_B),
        ]
        first = records[0]
        assert first.category == "1" and first.series == "S-1" and first.media_id == "1"
        assert first.flags == {"victim_identified": True, "distributed": False}
        assert first.extra["MimeType"] == "image/jpeg"
        assert records[3].flags == {"offender_identified": False}


def test_vics_bad_records_are_reported_and_the_rest_read(tmp_path: Path) -> None:
    doc = vics_1x(
        [
            {"MediaID": 1, "MD5": "xyz"},
            {"MediaID": 2},
            "nonsense",
            {"MediaID": 3, "MD5": MD5_A, "IsDistributed": "maybe"},
            {"MediaID": 4, "MD5": MD5_B},
        ]
    )
    records = list(read_vics(write_json(tmp_path / "l.json", doc)))
    errors = [r.error for r in records if r.error]
    assert len(errors) == 4 and "32 hexadecimal" in errors[0] and "no hash" in errors[1]
    assert [r.value for r in records if r.error is None] == [MD5_B]


def test_not_vics_is_a_clear_error(tmp_path: Path) -> None:
    from tipwatch.errors import InputError

    (tmp_path / "x.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="not a VICS file"):
        list(read_vics(tmp_path / "x.json"))
    (tmp_path / "y.json").write_text("{broken")
    with pytest.raises(InputError, match="not valid JSON"):
        list(read_vics(tmp_path / "y.json"))


def test_csv_and_plain_lists(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_text(
        "hash_type,hash,category,distributed,note\n"
        f"MD5,{MD5_A.upper()},1,true,seen twice\n"
        "SHA-1,nothex,1,,\n"
        f"pdq,{'ab' * 32},2,,\n"
    )
    records = list(read_hash_csv(tmp_path / "l.csv"))
    assert (records[0].algorithm, records[0].value, records[0].flags) == (
        "md5",
        MD5_A,
        {"distributed": True},
    )
    assert records[0].extra == {"note": "seen twice"}
    assert records[1].error is not None and records[2].algorithm == "pdq"
    (tmp_path / "l.txt").write_text(f"# comment\n{MD5_A}\n\n{MD5_B}  # trailing\nbad\n")
    plain = list(read_plain(tmp_path / "l.txt", "MD5"))
    assert [r.value for r in plain if not r.error] == [MD5_A, MD5_B]
    assert plain[-1].error is not None and plain[-1].location == "line 5"


def test_import_versions_retire_and_reactivate_without_duplicates(
    store: Store, tmp_path: Path
) -> None:
    v1 = vics_1x(
        [{"MediaID": 1, "Category": 1, "MD5": MD5_A}, {"MediaID": 2, "Category": 2, "MD5": MD5_B}]
    )
    v2 = vics_1x(
        [{"MediaID": 1, "Category": 1, "MD5": MD5_A}, {"MediaID": 3, "Category": 1, "SHA1": SHA1_A}]
    )
    s1 = import_list(
        store,
        "vic",
        read_vics(write_json(tmp_path / "1.json", v1)),
        version="v1",
        fmt="vics",
        scheme="projectvic_us",
    )
    assert (s1.added, s1.retired) == (2, 0)
    s2 = import_list(
        store,
        "vic",
        read_vics(write_json(tmp_path / "2.json", v2)),
        version="v2",
        fmt="vics",
        scheme="projectvic_us",
    )
    assert (s2.added, s2.kept, s2.retired) == (1, 1, 1)
    s3 = import_list(
        store,
        "vic",
        read_vics(write_json(tmp_path / "3.json", v1)),
        version="v3",
        fmt="vics",
        scheme="projectvic_us",
    )
    assert (s3.added, s3.reactivated, s3.kept, s3.retired) == (0, 1, 1, 1)
    info = get_list(store, "vic")
    assert [v["version"] for v in info["versions"]] == ["v1", "v2", "v3"]
    assert sum(a["entries"] for a in info["active"]) == 2
    assert {a["category_label"] for a in info["active"]} == {
        "Child abuse material (CAM)",
        "Child exploitive (non-CAM) / age difficult",
    }
    assert len(list(iter_entries(store, "vic", include_retired=True))) == 3
    with pytest.raises(ConfigError, match="already has a version"):
        import_list(store, "vic", [], version="v3", fmt="vics", scheme="projectvic_us")
    with pytest.raises(ConfigError, match="uses the projectvic_us scheme"):
        import_list(store, "vic", [], version="v4", fmt="vics", scheme="uk_abc")


def test_categories_outside_the_scheme_are_rejected(store: Store, tmp_path: Path) -> None:
    doc = vics_1x([{"MediaID": 1, "Category": 9, "MD5": MD5_A}, {"MediaID": 2, "MD5": MD5_B}])
    s = import_list(
        store,
        "x",
        read_vics(write_json(tmp_path / "l.json", doc)),
        version="1",
        fmt="vics",
        scheme="projectvic_us",
        force=True,  # half the records rejected: refused unless forced
    )
    assert s.forced and s.refusal is not None
    assert (s.added, s.rejected) == (1, 1) and "not in the Project VIC (US) scheme" in s.problems[
        0
    ][1]


@pytest.mark.parametrize("fmt", ["vics-1.3", "vics-2.0", "csv", "plain"])
def test_export_round_trips(store: Store, tmp_path: Path, fmt: str) -> None:
    doc = vics_1x(
        [
            {
                "MediaID": 7,
                "Category": 1,
                "MD5": MD5_A.upper(),
                "SHA1": SHA1_A,
                "VictimIdentified": True,
                "SelfGenerated": "false",
                "Series": "S",
                "AlternativeHashes": [{"HashName": "PDQ", "HashValue": "cd" * 32}],
            },
            {"MediaID": 8, "Category": 4, "MD5": MD5_B},
        ]
    )
    import_list(
        store,
        "a",
        read_vics(write_json(tmp_path / "a.json", doc)),
        version="1",
        fmt="vics",
        scheme="projectvic_us",
    )
    original = list(iter_entries(store, "a"))
    buf = io.StringIO()
    kind, _, version = fmt.partition("-")
    out = tmp_path / f"out.{'json' if kind == 'vics' else kind}"
    if kind == "vics":
        hashlists.write_vics(original, buf, version=version)
        out.write_text(buf.getvalue())
        again = list(read_vics(out))
    elif kind == "csv":
        hashlists.write_hash_csv(original, buf)
        out.write_text(buf.getvalue())
        again = list(read_hash_csv(out))
    else:
        hashlists.write_plain([r for r in original if r.algorithm == "md5"], buf)
        out.write_text(buf.getvalue())
        again = list(read_plain(out, "md5"))
        assert [r.value for r in again] == [MD5_A, MD5_B]
        return

    def key(r: hashlists.HashRecord) -> tuple[object, ...]:
        return (r.algorithm, r.value, r.category, r.series, r.media_id, sorted(r.flags.items()))

    assert [key(r) for r in again] == [key(r) for r in original]


def test_remove_list(store: Store, tmp_path: Path) -> None:
    import_list(
        store, "gone", read_plain(_plain(tmp_path), "md5"), version="1", fmt="plain", scheme="none"
    )
    assert [x["name"] for x in list_lists(store)] == ["gone"]
    assert remove_list(store, "gone") == 2
    assert list_lists(store) == []


def _plain(tmp_path: Path) -> Path:
    (tmp_path / "p.txt").write_text(f"{MD5_A}\n{MD5_B}\n")
    return tmp_path / "p.txt"


# -- matching ---------------------------------------------------------------------------------


def test_vics_list_matches_images_and_their_variants_as_near(store: Store, tmp_path: Path) -> None:
    """A list built from generated images finds resized and re-encoded variants as near
    matches, with distance shown, and their exact copies as exact matches."""
    originals = []
    for i in range(4):
        img = generated_image(100 + i, (800, 600), kind="shapes" if i % 2 else "card")
        path = tmp_path / f"orig_{i}.png"
        img.save(path)
        originals.append(path)
    media = []
    for i, path in enumerate(originals):
        h = hash_file(path)
        media.append(
            {
                "MediaID": i,
                "Category": 1,
                "MD5": h.md5,
                "AlternativeHashes": [{"HashName": "PDQ", "HashValue": h.pdq}],
            }
        )
    import_list(
        store,
        "known",
        read_vics(write_json(tmp_path / "known.json", vics_1x(media))),
        version="1",
        fmt="vics",
        scheme="projectvic_us",
    )
    from PIL import Image

    variants = tmp_path / "variants"
    variants.mkdir()
    with Image.open(originals[0]) as im:
        im.resize((400, 300)).save(variants / "small.jpg", quality=75)
        im.convert("RGB").save(variants / "recoded.jpg", quality=60)
    (variants / "copy.png").write_bytes(originals[2].read_bytes())  # PDQ quality 65
    (variants / "lowq.png").write_bytes(originals[1].read_bytes())  # PDQ quality 33
    generated_image(999, (640, 480), kind="noise").save(variants / "unrelated.png")
    results = {Path(r.path).name: v for r, v in match_media(store, sorted(variants.iterdir()))}
    assert results["unrelated.png"] is not None and results["unrelated.png"].status == "new"
    distances = {}
    for name in ("small.jpg", "recoded.jpg"):
        verdict = results[name]
        assert verdict is not None and verdict.status == "known"
        assert all(m.kind == "near" for m in verdict.matches)  # other bytes: no exact match
        near = verdict.matches
        assert near and near[0].algorithm == "pdq" and near[0].distance <= 31
        assert near[0].list_name == "known"
        distances[name] = near[0].distance
    # Halving the size moves the hash; re-encoding a text card can leave it unchanged.
    assert distances["small.jpg"] > 0
    copy = results["copy.png"]
    assert copy is not None
    # the same bytes: an exact (cryptographic) MD5 match and a near (perceptual) PDQ match at
    # distance 0, kept apart
    assert {(m.algorithm, m.kind, m.distance) for m in copy.matches} == {
        ("md5", "exact", 0),
        ("pdq", "near", 0),
    }
    # Below the list's quality floor (50), a PDQ takes no part in matching; MD5 still does.
    lowq = results["lowq.png"]
    assert lowq is not None and {m.algorithm for m in lowq.matches} == {"md5"}


def test_match_referrals_marks_files_known_or_new(store: Store, tmp_path: Path) -> None:
    from tipwatch.demo import sample_files

    ingest_paths(store, sample_files())
    (tmp_path / "l.csv").write_text(
        "hash_type,hash,category\n"
        "md5,0cc175b9c0f1b6a831c399e269772661,1\n"
        # one bit away from the PDQ of file x9 of referral 9100002
        "pdq,f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b23,2\n"
    )
    import_list(
        store,
        "csv-list",
        read_hash_csv(tmp_path / "l.csv"),
        version="1",
        fmt="csv",
        scheme="projectvic_us",
    )
    summary = match_referrals(store)
    assert summary.files == 7 and summary.known == 2 and summary.new == 5
    assert (summary.exact_matches, summary.near_matches) == (1, 1)
    hits = file_matches_for(store, "9100002")
    assert hits == [
        {
            "file_id": "x9",
            "list": "csv-list",
            "list_version": "1",
            "entry_id": hits[0]["entry_id"],
            "entry_added_in": "1",
            "entry_retired_in": None,
            "algorithm": "pdq",
            "kind": "near",
            "distance": 1,
            "category": "2",
            "scheme": "projectvic_us",
            "category_label": "Child exploitive (non-CAM) / age difficult",
        }
    ]
    assert file_matches_for(store, "9100001")[0]["kind"] == "exact"
    # Matching again replaces, never doubles, the stored matches.
    match_referrals(store)
    assert len(file_matches_for(store, "9100002")) == 1


def test_dihedral_matching_finds_rotated_and_flipped_copies(store: Store, tmp_path: Path) -> None:
    from PIL import Image

    original = tmp_path / "orig.png"
    generated_image(102, (640, 480), kind="noise").save(original)  # PDQ quality 100
    h = hash_file(original)
    assert h.pdq_quality is not None and h.pdq_quality >= 50
    (tmp_path / "l.csv").write_text(f"hash_type,hash\npdq,{h.pdq}\n")
    import_list(
        store, "p", read_hash_csv(tmp_path / "l.csv"), version="1", fmt="csv", scheme="none"
    )
    folder = tmp_path / "q"
    folder.mkdir()
    with Image.open(original) as im:
        im.transpose(Image.Transpose.ROTATE_90).save(folder / "rotated.png")
        im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "mirrored.png")
    plain = {Path(r.path).name: v for r, v in match_media(store, sorted(folder.iterdir()))}
    assert all(v is not None and v.status == "new" for v in plain.values())
    both = {
        Path(r.path).name: v for r, v in match_media(store, sorted(folder.iterdir()), dihedral=True)
    }
    for name in ("rotated.png", "mirrored.png"):
        verdict = both[name]
        assert verdict is not None and verdict.status == "known"
        assert verdict.matches[0].transform is not None and verdict.matches[0].distance <= 31


def _video(path: Path, seed: int) -> Path:
    """Five seconds of video, one generated benign image (smooth noise) per second."""
    import shutil
    import subprocess

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is needed to make test videos (make test installs it)")
    frames = path.parent / f"frames_{seed}"
    frames.mkdir()
    for i in range(5):
        generated_image(seed + 4 * i, (320, 240), kind="noise").save(frames / f"f{i}.png")
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


def test_vpdq_list_matches_a_reencoded_video_with_both_percentages(
    store: Store, tmp_path: Path
) -> None:
    import subprocess

    original = _video(tmp_path / "orig.mp4", 500)
    smaller = tmp_path / "small.mp4"  # scaled down and re-encoded
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(original),
            "-vf",
            "scale=256:192",
            "-crf",
            "28",
            "-pix_fmt",
            "yuv420p",
            str(smaller),
        ],
        check=True,
    )
    other = _video(tmp_path / "other.mp4", 900)
    frames = hash_file(original).vpdq
    assert frames
    (tmp_path / "v.csv").write_text(
        "hash_type,hash,category\nvpdq," + ";".join(f.pdq for f in frames) + ",1\n"
    )
    s = import_list(
        store,
        "videos",
        read_hash_csv(tmp_path / "v.csv"),
        version="1",
        fmt="csv",
        scheme="projectvic_us",
    )
    assert s.added == 1
    results = {Path(r.path).name: v for r, v in match_media(store, [smaller, other, original])}
    for name in ("small.mp4", "orig.mp4"):
        verdict = results[name]
        assert verdict is not None and verdict.status == "known", name
        (m,) = [x for x in verdict.matches if x.algorithm == "vpdq"]
        assert (
            m.list_name == "videos" and m.query_percent is not None and m.list_percent is not None
        )
        assert m.query_percent >= 80 and m.list_percent >= 80
    assert results["other.mp4"] is not None and results["other.mp4"].status == "new"
    # The frames survive export and import again.
    buf = io.StringIO()
    hashlists.write_hash_csv(list(iter_entries(store, "videos")), buf)
    (tmp_path / "again.csv").write_text(buf.getvalue())
    (again,) = list(read_hash_csv(tmp_path / "again.csv"))
    assert again.extra["frames"] == [f.pdq for f in frames]


def test_vpdq_value_must_hold_frame_hashes(tmp_path: Path) -> None:
    (tmp_path / "v.csv").write_text("hash_type,hash\nvpdq,not;hashes\nvpdq,\n")
    records = list(read_hash_csv(tmp_path / "v.csv"))
    # Both lines are refused, each with its own reason (all() alone would pass on no records).
    assert [r.location for r in records] == ["line 2", "line 3"]
    assert "64 hexadecimal" in (records[0].error or "")
    assert records[1].error == "a vPDQ hash needs at least one frame hash"


def test_matcher_updates_its_index_incrementally_when_lists_change(
    store: Store, tmp_path: Path
) -> None:
    from tipwatch.matching.matcher import Matcher

    a, b = "ab" * 32, "cd" * 32
    (tmp_path / "v1.txt").write_text(f"{a}\n")
    (tmp_path / "v2.txt").write_text(f"{b}\n")
    import_list(
        store, "p", read_plain(tmp_path / "v1.txt", "pdq"), version="1", fmt="plain", scheme="none"
    )
    matcher = Matcher(store)
    index = matcher.index
    assert [bool(h) for h in matcher.near([a, b], [None, None])] == [True, False]
    # Version 2 replaces a with b: the same index object learns both changes.
    import_list(
        store, "p", read_plain(tmp_path / "v2.txt", "pdq"), version="2", fmt="plain", scheme="none"
    )
    matcher.refresh()
    assert matcher.index is index
    assert [bool(h) for h in matcher.near([a, b], [None, None])] == [False, True]
