"""StopNCII.org's hash API (JSON over HTTPS; a subscription key and a key per function).

``GET {base}/FetchHashes?startTimestamp=..&pageSize=..[&nextPageToken=..]`` answers
``{count, hashRecords, nextPageToken, hasMoreRecords, nextSetTimestamp}``. A record is the
current state of one hash (``signalType``, ``hashValue``, ``hashStatus``, ``caseNumbers``,
``CSPFeedbacks``, ``lastModtimestamp``); a hash whose status is ``Withdrawn`` or ``Deleted``
must be removed. While ``hasMoreRecords``, the checkpoint keeps its start and names the next
page; once the pages are exhausted it moves to ``nextSetTimestamp``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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

__all__ = ["DEFAULT_BASE_URL", "StopnciiConnector"]

DEFAULT_BASE_URL = "https://api.stopncii.org/v1"
_ALGORITHMS = {"ImagePDQ": "pdq", "VideoMD5": "md5"}
_REMOVED = frozenset({"Withdrawn", "Deleted"})
VOTES = ("Blocked", "NotBlocked", "PendingReview", "QualityUnknown", "None")
"""The feedback a platform may give StopNCII on a hash."""


def _epoch_time(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


class StopnciiConnector:
    """Reads StopNCII's hashes. Settings: ``base_url``, ``page_size`` (default 800),
    ``start`` (a Unix time; default: everything)."""

    kind = "stopncii"

    def __init__(
        self,
        config: Mapping[str, Any],
        credentials: Mapping[str, str],
        *,
        retry: RetryPolicy | None = None,
    ) -> None:
        subscription = credentials.get("subscription_key")
        fetch_key = credentials.get("fetch_key")
        if not subscription or not fetch_key:
            raise ConfigError(
                "the StopNCII connector needs a subscription key and a FetchHashes key",
                hint="set stopncii_subscription_key and stopncii_fetch_key",
            )
        base_url = str(config.get("base_url") or DEFAULT_BASE_URL)
        self.page_size = int(config.get("page_size", 800))
        self.start = int(config.get("start", 0))
        self.http = HttpClient(
            "StopNCII",
            base_url,
            headers={"Ocp-Apim-Subscription-Key": subscription, "x-functions-key": fetch_key},
            retry=retry,
            timeout=float(config.get("timeout", 60)),
        )
        feedback_key = credentials.get("feedback_key")
        self.feedback = (
            HttpClient(
                "StopNCII",
                base_url,
                headers={
                    "Ocp-Apim-Subscription-Key": subscription,
                    "x-functions-key": feedback_key,
                },
                retry=retry,
            )
            if feedback_key
            else None
        )

    def position(self, checkpoint: Checkpoint) -> tuple[Any, ...]:
        return (int(checkpoint.get("start", 0)), int(checkpoint.get("page", 0)))

    def fetch(self, checkpoint: Checkpoint | None) -> Batch:
        state = dict(checkpoint or {"start": self.start, "token": None, "page": 0})
        params: dict[str, Any] = {"startTimestamp": state["start"], "pageSize": self.page_size}
        if state.get("token"):
            params["nextPageToken"] = state["token"]
        answer = self.http.read("/FetchHashes", read_json, params)
        if not isinstance(answer, dict) or not isinstance(answer.get("hashRecords"), list):
            raise ValueError("a FetchHashes answer needs a hashRecords list")
        upserts: list[ExchangeEntry] = []
        tombstones: list[Tombstone] = []
        problems: list[tuple[str, str]] = []
        for i, record in enumerate(answer["hashRecords"]):
            if not isinstance(record, dict):
                problems.append((f"record {i}", "not an object"))
                continue
            signal = str(record.get("signalType", ""))
            value = str(record.get("hashValue", ""))
            key = f"{signal}:{value}"
            when = _epoch_time(record.get("lastModtimestamp"))
            if record.get("hashStatus") in _REMOVED:
                tombstones.append(Tombstone(key, when))
                continue
            algorithm = _ALGORITHMS.get(signal)
            if algorithm is None:
                problems.append(
                    (f"hash {key[:80]}", f"{signal or 'no'} signal type is not matched")
                )
                continue
            try:
                normalised = normalise_hash_value(algorithm, value)
            except ValueError as exc:
                problems.append((f"hash {key[:80]}", str(exc)))
                continue
            extra = {
                "source": "stopncii",
                "signal_type": signal,
                "status": record.get("hashStatus"),
                "cases": record.get("caseNumbers") or {},
                "feedback": record.get("CSPFeedbacks") or [],
                "last_modified": record.get("lastModtimestamp"),
            }
            upserts.append(ExchangeEntry(key, {algorithm: normalised}, None, when, extra))
        more = bool(answer.get("hasMoreRecords"))
        following: Checkpoint
        if more:
            following = {
                "start": state["start"],
                "token": answer.get("nextPageToken"),
                "page": int(state.get("page", 0)) + 1,
            }
        else:
            following = {
                "start": max(int(state["start"]), int(answer.get("nextSetTimestamp") or 0)),
                "token": None,
                "page": 0,
            }
        return Batch(upserts, tombstones, following, more=more, problems=problems)

    def send_vote(self, entry: Mapping[str, Any], vote: str, reason: str | None) -> str:
        if self.feedback is None:
            raise ConfigError(
                "sending feedback to StopNCII needs its SubmitFeedback key",
                hint="set stopncii_feedback_key",
            )
        if vote not in VOTES:
            raise ConfigError(f"StopNCII feedback is one of {', '.join(VOTES)}, not {vote!r}")
        value = str(entry["entry_key"]).split(":", 1)[-1]
        body = {
            "count": 1,
            "hashFeedbacks": [
                {"hashValue": value, "feedbackValue": vote, "tags": [reason] if reason else []}
            ],
        }
        return self.feedback.send(
            "POST", "/SubmitFeedback", json.dumps(body).encode(), "application/json"
        )
