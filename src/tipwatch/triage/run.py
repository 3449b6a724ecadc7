"""One triage pass over the store: attribute, link and score every referral.

The pass reads each referral and its files once, in report-id order, straight from the
canonical JSON in the store (no model objects: a million referrals must pass in minutes), and
writes the results in bulk:

* attributions: only for referrals that are new, revised since, or all of them when a newer
  GeoIP database is loaded; the attribution replaced goes to ``attribution_history``;
* link groups: rebuilt (a new referral can join two old groups), each keeping the id of the
  group it continues (merges and splits recorded in ``link_group_events``);
* priorities: every referral re-scored (weights may have changed, links may have).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, DateTime, delete, func, insert, literal, select

from tipwatch.compute import Batch, Compute, map_batches
from tipwatch.errors import ConfigError
from tipwatch.store import Store
from tipwatch.store.bulk import bulk_insert, chunks
from tipwatch.store.schema import (
    attribution_history,
    attributions,
    geoip_databases,
    link_group_events,
    link_groups,
    priorities,
    referral_files,
    referral_links,
    referrals,
)
from tipwatch.triage.attribution import attribute
from tipwatch.triage.config import TriageConfig, load_config
from tipwatch.triage.geoip import GeoIPDatabase
from tipwatch.triage.linking import (
    KeyChunk,
    LinkBuilder,
    LinkGroup,
    digest_keys,
    referral_keys,
)
from tipwatch.triage.priority import (
    TIERS,
    PartialPriority,
    complete_score,
    facts_of,
    partial_score,
)

__all__ = ["TriageSummary", "open_geoip", "triage_store"]

ProgressCallback = Callable[[str, int, int], None]
"""``(stage, done, total)``"""

_BATCH = 5000
_PARALLEL_FROM = 20_000
"""Fewer referrals than this are done in one process (starting workers costs more)."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class TriageSummary:
    referrals: int = 0
    attributed: int = 0
    """Attributions written in this pass (new, revised, or all after a newer database)."""
    reattributed_all: bool = False
    geoip: str | None = None
    geoip_note: str | None = None
    countries: Counter[str] = field(default_factory=Counter)
    """Current attribution of every referral: country (or ``unknown``) -> referrals."""
    groups: int = 0
    linked_referrals: int = 0
    viral_groups: int = 0
    viral_referrals: int = 0
    circulating_groups: int = 0
    """Files on a hash list or sent by many accounts, shared by two referrals or more."""
    tiers: Counter[str] = field(default_factory=Counter)
    config_source: str = "defaults"
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "referrals": self.referrals,
            "attributed": self.attributed,
            "reattributed_all": self.reattributed_all,
            "geoip": self.geoip,
            "geoip_note": self.geoip_note,
            "countries": dict(self.countries.most_common()),
            "groups": self.groups,
            "linked_referrals": self.linked_referrals,
            "viral_groups": self.viral_groups,
            "viral_referrals": self.viral_referrals,
            "circulating_groups": self.circulating_groups,
            "tiers": {t: self.tiers.get(t, 0) for t in TIERS},
            "config": self.config_source,
            "seconds": round(self.seconds, 2),
            "stage_seconds": {k: round(v, 2) for k, v in self.stage_seconds.items()},
        }


def _register(conn: Connection, geo: GeoIPDatabase) -> int:
    g = geoip_databases.c
    found = conn.execute(
        select(g.id).where(g.database_type == geo.database_type, g.build_epoch == geo.build_epoch)
    ).scalar_one_or_none()
    if found is not None:
        return int(found)
    result = conn.execute(
        insert(geoip_databases).values(
            path=str(geo.path.resolve()),
            database_type=geo.database_type,
            build_epoch=geo.build_epoch,
            description=geo.description,
            loaded_at=_now(),
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def open_geoip(
    store: Store, path: str | Path | None, *, force: bool = False
) -> tuple[GeoIPDatabase | None, int | None, bool, str | None]:
    """Open the GeoIP database for a pass: ``(database, id, newer, note)``.

    With ``path``: that database, checked whole (:meth:`GeoIPDatabase.verify`) and only then
    registered in the store; ``newer`` is true when it was built after the one the current
    attributions used (they are then all re-made). An older one is refused unless ``force``.
    A database that fails its check raises :class:`ConfigError` and is not registered.
    Without ``path``: the newest registered database (checked when it was registered), when
    its file is still where it was loaded from.
    """
    given: GeoIPDatabase | None = None
    if path is not None:
        # Checked before the transaction: a large database takes seconds to walk, and one
        # that fails must leave no trace in the store.
        given = GeoIPDatabase(path)
        try:
            given.verify()
        except ConfigError:
            given.close()
            raise
    try:
        return _open_geoip(store, given, force=force)
    except BaseException:
        if given is not None:
            given.close()
        raise


def _open_geoip(
    store: Store, given: GeoIPDatabase | None, *, force: bool
) -> tuple[GeoIPDatabase | None, int | None, bool, str | None]:
    g = geoip_databases.c
    with store.atomic() as conn:
        used_id = conn.execute(select(func.max(attributions.c.geoip_database_id))).scalar()
        used = (
            conn.execute(select(geoip_databases).where(g.id == used_id)).first()
            if used_id is not None
            else None
        )
        if given is None:
            latest = conn.execute(
                select(geoip_databases).order_by(g.build_epoch.desc()).limit(1)
            ).first()
            if latest is None:
                return None, None, False, "no GeoIP database loaded: IP evidence gives no country"
            try:
                geo = GeoIPDatabase(latest.path)
            except ConfigError as exc:
                return None, None, False, f"the last GeoIP database is unusable now ({exc})"
            if geo.build_epoch != latest.build_epoch:
                geo.close()
                return (
                    None,
                    None,
                    False,
                    (f"{latest.path} has changed since it was loaded; load the database again"),
                )
        else:
            geo = given
        if used is not None and geo.build_epoch < used.build_epoch and not force:
            if given is None:
                geo.close()
            raise ConfigError(
                f"GeoIP database {geo.path} (built {geo.built_at:%Y-%m-%d}) is older than the "
                f"one the current attributions use (built "
                f"{datetime.fromtimestamp(used.build_epoch, UTC):%Y-%m-%d})",
                hint="attribute with the older database anyway",
            )
        db_id = _register(conn, geo)
        newer = used is not None and geo.build_epoch > used.build_epoch
        return geo, db_id, newer or (force and used is not None and db_id != used.id), None


def _scan(conn: Connection, conn2: Connection) -> Iterator[tuple[Any, list[tuple[Any, Any]]]]:
    """Each referral row with its files' ``(document, match status)``, in report-id order."""
    r, f = referrals.c, referral_files.c
    ref_rows = conn.execute(
        select(r.report_id, r.incident_time, r.revision, r.document).order_by(r.report_id)
    )
    file_rows = conn2.execute(
        select(f.report_id, f.document, f.match_status).order_by(f.report_id, f.position)
    )
    pending = next(file_rows, None)
    for row in ref_rows:
        files: list[tuple[Any, Any]] = []
        while pending is not None and pending.report_id < row.report_id:
            pending = next(file_rows, None)  # files of a referral that vanished meanwhile
        while pending is not None and pending.report_id == row.report_id:
            files.append((pending.document, pending.match_status))
            pending = next(file_rows, None)
        yield row, files


@dataclass(slots=True)
class _ChunkResult:
    """What the pass keeps of a chunk of referrals, computed where they are read."""

    report_ids: list[str]
    times: list[float]
    countries: list[str | None]
    attributions: list[dict[str, Any]]
    """New ``attributions`` rows (without database id and time)."""
    replaced: list[str]
    keys: KeyChunk
    partials: list[PartialPriority]


_Item = tuple[str, datetime, int, str, list[str], list[str | None], tuple[int, str | None] | None]
"""(report id, incident time, revision, document, file documents, file statuses, existing
attribution as (revision, country))"""

_WORKER: dict[str, Any] = {}


def _init_worker(state: tuple[str | None, TriageConfig]) -> None:
    geo_path, config = state
    _close_worker_geo()
    _WORKER["geo"] = GeoIPDatabase(geo_path) if geo_path else None
    _WORKER["config"] = config


def _process_chunks(chunks: Sequence[list[_Item]]) -> list[_ChunkResult]:
    return [_process(chunk) for chunk in chunks]


def _process(chunk: list[_Item]) -> _ChunkResult:
    """Parse, attribute, key and score a chunk of referrals (in any process)."""
    geo: GeoIPDatabase | None = _WORKER["geo"]
    config: TriageConfig = _WORKER["config"]
    out = _ChunkResult([], [], [], [], [], KeyChunk.of([]), [])
    digests = []
    for report_id, incident, revision, document, file_docs, statuses, known in chunk:
        doc = json.loads(document)
        files = [json.loads(d) for d in file_docs]
        when = incident.replace(tzinfo=UTC)
        if known is not None and known[0] == revision:
            country = known[1]
        else:
            attribution = attribute(doc, files, geo)
            country = attribution.country
            out.attributions.append(
                {
                    "report_id": report_id,
                    "country": country,
                    "confidence": attribution.confidence,
                    "level": attribution.level,
                    "evidence": json.dumps(attribution.evidence_json(), ensure_ascii=False),
                    "referral_revision": revision,
                }
            )
            if known is not None:
                out.replaced.append(report_id)
        out.report_ids.append(report_id)
        out.times.append(when.timestamp())
        out.countries.append(country)
        digests.append(digest_keys(referral_keys(doc, files, when, statuses)))
        out.partials.append(partial_score(facts_of(doc, files, statuses, country=country), config))
    out.keys = KeyChunk.of(digests)
    return out


def _chunks(
    scan: Iterator[tuple[Any, list[tuple[Any, Any]]]],
    existing: dict[str, tuple[int, str | None]],
    size: int = 2000,
) -> Iterator[list[_Item]]:
    chunk: list[_Item] = []
    for row, file_docs in scan:
        chunk.append(
            (
                row.report_id,
                row.incident_time,
                row.revision,
                row.document,
                [d for d, _ in file_docs],
                [st for _, st in file_docs],
                existing.get(row.report_id),
            )
        )
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _map_chunks(
    chunks: Iterator[list[_Item]],
    geo_path: str | None,
    config: TriageConfig,
    jobs: int,
    compute: Compute | None = None,
) -> Iterator[_ChunkResult]:
    """``_process`` over the chunks, in order: here, in ``jobs`` local processes, or as
    ``compute`` says (each chunk of 2,000 referrals is one batch)."""
    compute = compute or Compute(workers=jobs)
    batches = (
        Batch(i, f"triage-{i:07d}-{chunk[0][0]}", (chunk,)) for i, chunk in enumerate(chunks)
    )
    try:
        for _batch, results in map_batches(
            _process_chunks,
            batches,
            compute=compute,
            setup=_init_worker,
            shared=(geo_path, config),
        ):
            yield from results
    finally:
        _close_worker_geo()


def _close_worker_geo() -> None:
    geo = _WORKER.pop("geo", None)
    if geo is not None:
        geo.close()


def _existing_attributions(conn: Connection) -> dict[str, tuple[int, str | None]]:
    a = attributions.c
    return {
        row.report_id: (row.referral_revision, row.country)
        for row in conn.execute(select(a.report_id, a.referral_revision, a.country))
    }


def triage_store(
    store: Store,
    *,
    geoip: str | Path | None = None,
    config: TriageConfig | None = None,
    force: bool = False,
    jobs: int = 0,
    compute: Compute | None = None,
    progress: ProgressCallback | None = None,
) -> TriageSummary:
    """Attribute, link and score every referral in the store (see the module docstring).

    ``jobs`` processes read and attribute referrals (0: one per CPU); small stores are done in
    this process. ``compute`` (a Dask cluster) replaces ``jobs`` when given.
    """
    store.require_autonomy("the triage pass")
    jobs = jobs or os.cpu_count() or 1
    import time

    started = time.perf_counter()
    config = config or load_config()
    summary = TriageSummary(config_source=config.source)
    stages = summary.stage_seconds
    geo, geo_id, newer, note = open_geoip(store, geoip, force=force)
    summary.geoip = geo.label() if geo else None
    summary.geoip_note = note
    summary.reattributed_all = newer
    builder = LinkBuilder(config.linking)
    report_ids: list[str] = []
    times: list[float] = []
    partials: list[PartialPriority] = []
    countries: list[str | None] = []
    now = _now()
    with store.read() as conn:
        total = int(conn.execute(select(func.count()).select_from(referrals)).scalar_one())
        existing = {} if newer else _existing_attributions(conn)
    summary.referrals = total
    new_attr: list[dict[str, Any]] = []
    replaced: list[str] = []

    def flush_attributions() -> None:
        if not new_attr:
            return
        with store.atomic() as wconn:
            if replaced:
                _supersede(wconn, replaced, now)
            bulk_insert(wconn, attributions, new_attr)
        summary.attributed += len(new_attr)
        new_attr.clear()
        replaced.clear()

    if newer:
        with store.atomic() as wconn:
            _supersede_all(wconn, now)
    geo_path = str(geo.path) if geo is not None else None
    done = 0
    with store.read() as conn, store.read() as conn2:
        chunks = _chunks(_scan(conn, conn2), existing)
        workers = jobs if total >= _PARALLEL_FROM else 1
        if compute is not None and total < _PARALLEL_FROM:
            compute = None
        for result in _map_chunks(chunks, geo_path, config, workers, compute):
            for row in result.attributions:
                row["geoip_database_id"] = geo_id if geo is not None else None
                row["attributed_at"] = now
            new_attr.extend(result.attributions)
            replaced.extend(result.replaced)
            report_ids.extend(result.report_ids)
            times.extend(result.times)
            countries.extend(result.countries)
            builder.add_chunk(result.keys)
            partials.extend(result.partials)
            if len(new_attr) >= _BATCH:
                flush_attributions()
            done += len(result.report_ids)
            if progress is not None:
                progress("reading and attributing", done, total)
    flush_attributions()
    stages["read and attribute"] = time.perf_counter() - started
    if progress is not None:
        progress("reading and attributing", total, total)
        progress("linking", 0, 1)
    mark = time.perf_counter()
    groups = builder.build()
    repeat = builder.repeat_rows(times)
    if progress is not None:
        progress("linking", 1, 1)
    stages["link"] = time.perf_counter() - mark
    mark = time.perf_counter()
    _write_groups(store, groups, report_ids, times, now, summary)
    stages["write groups"] = time.perf_counter() - mark
    mark = time.perf_counter()
    _write_priorities(
        store, partials, repeat, builder.viral_rows, report_ids, config, now, summary, progress
    )
    stages["score and write priorities"] = time.perf_counter() - mark
    summary.countries = Counter(c or "unknown" for c in countries)
    summary.seconds = time.perf_counter() - started
    if geo is not None:
        geo.close()
    return summary


def _supersede(conn: Connection, report_ids: list[str], now: datetime) -> None:
    a = attributions.c
    for chunk in chunks(report_ids):
        rows = conn.execute(select(attributions).where(a.report_id.in_(chunk))).mappings().all()
        if rows:
            conn.execute(
                insert(attribution_history), [{**dict(r), "superseded_at": now} for r in rows]
            )
        conn.execute(delete(attributions).where(a.report_id.in_(chunk)))


def _supersede_all(conn: Connection, now: datetime) -> None:
    a = attributions.c
    cols = [
        "report_id",
        "country",
        "confidence",
        "level",
        "evidence",
        "geoip_database_id",
        "referral_revision",
        "attributed_at",
    ]
    source = select(*(a[c] for c in cols), literal(now, DateTime()))
    conn.execute(attribution_history.insert().from_select([*cols, "superseded_at"], source))
    conn.execute(delete(attributions))


def _write_groups(
    store: Store,
    groups: list[LinkGroup],
    report_ids: list[str],
    times: list[float],
    now: datetime,
    summary: TriageSummary,
) -> None:
    linked: set[int] = set()
    viral: set[int] = set()
    for group in groups:
        if group.kind == "linked":
            linked.update(group.members)
            summary.groups += 1
        elif group.kind == "viral":
            viral.update(group.members)
            summary.viral_groups += 1
        else:
            summary.circulating_groups += 1
    summary.linked_referrals = len(linked)
    summary.viral_referrals = len(viral)
    with store.atomic() as conn:
        # Read and rewritten in one transaction: ids are matched against the groups as they
        # are now, and a second pass at the same time cannot hand out the same new id.
        ids, events = _stable_ids(conn, groups, report_ids, now)
        group_rows: list[dict[str, Any]] = []
        link_rows: list[dict[str, Any]] = []
        for gid, group in zip(ids, groups, strict=True):
            member_times = [times[m] for m in group.members]
            group_rows.append(
                {
                    "id": gid,
                    "kind": group.kind,
                    "size": len(group.members),
                    "reasons": json.dumps(group.reasons, sort_keys=True),
                    "first_incident": datetime.fromtimestamp(min(member_times), UTC).replace(
                        tzinfo=None
                    ),
                    "last_incident": datetime.fromtimestamp(max(member_times), UTC).replace(
                        tzinfo=None
                    ),
                    "built_at": now,
                }
            )
            for m in group.members:
                link_rows.append({"report_id": report_ids[m], "group_id": gid, "kind": group.kind})
        conn.execute(delete(referral_links))
        conn.execute(delete(link_groups))
        for start in range(0, len(group_rows), 20_000):
            bulk_insert(conn, link_groups, group_rows[start : start + 20_000])
        for start in range(0, len(link_rows), 20_000):
            bulk_insert(conn, referral_links, link_rows[start : start + 20_000])
        for start in range(0, len(events), 20_000):
            bulk_insert(conn, link_group_events, events[start : start + 20_000])


def _stable_ids(
    conn: Connection, groups: list[LinkGroup], report_ids: list[str], now: datetime
) -> tuple[list[int], list[dict[str, Any]]]:
    """An id for each new group, and the events (created, merged, split, dissolved) to record.

    Groups are matched to the previous run's groups of the same kind by shared members. Each
    old group has one successor: the new group holding most of its members (ties: the
    earliest). A new group takes the id of the old group, among those it succeeds, it shares
    most members with (ties: the lowest id); the others succeeded by it are *merged* into it.
    A new group that shares members with an old group it does not succeed was *split* from
    it. Ids are never handed out twice: a new one is above every id ever used.
    """
    lk, ev = referral_links.c, link_group_events.c
    # A referral is in at most one linked group, but may share several circulating files.
    old_of: dict[tuple[str, str], list[int]] = {}
    old_ids: set[int] = set()
    for row in conn.execute(select(lk.report_id, lk.group_id, lk.kind)):
        old_of.setdefault((row.kind, row.report_id), []).append(row.group_id)
        old_ids.add(row.group_id)
    used = max(
        int(conn.execute(select(func.max(link_groups.c.id))).scalar() or 0),
        int(conn.execute(select(func.max(ev.group_id))).scalar() or 0),
    )
    overlaps: list[Counter[int]] = []
    successor: dict[int, tuple[int, int]] = {}
    """old id -> (shared members, new group index) of its successor"""
    for index, group in enumerate(groups):
        shared: Counter[int] = Counter()
        kind = group.kind
        for m in group.members:
            for old in old_of.get((kind, report_ids[m]), ()):
                shared[old] += 1
        overlaps.append(shared)
        for old, count in shared.items():
            best = successor.get(old)
            if best is None or count > best[0]:
                successor[old] = (count, index)
    ids: list[int] = []
    events: list[dict[str, Any]] = []
    for index, shared in enumerate(overlaps):
        succeeded = sorted(
            (o for o in shared if successor[o][1] == index), key=lambda o: (-shared[o], o)
        )
        left = sorted(o for o in shared if successor[o][1] != index)
        if succeeded:
            gid = succeeded[0]
        else:
            used += 1
            gid = used
        ids.append(gid)
        if len(succeeded) > 1:
            events.append(_event(gid, "merged", succeeded, now))
        if left:
            events.append(_event(gid, "split", left, now))
        if not shared:
            events.append(_event(gid, "created", [], now))
    for old in sorted(old_ids - set(successor)):
        events.append(_event(old, "dissolved", [], now))
    return ids, events


def _event(group_id: int, event: str, from_ids: list[int], now: datetime) -> dict[str, Any]:
    return {"group_id": group_id, "event": event, "from_ids": json.dumps(from_ids), "at": now}


def _write_priorities(
    store: Store,
    partials: list[PartialPriority],
    repeat: set[int],
    viral: set[int],
    report_ids: list[str],
    config: TriageConfig,
    now: datetime,
    summary: TriageSummary,
    progress: ProgressCallback | None,
) -> None:
    total = len(partials)
    with store.atomic() as conn:
        conn.execute(delete(priorities))
        rows: list[dict[str, Any]] = []
        for i, (report_id, partial) in enumerate(zip(report_ids, partials, strict=True)):
            points, tier, reasons = complete_score(
                partial, repeat_account=i in repeat, viral=i in viral, config=config
            )
            summary.tiers[tier] += 1
            rows.append(
                {
                    "report_id": report_id,
                    "score": points,
                    "tier": tier,
                    "reasons": reasons,
                    "config_digest": config.digest,
                    "scored_at": now,
                }
            )
            if len(rows) >= _BATCH:
                bulk_insert(conn, priorities, rows)
                rows = []
                if progress is not None:
                    progress("scoring", i + 1, total)
        bulk_insert(conn, priorities, rows)
    if progress is not None:
        progress("scoring", total, total)
