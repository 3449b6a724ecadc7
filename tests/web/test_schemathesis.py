"""Schemathesis against a live server on 127.0.0.1, bounded in examples and time: no answer
is a server error, and every answer conforms to the OpenAPI document."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tipwatch import services
from tipwatch.services.access import SCOPES
from tipwatch.store import Store

from .conftest import OPERATOR, PASSWORD, fill

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_schemathesis_finds_no_server_error_and_no_nonconforming_answer(tmp_path: Path) -> None:
    cli = Path(sys.executable).parent / "schemathesis"
    if not cli.exists():
        pytest.skip("schemathesis is not installed (the test extra)")
    db = tmp_path / "t.db"
    with Store.open(str(db)) as store:
        fill(store, tmp_path)
        services.identity.add_user(store, OPERATOR, "admin", "admin", PASSWORD)
        token, _ = services.identity.create_token(store, OPERATOR, "admin", "st", list(SCOPES))
    (tmp_path / "empty.toml").touch()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TIPWATCH_")},
        "TIPWATCH_CONFIG": str(tmp_path / "empty.toml"),
        "TIPWATCH_API_PACKAGE_DIR": str(tmp_path / "packages"),
        "PYTHONPATH": str(REPO / "src"),
    }
    port = _free_port()
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "tipwatch.cli", "serve", "--port", str(port), "--db", str(db)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/v1/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("the server did not start")
                time.sleep(0.2)
        run = subprocess.run(
            [
                str(cli),
                "run",
                f"{base}/openapi.json",
                "--checks",
                "not_a_server_error,response_schema_conformance,content_type_conformance",
                "--max-examples",
                "6",
                "--max-time",
                "150",
                "--seed",
                "20200328",
                "--workers",
                "1",
                "--request-timeout",
                "30",
                "--header",
                f"Authorization: Bearer {token}",
                "--exclude-path",
                "/api/v1/session",  # a fuzzed login locks accounts; tested apart
            ],
            env={k: v for k, v in env.items() if k != "PYTHONPATH"},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    server_log = (tmp_path / "server.log").read_text(errors="replace")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:] + server_log[-3000:]
    assert "Traceback" not in server_log, server_log[-3000:]
    # Every operation but the two of /session was exercised, and every case passed.
    tested = re.search(r"Tested: (\d+)", run.stdout)
    cases = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
    assert tested is not None and cases is not None, run.stdout[-3000:]
    assert int(tested[1]) >= 40
    assert int(cases[1]) == int(cases[2]) >= 100
