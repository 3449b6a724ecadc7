"""Jobs: long work (ingest of a large body, triage, an assessment) run outside a request.

A job is a row any process can read: its kind, owner, status (``queued``, ``running``,
``done``, ``failed``), the stage it is in and how far it has got, and its result (JSON) or
error. Progress is written in short transactions of its own, at most every half second.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update

from tipwatch.errors import NotFoundError
from tipwatch.store.database import Store
from tipwatch.store.schema import jobs

__all__ = ["JOB_STATUSES", "Progress", "create_job", "finish_job", "get_job"]

JOB_STATUSES = ("queued", "running", "done", "failed")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def create_job(store: Store, kind: str, owner: str) -> str:
    job_id = str(uuid.uuid4())
    with store.atomic() as conn:
        conn.execute(
            insert(jobs).values(
                id=job_id,
                kind=kind,
                owner=owner,
                status="queued",
                stage=None,
                done=0,
                total=0,
                result=None,
                error=None,
                created_at=_now(),
                finished_at=None,
            )
        )
    return job_id


class Progress:
    """The progress callback of a job: ``(stage, done, total)``, written to the store."""

    def __init__(self, store: Store, job_id: str, *, every: float = 0.5) -> None:
        self.store = store
        self.job_id = job_id
        self.every = every
        self._last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last < self.every and done < total:
            return
        self._last = now
        with self.store.atomic() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.id == self.job_id)
                .values(status="running", stage=stage[-500:], done=done, total=total)
            )


def finish_job(store: Store, job_id: str, *, result: Any = None, error: str | None = None) -> None:
    with store.atomic() as conn:
        conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(
                status="failed" if error is not None else "done",
                result=None if result is None else json.dumps(result, default=str),
                error=error,
                finished_at=_now(),
            )
        )


def get_job(store: Store, job_id: str) -> dict[str, Any]:
    with store.read() as conn:
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
    if row is None:
        raise NotFoundError(f"no job {job_id!r}")
    return {
        "id": row.id,
        "kind": row.kind,
        "owner": row.owner,
        "status": row.status,
        "stage": row.stage,
        "done": row.done,
        "total": row.total,
        "result": json.loads(row.result) if row.result else None,
        "error": row.error,
        "created_at": row.created_at,
        "finished_at": row.finished_at,
    }
