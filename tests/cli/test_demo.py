"""The demo command (tipwatch.cli.demo), as a new user runs it."""

from __future__ import annotations

import re
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
    # The workspace account it prints signs in to the pages `tipwatch serve` serves.
    found = re.search(r"sign in\s+at \S+ as (\S+)\s+password \(shown this once\): (\S+)", out)
    assert found, out
    name, password = found.groups()
    from fastapi.testclient import TestClient

    from tipwatch.services.stores import open_store
    from tipwatch.web.app import create_app

    store = open_store(str(tmp_path / "d" / "tipwatch.db"))
    try:
        with TestClient(create_app(store)) as client:
            form = client.get("/login").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
            answer = client.post(
                "/login", data={"name": name, "password": password, "csrf_token": token}
            )
            assert answer.status_code == 200 and "<h1>Today</h1>" in answer.text
            assert client.get("/queue").status_code == 200
    finally:
        store.close()
