"""The demo command (tipwatch.cli.demo), as a new user runs it."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tipwatch.cli import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_sample_demo_runs_on_the_bundled_sample(tmp_path: Path) -> None:
    code, out = invoke("demo", "--sample", "--out", str(tmp_path / "demo"))
    assert code == 0, out
    assert "7 referrals, 7 files, 1 quarantined" in out.replace("\n", " ")
    assert (tmp_path / "demo" / "tipwatch.db").exists()
    # Running it again starts afresh rather than counting duplicates.
    code, out = invoke("demo", "--sample", "--out", str(tmp_path / "demo"))
    assert code == 0, out
    assert "7 referrals, 7 files, 1 quarantined" in out.replace("\n", " ")


def test_world_demo_prints_the_comparison(tmp_path: Path) -> None:
    code, out = invoke("demo", "--scale", "0.005", "--seed", "3", "--out", str(tmp_path / "d"))
    assert code == 0, out
    for text in (
        "Recovered beside the truth",
        "NL",
        "SE",
        "World, 2020 over 2019",
        "Known files found",
        "Viral batch",
        "Assessment:",
    ):
        assert text in out
    assert (tmp_path / "d" / "assessment.html").exists()
    assert (tmp_path / "d" / "world" / "truth.json").exists()
