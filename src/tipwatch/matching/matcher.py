"""Matching hashes against the stored lists: exact (cryptographic) and near (PDQ, vPDQ).

Exact and near matches are kept apart. A near match is a lead, not proof: it always carries
the algorithm, the Hamming distance and the list. Every match names its list, the list's
version, the entry, the category scheme and the category's label. A PDQ query takes part in
near matching against a list only when its quality reaches the list's floor (when the quality
is known).

Videos (vPDQ) are matched as ThreatExchange's own matcher does: frames below a list's quality
floor are left out on both sides (the query's and the entry's, where the entry keeps its
frames' qualities), identical frame hashes count once, and a video matches an entry when at
least ``video_percent`` of its usable frames are within the list's distance of one of the
entry's frames, and at least ``video_list_percent`` of the entry's usable frames were matched
(0 by default, as in ThreatExchange: an entry made at another sampling rate, every frame
against one per second, still matches). The distance reported is the median, over the query's
matched frames, of each frame's distance to its nearest frame of the entry.

Lists have a purpose: ``block`` lists hold known material; ``allow`` lists hold hashes of
material known to be benign or already cleared. An allow-list match suppresses a file's block
matches (they are kept, marked with what suppressed them) and the file is *cleared*. Entries
held for review (see :mod:`tipwatch.matching.flood`) take no part in matching.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, bindparam, delete, func, select, tuple_, update

from tipwatch.compute import Compute
from tipwatch.matching.flood import FloodCounter, FloodRule
from tipwatch.matching.pdq_index import PDQIndex, hexes_to_array
from tipwatch.matching.schemes import get_scheme
from tipwatch.store.bulk import bulk_insert, chunks
from tipwatch.store.database import Store
from tipwatch.store.schema import (
    file_matches,
    hash_entries,
    hash_list_versions,
    hash_lists,
    referral_files,
)

__all__ = [
    "FileVerdict",
    "Match",
    "MatchSummary",
    "Matcher",
    "MatcherSnapshot",
    "lists_version",
    "load_snapshot",
    "match_media",
    "match_referrals",
    "worker_matcher",
]

_CRYPTO = ("md5", "sha1", "sha256")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class Match:
    """One hit of a hash on a list entry."""

    list_name: str
    list_id: int
    entry_id: int
    algorithm: str
    kind: str  # "exact" or "near"
    distance: int
    category: str | None
    category_label: str | None
    transform: str | None = None
    """For a hit found on a rotated or flipped copy: which one (``rotate90`` ...)."""
    query_percent: float | None = None
    """vPDQ: the share of the query video's frames that matched this entry."""
    list_percent: float | None = None
    """vPDQ: the share of the listed video's frames that the query matched."""
    list_version: str | None = None
    scheme: str | None = None
    purpose: str = "block"
    """The list's purpose: ``block`` (known material) or ``allow`` (known benign)."""
    suppressed_by: str | None = None
    """For a block match on a file that an allow-list also matched: that allow-list."""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "list": self.list_name,
            "list_version": self.list_version,
            "algorithm": self.algorithm,
            "kind": self.kind,
            "distance": self.distance,
            "category": self.category,
            "category_label": self.category_label,
            "scheme": self.scheme,
            "entry_id": self.entry_id,
        }
        if self.purpose != "block":
            out["purpose"] = self.purpose
        if self.suppressed_by is not None:
            out["suppressed_by"] = self.suppressed_by
        if self.transform is not None:
            out["transform"] = self.transform
        if self.query_percent is not None:
            out["query_percent"] = self.query_percent
            out["list_percent"] = self.list_percent
        return out


@dataclass
class FileVerdict:
    """A file is *known* when a block list matched it (and no allow-list), *cleared* when an
    allow-list matched it, else *new*."""

    matches: list[Match] = field(default_factory=list)

    @property
    def status(self) -> str:
        if any(m.purpose == "block" and m.suppressed_by is None for m in self.matches):
            return "known"
        if any(m.purpose == "allow" for m in self.matches):
            return "cleared"
        return "new"

    def block_entries(self) -> set[int]:
        """The block-list entries matched (each once): what counts towards the flood
        quarantine, suppressed by an allow-list or not."""
        return {m.entry_id for m in self.matches if m.purpose == "block"}

    def apply_allow_lists(self) -> None:
        """Mark block matches suppressed when an allow-list matched the file too."""
        allowed = next((m.list_name for m in self.matches if m.purpose == "allow"), None)
        if allowed is None:
            return
        self.matches = [
            replace(m, suppressed_by=allowed) if m.purpose == "block" else m for m in self.matches
        ]


@dataclass(slots=True)
class _ListInfo:
    name: str
    threshold: int
    floor: int
    labels: dict[str, str]
    version: str | None = None
    scheme: str = "none"
    purpose: str = "block"


_VERSIONS = select(func.count(), func.max(hash_list_versions.c.id))
_LISTS = select(func.count(), func.max(hash_lists.c.id), func.max(hash_lists.c.updated_at))


def lists_version(conn: Connection) -> tuple[Any, ...]:
    """A value that changes whenever any hash list changes: a version imported (entries
    added, retired or reactivated, settings changed), a list removed or created, an entry held
    or released (its list's change time). Two small aggregate queries, built once: cheap
    enough to ask in every match request's transaction."""
    versions = conn.execute(_VERSIONS).one()
    lists = conn.execute(_LISTS).one()
    return (*versions, *lists)


@dataclass(frozen=True)
class MatcherSnapshot:
    """What near (PDQ) and video (vPDQ) matching needs, without the store: the indexes and
    the lists' settings. Made once by the driver and sent to each worker once."""

    video_percent: float
    video_list_percent: float
    lists: dict[int, _ListInfo]
    index: PDQIndex
    pdq_meta: dict[int, tuple[int, str | None]]
    video_index: PDQIndex
    frame_owner: np.ndarray[Any, np.dtype[np.int64]]
    video_meta: dict[int, tuple[int, str | None, int]]


class Matcher:
    """Matches hashes against every active entry of every list in the store.

    The PDQ index is built in memory from the store when the matcher is made; call
    :meth:`refresh` after lists change.
    """

    def __init__(
        self,
        store: Store,
        *,
        video_percent: float = 80.0,
        video_list_percent: float = 0.0,
        poll_seconds: float = 5.0,
    ) -> None:
        self.store = store
        self.video_percent = video_percent
        """Least share (%) of the query video's usable frames that must match an entry."""
        self.video_list_percent = video_list_percent
        """Least share (%) of the entry's usable frames that the query must match."""
        self.poll_seconds = poll_seconds
        """How often :meth:`refresh_if_changed` asks the store whether a list changed."""
        self.lists: dict[int, _ListInfo] = {}
        self.index = PDQIndex()
        self._pdq_meta: dict[int, tuple[int, str | None]] = {}
        self._lists_version: tuple[Any, ...] | None = None
        self._polled_at = 0.0
        self.refresh()

    def refresh_if_changed(self) -> bool:
        """:meth:`refresh` when a list changed in the store since the last refresh (an import
        or a removal, by this process or any other sharing the store); the store is asked at
        most once per ``poll_seconds``. Whether the indexes changed.

        A process that keeps a matcher (a server, a matching worker) calls this before each
        request or batch: a list change then reaches it within ``poll_seconds`` (plus the
        time of one refresh), without a rebuild of the index.
        """
        now = time.monotonic()
        if now - self._polled_at < self.poll_seconds:
            return False
        self._polled_at = now
        with self.store.read() as conn:
            version = lists_version(conn)
        if version == self._lists_version:
            return False
        self.refresh()
        return True

    @property
    def seen_version(self) -> tuple[Any, ...] | None:
        """The lists' version (:func:`lists_version`) read in the snapshot the indexes were
        last brought up to date from."""
        return self._lists_version

    def snapshot(self) -> MatcherSnapshot:
        """The in-memory indexes and list settings, for :meth:`from_snapshot` elsewhere."""
        return MatcherSnapshot(
            self.video_percent,
            self.video_list_percent,
            self.lists,
            self.index,
            self._pdq_meta,
            self.video_index,
            self._frame_owner,
            self._video_meta,
        )

    @classmethod
    def from_snapshot(cls, snapshot: MatcherSnapshot) -> Matcher:
        """A matcher for :meth:`near` and :meth:`video` on a worker that has no store (exact
        matching and :meth:`refresh` need the store)."""
        matcher = cls.__new__(cls)
        matcher.video_percent = snapshot.video_percent
        matcher.video_list_percent = snapshot.video_list_percent
        matcher.lists = snapshot.lists
        matcher.index = snapshot.index
        matcher._pdq_meta = snapshot.pdq_meta
        matcher.video_index = snapshot.video_index
        matcher._frame_owner = snapshot.frame_owner
        matcher._video_meta = snapshot.video_meta
        return matcher

    def refresh(self) -> None:
        """Bring the in-memory indexes up to date with the store.

        The first call builds the PDQ index; later calls add the entries imported since and
        remove those retired, held for review or deleted, without a rebuild (the index merges
        additions itself when they grow large). Every active PDQ entry is read again, since an
        entry can be held or synced without a new version of its list.
        """
        e = hash_entries.c
        with self.store.read() as conn:
            self._lists_version = lists_version(conn)
            self.lists = {
                r.id: _ListInfo(
                    r.name,
                    r.near_threshold,
                    r.quality_floor,
                    get_scheme(r.scheme).categories,
                    r.version,
                    r.scheme,
                    r.purpose,
                )
                for r in conn.execute(select(hash_lists))
            }
            rows = conn.execute(
                select(e.id, e.list_id, e.value, e.category)
                .where(e.algorithm == "pdq", e.retired_version.is_(None), e.held_at.is_(None))
                .order_by(e.id)
            ).all()
        current = {r.id for r in rows}
        if not self._pdq_meta:
            ids = np.array([r.id for r in rows], dtype=np.int64)
            self.index = (
                PDQIndex(hexes_to_array(r.value for r in rows), ids) if rows else PDQIndex()
            )
        else:
            added = [r for r in rows if r.id not in self._pdq_meta]
            gone = set(self._pdq_meta) - current
            if added:
                self.index.add(
                    hexes_to_array(r.value for r in added),
                    np.array([r.id for r in added], dtype=np.int64),
                )
            if gone:
                self.index.remove(gone)
        self._pdq_meta = {r.id: (r.list_id, r.category) for r in rows}
        self._load_videos()

    def _load_videos(self) -> None:
        """vPDQ entries: their usable frame hashes in one index, each frame knowing its entry.

        A frame whose quality the entry records and which is below its list's floor is left
        out, as are repeats of a frame hash within the entry."""
        e = hash_entries.c
        with self.store.read() as conn:
            rows = conn.execute(
                select(e.id, e.list_id, e.category, e.extra)
                .where(e.algorithm == "vpdq", e.retired_version.is_(None), e.held_at.is_(None))
                .order_by(e.id)
            ).all()
        frames: list[str] = []
        owners: list[int] = []
        self._video_meta: dict[int, tuple[int, str | None, int]] = {}
        for r in rows:
            extra = json.loads(r.extra)
            entry_frames: list[str] = extra.get("frames", [])
            qualities: list[int] | None = extra.get("qualities")
            floor = self.lists[r.list_id].floor
            usable: list[str] = []
            seen: set[str] = set()
            for i, frame in enumerate(entry_frames):
                if qualities is not None and qualities[i] < floor:
                    continue
                if frame in seen:
                    continue
                seen.add(frame)
                usable.append(frame)
            frames.extend(usable)
            owners.extend([r.id] * len(usable))
            self._video_meta[r.id] = (r.list_id, r.category, len(usable))
        self._frame_owner = np.array(owners, dtype=np.int64)
        self.video_index = PDQIndex(hexes_to_array(frames)) if frames else PDQIndex()

    def video(self, frames: list[tuple[str, int]]) -> list[Match]:
        """vPDQ matches of a video given as (frame PDQ, quality) pairs, at any sampling rate.

        Per list, query frames below its quality floor are left out (the entry's were left out
        when the index was built); identical frame hashes count once on each side. A video
        matches an entry when at least ``video_percent`` of its usable frames are within the
        list's threshold of one of the entry's frames, and at least ``video_list_percent`` of
        the entry's usable frames were matched. The distance is the median, over the matched
        query frames, of each one's distance to its nearest frame of the entry.
        """
        if not frames or len(self.video_index) == 0:
            return []
        # Identical frame hashes count once, keeping the best quality seen for each.
        unique: dict[str, int] = {}
        for pdq, quality in frames:
            unique[pdq] = max(quality, unique.get(pdq, -1))
        hashes = list(unique)
        qualities = [unique[h] for h in hashes]
        found = self.video_index.search(hexes_to_array(hashes), self.max_threshold)
        nearest: dict[int, dict[int, int]] = {}
        list_hits: dict[int, set[int]] = {}
        for q, frame, dist in zip(
            found.query.tolist(), found.entry.tolist(), found.distance.tolist(), strict=True
        ):
            entry = int(self._frame_owner[frame])
            list_id, _category, _count = self._video_meta[entry]
            info = self.lists[list_id]
            if dist > info.threshold or qualities[q] < info.floor:
                continue
            per_query = nearest.setdefault(entry, {})
            if dist < per_query.get(q, 257):
                per_query[q] = dist
            list_hits.setdefault(entry, set()).add(frame)
        out: list[Match] = []
        for entry, per_query in nearest.items():
            list_id, category, count = self._video_meta[entry]
            floor = self.lists[list_id].floor
            usable = sum(1 for quality in qualities if quality >= floor)
            query_pct = round(100.0 * len(per_query) / max(usable, 1), 1)
            list_pct = round(100.0 * len(list_hits[entry]) / max(count, 1), 1)
            if query_pct >= self.video_percent and list_pct >= self.video_list_percent:
                match = self._match(
                    list_id,
                    entry,
                    "vpdq",
                    "near",  # perceptual, even at distance 0: a lead, not proof
                    round(statistics.median(per_query.values())),
                    category,
                )
                out.append(_with_percent(match, query_pct, list_pct))
        return out

    @property
    def max_threshold(self) -> int:
        return max((info.threshold for info in self.lists.values()), default=0)

    def _match(
        self,
        list_id: int,
        entry_id: int,
        algorithm: str,
        kind: str,
        distance: int,
        category: str | None,
    ) -> Match:
        info = self.lists[list_id]
        return Match(
            info.name,
            list_id,
            entry_id,
            algorithm,
            kind,
            distance,
            category,
            info.labels.get(category) if category else None,
            list_version=info.version,
            scheme=info.scheme,
            purpose=info.purpose,
        )

    def exact(
        self, conn: Connection, wanted: dict[str, set[str]]
    ) -> dict[tuple[str, str], list[Match]]:
        """Exact hits for ``algorithm -> values``, keyed by (algorithm, value)."""
        e = hash_entries.c
        out: dict[tuple[str, str], list[Match]] = {}
        for algorithm, values in wanted.items():
            ordered = sorted(values)
            for chunk in chunks(ordered):
                for r in conn.execute(
                    select(e.id, e.list_id, e.value, e.category).where(
                        e.algorithm == algorithm,
                        e.value.in_(chunk),
                        e.retired_version.is_(None),
                        e.held_at.is_(None),
                    )
                ):
                    out.setdefault((algorithm, r.value), []).append(
                        self._match(r.list_id, r.id, algorithm, "exact", 0, r.category)
                    )
        return out

    def near(self, pdq_hashes: list[str], qualities: list[int | None]) -> list[list[Match]]:
        """Near (PDQ) hits for each query, within each list's threshold and quality floor."""
        results: list[list[Match]] = [[] for _ in pdq_hashes]
        if not pdq_hashes or len(self.index) == 0:
            return results
        # Each distinct hash is searched once (a file seen many times is common).
        distinct: dict[str, int] = {}
        for value in pdq_hashes:
            distinct.setdefault(value, len(distinct))
        asking: list[list[int]] = [[] for _ in distinct]
        for q, value in enumerate(pdq_hashes):
            asking[distinct[value]].append(q)
        found = self.index.search(hexes_to_array(distinct), self.max_threshold)
        for u, entry, dist in zip(
            found.query.tolist(), found.entry.tolist(), found.distance.tolist(), strict=True
        ):
            list_id, category = self._pdq_meta[entry]
            info = self.lists[list_id]
            if dist > info.threshold:
                continue
            # Perceptual matches stay "near" even at distance 0: the brief keeps exact
            # (cryptographic) and near (perceptual) apart.
            hit = self._match(list_id, entry, "pdq", "near", dist, category)
            for q in asking[u]:
                quality = qualities[q]
                if quality is None or quality >= info.floor:
                    results[q].append(hit)
        return results

    def verdicts(
        self, files: list[dict[str, str]], qualities: list[int | None] | None = None
    ) -> list[FileVerdict]:
        """A verdict per file, from its hashes (``algorithm -> value``)."""
        qualities = qualities or [None] * len(files)
        wanted: dict[str, set[str]] = {}
        for hashes in files:
            for algorithm, value in hashes.items():
                if algorithm != "pdq":
                    wanted.setdefault(algorithm, set()).add(value)
        exact: dict[tuple[str, str], list[Match]] = {}
        if wanted:
            with self.store.read() as conn:
                exact = self.exact(conn, wanted)
        pdq_positions = [i for i, h in enumerate(files) if "pdq" in h]
        near = self.near(
            [files[i]["pdq"] for i in pdq_positions], [qualities[i] for i in pdq_positions]
        )
        verdicts = [FileVerdict() for _ in files]
        for i, hashes in enumerate(files):
            for algorithm, value in hashes.items():
                if algorithm != "pdq":
                    verdicts[i].matches.extend(exact.get((algorithm, value), []))
        for i, hits in zip(pdq_positions, near, strict=True):
            verdicts[i].matches.extend(hits)
        for v in verdicts:
            v.apply_allow_lists()
            v.matches.sort(key=lambda m: (m.kind != "exact", m.distance, m.list_name))
        return verdicts


@dataclass
class MatchSummary:
    files: int = 0
    known: int = 0
    new: int = 0
    exact_matches: int = 0
    near_matches: int = 0
    cleared: int = 0
    """Files an allow-list matched (their block matches suppressed)."""
    held: list[dict[str, Any]] = field(default_factory=list)
    """Entries held for review during the run (flood quarantine)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "known": self.known,
            "new": self.new,
            "cleared": self.cleared,
            "exact_matches": self.exact_matches,
            "near_matches": self.near_matches,
            "held": self.held,
        }


def _with_percent(match: Match, query_pct: float, list_pct: float) -> Match:
    return replace(match, query_percent=query_pct, list_percent=list_pct)


def match_referrals(
    store: Store,
    *,
    report_ids: Iterable[str] | None = None,
    batch_size: int = 2000,
    progress: Callable[[str, int, int], None] | None = None,
    flood: FloodRule | None = None,
    today: date | None = None,
    compute: Compute | None = None,
) -> MatchSummary:
    """Match the hashes supplied in each stored referral file; store matches and verdicts.

    The files are read ``batch_size`` at a time. For each batch the exact (cryptographic)
    pass runs here against the store; the PDQ search of the batch's distinct hashes runs on
    ``compute`` (default: this process): local processes or a Dask cluster, each worker
    holding the matcher's snapshot (sent once); a run of one batch stays in this process
    unless ``compute`` names a cluster. Results are written here, batch after batch in order,
    each batch in one transaction.

    ``progress`` is called with ``("matching", files done, files in all)`` after each batch.
    Each new match of a block-list entry counts towards the entry's matches of ``today``
    (default: the UTC date); with ``flood``, an entry whose day is a flood is held for review
    (see :mod:`tipwatch.matching.flood`) and takes no part in the batches after, and the holds
    are in the summary.
    """
    from tipwatch.compute import Batch, map_batches
    from tipwatch.matching.flood import count_and_hold

    store.require_autonomy("matching the stored referrals")
    day = today or datetime.now(UTC).date()
    matcher = Matcher(store)
    compute = compute or Compute(workers=1)
    summary = MatchSummary()
    f = referral_files.c
    wanted = list(report_ids) if report_ids is not None else None
    count = select(func.count()).select_from(referral_files)
    if wanted is not None:
        count = count.where(f.report_id.in_(wanted))
    with store.read() as conn:
        total = int(conn.execute(count).scalar_one())
    if progress is not None:
        progress("matching", 0, total)
    if total <= batch_size and not compute.cluster:
        compute = Compute(workers=1)  # one batch: nothing to share out, no process to start
    pending: dict[int, list[tuple[Any, dict[str, str]]]] = {}

    def searches() -> Iterator[Batch[str]]:
        """Each page of files as a batch of its distinct PDQ hashes (for the workers)."""
        for index, page in enumerate(_file_pages(store, wanted, batch_size)):
            files = [(row, _hashes_of(row)) for row in page]
            pending[index] = files
            distinct = tuple(dict.fromkeys(h["pdq"] for _row, h in files if "pdq" in h))
            digest = hashlib.blake2b(digest_size=10)
            for row, _h in files:
                digest.update(f"{row.report_id}\x00{row.file_id}\x00".encode())
            yield Batch(index, f"referrals-{index:07d}-{digest.hexdigest()}", distinct)

    held_ids: set[int] = set()
    for batch, near in map_batches(
        _near_on_worker, searches(), compute=compute, setup=load_snapshot, shared=matcher.snapshot()
    ):
        files = pending.pop(batch.index)
        by_pdq = dict(zip(batch.items, near, strict=True))
        wanted_exact: dict[str, set[str]] = {}
        for _row, hashes in files:
            for algorithm, value in hashes.items():
                if algorithm != "pdq":
                    wanted_exact.setdefault(algorithm, set()).add(value)
        with store.read() as conn:
            exact = matcher.exact(conn, wanted_exact) if wanted_exact else {}
        now = _now()
        new_matches: list[dict[str, Any]] = []
        statuses: list[dict[str, Any]] = []
        for row, hashes in files:
            verdict = FileVerdict()
            for algorithm, value in hashes.items():
                if algorithm != "pdq":
                    verdict.matches.extend(exact.get((algorithm, value), []))
            if "pdq" in hashes:
                # Entries held earlier in this run left the store's matching, not the
                # workers' snapshot: their hits are dropped here.
                verdict.matches.extend(
                    m for m in by_pdq[hashes["pdq"]] if m.entry_id not in held_ids
                )
            verdict.apply_allow_lists()
            verdict.matches.sort(key=lambda m: (m.kind != "exact", m.distance, m.list_name))
            for m in verdict.matches:
                new_matches.append(
                    {
                        "report_id": row.report_id,
                        "file_id": row.file_id,
                        "entry_id": m.entry_id,
                        "list_id": m.list_id,
                        "algorithm": m.algorithm,
                        "kind": m.kind,
                        "distance": m.distance,
                        "matched_at": now,
                    }
                )
            statuses.append({"r": row.report_id, "f": row.file_id, "s": verdict.status, "t": now})
            summary.files += 1
            summary.known += verdict.status == "known"
            summary.new += verdict.status == "new"
            summary.cleared += verdict.status == "cleared"
            summary.exact_matches += sum(m.kind == "exact" for m in verdict.matches)
            summary.near_matches += sum(m.kind == "near" for m in verdict.matches)
        # Whole batches at a time: a statement per file cost more than the matching itself.
        keys = [(row.report_id, row.file_id) for row, _hashes in files]
        with store.atomic() as conn:
            before: set[tuple[str, str, int]] = set()
            for i in range(0, len(keys), 400):
                before.update(
                    (r.report_id, r.file_id, r.entry_id)
                    for r in conn.execute(
                        select(
                            file_matches.c.report_id,
                            file_matches.c.file_id,
                            file_matches.c.entry_id,
                        ).where(
                            tuple_(file_matches.c.report_id, file_matches.c.file_id).in_(
                                keys[i : i + 400]
                            )
                        )
                    )
                )
                conn.execute(
                    delete(file_matches).where(
                        tuple_(file_matches.c.report_id, file_matches.c.file_id).in_(
                            keys[i : i + 400]
                        )
                    )
                )
            bulk_insert(conn, file_matches, new_matches)
            conn.execute(
                update(referral_files)
                .where(f.report_id == bindparam("r"), f.file_id == bindparam("f"))
                .values(match_status=bindparam("s"), matched_at=bindparam("t")),
                statuses,
            )
            # Matches seen before (the same file matched again) do not count twice.
            counts: dict[int, int] = {}
            for stored in new_matches:
                if (stored["report_id"], stored["file_id"], stored["entry_id"]) in before:
                    continue
                if matcher.lists[stored["list_id"]].purpose == "block":
                    counts[stored["entry_id"]] = counts.get(stored["entry_id"], 0) + 1
            held = count_and_hold(conn, counts, day, flood)
            summary.held.extend(held)
        held_ids.update(h["entry_id"] for h in held)
        if progress is not None:
            progress("matching", summary.files, total)
    return summary


def _hashes_of(row: Any) -> dict[str, str]:
    hashes: dict[str, str] = json.loads(row.document).get("hashes", {})
    return hashes


# -- the PDQ search on a worker (a local process, a Dask worker, or this process) ------------

_WORKER: dict[str, Matcher] = {}


def load_snapshot(snapshot: MatcherSnapshot) -> None:
    """On a worker, once: the matcher of ``snapshot`` (see :func:`worker_matcher`)."""
    _WORKER["matcher"] = Matcher.from_snapshot(snapshot)


def worker_matcher() -> Matcher:
    """On a worker: the matcher :func:`load_snapshot` made."""
    return _WORKER["matcher"]


def _near_on_worker(pdq_hashes: Sequence[str]) -> list[list[Match]]:
    """On a worker: the PDQ hits of each hash (of unknown quality)."""
    return worker_matcher().near(list(pdq_hashes), [None] * len(pdq_hashes))


def _file_pages(store: Store, report_ids: list[str] | None, size: int) -> Iterator[list[Any]]:
    """The referral files, ``size`` rows at a time in (report id, position) order, each page
    read afresh after the one before: memory stays at one page whatever the store holds."""
    f = referral_files.c
    query = select(f.report_id, f.position, f.file_id, f.document).order_by(
        f.report_id, f.position
    )
    if report_ids is not None:
        query = query.where(f.report_id.in_(report_ids))
    after: tuple[str, int] | None = None
    while True:
        page = query if after is None else query.where(tuple_(f.report_id, f.position) > after)
        with store.read() as conn:
            rows = list(conn.execute(page.limit(size)).all())
        if not rows:
            return
        yield rows
        after = (rows[-1].report_id, rows[-1].position)


def file_matches_for(store: Store, report_id: str) -> list[dict[str, Any]]:
    """Stored matches of one referral's files: list (and its newest version), the entry (its
    id, the versions it was added and retired in), algorithm, kind (exact or near), distance,
    category scheme, category and its label."""
    return file_matches_of(store, [report_id]).get(report_id, [])


def file_matches_of(store: Store, report_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """:func:`file_matches_for` of many referrals at once."""
    with store.read() as conn:
        return _file_matches_of(conn, report_ids)


def _file_matches_of(
    conn: Connection, report_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """:func:`file_matches_of` on an open connection (for a read of several queries)."""
    m, e, lst = file_matches.c, hash_entries.c, hash_lists.c
    out: dict[str, list[dict[str, Any]]] = {}
    for part in chunks(report_ids):
        query = (
            select(
                m.report_id,
                m.file_id,
                m.entry_id,
                m.algorithm,
                m.kind,
                m.distance,
                lst.name,
                lst.scheme,
                lst.version,
                e.category,
                e.added_version,
                e.retired_version,
            )
            .join(hash_entries, hash_entries.c.id == m.entry_id)
            .join(hash_lists, hash_lists.c.id == m.list_id)
            .where(m.report_id.in_(part))
            .order_by(m.report_id, m.file_id, m.distance, m.entry_id)
        )
        for r in conn.execute(query):
            out.setdefault(r.report_id, []).append(
                {
                    "file_id": r.file_id,
                    "list": r.name,
                    "list_version": r.version,
                    "entry_id": r.entry_id,
                    "entry_added_in": r.added_version,
                    "entry_retired_in": r.retired_version,
                    "algorithm": r.algorithm,
                    "kind": r.kind,
                    "distance": r.distance,
                    "category": r.category,
                    "scheme": r.scheme,
                    "category_label": get_scheme(r.scheme).categories.get(r.category or ""),
                }
            )
    return out


def file_statuses(store: Store, report_id: str) -> dict[str, str]:
    """``file id -> known|new`` for the referral's files that have been matched."""
    return file_statuses_of(store, [report_id]).get(report_id, {})


def file_statuses_of(store: Store, report_ids: list[str]) -> dict[str, dict[str, str]]:
    """:func:`file_statuses` of many referrals at once."""
    with store.read() as conn:
        return _file_statuses_of(conn, report_ids)


def _file_statuses_of(conn: Connection, report_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """:func:`file_statuses_of` on an open connection."""
    f = referral_files.c
    out: dict[str, dict[str, str]] = {}
    for part in chunks(report_ids):
        for r in conn.execute(
            select(f.report_id, f.file_id, f.match_status).where(
                f.report_id.in_(part), f.match_status.is_not(None)
            )
        ):
            out.setdefault(r.report_id, {})[r.file_id] = r.match_status
    return out


def match_media(
    store: Store,
    paths: Iterable[Path],
    *,
    jobs: int = 1,
    dihedral: bool = False,
    video_seconds: float | None = None,
    video_memory_bytes: int | None = None,
    video_percent: float = 80.0,
    video_list_percent: float = 0.0,
    compute: Compute | None = None,
    poll_seconds: float = 5.0,
    flood: FloodRule | None = None,
    today: date | None = None,
    held: list[dict[str, Any]] | None = None,
) -> Iterator[tuple[Any, FileVerdict | None]]:
    """Hash media files and match them: (hashes, verdict) per file; verdict None on error.

    With ``dihedral``, an image's 8 rotations and flips are matched too; a hit found only on a
    transformed copy names the transform. ``video_percent`` and ``video_list_percent``: the
    least shares of the query's and the entry's frames for a vPDQ match (see :class:`Matcher`).
    A long run (a stream of uploads) sees list changes made meanwhile by other processes within
    ``poll_seconds``.

    Each file's block-list matches count towards the entries' matches of ``today`` (default:
    the UTC date), recorded every few hundred files and at the end; with ``flood``, an entry
    whose day is a flood is held for review and matches none of the files after. The holds
    made are appended to ``held``.
    """
    from tipwatch.matching.flood import FloodCounter
    from tipwatch.media import hash_paths
    from tipwatch.media.hashing import DIHEDRAL

    matcher = Matcher(
        store,
        video_percent=video_percent,
        video_list_percent=video_list_percent,
        poll_seconds=poll_seconds,
    )
    limits: dict[str, Any] = {}
    if video_seconds is not None:
        limits["video_seconds"] = video_seconds
    if video_memory_bytes is not None:
        limits["video_memory_bytes"] = video_memory_bytes
    counter = FloodCounter(store, flood, today)
    hashed = hash_paths(list(paths), jobs=jobs, dihedral=dihedral, compute=compute, **limits)
    for result in hashed:
        if result.error is not None:
            yield result, None
            continue
        matcher.refresh_if_changed()
        hashes = {
            a: v for a in ("md5", "sha1", "sha256", "pdq") if (v := getattr(result, a)) is not None
        }
        (verdict,) = matcher.verdicts([hashes], [result.pdq_quality])
        if result.vpdq:
            verdict.matches.extend(matcher.video([(f.pdq, f.quality) for f in result.vpdq]))
            verdict.apply_allow_lists()
        if result.pdq_dihedral:
            best = {m.entry_id: m for m in verdict.matches if m.algorithm == "pdq"}
            others = matcher.near(
                result.pdq_dihedral[1:], [result.pdq_quality] * (len(DIHEDRAL) - 1)
            )
            for name, hits in zip(DIHEDRAL[1:], others, strict=True):
                for hit in hits:
                    known = best.get(hit.entry_id)
                    if known is None or hit.distance < known.distance:
                        best[hit.entry_id] = replace(hit, transform=name)
            verdict.matches = [m for m in verdict.matches if m.algorithm != "pdq"]
            verdict.matches.extend(best.values())
            verdict.apply_allow_lists()
            verdict.matches.sort(key=lambda m: (m.kind != "exact", m.distance, m.list_name))
        if _count_flood(counter, verdict, held):
            matcher.refresh()  # the held entries match none of the files after
        yield result, verdict
    _count_flood(counter, None, held)


def _count_flood(
    counter: FloodCounter,
    verdict: FileVerdict | None,
    held: list[dict[str, Any]] | None,
) -> bool:
    """Count a file's block-list matches (``verdict``; None: the run's end, flush); whether
    entries were held."""
    made = counter.flush() if verdict is None else counter.add(verdict.block_entries())
    if held is not None:
        held.extend(made)
    return bool(made)
