"""Opening and creating stores."""

from __future__ import annotations

from tipwatch.services._unit import unit
from tipwatch.services.access import Actor
from tipwatch.settings import get_settings
from tipwatch.store import Store

__all__ = ["init_store", "open_store"]


def open_store(url: str, *, create: bool = False) -> Store:
    """Open the store at ``url`` (an SQLite path or a database URL).

    An SQLite file that does not exist is refused unless ``create``: a mistyped path must not
    answer "empty" from a new, empty store.
    """
    return Store.open(url, create=create, busy_timeout=get_settings().store_busy_timeout)


def init_store(url: str, actor: Actor) -> Store:
    """Create (or bring up to date) the store at ``url``; the creation is audited."""
    store = Store.open(url, create=True, busy_timeout=get_settings().store_busy_timeout)
    with unit(store, actor, "store.init", object_type="store", object_ids=[store.url]):
        pass
    return store
