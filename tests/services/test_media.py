"""Media kept with a referral's file: none by default, sealed where a deployment keeps them,
seen by reviewers alone, never for a file that needs legal process, each reveal audited and
counted. On SQLite and PostgreSQL. The media are generated gradients (Pillow)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tipwatch import services
from tipwatch.errors import AccessDenied, ConfigError, InputError, NotFoundError
from tipwatch.media.sealed import MediaKey, MediaKeyError, SealedMedia, open_sealed
from tipwatch.services.access import Actor, Role
from tipwatch.settings import load_settings, reload_settings
from tipwatch.store import Store
from tipwatch.store.schema import audit_events, kept_media

OPERATOR = Actor("operator", Role.ADMIN)
REVIEWER = Actor("rev", Role.REVIEWER)
OTHER_REVIEWER = Actor("rev2", Role.REVIEWER)
KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()
RID = "media-1"


def gradient_png(seed: int = 0) -> bytes:
    """A benign generated image: a colour gradient."""
    from PIL import Image

    image = Image.new("RGB", (96, 64))
    image.putdata(
        [
            ((x * 2 + seed) % 256, (y * 4) % 256, (x + y + seed) % 256)
            for y in range(64)
            for x in range(96)
        ]
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def write_referral(folder: Path, image: bytes) -> Path:
    """One referral with four files: ``seen`` (viewed by the service: may be viewed),
    ``legal`` (flags unstated: needs legal process before viewing), ``clip`` (publicly
    available: may be viewed) and ``stated`` (its md5 stated by the sender)."""
    record = {
        "report_id": RID,
        "incident_type": "Child Pornography (possession, manufacture, and distribution)",
        "incident_time": "2020-03-20T10:00:00Z",
        "files": [
            {"file_id": "seen", "viewed_by_service": "yes"},
            {"file_id": "legal"},
            {"file_id": "clip", "publicly_available": "yes"},
            {
                "file_id": "stated",
                "viewed_by_service": "yes",
                "hashes": {"md5": hashlib.md5(image).hexdigest()},
            },
        ],
    }
    path = folder / "media.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "gradient.png"
    path.write_bytes(gradient_png())
    return path


@pytest.fixture
def referral(store: Store, tmp_path: Path, image: Path) -> Store:
    services.referrals.ingest(store, OPERATOR, [write_referral(tmp_path, image.read_bytes())])
    return store


@pytest.fixture
def keeping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIPWATCH_MEDIA_KEEP", "true")
    monkeypatch.setenv("TIPWATCH_MEDIA_KEY", KEY)
    reload_settings()


def _config() -> object:
    return services.triage.load_triage_config()


def _kept_rows(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(kept_media)).scalar_one())


def _events(store: Store, action: str) -> list[tuple[str, str, str]]:
    c = audit_events.c
    with store.read() as conn:
        return [
            (r.actor, r.outcome, r.detail)
            for r in conn.execute(
                select(c.actor, c.outcome, c.detail).where(c.action == action).order_by(c.id)
            )
        ]


def test_keeping_media_without_a_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="media_keep is on but media_key is unset"):
        load_settings(media_keep=True)
    with pytest.raises(ConfigError, match="media_key must be 32 bytes"):
        load_settings(media_key=base64.urlsafe_b64encode(b"short").decode())
    assert load_settings().media_keep is False and load_settings().media_key is None
    kept = load_settings(media_keep=True, media_key=KEY)
    assert kept.media_keep and KEY not in repr(kept)


def test_by_default_media_are_hashed_and_discarded(referral: Store, image: Path) -> None:
    store = referral
    done = services.media.attach_media(store, OPERATOR, RID, "seen", image)
    assert done.kept is False and done.kind == "image"
    assert done.hashes["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert _kept_rows(store) == 0
    ((actor, outcome, detail),) = _events(store, "media.attach")
    assert (actor, outcome) == ("operator", "ok") and "hashed and discarded" in detail
    # Nothing kept: a reviewer is offered nothing, and asking for the bytes finds none.
    offered = services.media.kept_for_dossier(store, REVIEWER, RID, config=_config())
    assert offered.viewable == {} and offered.withheld == ()
    with pytest.raises(NotFoundError, match="no kept media"):
        services.media.media_content(store, REVIEWER, RID, "seen", config=_config())


def test_kept_media_are_encrypted_at_rest(referral: Store, image: Path, keeping: None) -> None:
    store = referral
    plain = image.read_bytes()
    done = services.media.attach_media(store, OPERATOR, RID, "seen", image)
    assert done.kept is True
    with store.read() as conn:
        row = conn.execute(select(kept_media)).one()
    stored = bytes(row.ciphertext)
    assert stored != plain and plain not in stored and plain[:64] not in stored
    assert not stored.startswith(b"\x89PNG")
    assert row.sha256 == hashlib.sha256(plain).hexdigest() and row.media_type == "image/png"
    key = MediaKey.parse(KEY)
    assert row.key_id == key.key_id and KEY not in row.key_id
    sealed = SealedMedia(bytes(row.nonce), stored, row.key_id)
    assert open_sealed(key, sealed, report_id=RID, file_id="seen") == plain
    # Bound to its file: the same sealed bytes do not open as another file's.
    with pytest.raises(MediaKeyError, match="another file"):
        open_sealed(key, sealed, report_id=RID, file_id="legal")
    ((_, outcome, detail),) = _events(store, "media.attach")
    assert outcome == "ok" and "kept, encrypted at rest" in detail


def test_only_a_reviewer_sees_kept_media(referral: Store, image: Path, keeping: None) -> None:
    store = referral
    services.media.attach_media(store, OPERATOR, RID, "seen", image)
    content = services.media.media_content(store, REVIEWER, RID, "seen", config=_config())
    assert content.data == image.read_bytes() and content.media_type == "image/png"
    for role in (Role.ADMIN, Role.ANALYST, Role.AUDITOR, Role.INGEST):
        someone = Actor(f"a-{role.value}", role)
        with pytest.raises(AccessDenied):
            services.media.media_content(store, someone, RID, "seen", config=_config())
        with pytest.raises(AccessDenied):
            services.media.reveal_media(store, someone, RID, "seen", config=_config())
        with pytest.raises(AccessDenied):
            services.media.kept_for_dossier(store, someone, RID, config=_config())
        assert services.media.exposures_today(store, someone) == 0
    # A liaison officer is refused by role before the referral is looked at.
    liaison = Actor("lia", Role.LIAISON, country="NL")
    with pytest.raises(AccessDenied):
        services.media.media_content(store, liaison, RID, "seen", config=_config())
    # A reviewer's token does not open media either: a signed-in session only.
    token = Actor("rev", Role.REVIEWER, scopes=frozenset({"read", "admin"}))
    with pytest.raises(AccessDenied):
        services.media.media_content(store, token, RID, "seen", config=_config())
    views = _events(store, "media.view")
    assert ("rev", "ok", "image served blurred") in views
    assert sum(outcome == "denied" for _, outcome, _ in views) == 4 * 2 + 2


def test_a_file_needing_legal_process_is_never_offered(
    referral: Store, image: Path, keeping: None
) -> None:
    store = referral
    services.media.attach_media(store, OPERATOR, RID, "seen", image)
    services.media.attach_media(store, OPERATOR, RID, "legal", image)
    offered = services.media.kept_for_dossier(store, REVIEWER, RID, config=_config())
    assert offered.viewable == {"seen": "image"} and offered.withheld == ("legal",)
    with pytest.raises(AccessDenied, match="needs legal process before viewing"):
        services.media.media_content(store, REVIEWER, RID, "legal", config=_config())
    with pytest.raises(AccessDenied, match="needs legal process before viewing"):
        services.media.reveal_media(store, REVIEWER, RID, "legal", config=_config())
    assert services.media.exposures_today(store, REVIEWER) == 0
    assert [o for _, o, _ in _events(store, "media.reveal")] == ["denied"]


def test_each_reveal_is_audited_and_counted(referral: Store, image: Path, keeping: None) -> None:
    store = referral
    services.media.attach_media(store, OPERATOR, RID, "seen", image)
    assert (
        services.media.kept_for_dossier(store, REVIEWER, RID, config=_config()).exposures_today == 0
    )
    # Opening the blurred bytes is audited but is not an exposure.
    services.media.media_content(store, REVIEWER, RID, "seen", config=_config())
    assert services.media.exposures_today(store, REVIEWER) == 0
    assert services.media.reveal_media(store, REVIEWER, RID, "seen", config=_config()) == 1
    assert services.media.reveal_media(store, REVIEWER, RID, "seen", config=_config()) == 2
    assert services.media.exposures_today(store, REVIEWER) == 2
    # Each reviewer has their own count.
    assert services.media.reveal_media(store, OTHER_REVIEWER, RID, "seen", config=_config()) == 1
    assert services.media.exposures_today(store, REVIEWER) == 2
    offered = services.media.kept_for_dossier(store, REVIEWER, RID, config=_config())
    assert offered.exposures_today == 2
    reveals = _events(store, "media.reveal")
    assert reveals == [
        ("rev", "ok", "image revealed; exposure 1 today"),
        ("rev", "ok", "image revealed; exposure 2 today"),
        ("rev2", "ok", "image revealed; exposure 1 today"),
    ]


def test_media_must_be_the_files_own(referral: Store, image: Path, tmp_path: Path) -> None:
    store = referral
    # The sender stated the md5 of the gradient: that image is accepted, another is not.
    services.media.attach_media(store, OPERATOR, RID, "stated", image)
    other = tmp_path / "other.png"
    other.write_bytes(gradient_png(seed=7))
    with pytest.raises(InputError, match=r"file 'stated' of referral 'media-1': their md5 is"):
        services.media.attach_media(store, OPERATOR, RID, "stated", other)
    text = tmp_path / "notes.txt"
    text.write_text("not media", encoding="utf-8")
    with pytest.raises(InputError, match="is not an image or a video"):
        services.media.attach_media(store, OPERATOR, RID, "seen", text)
    with pytest.raises(NotFoundError, match="has no file 'nope'"):
        services.media.attach_media(store, OPERATOR, RID, "nope", image)
    with pytest.raises(AccessDenied):
        services.media.attach_media(store, Actor("aud", Role.AUDITOR), RID, "seen", image)


def test_media_uploaded_for_matching_are_never_kept(
    referral: Store, image: Path, keeping: None
) -> None:
    store = referral
    hashes, _ = services.matching.match_upload(store, OPERATOR, image)
    assert hashes.sha256 == hashlib.sha256(image.read_bytes()).hexdigest()
    assert _kept_rows(store) == 0
