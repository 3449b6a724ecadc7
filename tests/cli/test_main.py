"""The command line, as a user runs it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers import envelope, file_details_xml, md5, report_xml
from tipwatch.cli import app
from tipwatch.demo import sample_files

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_help_lists_the_commands() -> None:
    code, out = invoke("--help")
    assert code == 0
    for command in ("ingest", "referrals", "quarantine", "schema", "demo"):
        assert command in out


def test_version() -> None:
    code, out = invoke("--version")
    assert code == 0 and out.startswith("tipwatch ")


@pytest.fixture
def loaded(db_url: str) -> str:
    code, out = invoke("ingest", "--db", db_url, *map(str, sample_files()))
    assert code == 0, out
    return db_url


def test_ingest_prints_a_summary_and_the_problems(loaded: str) -> None:
    code, out = invoke("ingest", "--db", loaded, str(sample_files()[0]))
    assert code == 0
    assert "Intake summary" in out and "sample_referrals.xml" in out
    assert "line 105" in out and "unknown incident type" in out


def test_ingest_json_summary(db_url: str) -> None:
    code, out = invoke("ingest", "--db", db_url, "--format", "json", *map(str, sample_files()))
    assert code == 0
    data = json.loads(out)
    assert data["ingested"] == 7 and data["quarantined"] == 1 and data["sources"] == 4
    assert data["problems"][0]["location"] == "line 105"


def test_ingest_missing_path_is_a_clear_error(db_url: str, tmp_path: Path) -> None:
    code, out = invoke("ingest", "--db", db_url, str(tmp_path / "nope.xml"))
    assert code == 65  # InputError: EX_DATAERR
    assert "no such file or folder" in out


def test_bad_database_url_is_a_clear_error(tmp_path: Path) -> None:
    code, out = invoke("referrals", "list", "--db", str(tmp_path / "missing" / "x.db"))
    assert code == 69 and "there is no store at" in out and "tipwatch init" in out
    code, out = invoke("init", "--db", str(tmp_path / "missing" / "x.db"))
    assert code == 69 and "folder" in out and "is missing" in out


def test_referrals_list_filters_and_formats(loaded: str) -> None:
    code, out = invoke("referrals", "list", "--db", loaded, "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert [r["report_id"] for r in rows] == [
        "9100001",
        "9100002",
        "9100003",
        "9100005",
        "9100006",
        "9100007",
        "9100008",
    ]
    code, out = invoke(
        "referrals", "list", "--db", loaded, "--format", "json", "--stated-country", "pl"
    )
    assert [r["report_id"] for r in json.loads(out)] == ["9100007", "9100008"]
    code, out = invoke(
        "referrals",
        "list",
        "--db",
        loaded,
        "--format",
        "json",
        "--since",
        "2020-04-01",
        "--until",
        "2020-04-10",
    )
    assert [r["report_id"] for r in json.loads(out)] == ["9100003", "9100005"]
    # --until is the last day included: 9100006's incident on 11 April is in.
    code, out = invoke(
        "referrals",
        "list",
        "--db",
        loaded,
        "-f",
        "json",
        "--since",
        "2020-04-01",
        "--until",
        "2020-04-11",
    )
    assert [r["report_id"] for r in json.loads(out)] == ["9100003", "9100005", "9100006"]
    code, out = invoke(
        "referrals",
        "list",
        "--db",
        loaded,
        "--format",
        "csv",
        "--incident-type",
        "online-enticement",
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["report_id"] for r in rows] == ["9100002"] and rows[0]["escalated"] == "True"
    code, out = invoke(
        "referrals", "list", "--db", loaded, "--stated-country", "unknown", "-f", "json"
    )
    assert [r["report_id"] for r in json.loads(out)] == ["9100006"]
    # Before triage no referral has an attributed country.
    code, out = invoke("referrals", "list", "--db", loaded, "--country", "pl", "-f", "json")
    assert code == 0 and json.loads(out) == []
    code, out = invoke("referrals", "list", "--db", loaded)
    assert code == 0 and "9100001" in out and "child-pornography" in out


def test_referrals_list_rejects_bad_options(loaded: str) -> None:
    code, out = invoke("referrals", "list", "--db", loaded, "--since", "last week")
    assert code == 1 and "--since must be a date" in out
    code, out = invoke("referrals", "list", "--db", loaded, "--incident-type", "bogus")
    assert code == 65 and "unknown incident type 'bogus'" in out
    code, out = invoke("referrals", "list", "--db", loaded, "--country", "Narnia")
    assert code == 65 and "unknown country code 'Narnia'" in out
    code, out = invoke("referrals", "list", "--db", loaded, "--tier", "urgent")
    assert code == 65 and "no tier 'urgent'" in out


def test_referrals_show_and_not_found(loaded: str) -> None:
    code, out = invoke("referrals", "show", "9100001", "--db", loaded, "--revisions")
    assert code == 0
    doc = json.loads(out)
    assert doc["report_id"] == "9100001" and len(doc["referral"]["files"]) == 2
    assert len(doc["files"]) == 2
    assert doc["revisions"] == []
    code, out = invoke("referrals", "show", "nope", "--db", loaded)
    assert code == 66 and "no referral with report id 'nope'" in out


def test_quarantine_list_show_retry(loaded: str) -> None:
    code, out = invoke("quarantine", "list", "--db", loaded, "-f", "json")
    (entry,) = json.loads(out)
    assert entry["location"] == "line 105" and entry["record_key"] == "9100004"
    code, out = invoke("quarantine", "show", str(entry["id"]), "--db", loaded)
    assert code == 0 and "Unknown Incident Kind" in json.loads(out)["raw"]
    code, out = invoke("quarantine", "retry", str(entry["id"]), "--db", loaded)
    assert code == 0 and "still fails" in out
    code, out = invoke("quarantine", "retry", "--db", loaded)
    assert code == 1 and "name entry ids or use --all" in out
    code, out = invoke("quarantine", "show", "999", "--db", loaded)
    assert code == 66 and "no quarantine entry 999" in out


def test_ingest_revision_via_cli(db_url: str, tmp_path: Path) -> None:
    a = tmp_path / "a.xml"
    a.write_text(envelope("5", report_xml(), file_details_xml("5", "f", md5(1))))
    code, out = invoke("ingest", "--db", db_url, str(a))
    assert code == 0, out
    a.write_text(envelope("5", report_xml(country="SE"), file_details_xml("5", "f", md5(1))))
    code, out = invoke("ingest", "--db", db_url, "--format", "json", str(a))
    assert code == 0 and json.loads(out)["revised"] == 1
    code, out = invoke("referrals", "show", "5", "--db", db_url, "--revisions")
    assert code == 0 and json.loads(out)["revisions"][0]["revision"] == 1


def test_schema_command_matches_the_shipped_schema() -> None:
    code, out = invoke("schema")
    assert code == 0
    shipped = Path(__file__).resolve().parents[2] / "docs" / "referral.schema.json"
    assert json.loads(out) == json.loads(shipped.read_text()), "run `make schema` to refresh docs/"


def test_the_command_starts_without_the_numeric_libraries() -> None:
    """`tipwatch --help` and every command's start stay quick: numpy, statsmodels, Pillow
    and the hashing libraries load only inside the commands that use them."""
    import subprocess
    import sys

    code = (
        "import sys, tipwatch.cli; "
        "heavy = [m for m in ('numpy', 'statsmodels', 'PIL', 'pdqhash', 'vpdq', 'scipy') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
