"""docs/api.md's walk-through runs as written: a store, a user, a token, the server on a free
loopback port, and curl; the answers are the ones the page describes."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "api.md"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def test_the_walk_through_runs(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    blocks = _blocks()
    assert blocks[0].strip() == "PORT=8000"
    script = "\n".join(blocks[1:])
    (tmp_path / "empty.toml").touch()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TIPWATCH_")},
        "TIPWATCH_CONFIG": str(tmp_path / "empty.toml"),
        "PORT": str(_free_port()),
        "PYTHONPATH": str(REPO / "src"),
    }
    # `tipwatch` is this checkout's, whatever the PATH holds; exec keeps `$!` the server's.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "tipwatch"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tipwatch.cli "$@"\n')
    launcher.chmod(0o755)
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '')}"
    result = subprocess.run(
        ["bash", "-c", "set -e\n" + script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    by_kind = {next(iter(a)): a for a in answers}
    page = next(a for a in answers if "items" in a)
    assert len(page["items"]) == 2 and page["next_cursor"]
    case = next(a for a in answers if a.get("status") == "new" and "due_at" in a)
    assert case["report_id"] == "9100001" and case["assignee"] is None
    claimed = next(a for a in answers if a.get("assignee") == "ana")
    assert claimed["version"] == 1
    note = next(a for a in answers if "note_id" in a)
    assert note["author"] == "ana" and note["body"] == "first look: account seen before"
    errors = [a["error"] for a in answers if "error" in a]
    assert [(e["status"], e["type"]) for e in errors] == [
        (401, "AuthenticationError"),
        (403, "AccessDenied"),
    ]
    assert errors[0]["message"] in DOC.read_text(encoding="utf-8")
    assert "error" in by_kind
