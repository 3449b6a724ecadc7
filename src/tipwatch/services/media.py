"""Media services: the media of a referral's file, kept only where a deployment chooses.

Hash-first by default: media handed in with a referral's file (:func:`attach_media`) are
checked against the hashes the referral states and discarded; nothing of them is stored.
A deployment that sets ``media_keep`` (which needs ``media_key``) keeps them sealed with
AES-256-GCM, tied to the file. Media uploaded to be matched (``match_upload``) are never kept.

Kept media are for reviewers alone (:data:`~tipwatch.services.access.MEDIA_VIEWING`), and
never for a file whose legal-viewing status is "needs legal process before viewing":

- :func:`kept_for_dossier` says which files of a referral have media a reviewer may see, and
  the reviewer's exposures today;
- :func:`media_content` opens one (audited as ``media.view``); pages show it greyscale and
  blurred;
- :func:`reveal_media` is the reviewer's click that shows it in full: audited as
  ``media.reveal`` and counted, per reviewer per UTC day, from those audit entries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tipwatch.errors import AccessDenied, ConfigError, InputError, NotFoundError
from tipwatch.services._unit import require, unit
from tipwatch.services.access import Actor
from tipwatch.settings import get_settings
from tipwatch.store import Store

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from tipwatch.media.sealed import MediaKey
    from tipwatch.triage.config import TriageConfig

__all__ = [
    "AttachedMedia",
    "DossierMedia",
    "MediaContent",
    "attach_media",
    "exposures_today",
    "kept_for_dossier",
    "media_content",
    "reveal_media",
]

_HASHES = ("md5", "sha1", "sha256")


@dataclass(frozen=True, slots=True)
class AttachedMedia:
    """What became of media handed in for a referral's file."""

    report_id: str
    file_id: str
    kind: str
    size: int
    hashes: dict[str, str]
    kept: bool
    """``True`` only where the deployment keeps media: then sealed in the store."""

    def as_dict(self) -> dict[str, object]:
        return {
            "report_id": self.report_id,
            "file_id": self.file_id,
            "kind": self.kind,
            "size": self.size,
            "hashes": dict(self.hashes),
            "kept": self.kept,
            "media": "kept, encrypted at rest" if self.kept else "hashed and discarded; not stored",
        }


@dataclass(frozen=True, slots=True)
class DossierMedia:
    """The kept media of one referral a reviewer may be offered, and their exposures."""

    viewable: dict[str, str] = field(default_factory=dict)
    """``file id -> image|video``: kept, and may be viewed without legal process."""
    withheld: tuple[str, ...] = ()
    """Files with media kept that need legal process before viewing: never offered."""
    exposures_today: int = 0
    """Media this reviewer revealed today (UTC)."""


@dataclass(frozen=True, slots=True)
class MediaContent:
    """One kept medium, opened: its bytes and what a browser is told it is."""

    kind: str
    media_type: str
    data: bytes


def _key() -> MediaKey:
    from tipwatch.media.sealed import MediaKey, MediaKeyError

    secret = get_settings().media_key
    if secret is None:
        raise ConfigError(
            "kept media are encrypted at rest and media_key is unset",
            hint="set media_key to 32 random bytes in URL-safe base64",
        )
    try:
        return MediaKey.parse(secret.get_secret_value())
    except MediaKeyError as exc:
        raise ConfigError(f"media_key: {exc}") from None


def _day_start() -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day)


def attach_media(
    store: Store, actor: Actor, report_id: str, file_id: str, path: Path
) -> AttachedMedia:
    """Hand in the media of a stored referral's file. They are hashed and checked against the
    hashes the referral states for the file (a difference is refused: these are not that
    file's media); kept, sealed, only where the deployment keeps media, else discarded.

    One transaction, audited as ``media.attach`` with what became of the media."""
    from tipwatch.media.hashing import sniff_kind
    from tipwatch.media.sealed import browser_type, seal
    from tipwatch.services.referrals import require_visible
    from tipwatch.store.media import KeptMedia, file_exists, put_kept

    require(store, actor, "media.attach", object_type="file")  # before reading anything
    settings = get_settings()
    where = f"media of file {file_id!r} of referral {report_id!r}"
    limit = settings.api_max_upload_bytes
    try:
        size = path.stat().st_size
        if size > limit:
            raise InputError(f"{where}: {size:,} bytes, over the limit of {limit:,} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{where}: {path} cannot be read: {exc.strerror or exc}") from None
    kind = sniff_kind(data[:64])
    if kind is None:
        raise InputError(f"{where}: {path.name} is not an image or a video")
    hashes = {
        "md5": hashlib.md5(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    key = _key() if settings.media_keep else None
    with unit(
        store, actor, "media.attach", object_type="file", object_ids=[report_id, file_id]
    ) as work:
        conn = work.conn
        assert conn is not None
        require_visible(store, actor, [report_id])
        stated = file_exists(conn, report_id, file_id)
        if stated is None:
            raise NotFoundError(f"referral {report_id!r} has no file {file_id!r}")
        for algorithm in _HASHES:
            said = stated.get(algorithm)
            if said and said.lower() != hashes[algorithm]:
                raise InputError(
                    f"{where}: their {algorithm} is {hashes[algorithm]}, but the referral "
                    f"states {said}",
                    hint="hand in the file the referral describes",
                )
        if key is None:
            work.detail = f"{kind}, {len(data):,} bytes: hashed and discarded; not stored"
        else:
            sealed = seal(key, data, report_id=report_id, file_id=file_id)
            put_kept(
                conn,
                KeptMedia(
                    report_id=report_id,
                    file_id=file_id,
                    kind=kind,
                    media_type=browser_type(data[:64], kind),
                    size=len(data),
                    sha256=hashes["sha256"],
                    key_id=sealed.key_id,
                    nonce=sealed.nonce,
                    ciphertext=sealed.ciphertext,
                    kept_at=datetime.now(UTC).replace(tzinfo=None),
                    kept_by=actor.name,
                ),
            )
            work.detail = (
                f"{kind}, {len(data):,} bytes: kept, encrypted at rest (key {sealed.key_id})"
            )
    return AttachedMedia(report_id, file_id, kind, len(data), hashes, key is not None)


def _legal(conn: Connection, report_id: str, config: TriageConfig) -> dict[str, str]:
    """``file id -> legal-viewing status`` under the referral's jurisdiction's rule."""
    from sqlalchemy import select

    from tipwatch.store.schema import attributions
    from tipwatch.triage.queries import _legal_statuses

    country = conn.execute(
        select(attributions.c.country).where(attributions.c.report_id == report_id)
    ).scalar_one_or_none()
    if country == "unknown":
        country = None  # as the dossier reads it: the default rule
    # On the unit's own connection, as the dossier reads it (the same rule, one snapshot).
    return _legal_statuses(conn, {report_id: country}, config).get(report_id, {})


def _needs_legal_process(status: str | None) -> bool:
    from tipwatch.triage.queries import MAY_BE_VIEWED

    # Fail closed: only a file whose status is "may be viewed" is ever offered.
    return status != MAY_BE_VIEWED


def kept_for_dossier(
    store: Store, actor: Actor, report_id: str, *, config: TriageConfig
) -> DossierMedia:
    """Which files of a referral have kept media the reviewer may be offered (and which are
    withheld as needing legal process), with the reviewer's exposures today. Audited as
    ``media.view`` (no media are read)."""
    from tipwatch.services.referrals import require_visible
    from tipwatch.store.media import count_actions, kept_files

    with unit(
        store,
        actor,
        "media.view",
        object_type="referral",
        object_ids=[report_id],
        writes=False,
    ) as work:
        conn = work.conn
        assert conn is not None
        require_visible(store, actor, [report_id])
        kept = kept_files(conn, [report_id])
        legal = _legal(conn, report_id, config) if kept else {}
        viewable: dict[str, str] = {}
        withheld: list[str] = []
        for (_, file_id), row in sorted(kept.items()):
            if _needs_legal_process(legal.get(file_id)):
                withheld.append(file_id)
            else:
                viewable[file_id] = row["kind"]
        exposures = count_actions(conn, actor.name, "media.reveal", _day_start())
        work.detail = f"{len(viewable)} kept media offered, {len(withheld)} withheld (legal)"
    return DossierMedia(viewable, tuple(withheld), exposures)


def _open(
    conn: Connection,
    actor: Actor,
    store: Store,
    report_id: str,
    file_id: str,
    config: TriageConfig,
) -> MediaContent:
    from tipwatch.media.sealed import MediaKeyError, SealedMedia, open_sealed
    from tipwatch.services.referrals import require_visible
    from tipwatch.store.media import get_kept

    require_visible(store, actor, [report_id])
    kept = get_kept(conn, report_id, file_id)
    if kept is None:
        raise NotFoundError(f"no kept media for file {file_id!r} of referral {report_id!r}")
    if _needs_legal_process(_legal(conn, report_id, config).get(file_id)):
        raise AccessDenied(
            actor.name,
            actor.role.value,
            "media.view",
            what=f"view file {file_id!r} of referral {report_id!r}: it needs legal process "
            "before viewing",
            hint="obtain the legal process the file's jurisdiction requires",
        )
    key = _key()
    try:
        data = open_sealed(
            key,
            SealedMedia(kept.nonce, kept.ciphertext, kept.key_id),
            report_id=report_id,
            file_id=file_id,
        )
    except MediaKeyError as exc:
        raise ConfigError(
            f"kept media of file {file_id!r} of referral {report_id!r}: {exc}"
        ) from None
    return MediaContent(kept.kind, kept.media_type, data)


def media_content(
    store: Store, actor: Actor, report_id: str, file_id: str, *, config: TriageConfig
) -> MediaContent:
    """A kept medium's bytes, for a reviewer, to be shown greyscale and blurred until
    revealed. Refused for every other role, for a file that needs legal process before
    viewing, and where no media were kept. Audited as ``media.view``."""
    with unit(
        store,
        actor,
        "media.view",
        object_type="file",
        object_ids=[report_id, file_id],
        writes=False,
    ) as work:
        assert work.conn is not None
        content = _open(work.conn, actor, store, report_id, file_id, config)
        work.detail = f"{content.kind} served blurred"
    return content


def reveal_media(
    store: Store, actor: Actor, report_id: str, file_id: str, *, config: TriageConfig
) -> int:
    """A reviewer reveals a kept medium in full: audited as ``media.reveal``, and counted.
    Returns the reviewer's exposures today (UTC), this one included. Refused as
    :func:`media_content` refuses."""
    from tipwatch.store.media import count_actions

    with unit(
        store, actor, "media.reveal", object_type="file", object_ids=[report_id, file_id]
    ) as work:
        assert work.conn is not None
        content = _open(work.conn, actor, store, report_id, file_id, config)
        before = count_actions(work.conn, actor.name, "media.reveal", _day_start())
        work.detail = f"{content.kind} revealed; exposure {before + 1} today"
    return before + 1


def exposures_today(store: Store, actor: Actor) -> int:
    """The media ``actor`` revealed today (UTC), from the audit log; 0 for a role that
    cannot reveal media."""
    from tipwatch.services.access import may
    from tipwatch.store.media import count_actions

    if not may(actor, "media.reveal"):
        return 0
    with store.read() as conn:
        return count_actions(conn, actor.name, "media.reveal", _day_start())
