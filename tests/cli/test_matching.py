"""The hashing, list and matching commands, as a user runs them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tipwatch.cli import app
from tipwatch.demo import sample_files
from tipwatch.demo.images import write_generated_images

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_hash_jsonl_and_csv_with_per_file_errors(tmp_path: Path) -> None:
    write_generated_images(tmp_path / "m", 2, size=(320, 240))
    (tmp_path / "m" / "empty.jpg").write_bytes(b"")
    code, out = invoke("hash", str(tmp_path / "m"), "--jobs", "1")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [r.get("error") for r in rows] == ["empty file (0 bytes)", None, None]
    assert all(len(r["pdq"]) == 64 for r in rows[1:])
    assert "2 file(s) hashed, 1 could not be hashed" in out
    code, out = invoke(
        "hash", str(tmp_path / "m"), "--format", "csv", "--out", str(tmp_path / "h.csv")
    )
    table = list(csv.DictReader(io.StringIO((tmp_path / "h.csv").read_text())))
    assert code == 0 and len(table) == 3 and table[1]["kind"] == "image"


def test_hash_reference_and_reduced_decoding_options(tmp_path: Path) -> None:
    write_generated_images(tmp_path / "m", 2, size=(2000, 1600))  # large enough to decode smaller

    def pdqs(*options: str) -> list[str]:
        code, out = invoke("hash", str(tmp_path / "m"), "--jobs", "1", *options)
        assert code == 0, out
        return [json.loads(line)["pdq"] for line in out.splitlines() if line.startswith("{")]

    default, by_reference = pdqs(), pdqs("--reference-pdq")
    assert len(default) == 2 and default == by_reference
    reduced = pdqs("--reduced-decode")
    assert len(reduced) == 2 and reduced != default  # decoded smaller: some bits move


def test_hash_missing_path(tmp_path: Path) -> None:
    code, out = invoke("hash", str(tmp_path / "nope"))
    assert code == 65 and "no such file or folder" in out


def test_lists_and_match_commands(db_url: str, tmp_path: Path) -> None:
    code, out = invoke("ingest", "--db", db_url, *map(str, sample_files()))
    assert code == 0
    plain = tmp_path / "known.txt"
    plain.write_text("0cc175b9c0f1b6a831c399e269772661\n")
    code, out = invoke(
        "lists",
        "import",
        str(plain),
        "--db",
        db_url,
        "--name",
        "local",
        "--version",
        "2020-04-01",
        "--hash-type",
        "md5",
        "--scheme",
        "none",
    )
    assert code == 0 and "1 added" in out
    code, out = invoke(
        "lists", "import", str(plain), "--db", db_url, "--name", "x", "--version", "1"
    )
    assert code == 65 and "a plain list needs its hash type" in out and "--hash-type" in out
    code, out = invoke("lists", "list", "--db", db_url, "-f", "json")
    assert json.loads(out)[0]["name"] == "local" and json.loads(out)[0]["active_entries"] == 1
    code, out = invoke("lists", "show", "local", "--db", db_url)
    assert json.loads(out)["versions"][0]["version"] == "2020-04-01"
    code, out = invoke("lists", "export", "local", "--db", db_url, "--format", "csv")
    assert code == 0 and "md5,0cc175b9c0f1b6a831c399e269772661" in out
    code, out = invoke("match", "--referrals", "--db", db_url)
    assert code == 0 and "7 file(s): 1 known, 6 new (1 exact and 0 near matches)" in out
    code, out = invoke("referrals", "show", "9100001", "--db", db_url)
    doc = json.loads(out)
    assert doc["match_status"] == {"a1b2c3": "known", "d4e5f6": "new"}
    assert doc["matches"]["exact"][0]["list"] == "local" and doc["matches"]["near"] == []
    code, out = invoke("match", "--db", db_url)
    assert code == 1 and "--referrals" in out
    code, out = invoke("lists", "remove", "local", "--db", db_url, "--yes")
    assert code == 0 and "removed list local (1 entries)" in out
    code, out = invoke("lists", "show", "local", "--db", db_url)
    assert code == 66 and "no hash list named 'local'" in out


def test_match_media_prints_status_and_matches(db_url: str, tmp_path: Path) -> None:
    (path,) = write_generated_images(tmp_path / "m", 1, size=(320, 240), start=2)  # smooth noise
    code, out = invoke("hash", str(path), "--jobs", "1")
    assert code == 0, out
    pdq = json.loads(next(line for line in out.splitlines() if line.startswith("{")))["pdq"]
    (tmp_path / "pdq.txt").write_text(pdq + "\n")
    code, out = invoke(
        "lists",
        "import",
        str(tmp_path / "pdq.txt"),
        "--db",
        db_url,
        "--name",
        "p",
        "--version",
        "1",
        "--hash-type",
        "pdq",
        "--scheme",
        "none",
    )
    assert code == 0, out
    code, out = invoke("match", str(path), "--db", db_url, "--jobs", "1")
    row = json.loads(out.splitlines()[0])
    assert code == 0 and row["status"] == "known"
    assert row["matches"][0] | {"entry_id": 0} == {
        "list": "p",
        "list_version": "1",
        "scheme": "none",
        "algorithm": "pdq",
        "kind": "near",
        "distance": 0,
        "category": None,
        "category_label": None,
        "entry_id": 0,
    }


def test_hash_csv_neutralises_formula_file_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (path,) = write_generated_images(tmp_path / "m", 1, size=(64, 48), start=1)
    path.rename(path.with_name("=HYPERLINK(1).jpg"))
    monkeypatch.chdir(tmp_path / "m")
    code, out = invoke("hash", "=HYPERLINK(1).jpg", "--format", "csv", "--jobs", "1")
    assert code == 0, out
    row = next(csv.DictReader(io.StringIO(out[out.index("path,") :])))
    assert row["path"] == "'=HYPERLINK(1).jpg" and len(row["md5"]) == 32


def test_a_list_version_of_unreadable_hashes_leaves_known_material_known(
    db_url: str, tmp_path: Path
) -> None:
    code, out = invoke("ingest", "--db", db_url, *map(str, sample_files()))
    assert code == 0

    def lists_import(path: Path, version: str, *options: str) -> tuple[int, str]:
        return invoke(
            "lists", "import", str(path), "--db", db_url, "--name", "vendor",
            "--version", version, "--hash-type", "md5", "--scheme", "none", *options,
        )  # fmt: skip

    def statuses() -> dict[str, str]:
        code, out = invoke("match", "--referrals", "--db", db_url)
        assert code == 0, out
        code, out = invoke("referrals", "show", "9100001", "--db", db_url)
        return dict(json.loads(out)["match_status"])

    good = tmp_path / "v1.txt"
    good.write_text("0cc175b9c0f1b6a831c399e269772661\n")
    assert lists_import(good, "v1")[0] == 0
    assert statuses() == {"a1b2c3": "known", "d4e5f6": "new"}
    vendor = tmp_path / "v2.txt"  # the vendor's next version writes its MD5s with 0x
    vendor.write_text("0x0CC175B9C0F1B6A831C399E269772661\n")
    # The dry run says what it would do and fails as the import would.
    code, out = lists_import(vendor, "v2", "--dry-run")
    assert code == 65, out
    assert "dry run, nothing changed" in out and "0 would be retired" in out
    assert "1 kept as named by rejected records" in out and "active entries 1 -> 1" in out
    assert "the import would be refused: all 1 of its records were rejected" in out
    code, out = lists_import(vendor, "v2")
    assert code == 65 and "refused, the list is unchanged" in out and "--force" in out
    code, out = invoke("lists", "show", "vendor", "--db", db_url)
    assert [v["version"] for v in json.loads(out)["versions"]] == ["v1"]
    assert statuses() == {"a1b2c3": "known", "d4e5f6": "new"}
    # Forced, the rejected record still keeps its entry active.
    code, out = lists_import(vendor, "v2", "--force")
    assert code == 0 and "0 retired" in out and "imported although all 1" in out
    assert statuses() == {"a1b2c3": "known", "d4e5f6": "new"}
    # A version that drops the entry: the dry run says so before it happens.
    empty = tmp_path / "v3.txt"
    empty.write_text("# nothing\n")
    code, out = lists_import(empty, "v3", "--dry-run")
    assert code == 65 and "1 would be retired" in out and "active entries 1 -> 0" in out


def test_lists_import_applies_the_rejected_share_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tipwatch.matching.lists import DEFAULT_MAX_REJECTED_SHARE
    from tipwatch.settings import get_settings, reload_settings

    assert get_settings().list_max_rejected_share == DEFAULT_MAX_REJECTED_SHARE
    one_bad = tmp_path / "l.txt"  # 1 of 4 rejected: 25%
    one_bad.write_text("0cc175b9c0f1b6a831c399e269772661\nnothex\n" + "".join(
        f"{c * 32}\n" for c in "ab"
    ))  # fmt: skip

    def lists_import(db: Path) -> tuple[int, str]:
        return invoke(
            "lists", "import", str(one_bad), "--db", str(db), "--name", "l", "--version", "1",
            "--hash-type", "md5", "--scheme", "none",
        )  # fmt: skip

    code, out = lists_import(tmp_path / "default.db")
    assert code == 65 and "1 of its 4 records were rejected (25.0%; at most 5.0%" in out
    monkeypatch.setenv("TIPWATCH_LIST_MAX_REJECTED_SHARE", "0.3")
    reload_settings()
    code, out = lists_import(tmp_path / "tolerant.db")
    assert code == 0 and "3 added" in out and "1 rejected" in out


def test_matching_media_counts_towards_the_flood_quarantine(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tipwatch.settings import reload_settings

    (image,) = write_generated_images(tmp_path / "one", 1, size=(160, 120), start=2)
    folder = tmp_path / "m"
    folder.mkdir()
    for i in range(12):  # the same photo sent twelve times in a day
        (folder / f"copy{i:02d}.png").write_bytes(image.read_bytes())
    code, out = invoke("hash", str(image), "--jobs", "1")
    assert code == 0, out
    md5 = json.loads(next(line for line in out.splitlines() if line.startswith("{")))["md5"]
    (tmp_path / "md5.txt").write_text(md5 + "\n")
    code, out = invoke(
        "lists", "import", str(tmp_path / "md5.txt"), "--db", db_url, "--name", "m",
        "--version", "1", "--hash-type", "md5", "--scheme", "none",
    )  # fmt: skip
    assert code == 0, out
    monkeypatch.setenv("TIPWATCH_FLOOD_MIN_MATCHES", "10")
    monkeypatch.setenv("TIPWATCH_FLOOD_FACTOR", "5")
    reload_settings()
    code, out = invoke("match", str(folder), "--db", db_url, "--jobs", "1")
    assert code == 0, out
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [r["status"] for r in rows] == ["known"] * 12  # counted at the end of the run
    assert "held for review (flood): entry" in out and "12 matches on" in out
    code, out = invoke("lists", "held", "--db", db_url)
    assert code == 0 and json.loads(out.splitlines()[0])["matches"] == 12
    # Held: the next run's copies are new until a reviewer releases the entry.
    code, out = invoke("match", str(folder / "copy00.png"), "--db", db_url, "--jobs", "1")
    assert code == 0 and json.loads(out.splitlines()[0])["status"] == "new"
