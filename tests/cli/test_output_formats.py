"""Every command that offers --format: table, json and csv mean output, and each works."""

from __future__ import annotations

import csv
import io
import json
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.cli.test_trends import write_metric_feed
from tests.forums.helpers import KEY as FORUM_KEY
from tests.forums.helpers import stream_export
from tests.forums.helpers import write_jsonl as write_forum_export
from tests.services.test_media import RID as MEDIA_RID
from tests.services.test_media import gradient_png, write_referral
from tests.triage.mmdb import DOC_NETWORKS, write_mmdb
from tests.triage.test_triage_store import REFERRALS, account, referral, write_jsonl
from tipwatch.cli import app
from tipwatch.cli._docs import iter_commands

runner = CliRunner()
OUTPUT_FORMATS = {"table", "json", "csv"}

# Options named --format that choose a file format to write, not the terminal's output.
FILE_FORMATS = {
    ("hash",): {"jsonl", "csv"},
    ("lists", "export"): {"vics", "csv", "plain"},
    ("urls", "export"): {"rpz", "hosts", "squid", "plain", "csv", "splash"},
}


def _commands() -> dict[tuple[str, ...], Any]:
    return {entry.path: entry.command for entry in iter_commands(app)}


def _format_choices(cmd: Any) -> set[str] | None:
    for param in cmd.params:
        if "--format" in param.opts:
            annotation = param.type_descriptor.annotation
            assert isinstance(annotation, type) and issubclass(annotation, Enum), param
            return {str(member.value) for member in annotation}
    return None


def _store(tmp: Path) -> dict[str, str]:
    db = str(tmp / "t.db")

    def ok(*args: str) -> str:
        result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
        assert result.exit_code == 0, (args, result.output)
        return result.output

    # Two more referrals from unrelated accounts sharing one listed file: circulating material.
    listed = "0cc175b9c0f1b6a831c399e269772661"
    extra = [
        referral(rid, reported=[account(acc)], files=[{"file_id": "k", "hashes": {"md5": listed}}])
        for rid, acc in (("r-cm-1", "u-8"), ("r-cm-2", "u-9"))
    ]
    ok("ingest", "--db", db, str(write_jsonl(tmp / "in.jsonl", [*REFERRALS, *extra])))
    (tmp / "known.txt").write_text(listed + "\n")
    ok("lists", "import", str(tmp / "known.txt"), "--db", db, "--name", "local",
       "--version", "1", "--hash-type", "md5", "--scheme", "none")  # fmt: skip
    ok("match", "--referrals", "--db", db)
    ok("triage", "--db", db, "--geoip", str(write_mmdb(tmp / "geo.mmdb", DOC_NETWORKS)))
    ok("recipients", "add", "NL liaison office", "--country", "NL", "--db", db)
    ok("route", "--country", "NL", "--db", db, "--out", str(tmp / "pkg"),
       "--recipient", "NL liaison office", "--referral", "r-nl-1")  # fmt: skip
    ok("route", "ack", "1", "--db", db)
    write_metric_feed(tmp / "calls.csv")
    ok("signals", "import", str(tmp / "calls.csv"), "--feed", "metric", "--db", db)
    for country, day in (("AT", "2020-03-16"), ("BE", "2020-03-18"), ("DK", "2020-03-13")):
        ok("events", "add", country, day, "stay-at-home", "--db", db)
    (tmp / "bad.jsonl").write_text('{"report_id": "q1", "incident_type": "nonsense"}\n')
    ok("ingest", "--db", db, str(tmp / "bad.jsonl"))
    result = runner.invoke(
        app,
        ["users", "add", "ana", "--role", "analyst", "--password-stdin", "--db", db],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    ok("tokens", "create", "ana", "--scope", "read", "--db", db)
    (tmp / "urls1.txt").write_text("http://pages.invalid/a.html\nbad.invalid host\n")
    (tmp / "urls2.txt").write_text("bad.invalid host\nwide.invalid host+subdomains\n")
    ok("urls", "import", str(tmp / "urls1.txt"), "--list", "hotline", "--version", "1", "--db", db)
    ok("urls", "import", str(tmp / "urls2.txt"), "--list", "hotline", "--version", "2", "--db", db)
    (tmp / "access.log").write_text(
        "1585562400.000 5 192.0.2.10 TCP_DENIED/403 3900 GET http://bad.invalid/x - HIER_NONE/- -\n"
    )
    forum_export = write_forum_export(tmp / "forum.jsonl", stream_export())
    ok("forums", "ingest", str(forum_export), "--db", db)
    image = tmp / "gradient.png"
    image.write_bytes(gradient_png(seed=5))
    ok("ingest", "--db", db, str(write_referral(tmp, image.read_bytes())))
    series = tmp / "series.csv"
    series.write_text("day,value\n" + "".join(f"d{i},{10 + 10 * (i >= 40)}\n" for i in range(80)))
    return {
        "db": db,
        "series": str(series),
        "feed": str(tmp / "calls.csv"),
        "urls": str(tmp / "urls2.txt"),
        "log": str(tmp / "access.log"),
        "forum_export": str(forum_export),
        "image": str(image),
    }


# Each command that offers --format, with the arguments it needs ({db} etc. filled in).
INVOCATIONS: dict[tuple[str, ...], list[str]] = {
    ("ingest",): ["{feed_dup}", "--db", "{db}"],
    ("referrals", "list"): ["--db", "{db}"],
    ("referrals", "show"): ["r-nl-1", "--db", "{db}"],
    ("referrals", "attach-media"): [MEDIA_RID, "seen", "{image}", "--db", "{db}"],
    ("referrals", "reindex"): ["--db", "{db}"],
    ("quarantine", "list"): ["--db", "{db}"],
    ("quarantine", "show"): ["1", "--db", "{db}"],
    ("lists", "list"): ["--db", "{db}"],
    ("lists", "show"): ["local", "--db", "{db}"],
    ("triage",): ["--db", "{db}"],
    ("links", "show"): ["r-nl-2", "--db", "{db}"],
    ("links", "groups"): ["--db", "{db}"],
    ("queue",): ["--db", "{db}", "--include-sent"],
    ("packages",): ["--db", "{db}"],
    ("signals", "list"): ["--db", "{db}"],
    ("signals", "show"): ["calls", "--country", "AT", "--db", "{db}"],
    ("events", "list"): ["--country", "AT", "--db", "{db}"],
    ("trends",): ["--metric", "calls", "--db", "{db}"],
    ("alerts",): ["--metric", "calls", "--db", "{db}"],
    ("changepoints",): ["{series}"],
    ("audit", "list"): ["--db", "{db}"],
    ("route",): ["--country", "NL", "--dry-run", "--db", "{db}"],
    ("route", "latency"): ["--db", "{db}"],
    ("links", "circulating"): ["--db", "{db}"],
    ("recipients", "list"): ["--db", "{db}"],
    ("audit", "verify"): ["--db", "{db}"],
    ("users", "list"): ["--db", "{db}"],
    ("tokens", "list"): ["--db", "{db}"],
    ("urls", "import"): ["{urls}", "--list", "other", "--db", "{db}"],
    ("urls", "check"): ["http://bad.invalid/x", "http://ok.invalid/", "--db", "{db}"],
    ("urls", "list"): ["--db", "{db}"],
    ("urls", "diff"): ["hotline", "1", "2", "--db", "{db}"],
    ("urls", "ingest-log"): ["{log}", "--list", "hotline", "--country", "NL", "--db", "{db}"],
    ("forums", "ingest"): ["{forum_export}", "--db", "{db}"],
    ("forums", "themes"): [],
    ("forums", "tag"): ["schools closed", "which vpn"],
    ("forums", "summary"): ["--db", "{db}"],
    ("forums", "emerging"): ["--db", "{db}"],
    ("forums", "expand"): ["lockdown", "--db", "{db}"],
}


def test_every_output_format_option_is_covered_and_means_output() -> None:
    offered = {}
    for path, cmd in _commands().items():
        choices = _format_choices(cmd)
        if choices is None:
            continue
        if path in FILE_FORMATS:
            assert choices == FILE_FORMATS[path], path
            continue
        assert choices <= OUTPUT_FORMATS and "json" in choices, (path, choices)
        offered[path] = choices
    assert set(offered) == set(INVOCATIONS), "add the new command to INVOCATIONS"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from tipwatch.settings import CONFIG_ENV_VAR, reload_settings

    tmp = tmp_path_factory.mktemp("formats")
    empty = tmp / "empty.toml"
    empty.touch()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CONFIG_ENV_VAR, str(empty))
        mp.setenv("TIPWATCH_PSEUDONYM_KEY", FORUM_KEY)
        reload_settings()
        values = _store(tmp)
    values["feed_dup"] = str(tmp / "in.jsonl")
    return values


CASES = [
    (path, fmt)
    for path, cmd in sorted(_commands().items())
    if path in INVOCATIONS
    for fmt in sorted(_format_choices(cmd) or ())
]


@pytest.mark.parametrize(("path", "fmt"), CASES, ids=[f"{' '.join(p)}-{f}" for p, f in CASES])
def test_each_format_gives_that_output(
    prepared: dict[str, str], path: tuple[str, ...], fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tipwatch.settings import reload_settings

    # urls ingest-log pseudonymises clients with this key (it refuses to run without one)
    monkeypatch.setenv("TIPWATCH_PSEUDONYM_KEY", "k" * 32)
    monkeypatch.setenv("TIPWATCH_PSEUDONYM_KEY", FORUM_KEY)  # forum intake needs one
    reload_settings()
    args = [a.format(**prepared) for a in INVOCATIONS[path]]
    result = runner.invoke(app, [*path, *args, "--format", fmt], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.strip(), "no output"
    if fmt == "json":
        data = json.loads(out)
        assert data not in ({}, []) or path in {("quarantine", "list")}
        assert "..." not in out.replace("\\u2026", "")
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(out)))
        assert len(rows) >= 2 and len({len(r) for r in rows}) == 1, out[:500]
    else:
        with pytest.raises(json.JSONDecodeError):
            json.loads(out)
        assert "\x1b[" not in out
