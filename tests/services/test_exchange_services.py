"""The exchange services and commands as users run them: connect and sync a list from each
fake exchange (credentials from the settings, never shown or audited), votes under the
two-person rule, allow-lists that clear a file, and the flood quarantine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tipwatch.cli import app
from tipwatch.errors import AccessDenied
from tipwatch.matching.exchanges import RetryPolicy
from tipwatch.matching.flood import FloodRule
from tipwatch.services import exchanges, matching
from tipwatch.services.access import Actor, Role
from tipwatch.settings import reload_settings
from tipwatch.store import Store
from tipwatch.store.schema import audit_events

from ..matching.exchange_fakes import (
    FakeNcmec,
    FakeStopncii,
    FakeThreatExchange,
    NcmecEvent,
    md5_of,
)

runner = CliRunner()
ALICE = Actor("alice", Role.ANALYST)
BOB = Actor("bob", Role.ANALYST)
NO_WAIT = RetryPolicy(backoff=0.0, sleep=lambda s: None)


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    empty = tmp_path / "empty.toml"
    empty.touch()
    monkeypatch.setenv("TIPWATCH_CONFIG", str(empty))
    yield monkeypatch
    reload_settings()


def invoke(*args: str) -> tuple[int, str]:
    reload_settings()
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def _audit_text(store: Store) -> str:
    with store.read() as conn:
        return json.dumps(
            [dict(r._mapping) for r in conn.execute(select(audit_events))], default=str
        )


def test_lists_sync_against_each_fake_exchange_from_the_command_line(
    store: Store, db_url: str, settings_env: pytest.MonkeyPatch
) -> None:
    events = [
        NcmecEvent("img1", 100, md5=md5_of(1), pdna="QUJD" * 36),
        NcmecEvent("img2", 101, md5=md5_of(2)),
        NcmecEvent("img2", 102, deleted=True),
    ]
    pdq = "a" * 64
    with (
        FakeNcmec(events, page_size=2, shuffle=False) as ncmec,
        FakeStopncii(
            [
                {
                    "lastModtimestamp": 5,
                    "signalType": "ImagePDQ",
                    "hashValue": pdq,
                    "hashStatus": "Active",
                    "caseNumbers": {},
                    "CSPFeedbacks": [],
                }
            ]
        ) as ncii,
        FakeThreatExchange(
            [
                {
                    "id": "77",
                    "indicator": md5_of(7),
                    "type": "HASH_MD5",
                    "last_updated": 10,
                    "should_delete": False,
                }
            ]
        ) as te,
    ):
        settings_env.setenv("TIPWATCH_NCMEC_USERNAME", ncmec.user)
        settings_env.setenv("TIPWATCH_NCMEC_PASSWORD", ncmec.password)
        settings_env.setenv("TIPWATCH_STOPNCII_SUBSCRIPTION_KEY", ncii.subscription)
        settings_env.setenv("TIPWATCH_STOPNCII_FETCH_KEY", ncii.fetch_key)
        settings_env.setenv("TIPWATCH_THREATEXCHANGE_ACCESS_TOKEN", te.token)
        settings_env.setenv("TIPWATCH_EXCHANGE_READ_ATTEMPTS", "3")
        for args in (
            [
                "ncmec",
                "--exchange",
                "ncmec",
                "--environment",
                "test_industry",
                "--base-url",
                ncmec.url,
            ],
            ["ncii", "--exchange", "stopncii", "--base-url", ncii.url + "/v1", "--scheme", "none"],
            [
                "te",
                "--exchange",
                "threatexchange",
                "--base-url",
                te.url,
                "--privacy-group",
                te.group,
                "--scheme",
                "none",
            ],
        ):
            code, out = invoke("lists", "connect", *args, "--db", db_url)
            assert code == 0, out
        ncmec.faults = [429, None, "cut"]
        code, out = invoke("lists", "sync", "ncmec", "--db", db_url)
        assert code == 0, out
        assert "list ncmec: 2 batch(es), 3 added, 1 removed" in out
        for name in ("ncii", "te"):
            code, out = invoke("lists", "sync", name, "--db", db_url)
            assert code == 0 and "1 added" in out, out
        code, out = invoke("lists", "show", "ncmec", "--db", db_url)
        shown = json.loads(out)
        assert (
            shown["connector"] == "ncmec"
            and shown["connector_config"]["environment"] == "test_industry"
        )
        sync = shown["sync"]
        assert sync["last_success"] and sync["last_error"] is None
        assert (sync["last_added"], sync["last_removed"]) == (3, 1)
        # --due: everything was synced a moment ago, so nothing is due.
        code, out = invoke("lists", "sync", "--due", "--db", db_url)
        assert code == 0 and out.strip() == ""
        # A wrong password: a clear error naming the exchange, not the password.
        settings_env.setenv("TIPWATCH_NCMEC_PASSWORD", "wrong-Pa55word")
        code, out = invoke("lists", "sync", "ncmec", "--db", db_url)
        assert code == 69 and "HTTP 401" in out and "wrong-Pa55word" not in out
        code, out = invoke("lists", "show", "ncmec", "--db", db_url)
        assert "HTTP 401" in json.loads(out)["sync"]["last_error"]
    audit = _audit_text(store)
    for secret in (ncmec.password, "wrong-Pa55word", ncii.subscription, ncii.fetch_key, te.token):
        assert secret not in audit
    assert '"list.sync"' in audit


def test_credentials_are_refused_in_a_lists_connector_settings(store: Store) -> None:
    from tipwatch.errors import ConfigError

    with pytest.raises(ConfigError, match="may not hold credentials"):
        exchanges.connect_list(
            store, ALICE, "x", connector="ncmec", config={"password": "p"}, scheme="industry"
        )


def _synced_ncmec(store: Store, fake: FakeNcmec) -> None:
    exchanges.connect_list(
        store, ALICE, "ncmec", connector="ncmec", config={"base_url": fake.url}, scheme="industry"
    )
    exchanges.sync_list(
        store,
        ALICE,
        "ncmec",
        credentials={"username": fake.user, "password": fake.password},
        retry=NO_WAIT,
        now=lambda: 1000.0,
    )


def test_votes_need_a_second_user_and_are_sent_once_audited(store: Store) -> None:
    with FakeNcmec([NcmecEvent("img1", 100, md5=md5_of(1))]) as fake:
        _synced_ncmec(store, fake)
        credentials = {"username": fake.user, "password": fake.password}
        vote = exchanges.propose_vote(store, ALICE, "ncmec", "img1", "affirmative")
        assert vote["status"] == "proposed" and fake.feedback == []
        with pytest.raises(AccessDenied, match="approve a vote they proposed themselves"):
            exchanges.approve_vote(store, ALICE, vote["id"], credentials=credentials)
        assert fake.feedback == []  # nothing sent
        sent = exchanges.approve_vote(store, BOB, vote["id"], credentials=credentials)
        assert sent["status"] == "sent" and sent["approved_by"] == "bob"
        ((path, body),) = fake.feedback
        assert path == "/v2/entries/img1/feedback" and b"<affirmative/>" in body
        # A vote is decided once.
        from tipwatch.errors import ConflictError

        with pytest.raises(ConflictError):
            exchanges.approve_vote(store, BOB, vote["id"], credentials=credentials)
        # A send that fails is recorded as failed, and not retried (a write may have landed).
        second = exchanges.propose_vote(store, ALICE, "ncmec", "img1", "negative", reason="g-1")
        fake.faults = [500]
        before = len(fake.requests)
        failed = exchanges.approve_vote(store, BOB, second["id"], credentials=credentials)
        assert failed["status"] == "failed" and "HTTP 500" in failed["response"]
        assert len(fake.requests) == before + 1
        rejected = exchanges.propose_vote(store, ALICE, "ncmec", "img1", "affirmative")
        exchanges.reject_vote(store, BOB, rejected["id"])
        listed = {v["id"]: v["status"] for v in exchanges.list_votes(store, ALICE, name="ncmec")}
        assert listed == {vote["id"]: "sent", second["id"]: "failed", rejected["id"]: "rejected"}
    with store.read() as conn:
        events = [
            (r.actor, r.outcome, r.detail)
            for r in conn.execute(
                select(audit_events).where(audit_events.c.action == "list.vote.approve")
            )
        ]
    assert (
        "alice",
        "failed",
        "alice (role analyst) may not approve a vote they proposed themselves",
    ) in events
    assert sum(1 for actor, outcome, _ in events if actor == "bob" and outcome == "ok") == 3
    assert fake.password not in _audit_text(store)


def test_votes_to_stopncii_and_threatexchange(store: Store) -> None:
    pdq = "b" * 64
    with (
        FakeStopncii(
            [
                {
                    "lastModtimestamp": 5,
                    "signalType": "ImagePDQ",
                    "hashValue": pdq,
                    "hashStatus": "Active",
                    "caseNumbers": {},
                    "CSPFeedbacks": [],
                }
            ]
        ) as ncii,
        FakeThreatExchange(
            [
                {
                    "id": "77",
                    "indicator": md5_of(7),
                    "type": "HASH_MD5",
                    "last_updated": 10,
                    "should_delete": False,
                }
            ]
        ) as te,
    ):
        exchanges.connect_list(
            store, ALICE, "ncii", connector="stopncii", config={"base_url": ncii.url}, scheme="none"
        )
        ncii_keys = {
            "subscription_key": ncii.subscription,
            "fetch_key": ncii.fetch_key,
            "feedback_key": ncii.feedback_key,
        }
        exchanges.sync_list(store, ALICE, "ncii", credentials=ncii_keys, retry=NO_WAIT)
        vote = exchanges.propose_vote(store, ALICE, "ncii", f"ImagePDQ:{pdq}", "Blocked")
        assert (
            exchanges.approve_vote(store, BOB, vote["id"], credentials=ncii_keys)["status"]
            == "sent"
        )
        body = json.loads(ncii.bodies[-1])
        assert body["hashFeedbacks"][0] == {
            "hashValue": pdq,
            "feedbackValue": "Blocked",
            "tags": [],
        }

        exchanges.connect_list(
            store,
            ALICE,
            "te",
            connector="threatexchange",
            config={"base_url": te.url, "privacy_group": te.group},
            scheme="none",
        )
        token = {"access_token": te.token}
        exchanges.sync_list(store, ALICE, "te", credentials=token, retry=NO_WAIT, now=lambda: 100.0)
        vote = exchanges.propose_vote(store, ALICE, "te", "77", "HELPFUL")
        assert exchanges.approve_vote(store, BOB, vote["id"], credentials=token)["status"] == "sent"
        assert te.reactions == [("/77/reactions", b"reactions=HELPFUL")]
        from tipwatch.errors import ConfigError

        with pytest.raises(ConfigError, match="one of HELPFUL"):
            exchanges.propose_vote(store, ALICE, "te", "77", "LOVE")


def _referrals(store: Store, tmp_path: Path, md5s: list[str], name: str = "r") -> None:
    from tipwatch.intake import ingest_paths

    lines = []
    for i, md5 in enumerate(md5s):
        lines.append(
            json.dumps(
                {
                    "report_id": f"{name}-{i}",
                    "source": "ESP-direct",
                    "received_at": "2020-03-28T10:00:00Z",
                    "incident_time": "2020-03-28T09:00:00Z",
                    "incident_type": "Child Pornography (possession, manufacture, and distribution)",
                    "files": [{"file_id": "f1", "hashes": {"md5": md5}}],
                }
            )
        )
    path = tmp_path / f"{name}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    summary = ingest_paths(store, [path])
    assert summary.sources[0].ingested == len(md5s), summary


def test_allow_lists_clear_a_file_and_show_what_they_suppressed(
    store: Store, tmp_path: Path
) -> None:
    (tmp_path / "block.txt").write_text(md5_of(1) + "\n" + md5_of(2) + "\n")
    (tmp_path / "allow.txt").write_text(md5_of(1) + "\n")
    matching.import_list(
        store,
        ALICE,
        tmp_path / "block.txt",
        name="known",
        version="1",
        hash_type="md5",
        scheme="none",
    )
    matching.import_list(
        store,
        ALICE,
        tmp_path / "allow.txt",
        name="cleared",
        version="1",
        hash_type="md5",
        scheme="none",
        purpose="allow",
    )
    _referrals(store, tmp_path, [md5_of(1), md5_of(2), md5_of(3)])
    summary = matching.match_referrals(store, ALICE)
    assert (summary.known, summary.cleared, summary.new) == (1, 1, 1)
    from tipwatch.matching.matcher import Matcher, file_statuses

    assert file_statuses(store, "r-0") == {"f1": "cleared"}
    (verdict,) = Matcher(store).verdicts([{"md5": md5_of(1)}])
    assert verdict.status == "cleared"
    shown = {m.list_name: m.as_dict() for m in verdict.matches}
    assert shown["known"]["suppressed_by"] == "cleared"
    assert shown["cleared"]["purpose"] == "allow"
    listed = {r["name"]: r["purpose"] for r in matching.list_lists(store, ALICE)}
    assert listed == {"known": "block", "cleared": "allow"}


def test_flood_quarantine_holds_an_entry_whose_rate_jumps(store: Store, tmp_path: Path) -> None:
    from datetime import date

    from tipwatch.matching.matcher import match_referrals

    (tmp_path / "l.txt").write_text(md5_of(1) + "\n" + md5_of(2) + "\n")
    matching.import_list(
        store, ALICE, tmp_path / "l.txt", name="l", version="1", hash_type="md5", scheme="none"
    )
    rule = FloodRule(factor=10, min_matches=20, history_days=28)
    # A quiet history: each entry matched twice a day for the 28 days before.
    from tipwatch.matching.flood import record_matches
    from tipwatch.store.schema import hash_entries

    with store.atomic() as conn:
        ids = [r.id for r in conn.execute(select(hash_entries.c.id))]
        for day in range(1, 29):
            record_matches(conn, {i: 2 for i in ids}, date(2020, 3, day))
    # Then a day on which entry 1 matches 60 files (a logo slipped into the list, say).
    _referrals(store, tmp_path, [md5_of(1)] * 60 + [md5_of(2)] * 3, name="flood")
    summary = match_referrals(store, batch_size=30, flood=rule, today=date(2020, 3, 29))
    (held,) = summary.held
    assert held["value"] == md5_of(1) and held["matches"] >= 20 and held["baseline"] == 2.0
    # Held from the batch that tripped it: the rest of the day's files no longer match it.
    assert summary.known < 60 + 3 + 2
    alerts = exchanges.holds(store, ALICE)
    assert [a["hold"] for a in alerts] == [held["hold"]] and "against 2.0 a day" in alerts[0][
        "reason"
    ]
    shown = matching.show_list(store, ALICE, "l")
    assert shown["held_entries"] == 1
    from tipwatch.matching.matcher import Matcher

    (verdict,) = Matcher(store).verdicts([{"md5": md5_of(1)}])
    assert verdict.status == "new"  # held: out of matching until reviewed
    exchanges.review_hold(store, BOB, held["hold"], retire=False)
    (verdict,) = Matcher(store).verdicts([{"md5": md5_of(1)}])
    assert verdict.status == "known"
    assert exchanges.holds(store, ALICE) == []
    # Released the same day, it is not held again that day.
    again = match_referrals(store, flood=rule, today=date(2020, 3, 29))
    assert again.held == []


def test_a_large_fingerprint_is_fetched_on_demand(store: Store) -> None:
    from tipwatch.errors import NotFoundError

    with FakeNcmec([NcmecEvent("vid1", 100, kind="video", md5=md5_of(1), tmk=True)]) as fake:
        _synced_ncmec(store, fake)
        credentials = {"username": fake.user, "password": fake.password}
        value = exchanges.large_fingerprint(
            store, ALICE, "ncmec", "vid1", "tmk-pdqf", credentials=credentials, retry=NO_WAIT
        )
        assert value.startswith("TMK_PDQF of vid1: 0123456789") and len(value) > 500
        assert fake.requests[-1][1] == "/v2/entries/vid1/fingerprints/TMK_PDQF"
        assert fake.requests[-1][2]["authorization"].startswith("Basic ")
        with pytest.raises(NotFoundError, match="names no fetchable 'videntifier'"):
            exchanges.large_fingerprint(
                store, ALICE, "ncmec", "vid1", "videntifier", credentials=credentials
            )


def test_matching_by_hash_counts_towards_the_flood_quarantine(store: Store, tmp_path: Path) -> None:
    """The API's path (hashes in, verdicts out, nothing of them stored) counts block-list
    matches too: an entry matching a burst of uploads is held, and the process's in-memory
    PDQ index drops it at once, and takes it back when a reviewer releases it."""
    logo, other = "f" * 16 + "0" * 48, "0" * 48 + "f" * 16
    (tmp_path / "pdq.txt").write_text(logo + "\n" + other + "\n")
    matching.import_list(
        store, ALICE, tmp_path / "pdq.txt", name="p", version="1", hash_type="pdq", scheme="none"
    )
    rule = FloodRule(factor=10, min_matches=5, history_days=28)
    (first,) = matching.match_hashes(store, ALICE, [{"pdq": logo}], flood=rule)
    assert first.status == "known"  # the index is built and cached in this process
    burst = matching.match_hashes(store, ALICE, [{"pdq": logo}] * 12, flood=rule)
    assert [v.status for v in burst] == ["known"] * 12  # the request that trips the hold
    (held,) = exchanges.holds(store, ALICE)
    assert held["value"] == logo and held["matches"] == 13
    assert "held for review (flood)" in _audit_text(store)
    (after,) = matching.match_hashes(store, ALICE, [{"pdq": logo}], flood=rule)
    assert after.status == "new"
    (untouched,) = matching.match_hashes(store, ALICE, [{"pdq": other}], flood=rule)
    assert untouched.status == "known"
    exchanges.review_hold(store, BOB, held["hold"], retire=False)
    (released,) = matching.match_hashes(store, ALICE, [{"pdq": logo}], flood=rule)
    assert released.status == "known"


def test_a_hold_made_elsewhere_reaches_a_cached_index(store: Store, tmp_path: Path) -> None:
    """A hold made by another process (here: straight in the store) changes the lists'
    fingerprint, so a long-running server's index leaves the entry out at its next request."""
    from datetime import UTC, datetime

    from tipwatch.matching.flood import check_floods, record_matches
    from tipwatch.store.schema import hash_entries

    value = "a" * 64
    (tmp_path / "pdq.txt").write_text(value + "\n")
    matching.import_list(
        store, ALICE, tmp_path / "pdq.txt", name="p", version="1", hash_type="pdq", scheme="none"
    )
    (warm,) = matching.match_hashes(store, ALICE, [{"pdq": value}])
    assert warm.status == "known"
    day = datetime.now(UTC).date()
    with store.atomic() as conn:
        (entry_id,) = [r.id for r in conn.execute(select(hash_entries.c.id))]
        record_matches(conn, {entry_id: 50}, day)
        made = check_floods(conn, [entry_id], day, FloodRule(5, 10, 28))
    assert [h["entry_id"] for h in made] == [entry_id]
    (cold,) = matching.match_hashes(store, ALICE, [{"pdq": value}])
    assert cold.status == "new"
