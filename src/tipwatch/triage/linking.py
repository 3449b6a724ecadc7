"""Linking referrals that probably come from one offender or one incident.

Two referrals are linked when they share

* an account: the same service and account identifier, screen name or e-mail address;
* an IP address, used within ``ip_window`` of each other (an address used by more than
  ``max_ip_accounts`` accounts, a carrier NAT, a proxy or a VPN exit, links none);
* a *new* file: the same MD5, SHA-1, SHA-256 or PDQ value, or PDQ hashes within the near-match
  threshold, of a file on no hash list that fewer than ``circulating_min_accounts`` accounts
  sent.

Links are transitive: linked referrals form a *group*. Sharing a file that circulates says
nothing about who shared it: a file on a hash list (matched as ``known``), or one sent by
``circulating_min_accounts`` accounts or more, joins nobody. Each such file forms a
*circulating* group of its own instead (referrals, accounts and countries per file: for victim
identification and for spotting viral batches), kept apart from the offender groups. A viral
item, one that many referrals from many accounts share (or that the sender marks as viral or a
meme), forms a *viral group*, so that trends and reports can count it as one thing.

The batch pass (:class:`LinkBuilder`) keeps only 64-bit digests of the keys in numpy arrays:
a million referrals with half a dozen keys each fit in a few hundred MB. Explaining a link
(:func:`shared_keys`) recomputes the readable keys of the few referrals involved.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from tipwatch.matching.pdq_index import PDQIndex, hexes_to_array

__all__ = [
    "LINK_STRENGTH",
    "KeyDigests",
    "LinkBuilder",
    "LinkGroup",
    "LinkSettings",
    "ReferralKeys",
    "digest_keys",
    "referral_keys",
    "shared_keys",
    "shared_ties",
]

_FILE_HASHES = ("md5", "sha1", "sha256", "pdq")
_LISTED = "known"
"""The match status of a file found on a hash list."""

LINK_STRENGTH: dict[str, float] = {
    "account": 1.0,
    "new file": 0.8,
    "near file": 0.6,
    "ip": 0.5,
}
"""How strongly each kind of tie says "one offender or one incident": an account is the
offender's own; a new file few accounts hold is rarely shared by strangers; an address within
the window may be a shared household or network."""
_FILE_ANNOTATIONS_VIRAL = {"viral", "potentialMeme"}


@dataclass(frozen=True, slots=True)
class LinkSettings:
    ip_window: timedelta = timedelta(days=7)
    pdq_threshold: int = 31
    """PDQ hashes within this Hamming distance are the same file; ``-1`` turns it off."""
    viral_min_referrals: int = 25
    viral_min_accounts: int = 10
    circulating_min_accounts: int = 4
    """A file sent by this many accounts or more (referrals without an account counting as
    one each) circulates: it links no one."""
    max_ip_accounts: int = 5
    """An IP address used by more accounts than this (a carrier NAT, a proxy, a VPN exit)
    links none. Referrals without an account identifier count as one account each."""


@dataclass(slots=True)
class ReferralKeys:
    """The link keys of one referral, readable."""

    files: set[str] = field(default_factory=set)
    """``md5:...``, ``pdq:...`` of files on no hash list."""
    pdq: set[str] = field(default_factory=set)
    listed: set[str] = field(default_factory=set)
    """``md5:...`` of files on a hash list: circulating material, never a link."""
    accounts: set[str] = field(default_factory=set)
    """``account:service|id``, ``screen:service|name``, ``email:address``"""
    ips: list[tuple[str, datetime]] = field(default_factory=list)
    viral_marked: bool = False


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _norm(text: Any) -> str:
    return str(text).strip().lower()


def referral_keys(
    doc: Mapping[str, Any],
    files: Iterable[Mapping[str, Any]],
    incident_time: datetime,
    statuses: Iterable[str | None] | None = None,
) -> ReferralKeys:
    """The link keys of a referral in canonical JSON form; ``statuses`` are its files' match
    statuses, in order (a file matched ``known`` is on a hash list)."""
    keys = ReferralKeys()
    keys.viral_marked = bool(doc.get("batched_reason"))
    status_list = list(statuses) if statuses is not None else []
    for i, f in enumerate(files):
        hashes = f.get("hashes") or {}
        listed = i < len(status_list) and status_list[i] == _LISTED
        for algo in _FILE_HASHES:
            value = hashes.get(algo)
            if value:
                if listed:
                    keys.listed.add(f"{algo}:{value}")
                    continue
                keys.files.add(f"{algo}:{value}")
                if algo == "pdq":
                    keys.pdq.add(str(value))
        if _FILE_ANNOTATIONS_VIRAL.intersection(f.get("annotations") or []):
            keys.viral_marked = True
        event = f.get("upload_ip")
        if isinstance(event, Mapping) and event.get("ip_address"):
            when = _parse_time(event.get("date_time")) or incident_time
            keys.ips.append((_norm(event["ip_address"]), when))
    platform = _norm(doc.get("platform") or "")
    for party in doc.get("reported") or []:
        if not isinstance(party, Mapping):
            continue
        accounts = [
            party,
            *(a for a in party.get("associated_accounts") or [] if isinstance(a, Mapping)),
        ]
        for account in accounts:
            service = _norm(account.get("esp_service") or account.get("platform") or platform)
            if account.get("esp_identifier"):
                keys.accounts.add(f"account:{service}|{_norm(account['esp_identifier'])}")
            if account.get("screen_name"):
                keys.accounts.add(f"screen:{service}|{_norm(account['screen_name'])}")
            for email in account.get("emails") or []:
                if isinstance(email, Mapping) and email.get("address"):
                    keys.accounts.add(f"email:{_norm(email['address'])}")
        person = party.get("person")
        if isinstance(person, Mapping):
            for email in person.get("emails") or []:
                if isinstance(email, Mapping) and email.get("address"):
                    keys.accounts.add(f"email:{_norm(email['address'])}")
        for event in party.get("ip_events") or []:
            if isinstance(event, Mapping) and event.get("ip_address"):
                when = _parse_time(event.get("date_time")) or incident_time
                keys.ips.append((_norm(event["ip_address"]), when))
    return keys


def _digest(text: str) -> int:
    # 64 bits, the same in every process (the pass may run in several). Two different keys
    # share a digest with odds of about n^2 / 2^65: negligible for billions of keys.
    return int.from_bytes(
        hashlib.blake2b(text.encode(), digest_size=8).digest(), "little", signed=True
    )


@dataclass(slots=True)
class KeyDigests:
    """A referral's link keys as 64-bit digests: what the batch pass keeps of them."""

    files: list[int]
    listed: list[int]
    accounts: list[int]
    account: int | None
    """One account of the referral (the least digest), for counting accounts."""
    ips: list[tuple[int, float]]
    """(address digest, POSIX time)"""
    pdq: list[str]
    viral_marked: bool


def digest_keys(keys: ReferralKeys) -> KeyDigests:
    accounts = [_digest(k) for k in sorted(keys.accounts)]
    ids = [
        d for k, d in zip(sorted(keys.accounts), accounts, strict=True) if k.startswith("account:")
    ]
    return KeyDigests(
        files=[_digest(k) for k in keys.files],
        listed=[_digest(k) for k in keys.listed],
        accounts=accounts,
        account=min(ids) if ids else None,
        ips=[(_digest(ip), when.timestamp()) for ip, when in keys.ips],
        pdq=sorted(keys.pdq),
        viral_marked=keys.viral_marked,
    )


@dataclass(slots=True)
class LinkGroup:
    """A group of linked referrals (``kind`` ``linked``), of one viral item (``viral``) or of
    one circulating file (``circulating``)."""

    kind: str
    members: list[int]
    """Row numbers, as given to :meth:`LinkBuilder.add`."""
    reasons: dict[str, int] = field(default_factory=dict)
    """How many shared keys of each kind (account, ip, new file, near file) joined it; for a
    circulating group, why the file circulates (listed, accounts)."""


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if ra < rb:
                self.parent[rb] = ra
            else:
                self.parent[ra] = rb


_NO_ACCOUNT = np.iinfo(np.int64).min


@dataclass(slots=True)
class KeyChunk:
    """The key digests of consecutive referrals as arrays (rows counted from 0 in the chunk).

    Worker processes send these to the builder: arrays cross process boundaries cheaply."""

    size: int
    file_rows: npt.NDArray[np.int64]
    file_keys: npt.NDArray[np.int64]
    listed_rows: npt.NDArray[np.int64]
    listed_keys: npt.NDArray[np.int64]
    acct_rows: npt.NDArray[np.int64]
    acct_keys: npt.NDArray[np.int64]
    account_of: npt.NDArray[np.int64]
    """One account digest per row, or the minimum int64 for none."""
    ip_rows: npt.NDArray[np.int64]
    ip_keys: npt.NDArray[np.int64]
    ip_times: npt.NDArray[np.float64]
    pdq_rows: list[int]
    pdq_values: list[str]
    viral_rows: list[int]

    @classmethod
    def of(cls, digests: Iterable[KeyDigests]) -> KeyChunk:
        file_rows: list[int] = []
        file_keys: list[int] = []
        listed_rows: list[int] = []
        listed_keys: list[int] = []
        acct_rows: list[int] = []
        acct_keys: list[int] = []
        account_of: list[int] = []
        ip_rows: list[int] = []
        ip_keys: list[int] = []
        ip_times: list[float] = []
        pdq_rows: list[int] = []
        pdq_values: list[str] = []
        viral_rows: list[int] = []
        n = 0
        for row, d in enumerate(digests):
            n = row + 1
            file_rows.extend([row] * len(d.files))
            file_keys.extend(d.files)
            listed_rows.extend([row] * len(d.listed))
            listed_keys.extend(d.listed)
            acct_rows.extend([row] * len(d.accounts))
            acct_keys.extend(d.accounts)
            account_of.append(_NO_ACCOUNT if d.account is None else d.account)
            for key, when in d.ips:
                ip_rows.append(row)
                ip_keys.append(key)
                ip_times.append(when)
            pdq_rows.extend([row] * len(d.pdq))
            pdq_values.extend(d.pdq)
            if d.viral_marked:
                viral_rows.append(row)
        i64 = np.int64
        return cls(
            size=n,
            file_rows=np.asarray(file_rows, dtype=i64),
            file_keys=np.asarray(file_keys, dtype=i64),
            listed_rows=np.asarray(listed_rows, dtype=i64),
            listed_keys=np.asarray(listed_keys, dtype=i64),
            acct_rows=np.asarray(acct_rows, dtype=i64),
            acct_keys=np.asarray(acct_keys, dtype=i64),
            account_of=np.asarray(account_of, dtype=i64),
            ip_rows=np.asarray(ip_rows, dtype=i64),
            ip_keys=np.asarray(ip_keys, dtype=i64),
            ip_times=np.asarray(ip_times, dtype=np.float64),
            pdq_rows=pdq_rows,
            pdq_values=pdq_values,
            viral_rows=viral_rows,
        )


class LinkBuilder:
    """Collects the keys of many referrals (row numbers 0, 1, 2 ...) and builds the groups."""

    def __init__(self, settings: LinkSettings | None = None) -> None:
        self.settings = settings or LinkSettings()
        self._n = 0
        self._parts: dict[str, list[npt.NDArray[Any]]] = {
            name: []
            for name in (
                "file_rows",
                "file_keys",
                "listed_rows",
                "listed_keys",
                "acct_rows",
                "acct_keys",
                "account_of",
                "ip_rows",
                "ip_keys",
                "ip_times",
            )
        }
        self._pdq_rows: list[int] = []
        self._pdq_values: list[str] = []
        self._viral_marked: list[int] = []
        self._account_of: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._account_runs: list[npt.NDArray[np.int64]] = []
        self.viral_rows: set[int] = set()
        """After :meth:`build`: rows in a viral group or marked viral by the sender."""

    def __len__(self) -> int:
        return self._n

    def add(self, keys: ReferralKeys | KeyDigests) -> int:
        """Add one referral's keys (or their digests); returns its row number."""
        digests = keys if isinstance(keys, KeyDigests) else digest_keys(keys)
        row = self._n
        self.add_chunk(KeyChunk.of([digests]))
        return row

    def add_chunk(self, chunk: KeyChunk) -> None:
        """Add the referrals of a chunk, numbered after those added before."""
        offset = self._n
        parts = self._parts
        for name in ("file_rows", "listed_rows", "acct_rows", "ip_rows"):
            parts[name].append(getattr(chunk, name) + offset)
        for name in (
            "file_keys",
            "listed_keys",
            "acct_keys",
            "account_of",
            "ip_keys",
            "ip_times",
        ):
            parts[name].append(getattr(chunk, name))
        self._pdq_rows.extend(r + offset for r in chunk.pdq_rows)
        self._pdq_values.extend(chunk.pdq_values)
        self._viral_marked.extend(r + offset for r in chunk.viral_rows)
        self._n += chunk.size

    def _array(self, name: str, dtype: Any = np.int64) -> npt.NDArray[Any]:
        parts = self._parts[name]
        if not parts:
            return np.zeros(0, dtype=dtype)
        joined = np.concatenate(parts)
        self._parts[name] = [joined]
        return joined

    # -- building ---------------------------------------------------------------------------

    @staticmethod
    def _runs(
        keys: npt.NDArray[np.int64], rows: npt.NDArray[np.int64]
    ) -> list[npt.NDArray[np.int64]]:
        """Rows grouped by equal key, for keys held by two or more distinct rows."""
        if len(keys) == 0:
            return []
        order = np.lexsort((rows, keys))
        k, r = keys[order], rows[order]
        # Drop repeats of the same (key, row).
        keep = np.ones(len(k), dtype=bool)
        keep[1:] = (k[1:] != k[:-1]) | (r[1:] != r[:-1])
        k, r = k[keep], r[keep]
        starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
        ends = np.r_[starts[1:], len(k)]
        multi = (ends - starts) >= 2
        return [r[s:e] for s, e in zip(starts[multi], ends[multi], strict=True)]

    def _file_clusters(self) -> list[tuple[npt.NDArray[np.int64], str]]:
        """Rows sharing each file (``new file``), then PDQ near pairs (``near file``)."""
        clusters = [
            (rows, "new file")
            for rows in self._runs(self._array("file_keys"), self._array("file_rows"))
        ]
        if self.settings.pdq_threshold >= 0 and len(self._pdq_values) > 1:
            clusters.extend((rows, "near file") for rows in self._pdq_clusters())
        return clusters

    def _pdq_clusters(self) -> list[npt.NDArray[np.int64]]:
        unique: dict[str, int] = {}
        for value in self._pdq_values:
            unique.setdefault(value, len(unique))
        values = list(unique)
        if len(values) < 2:
            return []
        hashes = hexes_to_array(values)
        index = PDQIndex(hashes)
        found = index.search(hashes, self.settings.pdq_threshold, threads=os.cpu_count() or 1)
        pairs = found.query != found.entry
        q, e = found.query[pairs], found.entry[pairs]
        if len(q) == 0:
            return []
        # Each near pair of distinct hashes joins every row holding either hash.
        rows_of: dict[int, list[int]] = {}
        for row, value in zip(self._pdq_rows, self._pdq_values, strict=True):
            rows_of.setdefault(unique[value], []).append(row)
        uf = _UnionFind(len(values))
        for a, b in zip(q.tolist(), e.tolist(), strict=True):
            uf.union(a, b)
        comps: dict[int, list[int]] = {}
        for h in set(q.tolist()) | set(e.tolist()):
            comps.setdefault(uf.find(h), []).append(h)
        out = []
        for members in comps.values():
            rows = sorted({r for h in members for r in rows_of[h]})
            if len(rows) >= 2:
                out.append(np.asarray(rows, dtype=np.int64))
        return out

    def _is_viral(self, rows: npt.NDArray[np.int64]) -> bool:
        s = self.settings
        if len(rows) < s.viral_min_referrals:
            return False
        return self._accounts(rows) >= s.viral_min_accounts

    def _accounts(self, rows: npt.NDArray[np.int64]) -> int:
        """How many accounts the rows come from (a row without one counts as one)."""
        of = self._account_of[rows]
        known = of != _NO_ACCOUNT
        return len(np.unique(of[known])) + int((~known).sum())

    def build(self) -> list[LinkGroup]:
        """The groups: linked groups first, then one viral group per viral item, then one
        circulating group per circulating file."""
        self._account_of = self._array("account_of")
        uf = _UnionFind(self._n)
        reasons: dict[tuple[int, int], str] = {}
        viral_groups: list[npt.NDArray[np.int64]] = []
        circulating: list[LinkGroup] = []
        viral_rows: set[int] = set(self._viral_marked)
        min_accounts = self.settings.circulating_min_accounts

        def join(rows: npt.NDArray[np.int64], why: str) -> None:
            first = int(rows[0])
            for r in rows[1:].tolist():
                uf.union(first, r)
            reasons[(first, len(reasons))] = why

        def set_apart(rows: npt.NDArray[np.int64], why: dict[str, int]) -> None:
            if self._is_viral(rows):
                viral_groups.append(rows)
                viral_rows.update(rows.tolist())
            else:
                circulating.append(LinkGroup("circulating", rows.tolist(), why))

        for rows in self._runs(self._array("listed_keys"), self._array("listed_rows")):
            set_apart(rows, {"listed": 1, "accounts": self._accounts(rows)})
        for rows, kind in self._file_clusters():
            accounts = self._accounts(rows)
            if accounts >= min_accounts:
                set_apart(rows, {"accounts": accounts})
            else:
                join(rows, kind)
        self._account_runs = self._runs(self._array("acct_keys"), self._array("acct_rows"))
        for rows in self._account_runs:
            join(rows, "account")
        for rows in self._ip_links():
            join(rows, "ip")

        comps: dict[int, list[int]] = {}
        for i in range(self._n):
            comps.setdefault(uf.find(i), []).append(i)
        groups: list[LinkGroup] = []
        counts: dict[int, dict[str, int]] = {}
        for (first, _), why in reasons.items():
            bucket = counts.setdefault(uf.find(first), {})
            bucket[why] = bucket.get(why, 0) + 1
        for root, members in comps.items():
            if len(members) >= 2:
                groups.append(LinkGroup("linked", sorted(members), counts.get(root, {})))
        groups.sort(key=lambda g: g.members[0])
        # Referrals the sender marked viral that share no viral item still form one group.
        covered = {int(r) for rows in viral_groups for r in rows}
        marked_alone = sorted(set(self._viral_marked) - covered)
        for rows in viral_groups:
            groups.append(LinkGroup("viral", rows.tolist(), {"file": 1}))
        if len(marked_alone) >= 2:
            groups.append(LinkGroup("viral", marked_alone, {"marked by sender": 1}))
        groups.extend(circulating)
        self.viral_rows = viral_rows
        return groups

    def repeat_rows(self, times: list[float]) -> set[int]:
        """After :meth:`build`: rows whose account appears in an earlier referral."""
        out: set[int] = set()
        for rows in self._account_runs:
            first = min(rows.tolist(), key=lambda r: (times[r], r))
            out.update(r for r in rows.tolist() if r != first)
        return out

    def _ip_links(self) -> list[npt.NDArray[np.int64]]:
        """Runs of rows using the same IP address within the window of each other."""
        keys = self._array("ip_keys")
        rows = self._array("ip_rows")
        times = self._array("ip_times", np.float64)
        if len(keys) == 0:
            return []
        order = np.lexsort((times, keys))
        k, r, t = keys[order], rows[order], times[order]
        window = self.settings.ip_window.total_seconds()
        out: list[npt.NDArray[np.int64]] = []
        starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
        ends = np.r_[starts[1:], len(k)]
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            if e - s < 2:
                continue
            seg_rows = r[s:e]
            if self._accounts(np.unique(seg_rows)) > self.settings.max_ip_accounts:
                continue
            seg_t = t[s:e]
            breaks = np.flatnonzero(np.diff(seg_t) > window) + 1
            for part_rows in np.split(seg_rows, breaks):
                distinct = np.unique(part_rows)
                if len(distinct) >= 2:
                    out.append(distinct)
        return out


def shared_keys(a: ReferralKeys, b: ReferralKeys, settings: LinkSettings) -> list[str]:
    """The readable keys two referrals share (accounts, new files, near files, IPs in the
    window; listed files are not ties and are not named)."""
    return [t["evidence"] for t in shared_ties(a, b, settings)]


def shared_ties(a: ReferralKeys, b: ReferralKeys, settings: LinkSettings) -> list[dict[str, Any]]:
    """What ties two referrals: each tie's ``kind``, readable ``evidence`` and ``strength``
    (:data:`LINK_STRENGTH`), strongest first. A file that circulates among many accounts may
    still appear here; the pass itself does not link on it."""
    out: list[tuple[str, str]] = [("account", k) for k in sorted(a.accounts & b.accounts)]
    out += [("new file", k) for k in sorted(a.files & b.files)]
    if settings.pdq_threshold >= 0:
        for pa in sorted(a.pdq):
            for pb in sorted(b.pdq):
                if pa != pb:
                    d = int.bit_count(int(pa, 16) ^ int(pb, 16))
                    if d <= settings.pdq_threshold:
                        out.append(
                            ("near file", f"pdq near: {pa[:12]}... ~ {pb[:12]}... distance {d}")
                        )
    for ip_a, t_a in a.ips:
        for ip_b, t_b in b.ips:
            if ip_a == ip_b and abs(t_a - t_b) <= settings.ip_window:
                hours = abs(t_a - t_b).total_seconds() / 3600
                out.append(("ip", f"ip:{ip_a} ({hours:.0f} h apart)"))
                break
    seen: dict[str, dict[str, Any]] = {}
    for kind, evidence in out:
        seen.setdefault(
            evidence, {"kind": kind, "evidence": evidence, "strength": LINK_STRENGTH[kind]}
        )
    return sorted(seen.values(), key=lambda t: -float(t["strength"]))
