"""What the API's request path keeps in memory, and how soon it lets go of it.

A token the server checked lately is reused for at most ``api_token_cache_seconds`` (never
past its expiry); a revocation, a disabled user or a new role made through the server's own
services applies at the next request, one made elsewhere (straight in the store here, as
another process would) within that delay. A match request checks the lists' version in the
transaction that records it, and searches again when the lists changed after its search.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, update

from tipwatch import services
from tipwatch.errors import AuthenticationError
from tipwatch.services.access import SCOPES, Actor, Role
from tipwatch.settings import reload_settings
from tipwatch.store import Store
from tipwatch.store.schema import api_tokens, audit_events, hash_entries, hash_lists
from tipwatch.web.app import create_app

OPERATOR = Actor("operator", Role.ADMIN)
PASSWORD = "correct horse battery staple"
DELAY = 3.0
"""``api_token_cache_seconds`` in these tests: long enough that two requests in a row fall
within it on a loaded machine, short enough to wait out."""


def _now() -> Any:
    from tipwatch.workflow.identity import now_utc

    return now_utc()


@pytest.fixture
def served(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, str, str]]:
    """A client of the app over ``store``, and a token (and its id) of an analyst."""
    empty = tmp_path / "empty.toml"
    empty.touch()
    monkeypatch.setenv("TIPWATCH_CONFIG", str(empty))
    monkeypatch.setenv("TIPWATCH_API_TOKEN_CACHE_SECONDS", str(DELAY))
    reload_settings()
    services.identity.add_user(store, OPERATOR, "feed", "analyst", PASSWORD)
    token, row = services.identity.create_token(store, OPERATOR, "feed", "t", list(SCOPES))
    with TestClient(create_app(store)) as client:
        yield client, token, row["token_id"]
    monkeypatch.undo()
    reload_settings()


def _me(client: TestClient, token: str) -> Any:
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_a_token_revoked_through_the_server_is_refused_at_once(
    store: Store, served: tuple[TestClient, str, str]
) -> None:
    client, token, token_id = served
    assert _me(client, token).status_code == 200
    assert _me(client, token).status_code == 200  # now answered from memory
    services.identity.revoke_token(store, OPERATOR, token_id)
    assert _me(client, token).status_code == 401


def test_a_token_revoked_elsewhere_is_refused_within_the_delay(
    store: Store, served: tuple[TestClient, str, str]
) -> None:
    client, token, token_id = served
    checked = time.monotonic()
    assert _me(client, token).status_code == 200
    with store.atomic() as conn:  # another process's revocation: this one is not told
        conn.execute(
            update(api_tokens).where(api_tokens.c.token_id == token_id).values(revoked_at=_now())
        )
    # Within the delay the server may still accept it (that is the documented delay) ...
    assert time.monotonic() - checked < DELAY
    assert _me(client, token).status_code == 200
    # ... and once the delay has passed it asks the store again and refuses it.
    time.sleep(max(0.0, checked + DELAY + 0.1 - time.monotonic()))
    refused = _me(client, token)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["error"]["message"]


def test_a_disabled_user_or_a_new_role_applies_at_once(
    store: Store, served: tuple[TestClient, str, str]
) -> None:
    client, token, _ = served
    assert _me(client, token).json()["role"] == "analyst"
    services.identity.set_role(store, OPERATOR, "feed", "reviewer")
    assert _me(client, token).json()["role"] == "reviewer"
    services.identity.disable_user(store, OPERATOR, "feed")
    assert _me(client, token).status_code == 401


def test_a_token_is_not_reused_past_its_expiry(
    store: Store, served: tuple[TestClient, str, str]
) -> None:
    client, token, token_id = served
    ends = _now() + timedelta(seconds=1)
    with store.atomic() as conn:
        conn.execute(
            update(api_tokens).where(api_tokens.c.token_id == token_id).values(expires_at=ends)
        )
    assert _me(client, token).status_code == 200
    time.sleep(max(0.0, (ends - _now()).total_seconds() + 0.1))
    assert _me(client, token).status_code == 401  # before the reuse delay (3 s) is over


def test_a_look_up_overtaken_by_a_revocation_is_not_kept(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token read from the store just before another thread's revocation commits is
    answered as read, but not kept: the next request asks the store again."""
    import tipwatch.workflow.identity as workflow

    services.identity.add_user(store, OPERATOR, "feed", "analyst", PASSWORD)
    token, row = services.identity.create_token(store, OPERATOR, "feed", "t", ["read"])
    real = workflow.resolve_token_until

    def overtaken(conn: Any, raw: str) -> Any:
        found = real(conn, raw)
        revoker = threading.Thread(
            target=services.identity.revoke_token, args=(store, OPERATOR, row["token_id"])
        )
        revoker.start()
        revoker.join()
        return found

    monkeypatch.setattr(workflow, "resolve_token_until", overtaken)
    assert services.identity.authenticate_token(store, token, reuse_seconds=60).name == "feed"
    monkeypatch.setattr(workflow, "resolve_token_until", real)
    with pytest.raises(AuthenticationError):
        services.identity.authenticate_token(store, token, reuse_seconds=60)


def _count_transactions(store: Store) -> list[int]:
    begun = [0]

    def on_begin(_conn: Any) -> None:
        begun[0] += 1

    event.listen(store._engine, "begin", on_begin)
    return begun


def test_a_match_request_is_one_transaction(store: Store, tmp_path: Path) -> None:
    """With the index built, a PDQ match request reads and writes the store in one
    transaction (the lists' version, flood counts, the audit event); a token checked
    lately costs none."""
    analyst = Actor("alice", Role.ANALYST)
    value = "a" * 64
    (tmp_path / "pdq.txt").write_text(value + "\n")
    services.matching.import_list(
        store, OPERATOR, tmp_path / "pdq.txt", name="p", version="1", hash_type="pdq", scheme="none"
    )
    services.identity.add_user(store, OPERATOR, "feed", "analyst", PASSWORD)
    token, _ = services.identity.create_token(store, OPERATOR, "feed", "t", ["read", "match"])
    services.matching.match_hashes(store, analyst, [{"pdq": value}])  # builds the index
    services.identity.authenticate_token(store, token, reuse_seconds=60)
    begun = _count_transactions(store)
    services.identity.authenticate_token(store, token, reuse_seconds=60)
    assert begun[0] == 0
    (known,) = services.matching.match_hashes(store, analyst, [{"pdq": value}])
    assert known.status == "known" and begun[0] == 1
    (new,) = services.matching.match_hashes(store, analyst, [{"pdq": "5" * 64}])
    assert new.status == "new" and begun[0] == 2


def test_a_list_change_after_the_search_is_searched_again(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry held by another process between a request's search and its recording: the
    request sees the lists' new version in its transaction, rolls back, searches again with
    the index brought up to date and answers from it; one audit event, the chain intact."""
    from tipwatch.services.matching import _INDEXES

    analyst = Actor("alice", Role.ANALYST)
    value = "c" * 64
    (tmp_path / "pdq.txt").write_text(value + "\n")
    services.matching.import_list(
        store, OPERATOR, tmp_path / "pdq.txt", name="p", version="1", hash_type="pdq", scheme="none"
    )
    (warm,) = services.matching.match_hashes(store, analyst, [{"pdq": value}])
    assert warm.status == "known"
    real = _INDEXES.verdicts
    searches: list[str] = []

    def search_then_hold(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        searches.append(found[1][0].status)
        if len(searches) == 1:
            with store.atomic() as conn:  # the hold, made after this search
                conn.execute(update(hash_entries).values(held_at=_now(), held_reason="test"))
                conn.execute(update(hash_lists).values(updated_at=_now()))
        return found

    monkeypatch.setattr(_INDEXES, "verdicts", search_then_hold)
    with store.read() as conn:
        before = conn.execute(select(func.count()).select_from(audit_events)).scalar_one()
    (answer,) = services.matching.match_hashes(store, analyst, [{"pdq": value}])
    assert searches == ["known", "new"]
    assert answer.status == "new"
    with store.read() as conn:
        after = conn.execute(select(func.count()).select_from(audit_events)).scalar_one()
    assert after == before + 1
    (event_,) = services.audit.list_events(store, OPERATOR, action="match.run", limit=1)
    assert "0 known, 1 new" in event_.detail
    assert services.audit.verify(store, OPERATOR).ok


def test_a_server_over_sqlite_checkpoints_in_a_thread_of_its_own(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the app runs over an SQLite store a thread copies the write-ahead log into the
    database file, so that no request's commit has to; it ends with the app."""
    empty = tmp_path / "empty.toml"
    empty.touch()
    monkeypatch.setenv("TIPWATCH_CONFIG", str(empty))
    reload_settings()

    def checkpointers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "tipwatch-checkpoint"]

    assert checkpointers() == []
    with TestClient(create_app(store)) as client:
        running = checkpointers()
        assert len(running) == (1 if store.dialect == "sqlite" else 0)
        assert client.get("/api/v1/health").status_code == 200
    for t in running:
        t.join(timeout=10)
    assert checkpointers() == []


def test_every_answer_carries_the_security_headers(
    served: tuple[TestClient, str, str],
) -> None:
    """API answers (good and refused) and pages carry the security headers; a static file
    keeps its own caching."""
    from tipwatch.web.pages._base import SECURITY_HEADERS

    client, token, _ = served
    for response in (
        _me(client, token),
        client.get("/api/v1/me"),  # refused: no credentials
        client.get("/api/v1/health"),
    ):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (response.url, name)
    static = client.get("/static/workspace.css")
    assert static.status_code == 200
    assert static.headers["X-Content-Type-Options"] == "nosniff"
    assert static.headers.get("Cache-Control") != SECURITY_HEADERS["Cache-Control"]  # no-store
