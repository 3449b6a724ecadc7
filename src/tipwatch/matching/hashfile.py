"""Match the records of a hash file (the output of ``tipwatch hash``) against the lists.

Hash here, match there: files hashed on one machine (or a cluster) are matched on another
that holds the store. The work is split the way it costs:

* the exact (cryptographic) pass runs here, one query per hash type per batch, against the
  store's index of list entries;
* the PDQ search runs on the workers (local processes or a Dask cluster), each holding the
  matcher's snapshot (indexes and list settings, sent once per worker); a PDQ hash already
  searched in this run (the same photo sent many times) is not searched again;
* vPDQ (videos hashed to JSON Lines) is matched on the workers too.

Results come back in the file's order, one :class:`HashVerdict` per record.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tipwatch.compute import Batch, Compute, make_batches, map_batches
from tipwatch.formats.hash_output import HashRecord
from tipwatch.matching.flood import FloodCounter, FloodRule
from tipwatch.matching.matcher import (
    FileVerdict,
    Match,
    Matcher,
    load_snapshot,
    worker_matcher,
)
from tipwatch.store.database import Store

__all__ = ["HashVerdict", "match_hash_records"]

_SEARCHED_KEPT = 1_000_000
"""Distinct PDQ hashes whose results are kept for later records (a bounded memory)."""


@dataclass(slots=True)
class HashVerdict:
    """One record's outcome: a verdict, or the reason there is none."""

    record: HashRecord
    verdict: FileVerdict | None = None
    error: str | None = None
    searched: bool = field(default=False, repr=False)
    """Whether this record's PDQ was searched (not taken from an earlier record)."""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.record.path, "location": self.record.location}
        if self.verdict is None:
            out["error"] = self.error
        else:
            out["status"] = self.verdict.status
            out["matches"] = [m.as_dict() for m in self.verdict.matches]
        return out


_Query = tuple[str | None, int | None, list[tuple[str, int]]]
"""(PDQ to search or None, its quality, vPDQ frames)"""


def _search(items: Sequence[_Query]) -> list[tuple[list[Match] | None, list[Match]]]:
    """On a worker: PDQ hits (None when not asked) and vPDQ hits of each query."""
    matcher = worker_matcher()
    asked = [i for i, (pdq, _q, _f) in enumerate(items) if pdq is not None]
    near = matcher.near([items[i][0] or "" for i in asked], [items[i][1] for i in asked])
    out: list[tuple[list[Match] | None, list[Match]]] = [
        (None, matcher.video(frames) if frames else []) for _pdq, _q, frames in items
    ]
    for i, hits in zip(asked, near, strict=True):
        out[i] = (hits, out[i][1])
    return out


def match_hash_records(
    store: Store,
    records: Iterable[HashRecord],
    *,
    compute: Compute | None = None,
    matcher: Matcher | None = None,
    flood: FloodRule | None = None,
    today: date | None = None,
    held: list[dict[str, Any]] | None = None,
) -> Iterator[HashVerdict]:
    """A :class:`HashVerdict` per record, in order (see the module docstring).

    Each record's block-list matches count towards the entries' matches of ``today``
    (default: the UTC date), recorded every few hundred records and at the end; with
    ``flood``, an entry whose day is a flood is held for review and matches none of the
    records after (its hits from the workers' snapshot are dropped here). The holds made are
    appended to ``held``."""
    matcher = matcher or Matcher(store)
    counter = FloodCounter(store, flood, today)
    compute = compute or Compute(workers=1)
    searched: dict[tuple[str, int | None], list[Match]] = {}
    sent: set[tuple[str, int | None]] = set()
    pending: dict[int, list[HashRecord]] = {}

    def queries() -> Iterator[Batch[_Query]]:
        for batch in make_batches(
            records, compute.batch_size, lambda r: f"{r.location}\x00{r.path}", label="match"
        ):
            pending[batch.index] = list(batch.items)
            items: list[_Query] = []
            for record in batch.items:
                pdq = record.hashes.get("pdq") if _usable(record) else None
                frames = record.frames if _usable(record) else []
                key = (pdq, record.pdq_quality) if pdq is not None else None
                if key is not None and (key in sent or key in searched):
                    pdq = None  # searched for an earlier record
                elif key is not None:
                    sent.add(key)
                items.append((pdq, record.pdq_quality, frames))
            yield Batch(batch.index, batch.key, tuple(items))

    for batch, results in map_batches(
        _search, queries(), compute=compute, setup=load_snapshot, shared=matcher.snapshot()
    ):
        batch_records = pending.pop(batch.index)
        exact = _exact_pass(store, matcher, batch_records)
        for record, query, (near, video) in zip(batch_records, batch.items, results, strict=True):
            if record.problem is not None:
                yield HashVerdict(record, error=record.problem)
                continue
            if record.error is not None:
                yield HashVerdict(record, error=f"not hashed: {record.error}")
                continue
            verdict = FileVerdict()
            for algorithm, value in record.hashes.items():
                if algorithm != "pdq":
                    verdict.matches.extend(exact.get((algorithm, value), []))
            pdq = record.hashes.get("pdq")
            if pdq is not None:
                key = (pdq, record.pdq_quality)
                if near is not None:
                    _keep(searched, key, near)
                    sent.discard(key)
                hits = searched.get(key)
                if hits is None:  # its result left the bounded memory: search it here
                    (hits,) = matcher.near([pdq], [record.pdq_quality])
                verdict.matches.extend(hits)
            verdict.matches.extend(video)
            if counter.held_ids:
                verdict.matches = [m for m in verdict.matches if m.entry_id not in counter.held_ids]
            verdict.matches.sort(key=lambda m: (m.kind != "exact", m.distance, m.list_name))
            verdict.apply_allow_lists()
            made = counter.add(verdict.block_entries())
            if held is not None:
                held.extend(made)
            yield HashVerdict(record, verdict, searched=query[0] is not None)
    made = counter.flush()
    if held is not None:
        held.extend(made)


def _usable(record: HashRecord) -> bool:
    return record.problem is None and record.error is None


def _keep(
    searched: dict[tuple[str, int | None], list[Match]],
    key: tuple[str, int | None],
    hits: list[Match],
) -> None:
    if len(searched) >= _SEARCHED_KEPT:
        del searched[next(iter(searched))]  # the oldest
    searched[key] = hits


def _exact_pass(
    store: Store, matcher: Matcher, records: list[HashRecord]
) -> dict[tuple[str, str], list[Match]]:
    wanted: dict[str, set[str]] = {}
    for record in records:
        if _usable(record):
            for algorithm, value in record.hashes.items():
                if algorithm != "pdq":
                    wanted.setdefault(algorithm, set()).add(value)
    if not wanted:
        return {}
    with store.read() as conn:
        return matcher.exact(conn, wanted)
