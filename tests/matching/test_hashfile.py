"""Hash here, match there: `tipwatch hash` output read back by `tipwatch match --hashes`, with
the same verdicts as matching the media themselves; bad records named by line; each distinct
PDQ searched once; the matcher's snapshot on Dask workers gives the same verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tipwatch.cli import app
from tipwatch.compute import Compute
from tipwatch.demo.images import write_generated_images
from tipwatch.formats.hash_output import HASH_FIELDS, read_hash_output
from tipwatch.matching.hashfile import match_hash_records
from tipwatch.store import Store

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def _rows(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.fixture
def listed(db_url: str, tmp_path: Path) -> tuple[str, list[Path]]:
    """Six images; an MD5 list holding image 1's MD5, a PDQ list holding image 2's PDQ (of
    quality 100; image 0's is 0, under the lists' floor)."""
    images = write_generated_images(tmp_path / "m", 6, size=(320, 240))
    code, out = invoke("hash", *map(str, images[1:3]), "--jobs", "1")
    assert code == 0, out
    second, third = _rows(out)
    assert third["pdq_quality"] == 100
    (tmp_path / "pdq.txt").write_text(f"{third['pdq']}\n")
    (tmp_path / "md5.txt").write_text(f"{second['md5']}\n")
    for name, hash_type in (("pdq", "pdq"), ("md5", "md5")):
        code, out = invoke(
            "lists", "import", str(tmp_path / f"{name}.txt"), "--db", db_url, "--name",
            f"list-{name}", "--version", "1", "--hash-type", hash_type, "--scheme", "none",
        )  # fmt: skip
        assert code == 0, out
    return db_url, images


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_hash_file_matches_as_the_media_do(
    listed: tuple[str, list[Path]], tmp_path: Path, fmt: str
) -> None:
    db_url, images = listed
    hashes = tmp_path / f"h.{fmt}"
    code, out = invoke(
        "hash", str(tmp_path / "m"), "--format", fmt, "--out", str(hashes), "--jobs", "1"
    )
    assert code == 0, out
    code, out = invoke("match", str(tmp_path / "m"), "--db", db_url, "--jobs", "1")
    assert code == 0, out
    direct = {r["path"]: (r["status"], r["matches"]) for r in _rows(out)}
    code, out = invoke("match", "--hashes", str(hashes), "--db", db_url)
    assert code == 0, out
    rows = _rows(out)
    first_line = 2 if fmt == "csv" else 1  # after the CSV header
    assert [r["location"] for r in rows] == [f"line {n}" for n in range(first_line, first_line + 6)]
    from_file = {r["path"]: (r["status"], r["matches"]) for r in rows}
    assert from_file == direct
    statuses = {Path(str(p)).name: s for p, (s, _m) in from_file.items()}
    assert statuses[images[1].name] == "known" and statuses[images[2].name] == "known"
    assert sorted(statuses.values()).count("new") == 4
    kinds = {Path(str(p)).name: [m["kind"] for m in ms] for p, (_s, ms) in from_file.items()}
    assert kinds[images[1].name] == ["exact"] and kinds[images[2].name] == ["near"]


def test_bad_records_are_named_by_line_and_the_others_matched(
    listed: tuple[str, list[Path]], tmp_path: Path
) -> None:
    db_url, images = listed
    code, out = invoke("hash", str(images[2]), str(images[3]), "--jobs", "1")
    good = [line for line in out.splitlines() if line.startswith("{")]
    hashes = tmp_path / "mixed.jsonl"
    hashes.write_text(
        "\n".join(
            [
                good[0],
                "{not json",
                json.dumps({"path": "x.jpg", "md5": "zz" * 16}),
                json.dumps({"path": "gone.jpg", "error": "cannot read the file: No such file"}),
                "[1, 2]",
                good[1],
            ]
        )
        + "\n"
    )
    code, out = invoke("match", "--hashes", str(hashes), "--db", db_url)
    assert code == 0, out
    rows = _rows(out)
    assert len(rows) == 6  # nothing read is dropped
    assert rows[0]["status"] == "known" and rows[5]["status"] == "new"
    assert (
        rows[1]["error"] == "line 2: not JSON (Expecting property name enclosed in double quotes)"
    )
    assert (
        rows[2]["error"]
        == "line 3: md5 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz' is not 32 hexadecimal digits"
    )
    assert rows[3]["error"] == "not hashed: cannot read the file: No such file"
    assert rows[4]["error"] == "line 5: not a JSON object"
    assert "4 record(s) of mixed.jsonl could not be matched" in out


def test_a_file_that_is_no_hash_output_is_refused(db_url: str, tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("name,age\nx,3\n")
    code, out = invoke("match", "--hashes", str(other), "--db", db_url)
    assert code == 65 and "not a hash file" in out


def test_csv_columns_are_those_the_hash_command_writes(tmp_path: Path) -> None:
    write_generated_images(tmp_path / "m", 1, size=(64, 64))
    code, _out = invoke(
        "hash", str(tmp_path / "m"), "--format", "csv", "--out", str(tmp_path / "h.csv")
    )
    assert code == 0
    header = (tmp_path / "h.csv").read_text().splitlines()[0]
    assert tuple(header.split(",")) == HASH_FIELDS


def _hash_file(tmp_path: Path, images: list[Path], repeats: int) -> Path:
    code, out = invoke("hash", *map(str, images), "--jobs", "1")
    assert code == 0
    lines = [line for line in out.splitlines() if line.startswith("{")]
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(lines * repeats) + "\n")
    return path


def test_each_distinct_pdq_is_searched_once(
    listed: tuple[str, list[Path]], store: Store, tmp_path: Path
) -> None:
    _db_url, images = listed
    path = _hash_file(tmp_path, images, repeats=30)  # 180 records, 6 distinct photos
    outcomes = list(
        match_hash_records(store, read_hash_output(path), compute=Compute(workers=1, batch_size=50))
    )
    assert len(outcomes) == 180
    assert sum(o.searched for o in outcomes) == 6
    statuses = [o.verdict.status for o in outcomes if o.verdict is not None]
    assert statuses == ["new", "known", "known", "new", "new", "new"] * 30


def test_the_snapshot_on_cluster_workers_gives_the_same_verdicts(
    listed: tuple[str, list[Path]], store: Store, tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    _db_url, images = listed
    path = _hash_file(tmp_path, images, repeats=3)

    def verdicts(compute: Compute) -> list[dict[str, object]]:
        return [
            o.as_dict() for o in match_hash_records(store, read_hash_output(path), compute=compute)
        ]

    here = verdicts(Compute(workers=1, batch_size=4))
    assert verdicts(Compute(cluster="local:2", batch_size=4)) == here
    assert sum(v.get("status") == "known" for v in here) == 6


def test_a_hash_file_counts_towards_the_flood_quarantine(
    listed: tuple[str, list[Path]], store: Store, tmp_path: Path
) -> None:
    from tipwatch.matching.flood import FloodRule
    from tipwatch.services import exchanges
    from tipwatch.services.access import Actor, Role

    _db_url, images = listed
    path = _hash_file(tmp_path, images, repeats=200)  # 1,200 records: images 1 and 2 known
    rule = FloodRule(factor=10, min_matches=100, history_days=28)
    held: list[dict[str, object]] = []
    outcomes = list(
        match_hash_records(
            store,
            read_hash_output(path),
            compute=Compute(workers=2, batch_size=50),
            flood=rule,
            held=held,
        )
    )
    # Counted every 500 records: 84 and 83 matches at the first count, 167 each at the
    # second, which holds both entries (the PDQ one searched on the workers' snapshot).
    assert sorted((h["list"], h["matches"]) for h in held) == [
        ("list-md5", 167),
        ("list-pdq", 167),
    ]
    statuses = [o.verdict.status for o in outcomes if o.verdict is not None]
    assert statuses[:1000] == (["new", "known", "known", "new", "new", "new"] * 167)[:1000]
    assert statuses[1000:] == ["new"] * 200  # held: they match nothing after
    alerts = exchanges.holds(store, Actor("alice", Role.ANALYST))
    assert sorted(a["hold"] for a in alerts) == sorted(h["hold"] for h in held)
