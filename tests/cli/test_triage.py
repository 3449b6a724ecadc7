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


def test_route_preview_recall_ack_and_queue(triaged: str, tmp_path: Path) -> None:
    code, out = invoke("route", "--country", "NL", "--db", triaged, "--dry-run")
    assert code == 0, out
    assert "Would send 2 referral(s) to NL" in out and "By incident type" in out
    code, out = invoke("route", "--country", "NL", "--db", triaged, "--dry-run", "-f", "json")
    assert json.loads(out)["referrals"] == 2
    code, out = invoke("packages", "--db", triaged, "--format", "json")
    assert json.loads(out) == []  # the preview recorded nothing
    code, out = invoke("recipients", "add", "NL liaison office", "--country", "NL", "--db", triaged)
    assert code == 0, out
    code, out = invoke("recipients", "list", "--db", triaged, "--format", "json")
    assert [r["name"] for r in json.loads(out)] == ["NL liaison office"]
    code, out = invoke(
        "route", "--country", "NL", "--db", triaged, "--out", str(tmp_path / "nl"),
        "--recipient", "NL liaison office", "--referral", "r-nl-2",
    )  # fmt: skip
    assert code == 0 and "1 referral(s)" in out, out
    code, out = invoke("route", "--country", "NL", "--db", triaged, "--out", str(tmp_path / "b"))
    assert code == 0 and "Package 2 for NL: 1 referral(s)" in out, out
    code, out = invoke("queue", "--db", triaged, "--country", "NL")
    assert code == 0 and "2 routed in 2 package(s)" in out and "run `tipwatch triage`" not in out
    code, out = invoke("route", "recall", "1", "--reason", "wrong recipient", "--db", triaged)
    assert code == 0 and "1 referral(s) are back in the queue" in out, out
    code, out = invoke("queue", "--db", triaged, "--country", "NL", "--format", "json")
    assert [r["report_id"] for r in json.loads(out)] == ["r-nl-2"]
    code, out = invoke("route", "ack", "2", "--db", triaged)
    assert code == 0 and "acknowledged at" in out, out
    code, out = invoke("route", "recall", "2", "--reason", "late", "--db", triaged)
    assert code == 73 and "cannot be recalled" in out
    code, out = invoke("route", "outcome", "2", "account suspended", "--db", triaged)
    assert code == 0, out
    code, out = invoke("route", "latency", "--db", triaged, "--format", "json")
    assert [(r["country"], r["referrals"]) for r in json.loads(out)] == [("NL", 1)]
    code, out = invoke("packages", "--db", triaged, "--format", "json")
    assert [p["status"] for p in json.loads(out)] == ["acknowledged", "recalled"]
    code, out = invoke("route", "--db", triaged)
    assert code == 1 and "which country" in out


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="no /usr/bin/chromium")
def test_package_summary_reads_in_a_browser(
    triaged: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The summary opens with marking, period, recipient and counts, fits a screen's width,
    and its detail pages follow one another (one referral a page here)."""
    from playwright.sync_api import sync_playwright

    from tipwatch.triage import routing

    monkeypatch.setattr(routing, "DETAIL_PAGE_ROWS", 1)
    monkeypatch.setenv("TIPWATCH_PACKAGE_MARKING", "TLP:AMBER+STRICT")
    reload_settings()
    code, out = invoke("recipients", "add", "NL liaison office", "--country", "NL", "--db", triaged)
    assert code == 0, out
    folder = tmp_path / "pkg"
    code, out = invoke(
        "route", "--country", "NL", "--db", triaged, "--out", str(folder),
        "--recipient", "NL liaison office", "--since", "2020-03-01", "--by", "received",
    )  # fmt: skip
    assert code == 0, out
    assert sorted(p.name for p in folder.iterdir()) == sorted(routing.package_files(2))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto((folder / "summary.html").as_uri())
        first_screen = page.evaluate("document.body.innerText").split("Groups")[0]
        for expected in (
            "TLP:AMBER+STRICT",
            "received date from 2020-03-01",
            "NL liaison office (office, NL)",
            "by priority",
            "by incident type",
            "by reporting service",
            "files by legal-viewing status",
        ):
            assert expected in first_screen
        summary_box = page.locator("#summary").bounding_box()
        assert summary_box is not None and summary_box["y"] < 200  # it opens with the summary
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1280  # no sideways scrolling
        assert "FR: 1 (0 routed)" in page.inner_text("body")
        shot = tmp_path / "summary.png"
        page.screenshot(path=str(shot))
        shutil.copy(shot, Path("/tmp") / "tipwatch-package-summary.png")
        page.click("text=page 1")
        assert "page 1 of 2" in page.inner_text("h1") and "r-nl-1" in page.inner_text("table")
        page.click("text=next page")
        assert "page 2 of 2" in page.inner_text("h1") and "r-nl-2" in page.inner_text("table")
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        browser.close()
    reload_settings()
