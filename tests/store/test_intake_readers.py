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


def _junk_jsonl(path: Path, bad: int, good: int = 0) -> Path:
    """``bad`` lines that are not JSON, then ``good`` referrals."""
    lines = [f"not JSON, line {i}\n" for i in range(bad)]
    lines += [
        f'{{"report_id": "g{i}", "incident_type": "child-pornography", '
        f'"incident_time": "2020-03-01T00:00:00Z"}}\n'
        for i in range(good)
    ]
    path.write_text("".join(lines))
    return path


def _quarantine_selects(store: Store) -> list[str]:
    """The SELECTs on the quarantine table the store runs from now on (a test spy)."""
    from sqlalchemy import event

    seen: list[str] = []

    def spy(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "quarantine" in statement:
            seen.append(statement)

    event.listen(store._engine, "before_cursor_execute", spy)
    return seen


def test_quarantine_lookups_do_not_grow_with_the_bad_records(store: Store, tmp_path: Path) -> None:
    """Each bad record once ran a query over every earlier quarantine row of its source: 40,000
    bad lines took 138 s against 1.9 s for 2,500. A first run now looks nothing up, and a run
    over the same file again one query per batch."""
    src = _junk_jsonl(tmp_path / "junk.jsonl", 1200)
    selects = _quarantine_selects(store)
    first = ingest_paths(store, [src], batch_size=100, max_bad_record_share=1.0)
    assert first.quarantined == 1200
    assert len(selects) <= 1  # whether the source has rows at all
    selects.clear()
    again = ingest_paths(store, [src], batch_size=100, max_bad_record_share=1.0)
    assert again.quarantined == 1200
    assert len(selects) <= 1 + 1200 // 100 + 1
    entries = list_quarantine(store)
    assert len(entries) == 1200 and {e.times_seen for e in entries} == {2}
    assert entries[0].location == "line 1" and entries[-1].location == "line 1200"


def test_a_source_of_mostly_bad_records_is_refused_whole(store: Store, tmp_path: Path) -> None:
    src = _junk_jsonl(tmp_path / "junk.jsonl", 3000, good=5)
    summary = ingest_paths(store, [src])
    assert (summary.ingested, summary.quarantined) == (0, 1)
    (entry,) = list_quarantine(store)
    assert entry.reason.startswith("refused at line 1000: 1,000 of the first 1,000 records")
    assert "50%" in entry.reason and "nothing of it was ingested" in entry.reason
    # Read again, it is the same refusal, counted.
    ingest_paths(store, [src])
    (entry,) = list_quarantine(store)
    assert entry.times_seen == 2


def test_reading_stops_when_bad_records_take_over_later(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "later.jsonl"
    _junk_jsonl(src, 0, good=1500)
    with src.open("a") as fh:
        fh.writelines(f"not JSON {i}\n" for i in range(3000))
    summary = ingest_paths(store, [src], batch_size=200)
    assert summary.ingested == 1500
    refusal = list_quarantine(store)[-1]
    assert "the records before this point were ingested" in refusal.reason
    assert refusal.location == "line 3001"  # where bad records passed half of those read
    assert summary.quarantined == 1 + 1500


def test_a_small_source_of_bad_records_is_quarantined_record_by_record(
    store: Store, tmp_path: Path
) -> None:
    summary = ingest_paths(store, [_junk_jsonl(tmp_path / "few.jsonl", 999)])
    assert summary.quarantined == 999
