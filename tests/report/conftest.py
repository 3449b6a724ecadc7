"""One demo store for the assessment's reader tests, built once per test run: four countries
over 2019 and 2020 (so that a year-earlier comparison exists), at a small scale.

Under pytest-xdist (``make test`` runs two workers) the workers share one build: the first to
ask builds it under a lock in the run's common temporary folder, the others wait and reuse it.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from tipwatch.demo.run import run_demo


def _build(out: Path) -> None:
    run_demo(
        out,
        scale=0.06,
        seed=11,
        countries=["NL", "DE", "PL", "SE", "FR"],
        years=(2019, 2020),
        assessment=False,
    )


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    if worker_id == "master":  # one process: a folder of its own
        out = tmp_path_factory.mktemp("assessment-demo") / "out"
        _build(out)
        return out / "tipwatch.db"
    common = tmp_path_factory.getbasetemp().parent / "assessment-demo"
    common.mkdir(exist_ok=True)
    out, done = common / "out", common / "built"
    with (common / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                _build(out)
                done.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return out / "tipwatch.db"
