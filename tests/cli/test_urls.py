"""The urls commands, as a user runs them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tipwatch.cli import app
from tipwatch.settings import reload_settings

runner = CliRunner()


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=stdin, env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_import_check_export_diff_and_ingest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "t.db")
    (tmp_path / "v1.txt").write_text(
        "http://pages.invalid/a.html\nbad.invalid host\nwide.invalid host+subdomains\n"
        "http://[1:2:3]/ page\n"
    )
    code, out, err = invoke(
        "urls",
        "import",
        str(tmp_path / "v1.txt"),
        "--list",
        "hotline",
        "--version",
        "1",
        "--db",
        db,
    )
    assert code == 0, out + err
    assert "3 entries (3 added, 0 retired), 1 records refused" in out
    assert "line 4: invalid IPv6 address" in err
    sha = out.split("state SHA-256 ")[1].split()[0]

    # URLs from standard input, one a line; a 1 MB URL gets its reason, the rest are checked
    urls = (
        "http://X.WIDE.invalid/y\nhttp://pages.invalid/b.html\nhttp://h.invalid/" + "a" * 1_000_000
    )
    code, out, _ = invoke("urls", "check", "--db", db, "--format", "json", stdin=urls + "\n")
    assert code == 0
    rows = json.loads(out)
    assert [r["listed"] for r in rows] == [True, False, False]
    assert rows[0]["scope"] == "host+subdomains" and rows[0]["entry"] == "wide.invalid"
    assert "characters long" in rows[2]["error"]

    code, out, err = invoke("urls", "export", "hotline", "--format", "plain", "--db", db)
    assert code == 0 and hashlib.sha256(out.encode()).hexdigest() == sha
    code, out, err = invoke("urls", "export", "hotline", "--format", "rpz", "--db", db)
    assert code == 0 and "*.wide.invalid CNAME ." in out
    assert "1 page, page+query and folder entries left out" in err
    code, out, err = invoke("urls", "export", "hotline", "--format", "squid", "--db", db)
    assert code != 0 and "--out" in out + err

    (tmp_path / "d2.txt").write_text("- bad.invalid host\n")
    code, out, err = invoke(
        "urls",
        "import",
        str(tmp_path / "d2.txt"),
        "--list",
        "hotline",
        "--version",
        "2",
        "--delta",
        "--db",
        db,
    )
    assert code == 0, out + err
    code, out, _ = invoke("urls", "diff", "hotline", "1", "--db", db, "--format", "csv")
    assert out.splitlines() == ["change,scope,key", "'-,host,bad.invalid"]

    log = tmp_path / "access.log"
    log.write_text(
        "1585562400.000 3 192.0.2.10 TCP_DENIED/403 3900 GET http://a.wide.invalid/ - HIER_NONE/- -\n"
        "garbage\n"
    )
    code, out, err = invoke("urls", "ingest-log", str(log), "--list", "hotline", "--db", db)
    assert code == 78 and "pseudonym_key" in out + err  # no key: refused, nothing counted
    monkeypatch.setenv("TIPWATCH_PSEUDONYM_KEY", "k" * 32)
    reload_settings()
    code, out, err = invoke(
        "urls",
        "ingest-log",
        str(log),
        "--list",
        "hotline",
        "--country",
        "NL",
        "--db",
        db,
        "--format",
        "json",
    )
    assert code == 0, out + err
    summary = json.loads(out)
    assert summary["matched"] == 1 and summary["errors"] == 1
    assert summary["cells"][0]["list_version"] == "2"
    code, out, err = invoke("urls", "list", "nothing", "--db", db)
    assert code == 66 and "no URL list named 'nothing'" in out + err
