"""Every CSV tipwatch writes (referrals list, queue, routing packages, hash-list exports)
quotes cells that a spreadsheet would run as formulas; the terminal table shows Rich markup
from a record as text (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.triage.test_triage_store import account, referral, write_jsonl
from tipwatch.cli import app

runner = CliRunner()

HOSTILE_IDS = [
    '=HYPERLINK("http://x.invalid/?leak","open")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
]
"""Report ids a spreadsheet would run (intake trims leading tabs, tested in the unit test)."""


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _no_formula(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), row
            assert not cell.startswith("-") or cell.lstrip("-").replace(".", "").isdigit(), row


@pytest.fixture
def hostile_db(db_url: str, tmp_path: Path) -> str:
    records = [
        referral(
            rid,
            supplied_geolocation={"country_code": "NL"},
            reported=[account(f"u-{n}")],
        )
        for n, rid in enumerate(HOSTILE_IDS)
    ]
    records.append(
        referral("r-markup [/x] [bold]", supplied_geolocation={"country_code": "NL"}, reported=[])
    )
    code, out = invoke("ingest", "--db", db_url, str(write_jsonl(tmp_path / "h.jsonl", records)))
    assert code == 0, out
    code, out = invoke("triage", "--db", db_url)
    assert code == 0, out
    return db_url


def test_referrals_list_csv_quotes_formulas(hostile_db: str) -> None:
    code, out = invoke("referrals", "list", "--db", hostile_db, "--format", "csv")
    assert code == 0, out
    rows = _cells(out)
    ids = [row[rows[0].index("report_id")] for row in rows[1:]]
    for rid in HOSTILE_IDS:
        assert "'" + rid in ids
    _no_formula(rows)


def test_referrals_list_table_shows_markup_as_text(hostile_db: str) -> None:
    code, out = invoke("referrals", "list", "--db", hostile_db)
    assert code == 0, out
    assert "r-markup [/x] [bold]" in out


def test_queue_csv_quotes_formulas(hostile_db: str) -> None:
    code, out = invoke("queue", "--db", hostile_db, "--format", "csv", "--country", "NL")
    assert code == 0, out
    rows = _cells(out)
    assert {"'" + rid for rid in HOSTILE_IDS} <= {row[0] for row in rows[1:]}
    _no_formula(rows)


def test_package_summary_csv_quotes_formulas(hostile_db: str, tmp_path: Path) -> None:
    out_dir = tmp_path / "pkg"
    code, out = invoke("route", "--country", "NL", "--db", hostile_db, "--out", str(out_dir))
    assert code == 0, out
    rows = _cells((out_dir / "summary.csv").read_text(encoding="utf-8"))
    assert {"'" + rid for rid in HOSTILE_IDS} <= {row[0] for row in rows[1:]}
    _no_formula(rows)


def test_list_export_csv_quotes_formulas_and_reads_back(db_url: str, tmp_path: Path) -> None:
    listed = tmp_path / "vendor.csv"
    with listed.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["hash_type", "hash", "category", "series", "media_id"])
        writer.writerow(["md5", "a" * 32, "", "=cmd|' /C calc'!A0", "@media"])
        writer.writerow(["md5", "b" * 32, "", "'=already quoted", "-1+1"])
    code, out = invoke(
        "lists", "import", str(listed), "--name", "vendor", "--version", "1", "--db", db_url
    )
    assert code == 0, out
    exported = tmp_path / "export.csv"
    code, out = invoke(
        "lists", "export", "vendor", "--format", "csv", "--out", str(exported), "--db", db_url
    )
    assert code == 0, out
    rows = _cells(exported.read_text(encoding="utf-8"))
    _no_formula(rows)
    by_hash = {row[1]: row for row in rows[1:]}
    assert by_hash["a" * 32][3:5] == ["'=cmd|' /C calc'!A0", "'@media"]
    # A foreign cell quoted already is read as the formula it quotes, and quoted once on export.
    assert by_hash["b" * 32][3:5] == ["'=already quoted", "'-1+1"]
    # The export reads back as the list it came from: a new version changes nothing.
    code, out = invoke(
        "lists", "import", str(exported), "--name", "vendor", "--version", "2", "--db", db_url
    )
    assert code == 0, out
    code, out = invoke(
        "lists",
        "export",
        "vendor",
        "--format",
        "csv",
        "--out",
        str(tmp_path / "again.csv"),
        "--db",
        db_url,
    )
    assert (tmp_path / "again.csv").read_text(encoding="utf-8") == exported.read_text(
        encoding="utf-8"
    )
