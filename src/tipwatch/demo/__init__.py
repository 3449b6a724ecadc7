"""The demo: until the calibrated 2020 scenario exists, the bundled sample, ingested."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sqlalchemy import func, select

from tipwatch.intake import IngestSummary, ingest_paths
from tipwatch.store import Store
from tipwatch.store.quarantine import count_quarantine
from tipwatch.store.referrals import ReferralSummary, count_referrals, list_referrals
from tipwatch.store.schema import referral_files

__all__ = ["SampleDemo", "run_sample_demo", "sample_files"]

_SAMPLES = (
    "sample_referrals.xml",
    "sample_filedetails.xml",
    "sample_referrals.jsonl",
    "sample_referrals.csv",
)


def sample_files() -> list[Path]:
    """The bundled sample sources (benign, invented referrals)."""
    base = resources.files("tipwatch") / "samples"
    return [Path(str(base / name)) for name in _SAMPLES]


@dataclass
class SampleDemo:
    db_path: Path
    summary: IngestSummary
    referral_count: int
    file_count: int
    quarantined: int
    referrals: list[ReferralSummary]


def run_sample_demo(out: Path) -> SampleDemo:
    """Ingest the bundled samples into ``out/tipwatch.db`` (made afresh) and report on it."""
    out.mkdir(parents=True, exist_ok=True)
    db_path = out / "tipwatch.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    store = Store.open(str(db_path))
    try:
        summary = ingest_paths(store, sample_files())
        with store.read() as conn:
            files = int(conn.execute(select(func.count()).select_from(referral_files)).scalar_one())
        return SampleDemo(
            db_path=db_path,
            summary=summary,
            referral_count=count_referrals(store),
            file_count=files,
            quarantined=count_quarantine(store),
            referrals=list_referrals(store),
        )
    finally:
        store.close()
