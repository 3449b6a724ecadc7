"""The triage commands as an analyst runs them, and the package in a real browser."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.triage.mmdb import DOC_NETWORKS, write_mmdb
from tests.triage.test_triage_store import REFERRALS, write_jsonl
from tipwatch.cli import app
from tipwatch.settings import reload_settings

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


@pytest.fixture
def triaged(db_url: str, tmp_path: Path) -> str:
    code, out = invoke("ingest", "--db", db_url, str(write_jsonl(tmp_path / "in.jsonl", REFERRALS)))
    assert code == 0, out
    geo = write_mmdb(tmp_path / "geo.mmdb", DOC_NETWORKS)
    code, out = invoke("triage", "--db", db_url, "--geoip", str(geo))
    assert code == 0, out
    assert "5 referral(s) triaged" in out
    assert "1 linked group(s) holding 3 referrals" in out
    return db_url


def test_help_lists_triage_commands() -> None:
    code, out = invoke("--help")
    assert code == 0
    for command in ("triage", "links", "queue", "route", "packages"):
        assert command in out


def test_queue_shows_reasons(triaged: str) -> None:
    code, out = invoke("queue", "--db", triaged)
    assert code == 0
    assert "r-nl-1" in out and "immediate" in out
    assert "escalated to high priority by the sender" in out
    code, out = invoke("queue", "--db", triaged, "--format", "json", "--country", "DE")
    rows = json.loads(out)
    assert [r["report_id"] for r in rows] == ["r-de-1"]
    assert "online enticement" in rows[0]["reasons"]
    code, out = invoke("queue", "--db", triaged, "--tier", "urgent")
    assert code == 1 and "--tier must be one of" in out


def test_links_show_and_groups(triaged: str) -> None:
    code, out = invoke("links", "show", "r-nl-2", "--db", triaged)
    assert code == 0
    assert "r-fr-1" in out and "md5:" in out and "account:" in out
    code, out = invoke("links", "show", "r-de-1", "--db", triaged)
    assert code == 0 and "linked to no other referral" in out
    code, out = invoke("links", "show", "nope", "--db", triaged)
    assert code == 66 and "no referral" in out
    code, out = invoke("links", "groups", "--db", triaged, "--format", "json")
    groups = json.loads(out)
    assert len(groups) == 1 and groups[0]["size"] == 3 and groups[0]["kind"] == "linked"


def test_referrals_show_includes_triage(triaged: str) -> None:
    code, out = invoke("referrals", "show", "r-nl-1", "--db", triaged)
    assert code == 0
    doc = json.loads(out)
    assert doc["attribution"]["country"] == "NL"
    assert doc["priority"]["tier"] == "immediate"
    assert doc["legal"]["b"] == "needs legal process before viewing"
    assert doc["links"][0]["kind"] == "linked"


def test_route_and_packages(triaged: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out_dir = tmp_path / "nl"
    monkeypatch.setenv("TIPWATCH_ACTOR", "analyst-7")  # the package is made by the actor
    reload_settings()
    code, out = invoke("route", "--country", "NL", "--db", triaged, "--out", str(out_dir))
    assert code == 0, out
    assert "Package 1 for NL: 2 referral(s)" in out
    code, out = invoke("referrals", "show", "r-nl-2", "--db", triaged)
    assert json.loads(out)["sent_in"][0]["sent_by"] == "analyst-7"
    code, out = invoke("packages", "--db", triaged, "--format", "json")
    assert json.loads(out)[0]["country"] == "NL"
    code, out = invoke("route", "--country", "NL", "--db", triaged, "--out", str(tmp_path / "x"))
    assert code == 0 and "nothing written" in out
    code, out = invoke("route", "--country", "XYZ", "--db", triaged)
    assert code == 65 and "country" in out


def test_triage_bad_geoip_and_config(triaged: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(b"\x00" * 100)
    code, out = invoke("triage", "--db", triaged, "--geoip", str(bad))
    assert code == 78 and "cannot be read" in out  # ConfigError: EX_CONFIG
    settings = tmp_path / "t.toml"
    settings.write_text("[priority.weights]\nescalatd = 5\n")
    code, out = invoke("triage", "--db", triaged, "--config", str(settings))
    assert code == 78 and "unknown setting 'priority.weights.escalatd'" in out
    settings.write_text("not = [valid")
    code, out = invoke("triage", "--db", triaged, "--config", str(settings))
    assert code == 78 and "not valid TOML" in out


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_package_opens_in_a_browser(triaged: str, tmp_path: Path) -> None:
    out_dir = tmp_path / "pkg"
    code, out = invoke("route", "--country", "NL", "--db", triaged, "--out", str(out_dir))
    assert code == 0, out
    page = (out_dir / "summary.html").resolve()
    shot = tmp_path / "package.png"
    common = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Referrals for NL" in dom.stdout and "r-nl-1" in dom.stdout
    assert dom.stdout.count("<tr>") >= 4  # two count rows, header, two referrals
    subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1280,900", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 10_000


def test_links_show_says_where_a_member_in_another_country_was_routed(
    triaged: str, tmp_path: Path
) -> None:
    code, out = invoke("route", "--country", "NL", "--db", triaged, "--out", str(tmp_path / "nl"))
    assert code == 0, out
    code, out = invoke("links", "show", "r-fr-1", "--db", triaged, "--format", "json")
    assert code == 0, out
    (group,) = json.loads(out)
    assert group["country"] == "FR"
    members = {m["report_id"]: m for m in group["members"]}
    assert members["r-nl-2"]["country"] == "NL" and members["r-nl-2"]["routed_to"] == ["NL"]
    assert members["r-nl-2"]["ties"] == [
        {"kind": "new file", "evidence": "md5:" + "3" * 32, "strength": 0.8}
    ]
    code, out = invoke("links", "show", "r-fr-1", "--db", triaged)
    assert code == 0 and "new file 0.8: md5:" in out
    row = next(line for line in out.splitlines() if "r-nl-2" in line)
    assert row.count("NL") == 2, row  # attributed to NL, and routed to NL
    code, out = invoke("links", "circulating", "--db", triaged)
    assert code == 0, out
