"""Fake hash exchanges on 127.0.0.1 for the tests and the benchmark: NCMEC hash sharing v2,
StopNCII and ThreatExchange, as their public documentation describes them, with the faults of
the real thing on demand: out-of-order entries, page tokens, deletions of entries never seen,
429 bursts, a connection cut in the middle of a page, a page that hangs.

Each server holds its data as plain Python lists (tests edit them between syncs); ``faults``
is a queue of what the next requests meet (``429``, ``503``, ``"cut"``, ``"hang"``), one fault
per request; every request is recorded (path and headers) for assertions.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "FakeExchange",
    "FakeNcmec",
    "FakeStopncii",
    "FakeThreatExchange",
    "NcmecEvent",
    "md5_of",
]


def md5_of(n: int) -> str:
    return f"{n:032x}"


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


@dataclass
class _Answer:
    status: int
    body: bytes | Iterator[bytes]
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class FakeExchange:
    """An HTTP server on 127.0.0.1 (a free port) answering through :meth:`answer`."""

    def __init__(self) -> None:
        self.faults: list[Any] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.bodies: list[bytes] = []
        self.hang = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                fake.requests.append((method, self.path, headers))
                fake.bodies.append(body)
                fault = fake.faults.pop(0) if fake.faults else None
                if isinstance(fault, int):
                    self.send_response(fault)
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                answer = fake.answer(method, self.path, headers, body)
                data = answer.body if isinstance(answer.body, bytes) else b"".join(answer.body)
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                for k, v in answer.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if fault in ("cut", "hang"):
                    # Part of the page, then the connection ends (or stalls until released).
                    self.wfile.write(data[: max(1, len(data) // 2)])
                    self.wfile.flush()
                    if fault == "hang":
                        fake.hang.wait(60)
                    self.close_connection = True
                    return
                self.wfile.write(data)

            def _safely(self, method: str) -> None:
                # The client may go away (killed, or giving up on a cut page).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._serve(method)

            def do_GET(self) -> None:
                self._safely("GET")

            def do_POST(self) -> None:
                self._safely("POST")

            def do_PUT(self) -> None:
                self._safely("PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeExchange:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.hang.set()
        self.server.shutdown()
        self.server.server_close()

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Answer:
        raise NotImplementedError


# -- NCMEC hash sharing v2 ---------------------------------------------------------------------


@dataclass
class NcmecEvent:
    """One change at NCMEC: an entry's state (fingerprints) or its deletion, at ``ts``."""

    id: str
    ts: int
    kind: str = "image"
    deleted: bool = False
    md5: str | None = None
    sha1: str | None = None
    pdna: str | None = None
    pdq: str | None = None
    classification: str | None = "A1"
    member: int = 42
    tmk: bool = False
    feedback: bool = False


class FakeNcmec(FakeExchange):
    """``/v2/entries?from&to[&start&size&max]`` and ``/v2/status``, basic auth.

    The entries of a window come in a shuffled order (``seed``), ``page_size`` a page, each
    page's ``next`` keeping the window."""

    NS = "https://hashsharing.ncmec.org/hashsharing/v2"

    def __init__(
        self,
        events: list[NcmecEvent] | None = None,
        *,
        user: str = "user-1",
        password: str = "s3cret-Pa55",
        page_size: int = 3,
        seed: int = 7,
        shuffle: bool = True,
    ) -> None:
        super().__init__()
        self.events = events or []
        self.user, self.password = user, password
        self.page_size = page_size
        self.seed = seed
        self.shuffle = shuffle
        self.feedback: list[tuple[str, bytes]] = []

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Answer:
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if headers.get("authorization") != expected:
            return _Answer(401, b"<error>bad credentials</error>", "application/xml")
        parts = urllib.parse.urlsplit(path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        if method == "PUT" and "/feedback" in parts.path:
            self.feedback.append((parts.path, body))
            return _Answer(200, b"<submissionResult/>", "application/xml")
        if "/fingerprints/" in parts.path:
            entry = parts.path.split("/v2/entries/", 1)[-1].split("/", 1)[0]
            kind = parts.path.rsplit("/", 1)[-1]
            return _Answer(200, f"{kind} of {entry}: ".encode() + b"0123456789" * 50, "text/plain")
        if parts.path.endswith("/v2/status"):
            return _Answer(
                200,
                f'<status xmlns="{self.NS}"><member id="1">Test</member></status>'.encode(),
                "application/xml",
            )
        if not parts.path.endswith("/v2/entries"):
            return _Answer(404, b"", "application/xml")
        start_ts, end_ts = _epoch(query["from"]), _epoch(query["to"])
        window = [e for e in self.events if start_ts <= e.ts <= end_ts]
        if self.shuffle:
            random.Random(self.seed + start_ts).shuffle(window)  # out of time order
        start = int(query.get("start", "1"))
        size = int(query.get("size", str(self.page_size)))
        page = window[start - 1 : start - 1 + size]
        following = None
        if start - 1 + size < len(window):
            nxt = urllib.parse.urlencode(
                {
                    "from": query["from"],
                    "to": query["to"],
                    "start": start + size,
                    "size": size,
                    "max": start + 2 * size - 1,
                }
            )
            following = f"/v2/entries?{nxt}"
        return _Answer(200, self._xml(page, following), "application/xml")

    def _xml(self, page: list[NcmecEvent], following: str | None) -> Iterator[bytes]:
        yield f'<?xml version="1.0" encoding="UTF-8"?><queryResult xmlns="{self.NS}">'.encode()
        for group, kind in (("images", "image"), ("videos", "video")):
            items = [e for e in page if e.kind == kind]
            if not items:
                continue
            top = max(e.ts for e in items)
            yield f'<{group} count="{len(items)}" maxTimestamp="{_iso(top)}">'.encode()
            for e in items:
                yield self._entry(e).encode()
            yield f"</{group}>".encode()
        if following:
            escaped = following.replace("&", "&amp;")
            yield f"<paging><next>{escaped}</next></paging>".encode()
        yield b"</queryResult>"

    @staticmethod
    def _entry(e: NcmecEvent) -> str:
        member = f'<member id="{e.member}">Member {e.member}</member>'
        if e.deleted:
            tag = "deletedImage" if e.kind == "image" else "deletedVideo"
            return f"<{tag}>{member}<id>{e.id}</id><timestamp>{_iso(e.ts)}</timestamp></{tag}>"
        prints = "".join(
            f"<{name}>{value}</{name}>"
            for name, value in (("md5", e.md5), ("sha1", e.sha1), ("pdna", e.pdna), ("pdq", e.pdq))
            if value
        )
        if e.tmk:
            prints += f'<tmk-pdqf rel="self" href="/v2/entries/{e.id}/fingerprints/TMK_PDQF"/>'
        classification = (
            f"<classification>{e.classification}</classification>" if e.classification else ""
        )
        feedback = ""
        if e.feedback:
            feedback = (
                '<feedback lastUpdateTimestamp="2020-04-01T00:00:00Z">'
                '<affirmativeFeedback type="Md5"><members timestamp="2020-04-01T00:00:00Z">'
                '<member id="43">Member 43</member></members></affirmativeFeedback></feedback>'
            )
        return (
            f"<{e.kind}>{member}<timestamp>{_iso(e.ts)}</timestamp><id>{e.id}</id>"
            f"{classification}<fingerprints>{prints}</fingerprints>{feedback}</{e.kind}>"
        )


# -- StopNCII ------------------------------------------------------------------------------------


class FakeStopncii(FakeExchange):
    """``/v1/FetchHashes?startTimestamp&pageSize[&nextPageToken]`` with its two keys."""

    def __init__(
        self,
        records: list[dict[str, Any]] | None = None,
        *,
        subscription: str = "sub-key-1",
        fetch_key: str = "fetch-key-1",
        feedback_key: str = "feedback-key-1",
    ) -> None:
        super().__init__()
        self.records = records or []
        self.subscription, self.fetch_key, self.feedback_key = subscription, fetch_key, feedback_key

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Answer:
        parts = urllib.parse.urlsplit(path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        if headers.get("ocp-apim-subscription-key") != self.subscription:
            return _Answer(401, b'{"error": "subscription"}')
        if parts.path.endswith("/SubmitFeedback"):
            if headers.get("x-functions-key") != self.feedback_key:
                return _Answer(401, b'{"error": "function key"}')
            return _Answer(200, b"{}")
        if not parts.path.endswith("/FetchHashes"):
            return _Answer(404, b"{}")
        if headers.get("x-functions-key") != self.fetch_key:
            return _Answer(401, b'{"error": "function key"}')
        start = int(query.get("startTimestamp", "0"))
        size = int(query.get("pageSize", "800"))
        token = query.get("nextPageToken")
        selected = sorted(
            (r for r in self.records if r["lastModtimestamp"] >= start),
            key=lambda r: r["hashValue"],  # not in time order
        )
        offset = int(base64.b64decode(token).decode()) if token else 0
        page = selected[offset : offset + size]
        more = offset + size < len(selected)
        answer = {
            "count": len(page),
            "hashRecords": page,
            "nextPageToken": base64.b64encode(str(offset + size).encode()).decode() if more else "",
            "hasMoreRecords": more,
            "nextSetTimestamp": max((r["lastModtimestamp"] for r in selected), default=start) + 1,
        }
        return _Answer(200, json.dumps(answer).encode())


# -- ThreatExchange ----------------------------------------------------------------------------


class FakeThreatExchange(FakeExchange):
    """``/{group}/threat_updates?start_time&stop_time&limit&fields&access_token[&after]``."""

    def __init__(
        self,
        updates: list[dict[str, Any]] | None = None,
        *,
        group: str = "1234567890",
        token: str = "app|te-secret-token",
    ) -> None:
        super().__init__()
        self.updates = updates or []
        self.group, self.token = group, token
        self.reactions: list[tuple[str, bytes]] = []

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Answer:
        parts = urllib.parse.urlsplit(path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        if query.get("access_token") != self.token:
            return _Answer(400, b'{"error": {"message": "Invalid OAuth access token"}}')
        if method == "POST" and parts.path.endswith("/reactions"):
            self.reactions.append((parts.path, body))
            return _Answer(200, b'{"success": true}')
        if parts.path != f"/{self.group}/threat_updates":
            return _Answer(404, b"{}")
        start, stop = int(query["start_time"]), int(query["stop_time"])
        limit = int(query.get("limit", "500"))
        after = int(query.get("after", "0"))
        window = sorted(
            (u for u in self.updates if start <= u["last_updated"] < stop),
            key=lambda u: u["last_updated"],
        )
        page = window[after : after + limit]
        paging: dict[str, Any] = {}
        if after + limit < len(window):
            nxt = dict(query, after=str(after + limit))
            paging["next"] = f"{self.url}/{self.group}/threat_updates?{urllib.parse.urlencode(nxt)}"
        return _Answer(200, json.dumps({"data": page, "paging": paging}).encode())


def wait_until(condition: Any, timeout: float = 30.0) -> bool:
    """Poll ``condition()`` until true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
