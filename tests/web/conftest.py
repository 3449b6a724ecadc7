"""A served store for the API tests: referrals ingested and triaged, one user and one token
per role (each token carrying every scope, so that the role alone decides), and a client of
the real app."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tipwatch import services
from tipwatch.intake import ingest_paths
from tipwatch.services.access import SCOPES, Actor, Role
from tipwatch.settings import reload_settings
from tipwatch.store import Store
from tipwatch.store.schema import api_tokens, referrals, users
from tipwatch.triage.run import triage_store
from tipwatch.web.app import create_app

from ..triage.mmdb import DOC_NETWORKS, write_mmdb
from ..triage.test_triage_store import REFERRALS, write_jsonl

OPERATOR = Actor("operator", Role.ADMIN)
PASSWORD = "correct horse battery staple"
ROLES = ("admin", "analyst", "reviewer", "liaison", "auditor", "ingest")


@dataclass
class World:
    store: Store
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)
    """Role -> a live token of that role's user (named after the role)."""
    totp: dict[str, str] = field(default_factory=dict)
    """User -> TOTP secret, for the users enrolled."""
    expired: str = ""
    revoked: str = ""

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def api_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIPWATCH_API_SECURE_COOKIES", "false")  # the test client speaks http
    monkeypatch.setenv("TIPWATCH_API_PACKAGE_DIR", str(tmp_path / "packages"))
    reload_settings()


def fill(store: Store, tmp_path: Path) -> None:
    ingest_paths(store, [write_jsonl(tmp_path / "in.jsonl", REFERRALS)])
    triage_store(store, geoip=write_mmdb(tmp_path / "geo.mmdb", DOC_NETWORKS))
    with store.atomic() as conn:
        conn.execute(update(referrals).values(received_at=datetime(2020, 3, 21, 9, 0)))


def add_users(world: World) -> None:
    for role in ROLES:
        user = services.identity.add_user(
            world.store, OPERATOR, role, role, PASSWORD, country="NL" if role == "liaison" else None
        )
        if user["totp_enrolment"]:
            world.totp[role] = user["totp_enrolment"]["secret"]
        secret, _ = services.identity.create_token(world.store, OPERATOR, role, "t", list(SCOPES))
        world.tokens[role] = secret
    world.expired, row = services.identity.create_token(
        world.store, OPERATOR, "analyst", "old", ["read"]
    )
    with world.store.atomic() as conn:
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.token_id == row["token_id"])
            .values(expires_at=datetime(2020, 1, 1) - timedelta(days=1))
        )
    world.revoked, row = services.identity.create_token(
        world.store, OPERATOR, "analyst", "gone", ["read"]
    )
    services.identity.revoke_token(world.store, OPERATOR, row["token_id"])


def fresh_totp(store: Store, name: str, secret: str) -> str:
    """A TOTP code of ``name``'s that the server will still accept: a code is taken once, so
    a test that signs the same user in again within one 30-second step gives the next step's
    code (the server accepts one step ahead), and waits for the clock only past that."""
    import pyotp

    totp = pyotp.TOTP(secret)
    with store.read() as conn:
        last = conn.execute(
            select(users.c.totp_last_step).where(users.c.name == name)
        ).scalar_one_or_none()
    while True:
        now = time.time()
        current = int(now // totp.interval)
        for step in (current, current + 1):
            if last is None or step > last:
                return str(totp.generate_otp(step))
        time.sleep((current + 1) * totp.interval - now + 0.05)


@pytest.fixture
def world(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    api_settings(monkeypatch, tmp_path)
    fill(store, tmp_path)
    with TestClient(create_app(store)) as client:
        w = World(store, client)
        add_users(w)
        yield w
