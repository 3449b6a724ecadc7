"""Hash lists fed by the field's exchanges: NCMEC hash sharing, StopNCII, ThreatExchange.

Each exchange has a *connector* with one interface, ``fetch(checkpoint) -> Batch`` (upserts,
tombstones, the next checkpoint); :func:`sync_list` applies batches with their checkpoints,
one transaction each. Credentials reach a connector as arguments (from the settings), never
stored with the list and never shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tipwatch.errors import ConfigError
from tipwatch.matching.exchanges.base import (
    Batch,
    Checkpoint,
    Connector,
    ExchangeEntry,
    RetryPolicy,
    Tombstone,
)
from tipwatch.matching.exchanges.sync import (
    SyncSummary,
    configure_list,
    due_lists,
    list_connector,
    sync_health,
    sync_list,
)

__all__ = [
    "CONNECTORS",
    "Batch",
    "Checkpoint",
    "Connector",
    "ExchangeEntry",
    "RetryPolicy",
    "SyncSummary",
    "Tombstone",
    "configure_list",
    "due_lists",
    "list_connector",
    "make_connector",
    "sync_health",
    "sync_list",
]

CONNECTORS = ("ncmec", "stopncii", "threatexchange", "file")
"""The exchanges tipwatch reads (``file``: a list file at a fixed place, read whole)."""


def make_connector(
    kind: str,
    config: Mapping[str, Any],
    credentials: Mapping[str, str],
    *,
    retry: RetryPolicy | None = None,
    now: Callable[[], float] | None = None,
) -> Connector:
    """The connector ``kind`` with its settings and credentials."""
    extra: dict[str, Any] = {} if now is None else {"now": now}
    if kind == "ncmec":
        from tipwatch.matching.exchanges.ncmec import NcmecConnector

        return NcmecConnector(config, credentials, retry=retry, **extra)
    if kind == "stopncii":
        from tipwatch.matching.exchanges.stopncii import StopnciiConnector

        return StopnciiConnector(config, credentials, retry=retry)
    if kind == "threatexchange":
        from tipwatch.matching.exchanges.threatexchange import ThreatExchangeConnector

        return ThreatExchangeConnector(config, credentials, retry=retry, **extra)
    if kind == "file":
        from tipwatch.matching.exchanges.files import FileConnector

        return FileConnector(config, credentials)
    raise ConfigError(f"unknown exchange {kind!r}; the exchanges are {', '.join(CONNECTORS)}")
