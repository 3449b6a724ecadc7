"""NCMEC's hash sharing API, version 2 (XML over HTTPS, basic authentication).

``GET {environment}/v2/entries?from=..&to=..`` answers a ``queryResult``: ``images`` and
``videos`` holding ``image``/``video`` entries and ``deletedImage``/``deletedVideo``
tombstones, and ``paging/next``, a link to the next page of the same window. Entries of a
window arrive out of time order (and an entry may appear twice in one window), so the
checkpoint's ``from`` moves to the window's end only once every page of the window has been
read; in between, the checkpoint names the next page. Each change carries its time, and the
sync applies a change only when it is newer than what it holds.

Everything an entry carries is kept: every fingerprint (MD5, SHA-1, PhotoDNA verbatim, PDQ and
others; large ones such as TMK+PDQF, given as links, are recorded as present and fetched on
demand by :meth:`NcmecConnector.fingerprint`), its classification (A1 ... B2), the submitting
member, and the feedback (votes) other members gave.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import IO, Any

from lxml import etree

from tipwatch.errors import ConfigError
from tipwatch.matching.exchanges.base import (
    Batch,
    Checkpoint,
    ExchangeEntry,
    HttpClient,
    RetryPolicy,
    Tombstone,
)
from tipwatch.models import normalise_hash_value

__all__ = ["ENVIRONMENTS", "NcmecConnector", "parse_entries"]

ENVIRONMENTS: dict[str, str] = {
    "industry": "https://report.cybertip.org/hashsharing",
    "ngo": "https://hashsharing.ncmec.org/npo",
    "exploitative": "https://hashsharing.ncmec.org/exploitative",
    "test_industry": "https://exttest.cybertip.org/hashsharing",
    "test_ngo": "https://hashsharing-test.ncmec.org/npo",
    "test_exploitative": "https://hashsharing-test.ncmec.org/exploitative",
}
"""NCMEC's environments (who may read and write them differs) and their test twins."""

_ALGORITHMS = {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "pdq": "pdq", "pdna": "PhotoDNA"}
_MAX_INLINE = 400
"""A fingerprint longer than this is recorded as present, not stored as an entry's hash."""


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None)


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _as_dict(element: Any) -> Any:
    """An XML element as JSON: its attributes, its children (lists when repeated), its text."""
    out: dict[str, Any] = {f"@{k}": v for k, v in element.attrib.items()}
    for child in element:
        name = _local(child.tag)
        if not name:
            continue
        value = _as_dict(child)
        if name in out:
            if not isinstance(out[name], list):
                out[name] = [out[name]]
            out[name].append(value)
        else:
            out[name] = value
    text = (element.text or "").strip()
    if text:
        if not out:
            return text
        out["#text"] = text
    return out


class _Page:
    def __init__(self) -> None:
        self.upserts: list[ExchangeEntry] = []
        self.tombstones: list[Tombstone] = []
        self.next: str | None = None
        self.problems: list[tuple[str, str]] = []


def _entry(element: Any, kind: str, page: _Page) -> None:
    fields = {_local(c.tag): c for c in element}
    key = (fields["id"].text or "").strip() if "id" in fields else ""
    if not key:
        page.problems.append((f"{kind} without id", "an entry needs its id"))
        return
    member = fields.get("member")
    when = _time(fields["timestamp"].text if "timestamp" in fields else None)
    if kind.startswith("deleted"):
        page.tombstones.append(Tombstone(key, when))
        return
    hashes: dict[str, str] = {}
    large: dict[str, str] = {}
    fingerprints: dict[str, Any] = {}
    for fp in fields.get("fingerprints", []):
        tag = _local(fp.tag)
        if not tag:
            continue
        text = (fp.text or "").strip()
        href = fp.get("href")
        if href or not text or len(text) > _MAX_INLINE:
            large[tag] = href or "present"
            continue
        fingerprints[tag] = text
        algorithm = _ALGORITHMS.get(tag, tag)
        try:
            hashes[algorithm] = normalise_hash_value(algorithm, text)
        except ValueError as exc:
            page.problems.append((f"entry {key}", f"{tag}: {exc}"))
    if not hashes:
        page.problems.append((f"entry {key}", "no fingerprint that can be matched"))
        return
    classification = fields.get("classification")
    extra: dict[str, Any] = {
        "source": "ncmec",
        "type": kind,
        "fingerprints": fingerprints,
    }
    if large:
        extra["large_fingerprints"] = large
    if member is not None:
        extra["member"] = {"id": member.get("id"), "name": (member.text or "").strip()}
    if when is not None:
        extra["timestamp"] = when.isoformat() + "Z"
    if classification is not None and classification.text:
        extra["classification"] = classification.text.strip()
    for name in ("feedback", "categorization", "categorizations", "tags"):
        if name in fields:
            extra[name] = _as_dict(fields[name])
    page.upserts.append(
        ExchangeEntry(
            key,
            hashes,
            category=extra.get("classification"),
            time=when,
            extra=extra,
        )
    )


def parse_entries(stream: IO[bytes]) -> _Page:
    """A ``queryResult`` page, parsed as it streams in (elements released once read).

    Raises ``ValueError`` for a document type declaration (refused) or lxml's error for an
    answer that ends early."""
    page = _Page()
    parser = etree.iterparse(
        stream,
        events=("end",),
        # Only the elements read here raise events (whatever their namespace).
        tag=("{*}image", "{*}video", "{*}deletedImage", "{*}deletedVideo", "{*}next"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    checked = False
    for _event, element in parser:
        if not checked:
            if element.getroottree().docinfo.doctype:
                raise ValueError("an answer with a document type declaration is refused")
            checked = True
        tag = _local(element.tag)
        parent = element.getparent()
        parent_tag = _local(parent.tag) if parent is not None else ""
        if tag == "next":
            if parent_tag == "paging":
                page.next = (element.text or "").strip() or None
            continue
        if parent_tag in ("images", "videos"):
            _entry(element, tag, page)
            element.clear()
            # Release the entries read so far: memory stays at one entry, whatever the page.
            while element.getprevious() is not None:
                del parent[0]
    return page


class NcmecConnector:
    """Reads one NCMEC environment. Settings (``config``): ``environment`` (one of
    :data:`ENVIRONMENTS`), ``base_url`` (instead of the environment's), ``start`` (ISO date of
    the first window's start; default: everything), ``feedback_path``, ``timeout`` (seconds
    without an answer before a read is given up and retried; default 60)."""

    kind = "ncmec"

    def __init__(
        self,
        config: Mapping[str, Any],
        credentials: Mapping[str, str],
        *,
        retry: RetryPolicy | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        environment = str(config.get("environment", "test_industry"))
        base_url = config.get("base_url") or ENVIRONMENTS.get(environment)
        if base_url is None:
            raise ConfigError(
                f"unknown NCMEC environment {environment!r}; the environments are "
                + ", ".join(ENVIRONMENTS)
            )
        username = credentials.get("username")
        password = credentials.get("password")
        if not username or not password:
            raise ConfigError(
                "the NCMEC connector needs a user name and a password",
                hint="set ncmec_username and ncmec_password",
            )
        self.http = HttpClient(
            f"NCMEC ({environment})",
            str(base_url),
            basic_auth=(username, password),
            retry=retry,
            timeout=float(config.get("timeout", 60)),
        )
        start = config.get("start")
        self.start = (
            int(datetime.fromisoformat(str(start)).replace(tzinfo=UTC).timestamp()) if start else 0
        )
        self.feedback_path = str(config.get("feedback_path") or "/v2/entries/{id}/feedback")
        self.now = now

    def position(self, checkpoint: Checkpoint) -> tuple[Any, ...]:
        return (int(checkpoint.get("from", 0)), int(checkpoint.get("page", 0)))

    def fetch(self, checkpoint: Checkpoint | None) -> Batch:
        state = dict(checkpoint or {"from": self.start, "to": None, "next": None, "page": 0})
        start = int(state["from"])
        if state.get("next"):
            end = int(state["to"])
            page = self.http.read(str(state["next"]), parse_entries)
        else:
            end = max(int(self.now()), start + 1)
            page = self.http.read(
                "/v2/entries", parse_entries, {"from": _iso(start), "to": _iso(end)}
            )
        if page.next:
            following: Checkpoint = {
                "from": start,
                "to": end,
                "next": page.next,
                "page": int(state.get("page", 0)) + 1,
            }
        else:
            # The window is exhausted: only now may the checkpoint move past it.
            following = {"from": end, "to": None, "next": None, "page": 0}
        return Batch(
            page.upserts,
            page.tombstones,
            following,
            more=bool(page.next),
            problems=page.problems,
        )

    def fingerprint(self, href: str) -> str:
        """A large fingerprint (TMK+PDQF, Videntifier) that an entry names, fetched now."""
        return self.http.read(href, lambda s: s.read().decode("utf-8", "replace"))

    def send_vote(self, entry: Mapping[str, Any], vote: str, reason: str | None) -> str:
        """Feedback on an entry: ``affirmative``, or ``negative`` with a reason id."""
        if vote == "affirmative":
            body = "<feedbackSubmission><affirmative/></feedbackSubmission>"
        elif vote == "negative":
            guid = (reason or "").strip()
            if not guid:
                raise ConfigError("negative NCMEC feedback needs a reason id (a GUID)")
            body = (
                "<feedbackSubmission><negative><reasonIds><guid>"
                + _escape(guid)
                + "</guid></reasonIds></negative></feedbackSubmission>"
            )
        else:
            raise ConfigError(f"NCMEC feedback is affirmative or negative, not {vote!r}")
        path = self.feedback_path.format(id=urllib.parse.quote(str(entry["entry_key"]), safe=""))
        return self.http.send("PUT", path, body.encode(), "application/xml")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
