"""The demo service: the whole pipeline on an invented, calibrated world.

The demo drives the other services as an analyst would (as its own actor), so the store it
leaves carries a full audit log; this service authorises the run and records who ran it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tipwatch.services._unit import unit
from tipwatch.services.access import Actor, Role, authorise
from tipwatch.store import Store

if TYPE_CHECKING:
    from tipwatch.demo import SampleDemo
    from tipwatch.demo.run import DemoReport

__all__ = ["WORKSPACE_USER", "add_workspace_account", "run_demo", "run_sample_demo"]

WORKSPACE_USER = "analyst"
"""The workspace account the demo adds to its store."""


def _record(db_path: Path, actor: Actor, detail: str) -> None:
    store = Store.open(str(db_path))
    try:
        with unit(store, actor, "demo.run", object_type="store", object_ids=[str(db_path)]) as w:
            w.detail = detail
    finally:
        store.close()


def run_demo(
    actor: Actor, out: Path, *, scale: float = 0.05, seed: int = 7, progress: Any = None
) -> DemoReport:
    """Generate the world into ``out`` (made afresh), run tipwatch on it, compare with truth."""
    from tipwatch.demo.run import run_demo as _run

    authorise(actor, "demo.run")
    report = _run(out, scale=scale, seed=seed, progress=progress)
    _record(out / "tipwatch.db", actor, f"scale {scale:g}, seed {seed}")
    return report


def run_sample_demo(actor: Actor, out: Path) -> SampleDemo:
    """Ingest the bundled samples into ``out/tipwatch.db`` (made afresh)."""
    from tipwatch.demo import run_sample_demo as _run

    authorise(actor, "demo.run")
    result = _run(out)
    _record(result.db_path, actor, "the bundled samples")
    return result


def add_workspace_account(actor: Actor, db_path: Path) -> tuple[str, str]:
    """Add an analyst account to the demo's store, to sign in to the workspace with after
    ``tipwatch serve``: its name and a new random password (returned this once; only its
    hash is stored). No second factor: the analyst role does not require one."""
    import secrets

    from tipwatch.services.identity import add_user

    authorise(actor, "demo.run")
    password = secrets.token_urlsafe(15)
    store = Store.open(str(db_path))
    try:
        # The demo's own administrator adds it, as it ran the rest of the demo's work.
        add_user(store, Actor("tipwatch-demo", Role.ADMIN), WORKSPACE_USER, "analyst", password)
    finally:
        store.close()
    return WORKSPACE_USER, password
