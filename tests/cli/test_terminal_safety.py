"""User data reaches the terminal as text: never as Rich markup or control sequences; Ctrl-C
ends a command with one line and status 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from tipwatch.cli import app

runner = CliRunner()

HOSTILE = "[bold red]Click me[/] \x1b[2J\x1b]0;owned\x07 \x9b31m"


def _referral(report_id: str, platform: str) -> str:
    return json.dumps(
        {
            "report_id": report_id,
            "incident_type": "Online Enticement of Children for Sexual Acts",
            "incident_time": "2020-03-20T10:00:00Z",
            "platform": platform,
        }
    )


def test_hostile_text_is_printed_inert(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    src = tmp_path / "in.jsonl"
    src.write_text(_referral("r-1", HOSTILE) + "\n" + '{"report_id": "[red]x", "bad": 1}\n')
    result = runner.invoke(app, ["ingest", "--db", db, str(src)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    cases: list[tuple[list[str], str | None]] = [
        (["referrals", "list", "--db", db], "[bold red]Click"),
        (["referrals", "list", "--db", db, "-f", "csv"], "[bold red]Click me[/]"),
        (["referrals", "list", "--db", db, "-f", "json"], None),
        (["referrals", "show", "r-1", "--db", db, "-f", "table"], "[bold red]Click me[/]"),
        (["referrals", "show", "r-1", "--db", db], None),
        (["quarantine", "list", "--db", db], "[red]x"),
    ]
    for args, literal in cases:
        out = runner.invoke(app, args, env={"COLUMNS": "200"}).output
        assert "\x1b" not in out and "\x9b" not in out and "\x07" not in out, args
        if literal is None:
            assert json.loads(out)  # control characters are escaped, the data is whole
        else:
            assert literal in out, (args, out)
    shown = runner.invoke(app, ["referrals", "show", "r-1", "--db", db]).output
    assert json.loads(shown)["referral"]["platform"].startswith("[bold red]Click me[/] ")


def test_ctrl_c_ends_with_one_line_and_status_130(tmp_path: Path) -> None:
    src = tmp_path / "big.jsonl"
    with src.open("w") as fh:
        for i in range(200_000):
            fh.write(_referral(f"r-{i}", "Example Chat") + "\n")
    env = dict(os.environ, COLUMNS="100")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tipwatch.cli", "ingest", "--db", str(tmp_path / "t.db"), str(src),
         "--batch-size", "200"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (tmp_path / "t.db").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err and "Traceback" not in err
    # What was committed stays, and the same command goes on from there.
    again = runner.invoke(app, ["ingest", "--db", str(tmp_path / "t.db"), str(src), "-f", "json"])
    assert again.exit_code == 0
    from tipwatch.store import Store
    from tipwatch.store.referrals import count_referrals

    resumed = json.loads(again.output)
    store = Store.open(str(tmp_path / "t.db"))
    try:
        assert count_referrals(store) == 200_000
    finally:
        store.close()
    assert 0 < resumed["ingested"] < 200_000  # the second run went on from where the first stopped


def test_tables_fit_80_columns_and_keep_ids_whole(tmp_path: Path) -> None:
    """A long report id (what the user types next) stays on one line; long text folds."""
    db = str(tmp_path / "t.db")
    long_id = "ESP-2020-03-20-0000000000000001"
    src = tmp_path / "in.jsonl"
    src.write_text(_referral(long_id, "An Example Service With A Very Long Name " * 3) + "\n")
    assert runner.invoke(app, ["ingest", "--db", db, str(src)]).exit_code == 0
    out = runner.invoke(app, ["referrals", "list", "--db", db], env={"COLUMNS": "80"}).output
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert long_id in out
    assert "2020-03-20T10:00" in out  # times in ISO 8601
