"""Entries with an explicit scope, and the in-memory index that answers "is this URL listed?".

An entry is keyed by its scope and the canonical text that scope needs (no scheme):

============  ==========================  ===============================================
scope         key                         matches
============  ==========================  ===============================================
page          ``host/path``               that page on that host, with any query or none
page+query    ``host/path?query``         that page with exactly that query
folder        ``host/path/``              every page on that host under that folder
host          ``host``                    every page on that host, not its subdomains
host+subdomains ``host``                  that host and every name below it
============  ==========================  ===============================================

A page entry never widens: it never matches its host's other pages or other subdomains (the
practice of URL-specific blocking). An IP host has no subdomains.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from tipwatch.urls._canonical import MAX_URL_LENGTH, CanonicalURL, URLError, canonical_parts

__all__ = [
    "EntryKey",
    "Match",
    "Scope",
    "UrlIndex",
    "entry_key",
    "state_lines",
    "state_sha256",
]


class Scope(StrEnum):
    PAGE = "page"
    PAGE_QUERY = "page+query"
    FOLDER = "folder"
    HOST = "host"
    SUBDOMAINS = "host+subdomains"

    @classmethod
    def parse(cls, text: str) -> Scope:
        value = text.strip().lower()
        aliases = {"subdomains": cls.SUBDOMAINS, "domain": cls.SUBDOMAINS, "query": cls.PAGE_QUERY}
        try:
            return aliases.get(value) or cls(value)
        except ValueError:
            known = ", ".join(s.value for s in cls)
            raise URLError(f"unknown scope {text[:40]!r}; the scopes are {known}") from None


HOST_SCOPES = frozenset({Scope.HOST, Scope.SUBDOMAINS})
"""Scopes a DNS filter (RPZ, hosts file) can enforce: they name hosts, not pages."""


@dataclass(frozen=True, slots=True)
class EntryKey:
    scope: Scope
    key: str

    def line(self) -> str:
        """The entry as a line of the plain export: ``scope<TAB>key``."""
        return f"{self.scope.value}\t{self.key}"


def entry_key(
    url: str | bytes, scope: Scope | None = None, *, max_length: int = MAX_URL_LENGTH
) -> EntryKey:
    """The key of an entry for ``url`` in ``scope``. Without a scope a URL is a page entry
    (``page+query`` when it has a query): the narrowest reading, never a wider one."""
    parts = canonical_parts(url, max_length=max_length)
    if scope is None:
        scope = Scope.PAGE if parts.query is None else Scope.PAGE_QUERY
    if scope is Scope.PAGE:
        return EntryKey(scope, parts.host + parts.path)
    if scope is Scope.PAGE_QUERY:
        if parts.query is None:
            raise URLError("a page+query entry needs a URL with a query (?...)")
        return EntryKey(scope, f"{parts.host}{parts.path}?{parts.query}")
    if scope is Scope.FOLDER:
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        return EntryKey(scope, parts.host + path)
    if scope is Scope.SUBDOMAINS and parts.ip:
        raise URLError(f"{parts.host} is an IP address: it has no subdomains (use scope host)")
    return EntryKey(scope, parts.host)


def state_lines(keys: Iterable[EntryKey]) -> list[str]:
    """The lines of a list's state: ``scope<TAB>key``, sorted by their UTF-8 bytes."""
    return sorted((k.line() for k in keys), key=lambda line: line.encode("utf-8"))


def state_sha256(keys: Iterable[EntryKey]) -> str:
    """The SHA-256 of a list's full state: of its plain export, each line ending in a
    newline (so ``sha256sum`` of ``tipwatch urls export --format plain`` gives the same)."""
    digest = hashlib.sha256()
    for line in state_lines(keys):
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Match:
    """A listed entry a URL matched."""

    scope: Scope
    key: str
    list_name: str
    category: str | None


Label = tuple[tuple[str, str | None], ...]


def _tail(host: str) -> str:
    """The last two labels of ``host`` (all of it when it has fewer)."""
    last = host.rfind(".")
    if last < 0:
        return host
    return host[host.rfind(".", 0, last) + 1 :]


class UrlIndex:
    """The entries of one or more lists, held to answer lookups fast.

    Each scope has its own table from the hash of a key (Python's 64-bit string hash, keyed
    per process) to a shared label (the lists and categories holding the key): a million
    entries cost about a hundred bytes each, not their text. Two keys with one hash would be
    taken for one; at a million entries the chance that a lookup meets such a pair is about
    one in ten trillion. A match carries the key it was looked up with."""

    def __init__(self) -> None:
        self._tables: dict[Scope, dict[int, Label]] = {s: {} for s in Scope}
        self._labels: dict[Label, Label] = {}
        self._tails: set[str] = set()
        self._single_labels: set[str] = set()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, entry: EntryKey, list_name: str, category: str | None = None) -> None:
        table = self._tables[entry.scope]
        key = hash(entry.key)
        label = table.get(key, ())
        pair = (list_name, category)
        if pair in label:
            return
        if not label:
            self._size += 1
        new = (*label, pair)
        table[key] = self._labels.setdefault(new, new)
        host = entry.key if entry.scope in HOST_SCOPES else entry.key.split("/", 1)[0]
        tail = _tail(host)
        if tail not in self._tails:
            self._tails.add(tail)
        if "." not in host:
            self._single_labels.add(host)

    def may_match_host(self, host: str) -> bool:
        """Whether an entry may name ``host`` or one of its parent domains (no false "no"):
        the cheap test, on the host's last two labels, that lets a log reader skip the lines
        no entry can touch."""
        last = host.rfind(".")
        tail = host if last < 0 else host[host.rfind(".", 0, last) + 1 :]
        if tail in self._tails:
            return True
        return bool(self._single_labels) and host[host.rfind(".") + 1 :] in self._single_labels

    def _found(self, out: list[Match], scope: Scope, key: str, label: Label) -> None:
        out.extend(Match(scope, key, name, category) for name, category in label)

    def lookup_host(self, host: str, *, ip: bool = False) -> list[Match]:
        """The host-scoped entries that ``host`` matches (what a DNS filter or a proxy that
        sees only ``CONNECT host:443`` can act on)."""
        out: list[Match] = []
        label = self._tables[Scope.HOST].get(hash(host))
        if label:
            self._found(out, Scope.HOST, host, label)
        sub = self._tables[Scope.SUBDOMAINS]
        if sub:
            label = sub.get(hash(host))
            if label:
                self._found(out, Scope.SUBDOMAINS, host, label)
            if not ip:
                at = host.find(".")
                while at >= 0:
                    suffix = host[at + 1 :]
                    label = sub.get(hash(suffix))
                    if label:
                        self._found(out, Scope.SUBDOMAINS, suffix, label)
                    at = host.find(".", at + 1)
        return out

    def lookup(self, url: CanonicalURL) -> list[Match]:
        """The entries ``url`` matches, most specific first."""
        out: list[Match] = []
        tables = self._tables
        host, path = url.host, url.path
        page = host + path
        if url.query is not None:
            query_key = f"{page}?{url.query}"
            label = tables[Scope.PAGE_QUERY].get(hash(query_key))
            if label:
                self._found(out, Scope.PAGE_QUERY, query_key, label)
        label = tables[Scope.PAGE].get(hash(page))
        if label:
            self._found(out, Scope.PAGE, page, label)
        folders = tables[Scope.FOLDER]
        if folders:
            at = path.rfind("/")
            while at >= 0:
                key = host + path[: at + 1]
                label = folders.get(hash(key))
                if label:
                    self._found(out, Scope.FOLDER, key, label)
                at = path.rfind("/", 0, at)
        out.extend(self.lookup_host(host, ip=url.ip))
        return out

    def check(self, url: str | bytes, *, max_length: int = MAX_URL_LENGTH) -> list[Match]:
        """The entries ``url`` matches (canonicalised first; :class:`URLError` if it cannot
        be)."""
        return self.lookup(canonical_parts(url, max_length=max_length))
