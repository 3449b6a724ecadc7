"""The forums commands as an analyst runs them: ingest, themes, tag, summary, emerging,
expand, purge, and the forum series in `signals` and `trends`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.forums.helpers import KEY, stream_export, write_jsonl
from tipwatch.cli import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


@pytest.fixture
def forum_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    from tipwatch.settings import reload_settings

    monkeypatch.setenv("TIPWATCH_PSEUDONYM_KEY", KEY)
    reload_settings()
    db = str(tmp_path / "t.db")
    export = write_jsonl(tmp_path / "export.jsonl", stream_export(), ["{broken"])
    code, out = invoke("forums", "ingest", str(export), "--db", db)
    assert code == 0, out
    assert "845 ingested, 0 duplicates, 0 revised, 1 quarantined" in out
    assert "text not kept" in out
    return db


def test_series_reach_signals_and_trends(forum_db: str) -> None:
    code, out = invoke("signals", "list", "--db", forum_db, "--format", "csv")
    assert code == 0
    assert "forum,forum_posts,ZZ,day" in out and "forum,forum_posts_all,ZZ,day" in out
    code, out = invoke(
        "trends", "--metric", "forum_posts_all", "--window-start", "2020-03-23",
        "--window-days", "7", "--baseline-days", "56", "--db", forum_db, "--format", "json",
    )  # fmt: skip
    assert code == 0, out
    result = json.loads(out)
    assert result["metric"] == "forum_posts_all"
    assert [c["country"] for c in result["countries"]] == ["ZZ"]
    code, out = invoke(
        "signals", "show", "forum_posts[theme=lockdown]", "--db", forum_db, "--format", "csv"
    )
    assert code == 0
    assert out.count(",ZZ,1.0") == 14


def test_summary_emerging_expand(forum_db: str) -> None:
    code, out = invoke("forums", "summary", "--db", forum_db)
    assert code == 0, out
    assert "845 posts" in out and "lockdown: 14 posts" in out and "zorblat" in out
    code, out = invoke("forums", "emerging", "--db", forum_db, "--format", "json")
    assert code == 0
    terms = {t["term"]: t for t in json.loads(out)}
    assert terms["zorblat"]["authors"] >= 3
    code, out = invoke("forums", "emerging", "--db", forum_db, "--min-authors", "7")
    assert code == 0 and "zorblat" not in out  # six authors used it
    code, out = invoke("forums", "expand", "lockdown", "--db", forum_db, "--format", "csv")
    assert code == 0 and "blorptime" in out
    code, out = invoke("forums", "expand", "nonsense", "--db", forum_db)
    assert code == 65 and "no theme 'nonsense'" in out


def test_tag_and_themes_need_no_store(tmp_path: Path) -> None:
    code, out = invoke("forums", "tag", "k1ds @t h0me", "which vpn", "--format", "json")
    assert code == 0
    found = json.loads(out)
    assert found[0]["themes"] == ["lockdown"] and found[1]["themes"] == ["security-advice"]
    lexicon = tmp_path / "list.csv"
    lexicon.write_text("term,category\nglimmerword,newtheme\n,bad\n")
    code, out = invoke("forums", "themes", "--lexicon", str(lexicon), "--format", "csv")
    assert code == 0 and "newtheme" in out and "lockdown" in out
    bad = tmp_path / "bad.toml"
    bad.write_text("[x]\n")
    code, out = invoke("forums", "themes", "--themes", str(bad))
    assert code == 78 and "has no phrases" in out


def test_ingest_without_a_key_says_what_to_set(tmp_path: Path) -> None:
    export = write_jsonl(tmp_path / "e.jsonl", stream_export(days=2))
    code, out = invoke("forums", "ingest", str(export), "--db", str(tmp_path / "t.db"))
    assert code == 78
    assert "pseudonym key" in out and "TIPWATCH_PSEUDONYM_KEY" in out


def test_purge_and_quarantine_retry(forum_db: str) -> None:
    code, out = invoke("forums", "purge", "--db", forum_db)
    assert code == 0 and "text of 0 post(s) removed" in out
    code, out = invoke("quarantine", "retry", "1", "--db", forum_db)
    assert code == 0 and "forum intake" in out
