"""Jobs: long work started by the REST API runs in the server process, outside the request;
the client follows it at ``/api/v1/jobs/{id}``.

:func:`submit` records a queued job and runs ``work`` on one of the process's job threads
(the ``api_job_workers`` setting). ``work`` is a service call made with the same actor, so it
is authorised and audited like any other; it receives a progress callback ``(stage, done,
total)`` and returns what the job's result is (JSON-able).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from tipwatch.services._unit import unit
from tipwatch.services.access import Actor, Role, authorise
from tipwatch.settings import get_settings
from tipwatch.store import Store

__all__ = ["JobWork", "get_job", "shutdown", "submit"]

JobWork = Callable[[Callable[[str, int, int], None]], Any]

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=get_settings().api_job_workers, thread_name_prefix="tipwatch-job"
            )
        return _executor


def submit(store: Store, actor: Actor, kind: str, action: str, work: JobWork) -> str:
    """Record a job and start ``work``; returns the job's id at once.

    ``action`` is checked before anything is recorded, so a job the actor may not run is
    refused at once rather than failing later."""
    from tipwatch.workflow.jobs import Progress, create_job, finish_job

    authorise(actor, action)
    job_id = create_job(store, kind, actor.name)
    progress = Progress(store, job_id)

    def run() -> None:
        try:
            result = work(progress)
        except Exception as exc:
            finish_job(store, job_id, error=str(exc) or type(exc).__name__)
            return
        finish_job(store, job_id, result=result)

    future: Future[None] = _pool().submit(run)
    del future
    return job_id


def get_job(store: Store, actor: Actor, job_id: str) -> dict[str, Any]:
    """A job's status and progress; only its owner (or an administrator) sees it."""
    from tipwatch.errors import NotFoundError
    from tipwatch.workflow.jobs import get_job as _get

    with unit(store, actor, "job.read", object_type="job", object_ids=[job_id], writes=False):
        job = _get(store, job_id)
        if job["owner"] != actor.name and actor.role is not Role.ADMIN:
            raise NotFoundError(f"no job {job_id!r}")
        return job


def shutdown(wait: bool = True) -> None:
    """Stop the job threads: jobs not begun are dropped (their rows stay ``queued``), running
    ones are waited for when ``wait``."""
    global _executor
    with _lock:
        if _executor is not None:
            _executor.shutdown(wait=wait, cancel_futures=True)
            _executor = None
