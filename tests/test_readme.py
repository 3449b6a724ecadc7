"""The README's tour runs verbatim against the store that the demo leaves."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def tour_commands() -> list[str]:
    """The command lines of the README's first shell block after its "A short tour" heading."""
    text = README.read_text(encoding="utf-8")
    tour = text[text.index("## A short tour") :]
    block = re.search(r"```sh\n(.*?)```", tour, re.S)
    assert block is not None, "the README's tour has no ```sh block"
    lines = [line.strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_the_tour_names_every_part_of_the_system() -> None:
    commands = " ".join(tour_commands())
    for word in ("ingest", "referrals list", "referrals show", "quarantine", "hash", "lists",
                 "match", "triage", "queue", "route", "signals", "trends", "alerts",
                 "changepoints", "assess", "audit verify"):  # fmt: skip
        assert f"tipwatch {word}" in commands, word


def test_the_readme_tour_runs_verbatim(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "100"
    # `make demo` leaves demo-out/; a smaller world of the same shape keeps the test short.
    done = subprocess.run(
        [str(bin_dir / "tipwatch"), "demo", "--out", "demo-out", "--scale", "0.01"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    ran = 0
    for line in tour_commands():
        if line.startswith("source "):
            continue  # the test runs with the virtual environment's programs on its PATH
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").split("#")[0].strip().partition("=")
            env[name] = " ".join(shlex.split(value))
            continue
        result = subprocess.run(
            ["bash", "-o", "pipefail", "-c", line],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert result.returncode == 0, f"{line}\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
        ran += 1
    assert ran >= 25
    # What the tour produced is there and holds what it says.
    assert (
        (tmp_path / "assessment.html")
        .read_text(encoding="utf-8")
        .lower()
        .startswith("<!doctype html>")
    )
    assert (tmp_path / "packages" / "NL-march" / "referrals.jsonl").stat().st_size > 0
    assert "sample-1.jpg" in (tmp_path / "hashes.csv").read_text(encoding="utf-8")
