"""Intake: read referral sources into the store, idempotently, in batches, resumably.

Rules:

* The same report id twice is one referral. An unchanged repeat counts as a *duplicate*; a
  changed one is a *revision*: the new version replaces the old, which is kept in
  ``revisions``.
* Files are compared one by one (by file id): a new file is added to its referral, a changed
  one is a revision. ``<fileDetails>`` whose report has not arrived yet wait in
  ``pending_files`` and are merged when it does.
* Every malformed record goes to the quarantine with its source, location and reason; the
  rest of the source is read on.
* Records are committed in batches, each in one transaction together with the run's resume
  point. A run that was killed resumes from its last committed batch when the same (unchanged)
  file is ingested again, so nothing is lost and nothing is doubled.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from tipwatch.errors import NotFoundError
from tipwatch.formats._records import ReaderItem
from tipwatch.formats.detect import (
    InputFormat,
    detect_format,
    iter_referral_sources,
    read_path,
)
from tipwatch.models import MediaFile, Referral
from tipwatch.store.bulk import bulk_insert
from tipwatch.store.database import Store
from tipwatch.store.referrals import (
    UnstorableRecord,
    check_report_id,
    file_row,
    identifier_rows,
    lock_report_ids,
    referral_row,
)
from tipwatch.store.schema import (
    ingest_runs,
    pending_files,
    quarantine,
    referral_files,
    referral_identifiers,
    referrals,
    revisions,
)

__all__ = [
    "BAD_SHARE_SAMPLE",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MAX_BAD_RECORD_SHARE",
    "FileOutcome",
    "IngestSummary",
    "ProgressCallback",
    "ingest_items",
    "ingest_paths",
    "retry_quarantined",
]

DEFAULT_BATCH_SIZE = 500
DEFAULT_MAX_BAD_RECORD_SHARE = 0.5
"""The share of a source's records that may be bad before the source is refused."""
BAD_SHARE_SAMPLE = 1000
"""Records read before the share of bad ones is judged (a smaller source is never refused)."""
ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(source, bytes_done_in_source, bytes_total_of_source)``."""

_IN_CHUNK = 500


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class FileOutcome:
    """What one source gave."""

    source: str
    format: str
    ingested: int = 0
    duplicates: int = 0
    revised: int = 0
    files_added: int = 0
    pending: int = 0
    quarantined: int = 0
    resumed_from: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)
    """(location, reason) of the first problems, for the summary."""


@dataclass
class IngestSummary:
    """What a run gave, source by source and in total."""

    sources: list[FileOutcome] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """Files found in folders that are not referral sources, with why (path, reason)."""

    def total(self, name: str) -> int:
        return sum(int(getattr(s, name)) for s in self.sources)

    @property
    def ingested(self) -> int:
        return self.total("ingested")

    @property
    def duplicates(self) -> int:
        return self.total("duplicates")

    @property
    def revised(self) -> int:
        return self.total("revised")

    @property
    def files_added(self) -> int:
        return self.total("files_added")

    @property
    def pending(self) -> int:
        return self.total("pending")

    @property
    def quarantined(self) -> int:
        return self.total("quarantined")

    def as_dict(self) -> dict[str, Any]:
        return {
            "sources": len(self.sources),
            "ingested": self.ingested,
            "duplicates": self.duplicates,
            "revised": self.revised,
            "files_added": self.files_added,
            "pending_files": self.pending,
            "quarantined": self.quarantined,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
        }


class _Batch:
    """Writes one batch of records inside one transaction."""

    def __init__(self, conn: Connection, outcome: FileOutcome, fmt: str) -> None:
        self.conn = conn
        self.outcome = outcome
        self.fmt = fmt
        self.now = _now()
        self.reports: dict[str, tuple[str, int]] = {}  # report_id -> (hash, revision)
        self.files: dict[tuple[str, str], tuple[str, int, str]] = {}  # -> (hash, rev, doc)
        self.file_counts: dict[str, int] = {}
        self.touched: set[str] = set()
        self.new_referrals: list[dict[str, Any]] = []
        self.new_files: list[dict[str, Any]] = []
        self.new_identifiers: list[dict[str, Any]] = []
        self.pending: dict[str, list[tuple[int, str, str]]] = {}

    # -- reading what is there -------------------------------------------------------------

    def prefetch(self, items: list[ReaderItem]) -> None:
        ids = _report_ids(items)
        # Before reading what is stored: another process writing the same referrals waits
        # (or is waited for), so what is read here stays true until this batch commits.
        lock_report_ids(self.conn, ids)
        c = referrals.c
        f = referral_files.c
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            for row in self.conn.execute(
                select(c.report_id, c.content_hash, c.revision, c.file_count).where(
                    c.report_id.in_(chunk)
                )
            ):
                self.reports[row.report_id] = (row.content_hash, row.revision)
                self.file_counts[row.report_id] = row.file_count
            known = [i for i in chunk if i in self.reports]
            unknown = [i for i in chunk if i not in self.reports]
            if unknown:
                p = pending_files.c
                for prow in self.conn.execute(
                    select(p.id, p.report_id, p.file_id, p.document)
                    .where(p.report_id.in_(unknown))
                    .order_by(p.id)
                ):
                    self.pending.setdefault(prow.report_id, []).append(
                        (prow.id, prow.file_id, prow.document)
                    )
            if known:
                for frow in self.conn.execute(
                    select(f.report_id, f.file_id, f.content_hash, f.revision, f.document).where(
                        f.report_id.in_(known)
                    )
                ):
                    self.files[(frow.report_id, frow.file_id)] = (
                        frow.content_hash,
                        frow.revision,
                        frow.document,
                    )

    def flush(self) -> None:
        if self.new_referrals:
            bulk_insert(self.conn, referrals, self.new_referrals)
            self.new_referrals = []
        if self.new_files:
            bulk_insert(self.conn, referral_files, self.new_files)
            self.new_files = []
        if self.new_identifiers:
            bulk_insert(self.conn, referral_identifiers, self.new_identifiers)
            self.new_identifiers = []
        self.touched.clear()

    # -- records ---------------------------------------------------------------------------

    def add(self, item: ReaderItem) -> str:
        """Write one record; returns its outcome (ingested, duplicate, revised, ...)."""
        if item.error is not None:
            self.quarantine(item)
            return "quarantined"
        # The rows are made before anything is written: a record the store does not keep is
        # quarantined whole, never half written.
        try:
            if item.referral is not None:
                rid = item.referral.report_id
                row = referral_row(
                    item.referral, now=self.now, source_file=item.source, file_count=0
                )
                frows = [file_row(rid, media, 0) for media in item.referral.files]
            else:
                assert item.loose_file is not None
                rid = item.loose_file.report_id
                check_report_id(rid)
                frows = [file_row(rid, item.loose_file.file, 0)]
        except UnstorableRecord as exc:
            self.quarantine(refused(item, str(exc)))
            return "quarantined"
        if rid in self.touched:
            self.flush()
        self.touched.add(rid)
        if item.referral is not None:
            return self._referral(item.referral, item.source, row, frows)
        assert item.loose_file is not None
        return self._loose_file(rid, item.loose_file.file, item, frows[0])

    def _referral(
        self,
        referral: Referral,
        source: str,
        row: dict[str, Any],
        frows: list[dict[str, Any]],
    ) -> str:
        rid = referral.report_id
        if rid not in self.reports:
            files = list(referral.files)
            merged = self._take_pending(rid, {m.file_id for m in files})
            files.extend(merged)
            frows = frows + [file_row(rid, media, 0) for media in merged]
            row["file_count"] = len(files)
            self.new_referrals.append(row)
            self.new_identifiers.extend(identifier_rows(referral))
            self.reports[rid] = (row["content_hash"], 1)
            self.file_counts[rid] = len(files)
            for position, (media, frow) in enumerate(zip(files, frows, strict=True)):
                frow["position"] = position
                self.new_files.append(frow)
                self.files[(rid, media.file_id)] = (frow["content_hash"], 1, frow["document"])
            self.outcome.ingested += 1
            return "ingested"
        changed = False
        old_hash, old_revision = self.reports[rid]
        if row["content_hash"] != old_hash:
            self._revise_report(rid, row, old_revision, source)
            # What the referral names is searched by its current revision only.
            self.conn.execute(
                delete(referral_identifiers).where(referral_identifiers.c.report_id == rid)
            )
            self.new_identifiers.extend(identifier_rows(referral))
            changed = True
        added = 0
        for media, frow in zip(referral.files, frows, strict=True):
            result = self._file(rid, media, source, frow)
            changed = changed or result == "revised"
            added += result == "added"
        if changed:
            self.outcome.revised += 1
            return "revised"
        if added:
            self.outcome.files_added += added
            return "files_added"
        self.outcome.duplicates += 1
        return "duplicate"

    def _revise_report(self, rid: str, row: dict[str, Any], old_revision: int, source: str) -> None:
        old = self.conn.execute(
            select(referrals.c.document, referrals.c.content_hash).where(
                referrals.c.report_id == rid
            )
        ).one()
        self.conn.execute(
            insert(revisions).values(
                report_id=rid,
                file_id=None,
                revision=old_revision,
                content_hash=old.content_hash,
                document=old.document,
                replaced_at=self.now,
                replaced_by_source=source,
            )
        )
        values = {
            k: v
            for k, v in row.items()
            if k not in ("report_id", "ingested_at", "file_count", "revision")
        }
        values["revision"] = old_revision + 1
        self.conn.execute(update(referrals).where(referrals.c.report_id == rid).values(**values))
        self.reports[rid] = (row["content_hash"], old_revision + 1)

    def _file(self, rid: str, media: MediaFile, source: str, frow: dict[str, Any]) -> str:
        """Add or revise one file of an existing referral: 'added', 'revised' or 'same'."""
        frow["position"] = self.file_counts.get(rid, 0)
        existing = self.files.get((rid, media.file_id))
        if existing is None:
            self.flush()
            self.conn.execute(insert(referral_files).values(**frow))
            self.file_counts[rid] = self.file_counts.get(rid, 0) + 1
            self.conn.execute(
                update(referrals)
                .where(referrals.c.report_id == rid)
                .values(file_count=self.file_counts[rid], updated_at=self.now)
            )
            self.files[(rid, media.file_id)] = (frow["content_hash"], 1, frow["document"])
            return "added"
        old_hash, old_revision, old_doc = existing
        if old_hash == frow["content_hash"]:
            return "same"
        self.flush()
        self.conn.execute(
            insert(revisions).values(
                report_id=rid,
                file_id=media.file_id,
                revision=old_revision,
                content_hash=old_hash,
                document=old_doc,
                replaced_at=self.now,
                replaced_by_source=source,
            )
        )
        values = {k: v for k, v in frow.items() if k not in ("report_id", "file_id", "position")}
        values["revision"] = old_revision + 1
        self.conn.execute(
            update(referral_files)
            .where(referral_files.c.report_id == rid, referral_files.c.file_id == media.file_id)
            .values(**values)
        )
        self.conn.execute(
            update(referrals).where(referrals.c.report_id == rid).values(updated_at=self.now)
        )
        self.files[(rid, media.file_id)] = (
            frow["content_hash"],
            old_revision + 1,
            frow["document"],
        )
        return "revised"

    def _loose_file(
        self, rid: str, media: MediaFile, item: ReaderItem, frow: dict[str, Any]
    ) -> str:
        if rid in self.reports:
            result = self._file(rid, media, item.source, frow)
            if result == "added":
                self.outcome.files_added += 1
                return "files_added"
            if result == "revised":
                self.outcome.revised += 1
                return "revised"
            self.outcome.duplicates += 1
            return "duplicate"
        document = frow["document"]
        p = pending_files.c
        self.conn.execute(
            delete(pending_files).where(p.report_id == rid, p.file_id == media.file_id)
        )
        self.conn.execute(
            insert(pending_files).values(
                report_id=rid,
                file_id=media.file_id,
                content_hash=_digest(document),
                document=document,
                source_file=item.source,
                location=item.location,
                received_at=self.now,
            )
        )
        self.outcome.pending += 1
        return "pending"

    def _take_pending(self, rid: str, present: set[str]) -> list[MediaFile]:
        rows = self.pending.pop(rid, None)
        if not rows:
            return []
        self.conn.execute(delete(pending_files).where(pending_files.c.id.in_([r[0] for r in rows])))
        return [MediaFile.model_validate_json(doc) for _id, fid, doc in rows if fid not in present]

    # -- the quarantine ---------------------------------------------------------------------

    _known_quarantine: _KnownQuarantine | None = None
    _quarantine_seen: dict[tuple[int, str], int]
    _quarantine_rows: list[dict[str, Any]]
    _quarantine_seen_again: list[dict[str, Any]]

    def prepare_quarantine(self, known: _KnownQuarantine, items: list[ReaderItem]) -> None:
        """Look up, in one query, which bad records of ``items`` an earlier run quarantined."""
        self._known_quarantine = known
        self._quarantine_seen = known.find(self.conn, items)
        self._quarantine_rows = []
        self._quarantine_seen_again = []

    def quarantine(self, item: ReaderItem) -> None:
        single = self._known_quarantine is None
        if single:  # not prepared for a batch: one record on its own
            self.prepare_quarantine(_KnownQuarantine(self.conn, item.source), [item])
        raw_hash = _digest(item.raw or item.error or "")
        existing = self._quarantine_seen.get((item.index, raw_hash))
        if existing is not None:
            self._quarantine_seen_again.append({"entry_id": existing, "new_reason": item.error})
        else:
            self._quarantine_rows.append(
                {
                    "source_file": item.source,
                    "location": item.location,
                    "record_index": item.index,
                    "record_key": item.key,
                    "format": self.fmt,
                    "reason": item.error,
                    "raw": item.raw,
                    "raw_hash": raw_hash,
                    "status": "open",
                    "times_seen": 1,
                    "created_at": self.now,
                    "resolved_at": None,
                    "note": None,
                }
            )
        self.outcome.quarantined += 1
        if len(self.outcome.problems) < 20:
            self.outcome.problems.append((item.location, item.error or ""))
        if single:
            self.flush_quarantine()

    def flush_quarantine(self) -> None:
        """Write the batch's quarantine rows: new ones, and those seen again (counted)."""
        if self._known_quarantine is None:
            return
        if self._quarantine_rows:
            bulk_insert(self.conn, quarantine, self._quarantine_rows)
            self._quarantine_rows = []
        if self._quarantine_seen_again:
            q = quarantine.c
            self.conn.execute(
                update(quarantine)
                .where(q.id == bindparam("entry_id"))
                .values(times_seen=q.times_seen + 1, reason=bindparam("new_reason")),
                self._quarantine_seen_again,
            )
            self._quarantine_seen_again = []


class _KnownQuarantine:
    """The quarantine rows one source had before this run, looked up a batch at a time.

    A bad record read again is counted on its row (``times_seen``) rather than added twice.
    Only rows of earlier runs can match (a run reads each record once, and a resumed run
    skips what was committed), so a source without any, the usual case, costs no lookup at
    all, and otherwise one query per batch: the quarantine's cost grows with the file, not
    with the square of its bad records.
    """

    def __init__(self, conn: Connection, source: str) -> None:
        q = quarantine.c
        self.source = source
        self.earlier = (
            conn.execute(select(q.id).where(q.source_file == source).limit(1)).first() is not None
        )

    def find(self, conn: Connection, items: list[ReaderItem]) -> dict[tuple[int, str], int]:
        """(record index, raw hash) -> id of the open or dismissed rows matching ``items``."""
        # Every record of the batch, not only those the reader refused: the store may refuse a
        # record the reader accepted (a value it cannot keep), and that one is seen again too.
        indexes = sorted({it.index for it in items})
        found: dict[tuple[int, str], int] = {}
        if not self.earlier or not indexes:
            return found
        q = quarantine.c
        wanted = set(indexes)
        # A range, not an IN list: the records of a batch are consecutive, and a range costs
        # the database two comparisons a row where a long IN list costs one per value.
        for row in conn.execute(
            select(q.id, q.record_index, q.raw_hash)
            .where(
                q.source_file == self.source,
                q.record_index.between(indexes[0], indexes[-1]),
                # A dismissed record read again is counted, not reopened.
                q.status.in_(("open", "dismissed")),
            )
            .order_by(q.id)
        ):
            if row.record_index in wanted:
                found.setdefault((row.record_index, row.raw_hash), row.id)
        return found


class _BadShare:
    """Counts a source's bad records and says when their share passes the limit."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.read = 0
        self.bad = 0

    @property
    def judged(self) -> bool:
        """Whether enough records have been read to judge the source by."""
        return self.read >= BAD_SHARE_SAMPLE

    @property
    def whole(self) -> bool:
        """Whether the judgement falls on the first records (the source is refused whole)."""
        return self.read == BAD_SHARE_SAMPLE

    def count(self, item: ReaderItem, fmt: str) -> ReaderItem | None:
        """Count ``item``; the refusal to quarantine instead when the share is passed."""
        if item.fatal:
            return None  # the reader stops here anyway, with its own reason
        self.read += 1
        self.bad += item.error is not None
        if not self.judged or self.bad <= self.limit * self.read:
            return None
        first = self.whole
        return ReaderItem(
            item.source,
            item.index,
            item.location,
            error=(
                f"refused at {item.location}: {self.bad:,} of the {'first ' if first else ''}"
                f"{self.read:,} records read cannot be read, more than the "
                f"{self.limit:.0%} a source may have (the max_bad_record_share setting); "
                f"the file is not {fmt.upper()} referrals or is damaged, and "
                + (
                    "nothing of it was ingested"
                    if first
                    else "the records before this point were ingested"
                )
            ),
            fatal=True,
        )


def _report_ids(items: list[ReaderItem]) -> list[str]:
    return sorted(
        {it.referral.report_id for it in items if it.referral}
        | {it.loose_file.report_id for it in items if it.loose_file}
    )


def refused(item: ReaderItem, reason: str) -> ReaderItem:
    """``item`` as a quarantine entry: read, but not kept by the store, for ``reason``."""
    return ReaderItem(
        item.source, item.index, item.location, error=reason, raw=item.raw, key=item.key
    )


_RECORD_ERRORS = (DataError, IntegrityError, ValueError, ArithmeticError, RecursionError)
"""What one record can make a batch fail with (checked by :func:`_record_problem`)."""


def _record_problem(exc: BaseException) -> bool:
    """True when ``exc`` is about the data written, not the database being unusable (locked,
    unreachable): only the former is a record's fault and quarantined."""
    return not isinstance(exc, DBAPIError) or not exc.connection_invalidated


def _store_refusal(exc: BaseException) -> str:
    """The reason a record was not stored: the database's own message, on one line."""
    detail = exc.orig if isinstance(exc, DBAPIError) else exc
    first_line = (str(detail).strip().splitlines() or [type(detail).__name__])[0]
    return f"the store refused the record: {first_line}"


_COUNTS = ("ingested", "duplicates", "revised", "files_added", "pending", "quarantined")


def _counts(outcome: FileOutcome) -> tuple[tuple[int, ...], int]:
    return tuple(getattr(outcome, n) for n in _COUNTS), len(outcome.problems)


def _restore(outcome: FileOutcome, saved: tuple[tuple[int, ...], int]) -> None:
    """Undo the counts of writes that were rolled back."""
    values, problems = saved
    for name, value in zip(_COUNTS, values, strict=True):
        setattr(outcome, name, value)
    del outcome.problems[problems:]


def _fingerprint(path: Path) -> str:
    st = path.stat()
    h = hashlib.sha256()
    with path.open("rb") as fh:
        h.update(fh.read(1 << 20))
    return f"{st.st_size}:{st.st_mtime_ns}:{h.hexdigest()[:32]}"


@contextmanager
def _bulk_gc() -> Iterator[None]:
    """Collect garbage less often during a bulk run.

    Intake allocates many short-lived objects that reference counting frees at once; the
    cyclic collector, run at its default rate, would rescan every long-lived object (modules,
    schemas) many times a second. Freezing what exists and raising the first threshold keeps
    it to the new objects. Settings are restored afterwards.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def ingest_items(
    store: Store,
    items: Iterable[ReaderItem],
    *,
    source: str,
    fmt: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    fingerprint: str | None = None,
    max_bad_record_share: float | None = None,
) -> FileOutcome:
    """Ingest the records of one source (any iterable of reader items) into ``store``.

    With a ``fingerprint`` (of an unchanged file) an interrupted earlier run of the same
    source is resumed from its last committed batch. Once :data:`BAD_SHARE_SAMPLE` records
    have been read, a source whose share of bad records passes ``max_bad_record_share`` is
    refused: reading stops there with one quarantine entry giving the reason (nothing is
    ingested when that happens within the first records).
    """
    outcome = FileOutcome(source=source, format=fmt)
    r = ingest_runs.c
    store.require_autonomy("intake")
    with store.atomic() as conn:
        known_quarantine = _KnownQuarantine(conn, source)
        resume = None
        if fingerprint is not None:
            resume = conn.execute(
                select(r.id, r.records_done)
                .where(r.source_file == source, r.fingerprint == fingerprint, r.status == "running")
                .order_by(r.id.desc())
            ).first()
        if resume is not None:
            run_id = resume.id
            outcome.resumed_from = resume.records_done
        else:
            run_id = conn.execute(
                insert(ingest_runs)
                .values(
                    source_file=source,
                    fingerprint=fingerprint or "",
                    format=fmt,
                    status="running",
                    records_done=0,
                    ingested=0,
                    duplicates=0,
                    revised=0,
                    files_added=0,
                    pending=0,
                    quarantined=0,
                    started_at=_now(),
                )
                .returning(r.id)
            ).scalar_one()
    skip_below = outcome.resumed_from
    batch: list[ReaderItem] = []
    last_index = skip_below - 1

    def mark(conn: Connection, done: int) -> None:
        conn.execute(
            update(ingest_runs)
            .where(r.id == run_id)
            .values(
                records_done=done,
                ingested=outcome.ingested,
                duplicates=outcome.duplicates,
                revised=outcome.revised,
                files_added=outcome.files_added,
                pending=outcome.pending,
                quarantined=outcome.quarantined,
            )
        )

    def commit(chunk: list[ReaderItem], done: int) -> None:
        before = _counts(outcome)
        try:
            with store.atomic() as conn:
                writer = _Batch(conn, outcome, fmt)
                writer.prefetch(chunk)
                writer.prepare_quarantine(known_quarantine, chunk)
                for it in chunk:
                    writer.add(it)
                writer.flush()
                writer.flush_quarantine()
                mark(conn, done)
            return
        except _RECORD_ERRORS as exc:
            if not _record_problem(exc):
                raise
            _restore(outcome, before)
        # One record the database refused undid the batch: write it again record by record,
        # each in a SAVEPOINT, and quarantine the records refused, with the database's reason.
        with store.atomic() as conn:
            # All of the batch's ids at once, in order, as in a whole batch (no deadlock).
            lock_report_ids(conn, _report_ids(chunk))
            for it in chunk:
                before = _counts(outcome)
                try:
                    with store.atomic():
                        writer = _Batch(conn, outcome, fmt)
                        writer.prefetch([it])
                        writer.add(it)
                        writer.flush()
                except _RECORD_ERRORS as exc:
                    if not _record_problem(exc):
                        raise
                    _restore(outcome, before)
                    _Batch(conn, outcome, fmt).quarantine(refused(it, _store_refusal(exc)))
            mark(conn, done)

    bad_share = _BadShare(
        DEFAULT_MAX_BAD_RECORD_SHARE if max_bad_record_share is None else max_bad_record_share
    )
    try:
        with _bulk_gc():
            for item in items:
                if item.index < skip_below:
                    continue
                refusal = bad_share.count(item, fmt)
                if refusal is not None:
                    # Refused on its first records, a source leaves nothing but the refusal.
                    kept = [] if bad_share.whole else batch
                    commit([*kept, refusal], item.index + 1)
                    batch = []
                    break
                batch.append(item)
                last_index = item.index
                # The first records wait until they are enough to judge the file by.
                if len(batch) >= batch_size and bad_share.judged:
                    commit(batch, last_index + 1)
                    batch = []
            if batch:
                commit(batch, last_index + 1)
    except BaseException:
        # A file's run stays "running" so that ingesting the file again resumes it.
        if fingerprint is None:
            with store.atomic() as conn:
                conn.execute(update(ingest_runs).where(r.id == run_id).values(status="failed"))
        raise
    with store.atomic() as conn:
        conn.execute(
            update(ingest_runs).where(r.id == run_id).values(status="complete", finished_at=_now())
        )
    return outcome


def ingest_paths(
    store: Store,
    paths: Iterable[Path],
    *,
    fmt: InputFormat | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
    max_xml_record_bytes: int | None = None,
    max_jsonl_line_bytes: int | None = None,
    max_bad_record_share: float | None = None,
) -> IngestSummary:
    """Ingest files and folders (recursively). See the module docstring for the rules. The
    limits default to the readers' own (``tipwatch.formats``) and
    :data:`DEFAULT_MAX_BAD_RECORD_SHARE`."""
    summary = IngestSummary()
    for path, skip in iter_referral_sources(paths):
        if skip is not None and fmt is None:
            summary.skipped.append((str(path), skip))
            continue
        file_fmt = fmt or detect_format(path)
        total = path.stat().st_size
        source = str(path)

        def on_bytes(done: int, _source: str = source, _total: int = total) -> None:
            if progress is not None:
                progress(_source, min(done, _total), _total)

        items = read_path(
            path,
            file_fmt,
            on_bytes=on_bytes,
            max_xml_record_bytes=max_xml_record_bytes,
            max_jsonl_line_bytes=max_jsonl_line_bytes,
        )
        outcome = ingest_items(
            store,
            items,
            source=source,
            fmt=file_fmt.value,
            batch_size=batch_size,
            fingerprint=_fingerprint(path),
            max_bad_record_share=max_bad_record_share,
        )
        summary.sources.append(outcome)
    return summary


def retry_quarantined(store: Store, entry_id: int) -> str:
    """Read a quarantined record again; ingest it if it now reads. Returns what happened."""
    from tipwatch.formats.detect import reparse_raw

    q = quarantine.c
    with store.read() as conn:
        row = conn.execute(select(quarantine).where(q.id == entry_id)).first()
    if row is None:
        raise NotFoundError(f"no quarantine entry {entry_id}")
    if row.status != "open":
        return f"entry {entry_id} is already {row.status}"
    if row.format not in {f.value for f in InputFormat}:
        # Forum records keep no handle or text in quarantine: their export is read again.
        return (
            f"entry {entry_id} is a {row.format} record: fix {row.source_file} and read it "
            "again with forum intake"
        )
    if not row.raw:
        return (
            f"entry {entry_id} cannot be retried: {row.source_file} could not be read past "
            f"{row.location}. Fix the file and ingest it again"
        )
    items = reparse_raw(InputFormat(row.format), row.raw, row.source_file, row.location)
    errors = [it for it in items if it.error]
    if errors or not items:
        reason = errors[0].error if errors else "the record holds nothing to ingest"
        with store.atomic() as conn:
            conn.execute(update(quarantine).where(q.id == entry_id).values(reason=reason))
        return f"entry {entry_id} still fails: {reason}"
    outcome = FileOutcome(source=row.source_file, format=row.format)
    results: list[str] = []
    with store.atomic() as conn:
        writer = _Batch(conn, outcome, row.format)
        writer.prefetch(items)
        for it in items:
            results.append(writer.add(it))
        writer.flush()
        note = f"retried: {', '.join(results)}"
        conn.execute(
            update(quarantine)
            .where(q.id == entry_id)
            .values(status="resolved", resolved_at=_now(), note=note)
        )
    return f"entry {entry_id} {note}"
