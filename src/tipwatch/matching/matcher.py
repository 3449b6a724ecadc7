"""Matching hashes against the stored lists: exact (cryptographic) and near (PDQ).

Exact and near matches are kept apart. A near match is a lead, not proof: it always carries
the algorithm, the Hamming distance and the list. A PDQ query takes part in near matching
against a list only when its quality reaches the list's floor (when the quality is known).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, bindparam, delete, select, tuple_, update

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

__all__ = ["FileVerdict", "Match", "MatchSummary", "Matcher", "match_media", "match_referrals"]

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

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "list": self.list_name,
            "algorithm": self.algorithm,
            "kind": self.kind,
            "distance": self.distance,
            "category": self.category,
            "category_label": self.category_label,
            "entry_id": self.entry_id,
        }
        if self.transform is not None:
            out["transform"] = self.transform
        if self.query_percent is not None:
            out["query_percent"] = self.query_percent
            out["list_percent"] = self.list_percent
        return out


@dataclass
class FileVerdict:
    """A file is *known* when any hash matched, else *new*."""

    matches: list[Match] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "known" if self.matches else "new"


@dataclass(slots=True)
class _ListInfo:
    name: str
    threshold: int
    floor: int
    labels: dict[str, str]


class Matcher:
    """Matches hashes against every active entry of every list in the store.

    The PDQ index is built in memory from the store when the matcher is made; call
    :meth:`refresh` after lists change.
    """

    def __init__(self, store: Store, *, video_percent: float = 80.0) -> None:
        self.store = store
        self.video_percent = video_percent
        """Least share (%) of frames, on both sides, for a video (vPDQ) match."""
        self.lists: dict[int, _ListInfo] = {}
        self.index = PDQIndex()
        self._pdq_meta: dict[int, tuple[int, str | None]] = {}
        self._by_list: dict[int, set[int]] = {}
        self._versions_seen: dict[int, set[tuple[int, Any]]] | None = None
        self.refresh()

    def refresh(self) -> None:
        """Bring the in-memory indexes up to date with the store.

        The first call builds the PDQ index. Later calls read again only the entries of the
        lists that have had a version imported since (and drop those of lists removed), add
        the entries new to the index and remove those retired or deleted, without a rebuild
        (the index merges additions itself when they grow large). A refresh with nothing
        changed reads two small tables.
        """
        e, v = hash_entries.c, hash_list_versions.c
        with self.store.read() as conn:
            self.lists = {
                r.id: _ListInfo(
                    r.name, r.near_threshold, r.quality_floor, get_scheme(r.scheme).categories
                )
                for r in conn.execute(select(hash_lists))
            }
            # Each list's versions as imported: a list whose versions differ from those last
            # seen (a version imported; the list removed, or removed and made again) is read
            # again. There are few versions, so this is a small read.
            versions: dict[int, set[tuple[int, Any]]] = {}
            for row in conn.execute(select(v.list_id, v.id, v.imported_at)):
                versions.setdefault(row.list_id, set()).add((row.id, row.imported_at))
            query = select(e.id, e.list_id, e.value, e.category).where(
                e.algorithm == "pdq", e.retired_version.is_(None)
            )
            first = self._versions_seen is None
            changed: set[int] = set()
            if not first:
                seen = self._versions_seen or {}
                changed = {
                    list_id
                    for list_id in set(versions) | set(seen)
                    if versions.get(list_id) != seen.get(list_id)
                }
                query = query.where(e.list_id.in_(sorted(changed)))
            rows = conn.execute(query.order_by(e.id)).all() if first or changed else []
        if first:
            ids = np.array([r.id for r in rows], dtype=np.int64)
            self.index = (
                PDQIndex(hexes_to_array(r.value for r in rows), ids) if rows else PDQIndex()
            )
            self._pdq_meta = {r.id: (r.list_id, r.category) for r in rows}
            self._by_list = {}
            for r in rows:
                self._by_list.setdefault(r.list_id, set()).add(r.id)
        else:
            stale = changed | (set(self._by_list) - set(self.lists))
            known: set[int] = set()
            for list_id in stale:
                known |= self._by_list.pop(list_id, set())
            current = {r.id for r in rows}
            added = [r for r in rows if r.id not in self._pdq_meta]
            gone = known - current
            if added:
                self.index.add(
                    hexes_to_array(r.value for r in added),
                    np.array([r.id for r in added], dtype=np.int64),
                )
            if gone:
                self.index.remove(gone)
                for entry in gone:
                    self._pdq_meta.pop(entry, None)
            for r in rows:
                self._pdq_meta[r.id] = (r.list_id, r.category)
                self._by_list.setdefault(r.list_id, set()).add(r.id)
        self._versions_seen = versions
        self._load_videos()

    def _load_videos(self) -> None:
        """vPDQ entries: every frame hash in one index, each frame knowing its entry."""
        e = hash_entries.c
        with self.store.read() as conn:
            rows = conn.execute(
                select(e.id, e.list_id, e.category, e.extra)
                .where(e.algorithm == "vpdq", e.retired_version.is_(None))
                .order_by(e.id)
            ).all()
        frames: list[str] = []
        owners: list[int] = []
        self._video_meta: dict[int, tuple[int, str | None, int]] = {}
        for r in rows:
            entry_frames = json.loads(r.extra).get("frames", [])
            frames.extend(entry_frames)
            owners.extend([r.id] * len(entry_frames))
            self._video_meta[r.id] = (r.list_id, r.category, len(entry_frames))
        self._frame_owner = np.array(owners, dtype=np.int64)
        self.video_index = PDQIndex(hexes_to_array(frames)) if frames else PDQIndex()

    def video(self, frames: list[tuple[str, int]]) -> list[Match]:
        """vPDQ matches of a video given as (frame PDQ, quality) pairs, one per second.

        Per list, frames below its quality floor are left out; a frame matches when within
        the list's threshold. A video matches an entry when at least ``video_percent`` of its
        frames matched the entry and at least that share of the entry's frames were matched.
        """
        if not frames or len(self.video_index) == 0:
            return []
        found = self.video_index.search(hexes_to_array(f for f, _q in frames), self.max_threshold)
        query_hits: dict[int, set[int]] = {}
        list_hits: dict[int, set[int]] = {}
        worst: dict[int, int] = {}
        for q, frame, dist in zip(
            found.query.tolist(), found.entry.tolist(), found.distance.tolist(), strict=True
        ):
            entry = int(self._frame_owner[frame])
            list_id, _category, _count = self._video_meta[entry]
            info = self.lists[list_id]
            if dist > info.threshold or frames[q][1] < info.floor:
                continue
            query_hits.setdefault(entry, set()).add(q)
            list_hits.setdefault(entry, set()).add(frame)
            worst[entry] = max(worst.get(entry, 0), dist)
        out: list[Match] = []
        for entry, hit_frames in query_hits.items():
            list_id, category, count = self._video_meta[entry]
            usable = sum(1 for _f, quality in frames if quality >= self.lists[list_id].floor)
            query_pct = round(100.0 * len(hit_frames) / max(usable, 1), 1)
            list_pct = round(100.0 * len(list_hits[entry]) / max(count, 1), 1)
            if query_pct >= self.video_percent and list_pct >= self.video_percent:
                match = self._match(
                    list_id,
                    entry,
                    "vpdq",
                    "near",  # perceptual, even at distance 0: a lead, not proof
                    worst[entry],
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
        found = self.index.search(hexes_to_array(pdq_hashes), self.max_threshold)
        for q, entry, dist in zip(
            found.query.tolist(), found.entry.tolist(), found.distance.tolist(), strict=True
        ):
            list_id, category = self._pdq_meta[entry]
            info = self.lists[list_id]
            quality = qualities[q]
            if dist > info.threshold or (quality is not None and quality < info.floor):
                continue
            results[q].append(
                # Perceptual matches stay "near" even at distance 0: the brief keeps exact
                # (cryptographic) and near (perceptual) apart.
                self._match(list_id, entry, "pdq", "near", dist, category)
            )
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
            v.matches.sort(key=lambda m: (m.kind != "exact", m.distance, m.list_name))
        return verdicts


@dataclass
class MatchSummary:
    files: int = 0
    known: int = 0
    new: int = 0
    exact_matches: int = 0
    near_matches: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "files": self.files,
            "known": self.known,
            "new": self.new,
            "exact_matches": self.exact_matches,
            "near_matches": self.near_matches,
        }


def _with_percent(match: Match, query_pct: float, list_pct: float) -> Match:
    from dataclasses import replace

    return replace(match, query_percent=query_pct, list_percent=list_pct)


def match_referrals(
    store: Store,
    *,
    report_ids: Iterable[str] | None = None,
    batch_size: int = 2000,
    progress: Callable[[str, int, int], None] | None = None,
) -> MatchSummary:
    """Match the hashes supplied in each stored referral file; store matches and verdicts.

    ``progress`` is called with ``("matching", files done, files in all)`` after each batch.
    """
    store.require_autonomy("matching the stored referrals")
    matcher = Matcher(store)
    summary = MatchSummary()
    f = referral_files.c
    query = select(f.report_id, f.file_id, f.document).order_by(f.report_id, f.position)
    if report_ids is not None:
        query = query.where(f.report_id.in_(list(report_ids)))
    with store.read() as conn:
        rows = conn.execute(query).all()
    if progress is not None:
        progress("matching", 0, len(rows))
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        hashes = [json.loads(r.document).get("hashes", {}) for r in chunk]
        verdicts = matcher.verdicts(hashes)
        now = _now()
        new_matches: list[dict[str, Any]] = []
        statuses: list[dict[str, Any]] = []
        for row, verdict in zip(chunk, verdicts, strict=True):
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
            summary.exact_matches += sum(m.kind == "exact" for m in verdict.matches)
            summary.near_matches += sum(m.kind == "near" for m in verdict.matches)
        # Whole batches at a time: a statement per file cost more than the matching itself.
        keys = [(row.report_id, row.file_id) for row in chunk]
        with store.atomic() as conn:
            for i in range(0, len(keys), 400):
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
        if progress is not None:
            progress("matching", summary.files, len(rows))
    return summary


def file_matches_for(store: Store, report_id: str) -> list[dict[str, Any]]:
    """Stored matches of one referral's files: list (and its newest version), the entry (its
    id, the versions it was added and retired in), algorithm, kind (exact or near), distance and
    category."""
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
) -> Iterator[tuple[Any, FileVerdict | None]]:
    """Hash media files and match them: (hashes, verdict) per file; verdict None on error.

    With ``dihedral``, an image's 8 rotations and flips are matched too; a hit found only on a
    transformed copy names the transform.
    """
    from tipwatch.media import hash_paths
    from tipwatch.media.hashing import DIHEDRAL

    matcher = Matcher(store)
    limits: dict[str, Any] = {}
    if video_seconds is not None:
        limits["video_seconds"] = video_seconds
    if video_memory_bytes is not None:
        limits["video_memory_bytes"] = video_memory_bytes
    for result in hash_paths(list(paths), jobs=jobs, dihedral=dihedral, **limits):
        if result.error is not None:
            yield result, None
            continue
        hashes = {
            a: v for a in ("md5", "sha1", "sha256", "pdq") if (v := getattr(result, a)) is not None
        }
        (verdict,) = matcher.verdicts([hashes], [result.pdq_quality])
        if result.vpdq:
            verdict.matches.extend(matcher.video([(f.pdq, f.quality) for f in result.vpdq]))
        if result.pdq_dihedral:
            best = {m.entry_id: m for m in verdict.matches if m.algorithm == "pdq"}
            others = matcher.near(
                result.pdq_dihedral[1:], [result.pdq_quality] * (len(DIHEDRAL) - 1)
            )
            for name, hits in zip(DIHEDRAL[1:], others, strict=True):
                for hit in hits:
                    known = best.get(hit.entry_id)
                    if known is None or hit.distance < known.distance:
                        best[hit.entry_id] = Match(
                            hit.list_name,
                            hit.list_id,
                            hit.entry_id,
                            "pdq",
                            "near",
                            hit.distance,
                            hit.category,
                            hit.category_label,
                            transform=name,
                        )
            verdict.matches = [m for m in verdict.matches if m.algorithm != "pdq"]
            verdict.matches.extend(best.values())
            verdict.matches.sort(key=lambda m: (m.kind != "exact", m.distance, m.list_name))
        yield result, verdict
