"""What every exchange connector shares: the entry and batch types, the interface, and an HTTP
client that retries reads (and only reads) and never shows a credential.

A connector has one job: ``fetch(checkpoint) -> Batch``, where a batch holds the entries the
source added or changed (*upserts*), the entry keys it deleted (*tombstones*), and the
checkpoint to pass to the next call. The checkpoint is a JSON object only the connector reads;
:func:`position` orders checkpoints so that the sync can refuse one that would move back.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, Protocol, TypeVar

from tipwatch.errors import ExchangeError

__all__ = [
    "Batch",
    "Checkpoint",
    "Connector",
    "ExchangeEntry",
    "HttpClient",
    "RetryPolicy",
    "Tombstone",
    "redact",
]

T = TypeVar("T")

Checkpoint = dict[str, Any]
"""A connector's checkpoint: a JSON object (the sync stores it as text)."""


@dataclass(slots=True)
class ExchangeEntry:
    """One entry of an exchange as it stands now: every hash it carries and all it says.

    ``key`` is the source's id for the entry; ``hashes`` maps each algorithm to its value
    (``PhotoDNA`` kept verbatim); ``extra`` keeps everything else the entry carries
    (classification, categorisations, submitting member, votes, the large fingerprints it
    names but that are fetched on demand).
    """

    key: str
    hashes: dict[str, str]
    category: str | None = None
    time: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Tombstone:
    """The source deleted the entry ``key`` (at ``time`` when it says)."""

    key: str
    time: datetime | None = None


@dataclass(slots=True)
class Batch:
    """One fetch: the changes, the checkpoint after them, and whether the source has more now.

    ``resync`` marks the first batch of a full resync: once a later batch says ``complete``,
    every entry the resync did not see is retired. ``problems`` are records of the batch that
    could not be read (reported, not applied)."""

    upserts: list[ExchangeEntry]
    tombstones: list[Tombstone]
    checkpoint: Checkpoint
    more: bool
    resync: bool = False
    complete: bool = False
    problems: list[tuple[str, str]] = field(default_factory=list)
    resync_since: datetime | None = None
    """With ``complete``: when the resync began (entries not seen since are retired)."""


class Connector(Protocol):
    """A hash exchange, read through one call."""

    kind: str

    def fetch(self, checkpoint: Checkpoint | None) -> Batch:
        """The changes after ``checkpoint`` (``None``: from the beginning)."""
        ...

    def position(self, checkpoint: Checkpoint) -> tuple[Any, ...]:
        """Where a checkpoint stands: later checkpoints compare greater or equal."""
        ...

    def send_vote(self, entry: Mapping[str, Any], vote: str, reason: str | None) -> str:
        """Send a vote on an entry back to the source; returns what it answered."""
        ...


@dataclass
class RetryPolicy:
    """How reads are retried: on HTTP 429 and 5xx, a cut connection or a truncated answer;
    ``attempts`` in all, waiting ``backoff`` seconds and doubling (at most ``max_wait``, or
    what ``Retry-After`` asks if that is less than ``max_wait``)."""

    attempts: int = 6
    backoff: float = 0.5
    max_wait: float = 30.0
    sleep: Callable[[float], None] = time.sleep


_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def redact(url: str, secrets: Mapping[str, str] = {}) -> str:
    """``url`` fit for a message: no user information, secret query values replaced."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    hidden = [(k, "***" if k in secrets or "token" in k.lower() else v) for k, v in query]
    return urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path, urllib.parse.urlencode(hidden), "")
    )


class _Unreadable(Exception):
    """An answer that ended early or cannot be parsed (retried like a cut connection)."""


class HttpClient:
    """GET with retries and POST/PUT without, against one exchange.

    Credentials travel as headers (``headers``, ``basic_auth``) or query values
    (``secret_params``, added to every request and never stored in a URL this client hands
    back); messages show URLs through :func:`redact`.
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        basic_auth: tuple[str, str] | None = None,
        secret_params: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._headers = dict(headers or {})
        if basic_auth is not None:
            token = base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._secret_params = dict(secret_params or {})
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.requests = 0
        """Requests made (each attempt counts), for tests and benchmarks."""

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """An absolute URL from a path (or a URL of the same exchange) and parameters, with
        the secret parameters added."""
        if path.startswith(("http://", "https://")):
            url = path
        else:
            url = self.base_url + (path if path.startswith("/") else "/" + path)
        parts = urllib.parse.urlsplit(url)
        query = [
            (k, v)
            for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
            if k not in self._secret_params
        ]
        query += [(k, str(v)) for k, v in (params or {}).items() if v is not None]
        query += list(self._secret_params.items())
        return urllib.parse.urlunsplit(
            (parts.scheme, parts.netloc, parts.path, urllib.parse.urlencode(query), "")
        )

    def public(self, url: str) -> str:
        """``url`` without the secret parameters (to store it in a checkpoint)."""
        parts = urllib.parse.urlsplit(url)
        query = [
            (k, v)
            for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
            if k not in self._secret_params
        ]
        return urllib.parse.urlunsplit(
            (parts.scheme, parts.netloc, parts.path, urllib.parse.urlencode(query), "")
        )

    def read(
        self,
        path: str,
        parse: Callable[[IO[bytes]], T],
        params: Mapping[str, Any] | None = None,
    ) -> T:
        """GET ``path`` and ``parse`` the answer as it streams in; retried as the policy says.

        ``parse`` reads the response (a stream); it raises ``ValueError`` (or lxml's error) on
        an answer that ends early or cannot be read, which is retried like a cut connection,
        the whole request again."""
        url = self.url(path, params)
        shown = redact(url, self._secret_params)
        wait = self.retry.backoff
        last = ""
        for attempt in range(1, self.retry.attempts + 1):
            retry_after: float | None = None
            try:
                self.requests += 1
                request = urllib.request.Request(url, headers=self._headers, method="GET")
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    try:
                        return parse(response)
                    except (ValueError, _Unreadable, http.client.HTTPException) as exc:
                        raise _Unreadable(str(exc)) from exc
                    except Exception as exc:
                        if type(exc).__module__.startswith("lxml"):
                            raise _Unreadable(str(exc)) from exc
                        raise
            except urllib.error.HTTPError as exc:
                if exc.code not in _RETRY_STATUSES:
                    detail = _short_body(exc)
                    raise ExchangeError(
                        f"{self.name}: {shown} answered HTTP {exc.code} {exc.reason}{detail}",
                        hint="check the exchange's credentials and settings"
                        if exc.code in (401, 403)
                        else None,
                    ) from None
                last = f"HTTP {exc.code} {exc.reason}"
                retry_after = _retry_after(exc.headers.get("Retry-After"))
            except _Unreadable as exc:
                last = f"an answer that could not be read ({exc})"
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                reason = getattr(exc, "reason", exc)
                last = f"a failed connection ({reason})"
                if isinstance(reason, socket.timeout | TimeoutError):
                    last = "no answer in time"
            if attempt == self.retry.attempts:
                break
            pause = min(self.retry.max_wait, retry_after if retry_after is not None else wait)
            self.retry.sleep(pause)
            wait = min(self.retry.max_wait, wait * 2)
        raise ExchangeError(
            f"{self.name}: reading {shown} failed {self.retry.attempts} times; last: {last}",
            hint="try the sync again later: it resumes from its checkpoint",
        )

    def send(
        self,
        method: str,
        path: str,
        body: bytes,
        content_type: str,
        params: Mapping[str, Any] | None = None,
    ) -> str:
        """Send ``body`` once (a write is never retried: it might have been applied)."""
        url = self.url(path, params)
        shown = redact(url, self._secret_params)
        request = urllib.request.Request(
            url,
            data=body,
            headers={**self._headers, "Content-Type": content_type},
            method=method,
        )
        try:
            self.requests += 1
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return str(response.read(1 << 16).decode("utf-8", "replace"))
        except urllib.error.HTTPError as exc:
            raise ExchangeError(
                f"{self.name}: {method} {shown} answered HTTP {exc.code} {exc.reason}"
                f"{_short_body(exc)}; not retried (a write might have been applied)"
            ) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise ExchangeError(
                f"{self.name}: {method} {shown} failed ({getattr(exc, 'reason', exc)}); "
                "not retried (a write might have been applied)"
            ) from None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _short_body(exc: urllib.error.HTTPError) -> str:
    try:
        text = exc.read(300).decode("utf-8", "replace").strip()
    except Exception:
        return ""
    return f": {' '.join(text.split())[:200]}" if text else ""


def read_json(stream: IO[bytes]) -> Any:
    """A JSON answer; ``ValueError`` when it ended early or is not JSON."""
    return json.load(stream)
