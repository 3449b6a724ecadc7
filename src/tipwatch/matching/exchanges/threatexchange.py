"""Meta's ThreatExchange: ``/{privacy group}/threat_updates`` (JSON, an access token).

``GET {base}/{group}/threat_updates?start_time=..&stop_time=..&limit=..&fields=..`` answers
``{data: [...], paging: {next}}``; each update has ``id``, ``indicator``, ``type``,
``last_updated`` and ``should_delete`` (a deletion). ThreatExchange keeps deletion records for
90 days: a checkpoint whose last complete window is older than 85 days can no longer be
trusted to see every deletion, so the connector starts a full resync (from time 0) and, once
it is complete, the sync retires every entry the resync did not see.

The access token travels as a query value; it is never stored in the checkpoint (the ``next``
links are kept without it) and never shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from tipwatch.errors import ConfigError
from tipwatch.matching.exchanges.base import (
    Batch,
    Checkpoint,
    ExchangeEntry,
    HttpClient,
    RetryPolicy,
    Tombstone,
    read_json,
)
from tipwatch.models import normalise_hash_value

__all__ = ["DEFAULT_BASE_URL", "RESYNC_AFTER_SECONDS", "ThreatExchangeConnector"]

DEFAULT_BASE_URL = "https://graph.facebook.com/v18.0"
RESYNC_AFTER_SECONDS = 85 * 24 * 3600
"""A checkpoint older than this (deletions are kept 90 days) starts a full resync."""
_ALGORITHMS = {
    "HASH_PDQ": "pdq",
    "HASH_MD5": "md5",
    "HASH_SHA1": "sha1",
    "HASH_SHA256": "sha256",
    "HASH_VIDEO_MD5": "md5",
}
_FIELDS = "id,indicator,type,last_updated,should_delete,tags,status,applications_with_opinions"
REACTIONS = ("HELPFUL", "NOT_HELPFUL", "OUTDATED", "SAW_THIS_TOO", "WANT_MORE_INFO")


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(int(value), UTC).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError, OSError):
        pass
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


class ThreatExchangeConnector:
    """Reads one ThreatExchange privacy group. Settings: ``privacy_group`` (required),
    ``base_url`` (with the Graph API version), ``page_size`` (default 500)."""

    kind = "threatexchange"

    def __init__(
        self,
        config: Mapping[str, Any],
        credentials: Mapping[str, str],
        *,
        retry: RetryPolicy | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        token = credentials.get("access_token")
        if not token:
            raise ConfigError(
                "the ThreatExchange connector needs an access token",
                hint="set threatexchange_access_token",
            )
        group = str(config.get("privacy_group") or "")
        if not group.isdigit():
            raise ConfigError("the ThreatExchange connector needs its privacy_group (a number)")
        self.group = group
        self.page_size = int(config.get("page_size", 500))
        self.http = HttpClient(
            "ThreatExchange",
            str(config.get("base_url") or DEFAULT_BASE_URL),
            secret_params={"access_token": token},
            retry=retry,
            timeout=float(config.get("timeout", 60)),
        )
        self.now = now

    def position(self, checkpoint: Checkpoint) -> tuple[Any, ...]:
        return (
            int(checkpoint.get("generation", 0)),
            int(checkpoint.get("start", 0)),
            int(checkpoint.get("page", 0)),
        )

    def fetch(self, checkpoint: Checkpoint | None) -> Batch:
        now = int(self.now())
        state: Checkpoint = dict(
            checkpoint
            or {"generation": 0, "start": 0, "stop": None, "next": None, "page": 0, "done_at": 0}
        )
        resync = False
        if (
            checkpoint is not None
            and not state.get("next")
            and now - int(state.get("done_at") or 0) > RESYNC_AFTER_SECONDS
        ):
            # Deletions older than 90 days are gone from the source: start again from 0.
            state = {
                "generation": int(state.get("generation", 0)) + 1,
                "start": 0,
                "stop": None,
                "next": None,
                "page": 0,
                "done_at": int(state.get("done_at") or 0),
                "resync_since": now,
            }
            resync = True
        if state.get("next"):
            stop = int(state["stop"])
            answer = self.http.read(str(state["next"]), read_json)
        else:
            stop = max(now, int(state["start"]) + 1)
            answer = self.http.read(
                f"/{self.group}/threat_updates",
                read_json,
                {
                    "start_time": state["start"],
                    "stop_time": stop,
                    "limit": self.page_size,
                    "fields": _FIELDS,
                },
            )
        if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
            raise ValueError("a threat_updates answer needs a data list")
        upserts: list[ExchangeEntry] = []
        tombstones: list[Tombstone] = []
        problems: list[tuple[str, str]] = []
        for i, update in enumerate(answer["data"]):
            if not isinstance(update, dict) or "id" not in update:
                problems.append((f"update {i}", "needs an id"))
                continue
            key = str(update["id"])
            when = _when(update.get("last_updated"))
            if update.get("should_delete"):
                tombstones.append(Tombstone(key, when))
                continue
            kind = str(update.get("type", ""))
            algorithm = _ALGORITHMS.get(kind)
            if algorithm is None:
                problems.append((f"update {key}", f"{kind or 'no'} type is not matched"))
                continue
            try:
                value = normalise_hash_value(algorithm, str(update.get("indicator", "")))
            except ValueError as exc:
                problems.append((f"update {key}", str(exc)))
                continue
            extra = {
                "source": "threatexchange",
                "type": kind,
                "tags": update.get("tags") or [],
                "status": update.get("status"),
                "opinions": update.get("applications_with_opinions") or [],
                "last_updated": update.get("last_updated"),
            }
            upserts.append(ExchangeEntry(key, {algorithm: value}, None, when, extra))
        following: Checkpoint = {k: v for k, v in state.items()}
        following["stop"] = stop
        next_link = (answer.get("paging") or {}).get("next")
        complete = False
        if next_link:
            following["next"] = self.http.public(str(next_link))
            following["page"] = int(state.get("page", 0)) + 1
        else:
            complete = "resync_since" in state
            following = {
                "generation": int(state.get("generation", 0)),
                "start": stop,
                "stop": None,
                "next": None,
                "page": 0,
                "done_at": now,
            }
        batch = Batch(
            upserts,
            tombstones,
            following,
            more=bool(next_link),
            resync=resync,
            complete=complete,
            problems=problems,
        )
        if complete:
            batch.resync_since = _when(state["resync_since"])
        return batch

    def send_vote(self, entry: Mapping[str, Any], vote: str, reason: str | None) -> str:
        if vote not in REACTIONS:
            raise ConfigError(f"a ThreatExchange reaction is one of {', '.join(REACTIONS)}")
        return self.http.send(
            "POST",
            f"/{entry['entry_key']}/reactions",
            f"reactions={vote}".encode(),
            "application/x-www-form-urlencoded",
        )
