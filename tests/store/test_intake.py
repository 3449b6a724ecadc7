"""Intake semantics on SQLite and PostgreSQL: idempotence, revisions, merging, quarantine,
batches and resuming after a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.helpers import envelope, file_details_xml, md5, report_xml
from tipwatch.demo.synthetic import write_envelope
from tipwatch.intake import ingest_paths, retry_quarantined
from tipwatch.store import Store
from tipwatch.store.quarantine import list_quarantine
from tipwatch.store.referrals import count_referrals, get_referral, list_revisions
from tipwatch.store.schema import pending_files, referral_files


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def wrap(*envelopes: str) -> str:
    return "<referrals>\n" + "\n".join(envelopes) + "\n</referrals>\n"


def n_files(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(referral_files)).scalar_one())


def test_ingest_is_idempotent(store: Store, tmp_path: Path) -> None:
    src = write(
        tmp_path / "a.xml",
        wrap(
            envelope("1", report_xml(), file_details_xml("1", "f1", md5(1))),
            envelope("2", report_xml(country="BE")),
        ),
    )
    first = ingest_paths(store, [src])
    assert (first.ingested, first.duplicates, first.quarantined) == (2, 0, 0)
    second = ingest_paths(store, [src])
    assert (second.ingested, second.duplicates, second.revised) == (0, 2, 0)
    assert count_referrals(store) == 2 and n_files(store) == 1


def test_changed_duplicate_is_a_revision_and_the_old_version_is_kept(
    store: Store, tmp_path: Path
) -> None:
    ingest_paths(
        store,
        [
            write(
                tmp_path / "a.xml", envelope("1", report_xml(), file_details_xml("1", "f", md5(1)))
            )
        ],
    )
    changed = envelope("1", report_xml(country="DE"), file_details_xml("1", "f", md5(2)))
    summary = ingest_paths(store, [write(tmp_path / "b.xml", changed)])
    assert (summary.ingested, summary.duplicates, summary.revised) == (0, 0, 1)
    referral = get_referral(store, "1")
    assert referral.stated_country == "DE"
    assert referral.files[0].hashes["md5"] == md5(2)
    history = list_revisions(store, "1")
    assert [(h["file_id"], h["revision"]) for h in history] == [(None, 1), ("f", 1)]
    assert history[0]["document"]["reported"][0]["estimated_location"]["country_code"] == "NL"
    assert history[1]["document"]["hashes"]["md5"] == md5(1)


def test_received_time_alone_does_not_make_a_revision(store: Store, tmp_path: Path) -> None:
    a = envelope("1", report_xml(), attrs=' received="2020-03-01T00:00:00Z"')
    b = envelope("1", report_xml(), attrs=' received="2020-03-05T00:00:00Z"')
    ingest_paths(store, [write(tmp_path / "a.xml", a)])
    assert ingest_paths(store, [write(tmp_path / "b.xml", b)]).duplicates == 1


def test_duplicate_ids_inside_one_file(store: Store, tmp_path: Path) -> None:
    src = write(
        tmp_path / "a.xml",
        wrap(
            envelope("1", report_xml()),
            envelope("1", report_xml()),
            envelope("1", report_xml(country="FR")),
        ),
    )
    s = ingest_paths(store, [src], batch_size=10)
    assert (s.ingested, s.duplicates, s.revised) == (1, 1, 1)
    assert get_referral(store, "1").stated_country == "FR"


def test_file_details_before_their_report_wait_and_merge(store: Store, tmp_path: Path) -> None:
    early = write(
        tmp_path / "files.xml",
        file_details_xml("42", "f1", md5(1)) + file_details_xml("42", "f2", md5(2)),
    )
    s1 = ingest_paths(store, [early])
    assert s1.pending == 2 and count_referrals(store) == 0
    s2 = ingest_paths(store, [write(tmp_path / "42.xml", report_xml())])
    assert s2.ingested == 1
    referral = get_referral(store, "42")
    assert sorted(f.file_id for f in referral.files) == ["f1", "f2"]
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(pending_files)).scalar_one() == 0
    s3 = ingest_paths(store, [write(tmp_path / "late.xml", file_details_xml("42", "f3", md5(3)))])
    assert s3.files_added == 1
    assert len(get_referral(store, "42").files) == 3
    s4 = ingest_paths(store, [write(tmp_path / "late2.xml", file_details_xml("42", "f3", md5(3)))])
    assert s4.duplicates == 1


def test_malformed_records_are_quarantined_and_the_rest_ingested(
    store: Store, tmp_path: Path
) -> None:
    src = write(
        tmp_path / "mixed.xml",
        wrap(
            envelope("1", report_xml()),
            envelope("2", report_xml(when="2020-02-30T00:00:00Z")),
            envelope("3", report_xml(incident_type="Nope")),
            envelope("4", report_xml()),
        ),
    )
    s = ingest_paths(store, [src])
    assert (s.ingested, s.quarantined) == (2, 2)
    entries = list_quarantine(store)
    assert [(e.location, e.record_key) for e in entries] == [("line 3", "2"), ("line 4", "3")]
    assert all(e.source_file == str(src) for e in entries)
    assert "incident_time" in entries[0].reason and "unknown incident type" in entries[1].reason
    # Ingesting the same file again does not double the quarantine.
    ingest_paths(store, [src])
    entries = list_quarantine(store)
    assert len(entries) == 2 and entries[0].times_seen == 2


def test_truncated_file_keeps_records_before_the_break(store: Store, tmp_path: Path) -> None:
    text = wrap(*(envelope(str(i), report_xml()) for i in range(5)))
    src = write(tmp_path / "cut.xml", text[: len(text) - 200])
    s = ingest_paths(store, [src], batch_size=2)
    assert s.ingested == 4 and s.quarantined == 1
    (entry,) = list_quarantine(store)
    assert "truncated" in entry.reason
    assert "cannot be retried" in retry_quarantined(store, entry.id)


def test_hostile_file_is_refused_and_nothing_else_affected(store: Store, tmp_path: Path) -> None:
    tmp_path = tmp_path / "in"
    tmp_path.mkdir()
    write(tmp_path / "a_good.xml", envelope("1", report_xml()))
    bomb = write(
        tmp_path / "b_bomb.xml",
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">'
        '<!ENTITY b "&a;&a;&a;&a;">]><report>&b;</report>',
    )
    xxe = write(
        tmp_path / "c_xxe.xml",
        '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/hostname">]><report>&x;</report>',
    )
    write(tmp_path / "d_after.xml", envelope("2", report_xml()))
    s = ingest_paths(store, [tmp_path])
    assert [o.ingested for o in s.sources] == [1, 0, 0, 1]
    assert [o.quarantined for o in s.sources] == [0, 1, 1, 0]
    reasons = [e.reason for e in list_quarantine(store)]
    assert all("refused" in r for r in reasons)
    assert count_referrals(store) == 2 and bomb.exists() and xxe.exists()


def test_retry_ingests_a_record_once_it_reads(store: Store, tmp_path: Path) -> None:
    src = write(
        tmp_path / "r.jsonl",
        '{"report_id": "9", "incident_type": "child-porn", "incident_time": "2020-01-01"}\n',
    )
    ingest_paths(store, [src])
    (entry,) = list_quarantine(store)
    assert "still fails" in retry_quarantined(store, entry.id)
    # A corrected raw record (as an operator would fix it) is then ingested on retry.
    from sqlalchemy import update

    from tipwatch.store.schema import quarantine

    with store.atomic() as conn:
        conn.execute(
            update(quarantine)
            .where(quarantine.c.id == entry.id)
            .values(
                raw='{"report_id": "9", "incident_type": "child-pornography", "incident_time": "2020-01-01"}'
            )
        )
    message = retry_quarantined(store, entry.id)
    assert "ingested" in message
    assert get_referral(store, "9").report_id == "9"
    assert list_quarantine(store) == []
    assert list_quarantine(store, status="resolved")[0].note == "retried: ingested"


def test_all_three_formats_in_one_folder(store: Store, tmp_path: Path) -> None:
    from tipwatch.demo import sample_files

    folder = tmp_path / "in"
    folder.mkdir()
    for f in sample_files():
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / ".hidden.xml").write_text("ignored")
    s = ingest_paths(store, [folder])
    assert len(s.sources) == 4
    # sample_filedetails.xml sorts first: its file waits, then merges into 9100001.
    assert (s.ingested, s.pending, s.quarantined) == (7, 1, 1)
    assert len(get_referral(store, "9100001").files) == 2
    assert get_referral(store, "9100006").extra == {"sender_reference": "kept in extra"}


CRASH_SCRIPT = """
import sys
from pathlib import Path
from tipwatch.intake import ingest_paths
from tipwatch.store import Store
store = Store.open(sys.argv[1])
ingest_paths(store, [Path(sys.argv[2])], batch_size=200)
"""


@pytest.mark.slow
def test_kill_9_mid_run_then_rerun_gives_no_loss_and_no_duplicates(
    store: Store, tmp_path: Path, db_url: str
) -> None:
    total = 12_000
    src = tmp_path / "big.xml"
    with src.open("wb") as fh:
        write_envelope(fh, total, seed=11, files=2)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", CRASH_SCRIPT, db_url, str(src)], env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = count_referrals(store)
            if done >= 2_000 or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    partial = count_referrals(store)
    assert 0 < partial < total
    assert partial % 200 == 0, "only whole batches are committed"
    summary = ingest_paths(store, [src], batch_size=200)
    (outcome,) = summary.sources
    assert outcome.resumed_from == partial
    assert outcome.ingested == total - partial and outcome.duplicates == 0
    assert count_referrals(store) == total
    assert n_files(store) == 2 * total
    # A third run of the now complete file reads it all again, as duplicates.
    again = ingest_paths(store, [src], batch_size=1000)
    assert (again.ingested, again.duplicates) == (0, total)


def test_binary_file_in_a_folder_is_reported_not_read(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "image.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    write(folder / "ok.xml", envelope("1", report_xml()))
    s = ingest_paths(store, [folder])
    # Found in a folder, it is skipped with the reason (nothing to quarantine)...
    assert (s.ingested, s.quarantined) == (1, 0)
    assert s.skipped == [(str(folder / "image.bin"), "binary data, not referral text")]
    # ...named on its own, it is read, and refused as a whole with the reason.
    s = ingest_paths(store, [folder / "image.bin"])
    assert s.quarantined == 1
    (entry,) = list_quarantine(store)
    assert (
        entry.reason == "not a referral file: it holds binary data, not XML, JSON Lines or CSV text"
    )


def test_a_folder_s_other_files_are_skipped_with_their_reason(store: Store, tmp_path: Path) -> None:
    """A VICS list, a hash CSV, notes and media beside referral files never reach the
    quarantine (a VICS list in the folder once became 34,004 quarantine entries)."""
    folder = tmp_path / "in"
    folder.mkdir()
    write(folder / "ok.xml", envelope("1", report_xml()))
    (folder / "known.json").write_text(
        '{"odata.metadata": "http://example.invalid/$metadata", "value": [{"MD5": "00"}]}'
    )
    (folder / "pretty-vics.json").write_text('{\n  "odata.metadata": "x",\n  "value": []\n}\n')
    (folder / "hashes.csv").write_text("md5,category\n0cc175b9c0f1b6a831c399e269772661,1\n")
    (folder / "notes.txt").write_text("call the platform on Monday\n")
    (folder / "other.xml").write_text("<catalog><book/></catalog>")
    (folder / "refs.csv").write_text(
        "report_id,incident_type,incident_time\n"
        "c-1,Online Enticement of Children for Sexual Acts,2020-03-20T10:00:00Z\n"
    )
    s = ingest_paths(store, [folder])
    assert (s.ingested, s.quarantined) == (2, 0)
    reasons = {Path(p).name: r for p, r in s.skipped}
    assert reasons == {
        "known.json": "a VICS hash list, not referrals (import it with the hash lists)",
        "pretty-vics.json": "a VICS hash list, not referrals (import it with the hash lists)",
        "hashes.csv": "a CSV file without referral columns (incident_type, incident_time)",
        "notes.txt": "not a referral file (.txt)",
        "other.xml": "XML without CyberTipline reports",
    }
    assert s.as_dict()["skipped"][0] == {
        "path": str(folder / "hashes.csv"),
        "reason": reasons["hashes.csv"],
    }


@pytest.mark.slow
def test_several_hundred_megabytes_ingest_in_flat_memory(tmp_path: Path) -> None:
    """A ~290 MB envelope file generated on the fly goes through the whole intake into SQLite
    with flat memory (the file is never on disk or in memory as a whole)."""
    from tests.formats.test_cybertip_xml import _GeneratedStream, _rss_mb
    from tipwatch.demo.synthetic import envelope_chunks
    from tipwatch.formats.cybertip_xml import read_xml_stream
    from tipwatch.intake import ingest_items

    count = 150_000
    store = Store.open(str(tmp_path / "big.db"))
    stream = _GeneratedStream(envelope_chunks(count, seed=9))
    readings: list[float] = []

    def items():  # type: ignore[no-untyped-def]
        for n, item in enumerate(read_xml_stream(stream, "generated.xml"), 1):  # type: ignore[arg-type]
            if n % 10_000 == 0:
                readings.append(_rss_mb())
            yield item

    outcome = ingest_items(store, items(), source="generated.xml", fmt="xml", batch_size=1000)
    assert outcome.ingested == count and outcome.quarantined == 0
    assert stream.size > 250_000_000
    assert count_referrals(store) == count
    # After the first batches have warmed the caches, memory stays flat.
    growth = max(readings[2:]) - readings[2]
    assert growth < 50, f"memory grew by {growth:.0f} MB over {stream.size / 1e6:.0f} MB"
    store.close()
