"""Intake of malformed and hostile sources on SQLite and PostgreSQL: what the readers cannot
read is quarantined with its line, the rest goes in, and the quarantine's cost stays linear."""

from __future__ import annotations

from pathlib import Path

from tipwatch.intake import ingest_paths, retry_quarantined
from tipwatch.store import Store
from tipwatch.store.quarantine import list_quarantine
from tipwatch.store.referrals import count_referrals, get_referral

CSV_HEADER = "report_id,incident_type,incident_time,platform\n"


def _csv_rows(first: int, count: int) -> str:
    return "".join(
        f"{i},child-pornography,2020-03-01,Chat {i}\n" for i in range(first, first + count)
    )


def test_unclosed_csv_quote_is_quarantined_and_the_rows_after_it_ingested(
    store: Store, tmp_path: Path
) -> None:
    src = tmp_path / "runaway.csv"
    src.write_text(
        CSV_HEADER
        + _csv_rows(1, 1)
        + '2,child-pornography,2020-03-01,"Chat unclosed\n'
        + _csv_rows(3, 50)
        + '53,child-pornography,2020-03-01,"Quoted, fine"\n'
    )
    summary = ingest_paths(store, [src])
    assert (summary.ingested, summary.quarantined) == (52, 1)
    (entry,) = list_quarantine(store)
    assert entry.location == "line 3" and "unclosed quote" in entry.reason
    assert get_referral(store, "1").platform == "Chat 1"
    assert get_referral(store, "53").platform == "Quoted, fine"
    assert "fix the file" in retry_quarantined(store, entry.id)
    # Read again, the same line is counted, not doubled.
    ingest_paths(store, [src])
    (entry,) = list_quarantine(store)
    assert entry.times_seen == 2 and count_referrals(store) == 52
