"""Kept media (sealed bytes tied to a referral's file) and a reviewer's exposures.

Only a deployment that keeps media writes here; the bytes arrive sealed
(:mod:`tipwatch.media.sealed`) and leave sealed. A reviewer's exposures are the audit log's
own entries of revealing media (``media.reveal``): the log is already the append-only
record of each view, so the count cannot disagree with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select

from tipwatch.store.schema import audit_events, kept_media, referral_files

__all__ = [
    "KeptMedia",
    "count_actions",
    "file_exists",
    "get_kept",
    "kept_files",
    "put_kept",
]


@dataclass(frozen=True, slots=True)
class KeptMedia:
    """One kept medium's row (the bytes still sealed)."""

    report_id: str
    file_id: str
    kind: str
    media_type: str
    size: int
    sha256: str
    key_id: str
    nonce: bytes
    ciphertext: bytes
    kept_at: datetime
    kept_by: str


def file_exists(conn: Connection, report_id: str, file_id: str) -> dict[str, str | None] | None:
    """The stored file's stated hashes and legal flags (``None``: no such file)."""
    f = referral_files.c
    row = conn.execute(
        select(f.md5, f.sha1, f.sha256, f.viewed_by_service, f.publicly_available).where(
            f.report_id == report_id, f.file_id == file_id
        )
    ).first()
    return None if row is None else dict(row._mapping)


def put_kept(conn: Connection, row: KeptMedia) -> None:
    """Keep ``row``, replacing what was kept for the same file."""
    k = kept_media.c
    conn.execute(delete(kept_media).where(k.report_id == row.report_id, k.file_id == row.file_id))
    conn.execute(
        insert(kept_media).values(
            report_id=row.report_id,
            file_id=row.file_id,
            kind=row.kind,
            media_type=row.media_type,
            size=row.size,
            sha256=row.sha256,
            key_id=row.key_id,
            nonce=row.nonce,
            ciphertext=row.ciphertext,
            kept_at=row.kept_at,
            kept_by=row.kept_by,
        )
    )


def get_kept(conn: Connection, report_id: str, file_id: str) -> KeptMedia | None:
    """The kept medium of a referral's file, sealed (``None``: none kept)."""
    k = kept_media.c
    row = conn.execute(
        select(kept_media).where(k.report_id == report_id, k.file_id == file_id)
    ).first()
    if row is None:
        return None
    m = row._mapping
    return KeptMedia(
        report_id=m["report_id"],
        file_id=m["file_id"],
        kind=m["kind"],
        media_type=m["media_type"],
        size=int(m["size"]),
        sha256=m["sha256"],
        key_id=m["key_id"],
        nonce=bytes(m["nonce"]),
        ciphertext=bytes(m["ciphertext"]),
        kept_at=m["kept_at"],
        kept_by=m["kept_by"],
    )


def kept_files(
    conn: Connection, report_ids: Sequence[str]
) -> dict[tuple[str, str], dict[str, str]]:
    """``(report id, file id) -> kind and media type`` of the files with media kept (the
    bytes are not read)."""
    k = kept_media.c
    if not report_ids:
        return {}
    return {
        (r.report_id, r.file_id): {"kind": r.kind, "media_type": r.media_type}
        for r in conn.execute(
            select(k.report_id, k.file_id, k.kind, k.media_type).where(
                k.report_id.in_(list(report_ids))
            )
        )
    }


def count_actions(conn: Connection, actor: str, action: str, since: datetime) -> int:
    """How many times ``actor`` performed ``action`` successfully since ``since`` (UTC, naive)
    by the audit log."""
    c = audit_events.c
    return int(
        conn.execute(
            select(func.count()).where(
                c.actor == actor, c.action == action, c.outcome == "ok", c.at >= since
            )
        ).scalar_one()
    )
