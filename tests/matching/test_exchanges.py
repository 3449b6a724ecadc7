"""Syncing hash lists from the exchanges, against fake servers on 127.0.0.1 that speak NCMEC's
hash sharing v2, StopNCII's and ThreatExchange's APIs: out-of-order entries, page tokens,
deletions of entries never seen, 429 bursts, a connection cut mid-page, full resyncs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tipwatch.errors import ConfigError, ExchangeError, InputError
from tipwatch.matching.exchanges import (
    Batch,
    RetryPolicy,
    configure_list,
    make_connector,
    sync_health,
    sync_list,
)
from tipwatch.matching.lists import iter_entries
from tipwatch.matching.matcher import Matcher
from tipwatch.store import Store
from tipwatch.store.schema import hash_entries

from .exchange_fakes import FakeNcmec, FakeStopncii, FakeThreatExchange, NcmecEvent, md5_of

NO_WAIT = RetryPolicy(attempts=6, backoff=0.0, sleep=lambda s: None)
PDNA = "QUJD+/Zz" * 18  # PhotoDNA travels as base64: kept verbatim, case and all
PDQ = "f" * 16 + "0" * 48


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _active(store: Store, name: str) -> dict[str, dict[str, Any]]:
    """entry key -> {algorithm: value, "category": ..., "extra": ...} of the active entries."""
    out: dict[str, dict[str, Any]] = {}
    for r in iter_entries(store, name):
        entry = out.setdefault(r.entry_key, {"category": r.category, "extra": r.extra})
        entry[r.algorithm] = r.value
    return out


def _ncmec_events() -> list[NcmecEvent]:
    return [
        NcmecEvent("img1", 100, md5=md5_of(1), sha1="a" * 40, pdna=PDNA, feedback=True),
        NcmecEvent("img2", 101, md5=md5_of(2)),
        NcmecEvent("img2", 105, deleted=True),
        NcmecEvent("vid1", 102, kind="video", md5=md5_of(3), tmk=True, classification="B1"),
        NcmecEvent("img3", 104, md5=md5_of(4), classification="B2"),
        NcmecEvent("img3", 103, md5=md5_of(4), classification="A1"),  # older, later in time
        NcmecEvent("ghost", 106, deleted=True),  # a deletion of an entry never seen
        NcmecEvent("ghost", 99, md5=md5_of(99)),  # its older state, in the same window
        NcmecEvent("img4", 107, pdq=PDQ, classification="A2"),
        NcmecEvent("vid9", 108, kind="video", deleted=True),  # never seen either
    ]


@pytest.fixture
def ncmec() -> Iterator[FakeNcmec]:
    with FakeNcmec(_ncmec_events(), page_size=3) as fake:
        yield fake


def _ncmec_list(store: Store, fake: FakeNcmec, clock: Clock, password: str | None = None) -> Any:
    configure_list(
        store,
        "ncmec",
        connector="ncmec",
        config={"environment": "test_industry", "base_url": fake.url},
        scheme="industry",
    )
    return make_connector(
        "ncmec",
        {"environment": "test_industry", "base_url": fake.url},
        {"username": fake.user, "password": password or fake.password},
        retry=NO_WAIT,
        now=clock,
    )


def _expected_first_sync(active: dict[str, dict[str, Any]]) -> None:
    assert set(active) == {"img1", "vid1", "img3", "img4"}
    img1 = active["img1"]
    assert img1["md5"] == md5_of(1) and img1["sha1"] == "a" * 40
    assert img1["PhotoDNA"] == PDNA  # verbatim
    assert img1["category"] == "A1"
    assert img1["extra"]["member"] == {"id": "42", "name": "Member 42"}
    assert img1["extra"]["feedback"]["affirmativeFeedback"]["members"]["member"]["@id"] == "43"
    assert active["vid1"]["extra"]["large_fingerprints"] == {
        "tmk-pdqf": "/v2/entries/vid1/fingerprints/TMK_PDQF"
    }
    assert active["vid1"]["extra"]["type"] == "video"
    assert active["img3"]["category"] == "B2"  # the newer state, though it came first
    assert active["img4"]["pdq"] == PDQ


def test_ncmec_sync_keeps_everything_and_applies_changes_by_their_time(
    store: Store, ncmec: FakeNcmec
) -> None:
    clock = Clock(150)
    connector = _ncmec_list(store, ncmec, clock)
    summary = sync_list(store, "ncmec", connector)
    assert summary.batches == 4  # 10 events, 3 a page: the window read to its end
    # vid9's deletion is of an entry never seen; ghost's too, unless its older state came
    # first in the shuffled pages (it is then added, and removed by the deletion).
    assert summary.unknown_tombstones >= 1
    assert summary.added - summary.removed == 6  # img1 x3, vid1, img3, img4
    _expected_first_sync(_active(store, "ncmec"))
    # Every request after the first followed a next link of the same window.
    entries = [p for m, p, h in ncmec.requests if "/v2/entries" in p]
    assert all("from=1970-01-01T00%3A00%3A00.000Z" in p for p in entries)
    assert all("to=1970-01-01T00%3A02%3A30.000Z" in p for p in entries)
    health = sync_health(store, "ncmec")
    assert health is not None and health["checkpoint"]["from"] == 150
    assert health["last_error"] is None and health["runs"] == 1
    assert (health["total_added"], health["total_removed"]) == (summary.added, summary.removed)

    # Later: img1 is deleted, img5 appears; the next sync reads only the new window.
    ncmec.events += [
        NcmecEvent("img1", 200, deleted=True),
        NcmecEvent("img5", 201, md5=md5_of(5)),
    ]
    clock.now = 300
    second = sync_list(store, "ncmec", connector)
    assert (second.added, second.removed) == (1, 3)
    active = _active(store, "ncmec")
    assert set(active) == {"vid1", "img3", "img4", "img5"}
    # No hash of an entry is stored twice, retired rows included.
    e = hash_entries.c
    with store.read() as conn:
        counts = conn.execute(
            select(e.entry_key, e.algorithm, func.count()).group_by(e.entry_key, e.algorithm)
        ).all()
    assert {c[0] for c in counts} >= {"img1", "img2", "vid1", "img3", "img4", "img5"}
    assert all(c[2] == 1 for c in counts)


def test_ncmec_matches_carry_list_version_entry_scheme_and_label(
    store: Store, ncmec: FakeNcmec
) -> None:
    sync_list(store, "ncmec", _ncmec_list(store, ncmec, Clock(150)))
    (verdict,) = Matcher(store).verdicts([{"md5": md5_of(4)}])
    (m,) = verdict.matches
    assert m.list_name == "ncmec" and m.scheme == "industry" and m.category == "B2"
    assert m.category_label == "Pubescent, lascivious exhibition"
    assert m.list_version is not None and m.list_version.startswith("sync ")
    assert m.entry_id > 0


def test_ncmec_retries_429_bursts_and_a_connection_cut_mid_page(
    store: Store, ncmec: FakeNcmec
) -> None:
    # A burst of 429s on the first page, a cut on the second, a 503 and a cut on the third
    # (None: that request is answered).
    ncmec.faults = [429, 429, 429, None, "cut", None, 503, "cut"]
    summary = sync_list(store, "ncmec", _ncmec_list(store, ncmec, Clock(150)))
    assert summary.batches == 4
    _expected_first_sync(_active(store, "ncmec"))
    assert len(ncmec.requests) == 4 + 6  # every fault cost one more request


def test_retries_end_with_an_error_that_shows_no_credential(store: Store, ncmec: FakeNcmec) -> None:
    ncmec.faults = [503] * 10
    connector = _ncmec_list(store, ncmec, Clock(150))
    with pytest.raises(ExchangeError, match="failed 6 times; last: HTTP 503") as info:
        sync_list(store, "ncmec", connector)
    assert ncmec.password not in str(info.value)
    health = sync_health(store, "ncmec")
    assert health is not None and "HTTP 503" in (health["last_error"] or "")
    assert health["last_success"] is None and _active(store, "ncmec") == {}
    # Wrong credentials are not retried (401), and the password is not in the message.
    ncmec.faults = []
    bad = _ncmec_list(store, ncmec, Clock(150), password="wrong-password")
    before = len(ncmec.requests)
    with pytest.raises(ExchangeError, match="HTTP 401") as info:
        sync_list(store, "ncmec", bad)
    assert len(ncmec.requests) == before + 1
    assert "wrong-password" not in str(info.value) and info.value.hint


def test_a_checkpoint_that_would_move_back_is_refused(store: Store, ncmec: FakeNcmec) -> None:
    connector = _ncmec_list(store, ncmec, Clock(150))
    sync_list(store, "ncmec", connector)
    before = _active(store, "ncmec")

    class Backwards:
        kind = "ncmec"

        def fetch(self, checkpoint: Any) -> Batch:
            from tipwatch.matching.exchanges import ExchangeEntry

            entry = ExchangeEntry("late", {"md5": md5_of(77)})
            return Batch([entry], [], {"from": 10, "page": 0}, more=False)

        def position(self, checkpoint: Any) -> tuple[int, int]:
            return connector.position(checkpoint)

        def send_vote(self, entry: Any, vote: str, reason: str | None) -> str:
            return ""

    with pytest.raises(ExchangeError, match="stands before the stored one"):
        sync_list(store, "ncmec", Backwards())
    assert _active(store, "ncmec") == before
    health = sync_health(store, "ncmec")
    assert health is not None and health["checkpoint"]["from"] == 150


def test_large_fingerprint_fetched_on_demand_and_configuration_errors(
    ncmec: FakeNcmec,
) -> None:
    from tipwatch.matching.exchanges.ncmec import NcmecConnector

    connector = NcmecConnector(
        {"base_url": ncmec.url}, {"username": ncmec.user, "password": ncmec.password}
    )
    text = connector.fingerprint("/v2/status")
    assert "<member" in text
    with pytest.raises(ConfigError, match="user name and a password"):
        NcmecConnector({"environment": "industry"}, {})
    with pytest.raises(ConfigError, match="unknown NCMEC environment"):
        NcmecConnector({"environment": "nowhere"}, {"username": "u", "password": "p"})


# -- StopNCII ------------------------------------------------------------------------------------


def _stopncii_record(n: int, ts: int, status: str = "Active", kind: str = "ImagePDQ") -> dict:
    value = f"{n:064x}" if kind == "ImagePDQ" else md5_of(n)
    return {
        "lastModtimestamp": ts,
        "signalType": kind,
        "hashValue": value,
        "hashStatus": status,
        "caseNumbers": {f"case-{n}": status},
        "CSPFeedbacks": [{"feedbackValue": "Blocked", "tags": [], "source": "Platform A"}],
    }


def test_stopncii_pages_tokens_and_withdrawn_records(store: Store) -> None:
    records = [_stopncii_record(n, 1000 + n) for n in range(1, 8)]
    records.append(_stopncii_record(50, 1010, kind="VideoMD5"))
    records.append(_stopncii_record(60, 1011, status="Withdrawn"))  # never seen: remembered
    with FakeStopncii(records) as fake:
        config = {"base_url": fake.url + "/v1", "page_size": 2}
        configure_list(store, "ncii", connector="stopncii", config=config, scheme="none")
        credentials = {"subscription_key": fake.subscription, "fetch_key": fake.fetch_key}
        connector = make_connector("stopncii", config, credentials, retry=NO_WAIT)
        fake.faults = [429, 429]
        summary = sync_list(store, "ncii", connector)
        assert summary.batches == 5 and summary.unknown_tombstones == 1
        active = _active(store, "ncii")
        assert len(active) == 8
        video = active["VideoMD5:" + md5_of(50)]
        assert video["md5"] == md5_of(50) and video["extra"]["cases"] == {"case-50": "Active"}
        assert all("nextPageToken" in p for _m, p, _h in fake.requests[3:])

        # Two hashes are withdrawn and deleted; one is new. Only the new set is read.
        records[0] = _stopncii_record(1, 2000, status="Withdrawn")
        records[1] = _stopncii_record(2, 2001, status="Deleted")
        records.append(_stopncii_record(9, 2002))
        second = sync_list(store, "ncii", connector)
        assert (second.added, second.removed) == (1, 2)
        assert f"ImagePDQ:{1:064x}" not in _active(store, "ncii")
        assert len(_active(store, "ncii")) == 7
        assert all(
            h.get("ocp-apim-subscription-key") == fake.subscription for *_x, h in fake.requests
        )


# -- ThreatExchange ----------------------------------------------------------------------------


def _te(n: int, when: int, *, delete: bool = False, kind: str = "HASH_PDQ") -> dict:
    indicator = f"{n:064x}" if kind == "HASH_PDQ" else md5_of(n)
    return {
        "id": str(9000 + n),
        "indicator": indicator,
        "type": kind,
        "last_updated": when,
        "should_delete": delete,
        "tags": ["tag-a"],
        "applications_with_opinions": [{"id": "1", "opinion": "POSITIVE"}],
    }


def test_threatexchange_deletions_and_a_full_resync_after_85_days(store: Store) -> None:
    day = 86400
    updates = [_te(n, 1_000_000 + n) for n in range(1, 6)]
    updates.append(_te(6, 1_000_010, delete=True))
    with FakeThreatExchange(updates) as fake:
        config = {"base_url": fake.url, "privacy_group": fake.group, "page_size": 2}
        configure_list(store, "te", connector="threatexchange", config=config, scheme="none")
        clock = Clock(1_000_100)
        connector = make_connector(
            "threatexchange", config, {"access_token": fake.token}, retry=NO_WAIT, now=clock
        )
        first = sync_list(store, "te", connector)
        assert first.batches == 3 and len(_active(store, "te")) == 5
        assert _active(store, "te")["9001"]["extra"]["opinions"] == [
            {"id": "1", "opinion": "POSITIVE"}
        ]
        health = sync_health(store, "te")
        assert health is not None
        assert fake.token not in json.dumps(health["checkpoint"])  # next links kept without it

        # 90 days pass. Entry 2 was deleted meanwhile, and the deletion record has expired:
        # the source simply no longer has it. Entry 7 is new.
        fake.updates = [u for u in updates if u["id"] != "9002"] + [_te(7, clock.now + 50 * day)]
        clock.now += 90 * day
        resync = sync_list(store, "te", connector)
        active = _active(store, "te")
        assert "9002" not in active and "9007" in active and len(active) == 5
        assert resync.removed == 1
        checkpoint = sync_health(store, "te")["checkpoint"]  # type: ignore[index]
        assert checkpoint["generation"] == 1 and checkpoint["start"] == clock.now
        assert all(
            "start_time=0" in p for _m, p, _h in fake.requests[-3:-2]
        )  # it started again from 0

        # A plain incremental sync next: no resync.
        clock.now += day
        fake.updates.append(_te(8, int(clock.now - 10), delete=False))
        third = sync_list(store, "te", connector)
        assert third.added == 1 and third.removed == 0


# -- a list file, synced like an exchange ------------------------------------------------------


def test_a_list_file_syncs_as_a_full_resync_and_an_unreadable_one_changes_nothing(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "list.json"
    media = [
        {"MediaID": 0, "Category": 1, "MD5": md5_of(1), "SHA1": "c" * 40},
        {"MediaID": 0, "Category": 2, "MD5": md5_of(2)},
    ]
    doc = {"odata.metadata": "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Media"}
    path.write_text(json.dumps({**doc, "value": media}))
    config = {"path": str(path)}
    configure_list(store, "file", connector="file", config=config, scheme="projectvic_us")
    connector = make_connector("file", config, {})
    first = sync_list(store, "file", connector)
    assert (first.added, first.removed) == (3, 0)
    assert sync_list(store, "file", connector).batches == 1  # unchanged: nothing to do
    assert len(_active(store, "file")) == 2
    # The second Media goes, a third comes.
    media[1] = {"MediaID": 0, "Category": 1, "MD5": md5_of(3)}
    path.write_text(json.dumps({**doc, "value": media}))
    second = sync_list(store, "file", connector)
    assert (second.added, second.removed) == (1, 1)
    assert sorted(e["md5"] for e in _active(store, "file").values()) == [md5_of(1), md5_of(3)]
    # A file that cannot be read leaves the list as it was.
    path.write_text(json.dumps({**doc, "value": [{"MediaID": 1, "MD5": "not-a-hash"}]}))
    with pytest.raises(InputError, match="cannot be read; the list is left as it is"):
        sync_list(store, "file", connector)
    assert sorted(e["md5"] for e in _active(store, "file").values()) == [md5_of(1), md5_of(3)]


def test_a_page_that_stalls_is_given_up_after_the_timeout_and_read_again(
    store: Store, ncmec: FakeNcmec
) -> None:
    config = {"base_url": ncmec.url, "timeout": 1}
    configure_list(store, "ncmec", connector="ncmec", config=config, scheme="industry")
    connector = make_connector(
        "ncmec",
        config,
        {"username": ncmec.user, "password": ncmec.password},
        retry=NO_WAIT,
        now=Clock(150),
    )
    ncmec.faults = [None, "hang"]  # the second page sends half, then nothing
    summary = sync_list(store, "ncmec", connector)
    assert summary.batches == 4 and len(ncmec.requests) == 5
    _expected_first_sync(_active(store, "ncmec"))
