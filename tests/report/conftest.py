"""One demo store for the assessment's reader tests, built once per test session: four
countries over 2019 and 2020 (so that a year-earlier comparison exists), at a small scale."""

from __future__ import annotations

from pathlib import Path

import pytest

from tipwatch.demo.run import DemoReport, run_demo


@pytest.fixture(scope="session")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> DemoReport:
    out = tmp_path_factory.mktemp("assessment-demo") / "out"
    return run_demo(
        out,
        scale=0.06,
        seed=11,
        countries=["NL", "DE", "PL", "SE", "FR"],
        years=(2019, 2020),
        assessment=False,
    )


@pytest.fixture(scope="session")
def demo_db(demo_report: DemoReport) -> Path:
    return demo_report.out / "tipwatch.db"
