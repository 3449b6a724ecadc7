"""Referrals in the store: turning models into rows and back, and the queries over them."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Select, func, select, text

from tipwatch.errors import NotFoundError
from tipwatch.models import IncidentType, MediaFile, Referral
from tipwatch.store.bulk import bulk_insert, chunks
from tipwatch.store.database import Store
from tipwatch.store.schema import referral_files, referral_identifiers, referrals, revisions

__all__ = [
    "IDENTIFIER_KINDS",
    "IdentifierBackfill",
    "ReferralFilter",
    "ReferralSummary",
    "UnstorableRecord",
    "backfill_identifiers",
    "check_report_id",
    "count_referrals",
    "file_row",
    "get_referral",
    "get_referrals",
    "identifier_rows",
    "iter_referrals",
    "list_referrals",
    "list_revisions",
    "lock_report_ids",
    "naive_utc",
    "referral_row",
]


class UnstorableRecord(ValueError):
    """A record the readers accept but the store does not keep (the reason is the message).

    Checked before writing, so that SQLite and PostgreSQL refuse the same records."""


_REPORT_ID_LENGTH = 128
"""The longest report id (``referrals.report_id``; the models enforce the same)."""

# A JSON ``\u0000`` escape: NUL in the text itself, unless its backslash is escaped.
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _refuse_nul(document: str, what: str) -> None:
    """PostgreSQL cannot store NUL in text while SQLite can: both refuse it, anywhere in a
    record (documents escape it as ``\\u0000``; the columns would hold it raw)."""
    if "\\u0000" in document and _NUL_ESCAPE.search(document):
        raise UnstorableRecord(f"{what} holds a NUL character (U+0000), which is not stored")


_REFERRAL_LOCKS = 0x7477  # "tw": the advisory-lock class of report ids
_LOCK_IN_ORDER = text(
    "SELECT pg_advisory_xact_lock(:lock_class, k) FROM "
    "(SELECT DISTINCT k FROM unnest(CAST(:keys AS integer[])) AS t(k) ORDER BY k) AS s"
)


def lock_report_ids(conn: Connection, report_ids: Sequence[str]) -> None:
    """Hold these report ids, stored or not, until ``conn``'s transaction ends.

    Two processes revising or adding the same referrals then take turns, so every version is
    kept and numbered once. PostgreSQL: transaction-scoped advisory locks, taken in one order
    (so two batches cannot deadlock); two ids sharing a 32-bit key only wait for each other.
    SQLite: nothing to do, a write transaction holds the database's one write lock.
    """
    if conn.dialect.name != "postgresql" or not report_ids:
        return
    keys = sorted(
        {
            int.from_bytes(hashlib.blake2b(i.encode(), digest_size=4).digest(), "big", signed=True)
            for i in report_ids
        }
    )
    conn.execute(_LOCK_IN_ORDER, {"lock_class": _REFERRAL_LOCKS, "keys": keys})


def check_report_id(report_id: str) -> None:
    """Refuse a report id the store cannot key a referral by (for files that wait for one)."""
    if len(report_id) > _REPORT_ID_LENGTH:
        raise UnstorableRecord(
            f"report id of {len(report_id):,} characters, more than the limit of "
            f"{_REPORT_ID_LENGTH}"
        )
    if "\x00" in report_id:
        raise UnstorableRecord("the report id holds a NUL character (U+0000), which is not stored")


def naive_utc(value: datetime | None) -> datetime | None:
    """Datetimes are stored as naive UTC (the same on SQLite and PostgreSQL)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def referral_row(
    referral: Referral, *, now: datetime, source_file: str | None, file_count: int
) -> dict[str, Any]:
    """The ``referrals`` row of a referral (its files go to ``referral_files``).
    :class:`UnstorableRecord` if the store does not keep it.

    The document leaves out the files and ``received_at``, so that its hash changes only when
    what the sender said about the incident changes.
    """
    document = referral.model_dump_json(exclude={"files", "received_at"}, exclude_defaults=True)
    _refuse_nul(document, "the referral")
    return {
        "report_id": referral.report_id,
        "source": referral.source,
        "received_at": naive_utc(referral.received_at) or now,
        "incident_type": str(referral.incident_type),
        "incident_time": naive_utc(referral.incident_time),
        "platform": referral.platform,
        "country": referral.stated_country,
        "escalated": referral.escalation_reason is not None,
        "batched": referral.batched_reason is not None,
        "file_count": file_count,
        "revision": 1,
        "content_hash": _digest(document),
        "document": document,
        "source_file": source_file,
        "ingested_at": now,
        "updated_at": now,
    }


IDENTIFIER_KINDS = ("account", "screen_name", "email", "ip", "url")
"""What a referral can be searched by through ``referral_identifiers``."""


def identifier_rows(referral: Referral) -> list[dict[str, Any]]:
    """The ``referral_identifiers`` rows of a referral: the accounts, screen names, e-mail
    addresses, IP addresses and URLs its reported parties and intended recipients are named
    by, and those of its internet details. Values are lower-cased and cut to 400 characters."""
    found: set[tuple[str, str]] = set()

    def add(kind: str, value: str | None) -> None:
        if value and value.strip():
            found.add((kind, value.strip().lower()[:400]))

    for party in [*referral.reported, *referral.intended_recipients]:
        add("account", party.esp_identifier)
        add("screen_name", party.screen_name)
        for url in party.profile_urls:
            add("url", url)
        for event in party.ip_events:
            add("ip", event.ip_address)
        if party.person is not None:
            for email in party.person.emails:
                add("email", email.address)
        for account in party.associated_accounts:
            add("account", account.esp_identifier)
            add("screen_name", account.screen_name)
            for url in account.profile_urls:
                add("url", url)
            for email in account.emails:
                add("email", email.address)
            for event in account.ip_events:
                add("ip", event.ip_address)
    for detail in referral.internet_details:
        for url in detail.urls:
            add("url", url)
        for email in detail.emails:
            add("email", email.address)
        for event in detail.ip_events:
            add("ip", event.ip_address)
    rid = referral.report_id
    return [{"report_id": rid, "kind": k, "value": v} for k, v in sorted(found)]


@dataclass(frozen=True, slots=True)
class IdentifierBackfill:
    """What :func:`backfill_identifiers` did: the referrals it found without identifier
    rows, those it indexed (the rest name no identifier), and the rows it wrote."""

    missing: int
    indexed: int
    rows: int

    def as_dict(self) -> dict[str, int]:
        return {"missing": self.missing, "indexed": self.indexed, "rows": self.rows}


def _unindexed(after: str | None) -> Select[Any]:
    r, i = referrals.c, referral_identifiers.c
    query = select(r.report_id, r.document, r.received_at).where(
        ~select(i.report_id).where(i.report_id == r.report_id).exists()
    )
    if after is not None:
        query = query.where(r.report_id > after)
    return query.order_by(r.report_id)


def backfill_identifiers(
    store: Store,
    *,
    batch_size: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> IdentifierBackfill:
    """Write the ``referral_identifiers`` rows of every referral that has none: referrals
    stored before the identifier index existed (migration 0010) are otherwise missed by a
    search by account, e-mail, screen name, IP or URL.

    Each batch (in report id order) is one transaction; the work can stop anywhere and be
    run again, and a run over a complete index writes nothing. ``progress(done, total)``
    follows the referrals checked out of those missing at the start. A referral that
    names no identifier stays without rows and is checked again by the next run."""
    r = referrals.c
    with store.read() as conn:
        total = int(
            conn.execute(
                select(func.count()).select_from(
                    _unindexed(None).with_only_columns(r.report_id).subquery()
                )
            ).scalar_one()
        )
    if progress is not None:
        progress(0, total)
    after: str | None = None
    done = indexed = written = 0
    while True:
        with store.atomic() as conn:
            ids = [
                row.report_id
                for row in conn.execute(
                    _unindexed(after).with_only_columns(r.report_id).limit(batch_size)
                )
            ]
            if not ids:
                break
            # Intake revising one of these referrals now would rewrite its rows: take turns.
            lock_report_ids(conn, ids)
            rows = list(conn.execute(_unindexed(None).where(r.report_id.in_(ids))))
            new = [row for referral in _load(conn, rows) for row in identifier_rows(referral)]
            if new:
                bulk_insert(conn, referral_identifiers, new)
            indexed += len({row["report_id"] for row in new})
            written += len(new)
        after = ids[-1]
        done += len(ids)
        if progress is not None:
            progress(done, max(total, done))
    return IdentifierBackfill(missing=total, indexed=indexed, rows=written)


def file_row(report_id: str, media: MediaFile, position: int) -> dict[str, Any]:
    """The ``referral_files`` row of one file; :class:`UnstorableRecord` if it is not kept."""
    document = media.model_dump_json(exclude_defaults=True)
    _refuse_nul(document, f"file {media.file_id!r}")
    hashes = media.hashes
    return {
        "report_id": report_id,
        "file_id": media.file_id,
        "position": position,
        "file_name": media.file_name,
        "md5": hashes.get("md5"),
        "sha1": hashes.get("sha1"),
        "sha256": hashes.get("sha256"),
        "pdq": hashes.get("pdq"),
        "viewed_by_service": str(media.viewed_by_service),
        "publicly_available": str(media.publicly_available),
        "industry_classification": (
            str(media.industry_classification) if media.industry_classification else None
        ),
        "annotations": ";".join(map(str, media.annotations)),
        "upload_ip": media.upload_ip.ip_address if media.upload_ip else None,
        "revision": 1,
        "content_hash": _digest(document),
        "document": document,
        "match_status": None,
        "matched_at": None,
    }


def _load(conn: Connection, rows: list[Any]) -> list[Referral]:
    if not rows:
        return []
    ids = [r.report_id for r in rows]
    files: dict[str, list[Any]] = {}
    for chunk in chunks(ids):
        query = (
            select(referral_files.c.report_id, referral_files.c.document)
            .where(referral_files.c.report_id.in_(chunk))
            .order_by(referral_files.c.report_id, referral_files.c.position)
        )
        for frow in conn.execute(query):
            files.setdefault(frow.report_id, []).append(json.loads(frow.document))
    out: list[Referral] = []
    for row in rows:
        data = json.loads(row.document)
        data["files"] = files.get(row.report_id, [])
        if row.received_at is not None:
            data["received_at"] = _aware(row.received_at)
        out.append(Referral.model_validate(data))
    return out


def _get_referrals(conn: Connection, report_ids: Sequence[str]) -> dict[str, Referral]:
    """:func:`get_referrals` on an open connection (for a read of several queries)."""
    r = referrals.c
    rows: list[Any] = []
    for chunk in chunks(report_ids):
        rows.extend(
            conn.execute(
                select(r.report_id, r.document, r.received_at).where(r.report_id.in_(chunk))
            ).all()
        )
    return {ref.report_id: ref for ref in _load(conn, rows)}


def get_referral(store: Store, report_id: str) -> Referral:
    """The referral with this report id, with its files; :class:`NotFoundError` if none."""
    with store.read() as conn:
        found = _get_referrals(conn, [report_id])
    if report_id not in found:
        raise NotFoundError(f"no referral with report id {report_id!r}")
    return found[report_id]


def get_referrals(store: Store, report_ids: list[str]) -> dict[str, Referral]:
    """The referrals with these report ids (those that exist), with their files."""
    with store.read() as conn:
        return _get_referrals(conn, report_ids)


@dataclass(frozen=True, slots=True)
class ReferralFilter:
    """Which referrals to list. Every bound is inclusive at the start and exclusive at the end:
    ``since <= incident_time < until`` and ``received_since <= received_at < received_until``.

    ``country`` is the country triage attributed (``unknown``: none could be);
    ``stated_country`` the one the sender stated. ``status`` is ``open`` (in no routing
    package yet) or ``sent``.
    """

    since: datetime | None = None
    until: datetime | None = None
    country: str | None = None
    stated_country: str | None = None
    incident_type: IncidentType | None = None
    tiers: tuple[str, ...] = ()
    status: str | None = None
    service: str | None = None
    received_since: datetime | None = None
    received_until: datetime | None = None
    routed_to: str | None = None
    """Only referrals in a standing (not recalled) routing package for this country."""
    identifier: tuple[str, str] | None = None
    """Only referrals naming this (kind, value): see ``referral_identifiers``."""
    report_ids: tuple[str, ...] | None = None
    file_hash: str | None = None
    """Only referrals with a file of this MD5, SHA-1, SHA-256 or PDQ (hex) hash. Unindexed:
    a scan of the files (intake keeps no hash indexes, see ``referral_files``)."""
    assignee: str | None = None
    case_status: str | None = None
    """The case workflow's status (``new`` includes referrals with no case recorded)."""
    after: tuple[datetime, str] | None = None
    """Keyset cursor: only referrals after this (incident time, report id)."""
    limit: int | None = None
    offset: int = 0

    def apply(self, query: Select[Any]) -> Select[Any]:
        from tipwatch.store.schema import attributions, package_referrals, priorities

        c = referrals.c
        if self.since is not None:
            query = query.where(c.incident_time >= naive_utc(self.since))
        if self.until is not None:
            query = query.where(c.incident_time < naive_utc(self.until))
        if self.received_since is not None:
            query = query.where(c.received_at >= naive_utc(self.received_since))
        if self.received_until is not None:
            query = query.where(c.received_at < naive_utc(self.received_until))
        if self.stated_country is not None:
            if _is_unknown(self.stated_country):
                query = query.where(c.country.is_(None))
            else:
                query = query.where(c.country == self.stated_country.upper())
        if self.country is not None:
            a = attributions.c
            if _is_unknown(self.country):
                placed = select(a.report_id).where(a.country.is_not(None))
                query = query.where(c.report_id.not_in(placed))
            else:
                query = query.where(
                    c.report_id.in_(select(a.report_id).where(a.country == self.country.upper()))
                )
        if self.incident_type is not None:
            query = query.where(c.incident_type == self.incident_type.value)
        if self.tiers:
            p = priorities.c
            query = query.where(
                c.report_id.in_(select(p.report_id).where(p.tier.in_(list(self.tiers))))
            )
        if self.status is not None:
            sent = select(package_referrals.c.report_id)
            query = query.where(
                c.report_id.in_(sent) if self.status == "sent" else c.report_id.not_in(sent)
            )
        if self.service is not None:
            query = query.where(func.lower(c.platform) == self.service.lower())
        if self.routed_to is not None:
            from tipwatch.store.schema import routing_packages

            pr, rp = package_referrals.c, routing_packages.c
            routed = (
                select(pr.report_id)
                .join(routing_packages, rp.id == pr.package_id)
                .where(rp.country == self.routed_to.upper(), rp.status != "recalled")
            )
            query = query.where(c.report_id.in_(routed))
        if self.identifier is not None:
            from tipwatch.store.schema import referral_identifiers

            i = referral_identifiers.c
            kind, value = self.identifier
            named = select(i.report_id).where(i.kind == kind, i.value == value.lower()[:400])
            query = query.where(c.report_id.in_(named))
        if self.report_ids is not None:
            query = query.where(c.report_id.in_(list(self.report_ids)))
        if self.file_hash is not None:
            f = referral_files.c
            value = self.file_hash.strip().lower()
            column = {32: f.md5, 40: f.sha1, 64: f.sha256}.get(len(value), f.md5)
            match = column == value
            if len(value) == 64:
                match = match | (f.pdq == value)
            query = query.where(c.report_id.in_(select(f.report_id).where(match)))
        if self.assignee is not None or self.case_status is not None:
            from tipwatch.store.schema import case_states

            s = case_states.c
            if self.assignee is not None:
                query = query.where(
                    c.report_id.in_(select(s.report_id).where(s.assignee == self.assignee))
                )
            if self.case_status == "new":
                query = query.where(
                    c.report_id.not_in(select(s.report_id).where(s.status != "new"))
                )
            elif self.case_status is not None:
                query = query.where(
                    c.report_id.in_(select(s.report_id).where(s.status == self.case_status))
                )
        if self.after is not None:
            when, rid = self.after
            at = naive_utc(when)
            query = query.where(
                (c.incident_time > at) | ((c.incident_time == at) & (c.report_id > rid))
            )
        return query


def _is_unknown(value: str) -> bool:
    return value.lower() in ("unknown", "none", "-")


@dataclass(frozen=True, slots=True)
class ReferralSummary:
    """One line of a referral list."""

    report_id: str
    incident_time: datetime
    incident_type: str
    country: str | None
    platform: str | None
    source: str | None
    file_count: int
    escalated: bool
    batched: bool
    revision: int
    received_at: datetime | None
    attributed_country: str | None = None
    """The country triage attributed (``None`` before triage or when unknown)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id,
            "incident_time": self.incident_time.isoformat(),
            "incident_type": self.incident_type,
            "attributed_country": self.attributed_country,
            "country": self.country,
            "platform": self.platform,
            "source": self.source,
            "file_count": self.file_count,
            "escalated": self.escalated,
            "batched": self.batched,
            "revision": self.revision,
            "received_at": self.received_at.isoformat() if self.received_at else None,
        }


def list_referrals(store: Store, flt: ReferralFilter | None = None) -> list[ReferralSummary]:
    """Referrals matching ``flt``, oldest incident first."""
    from tipwatch.store.schema import attributions

    flt = flt or ReferralFilter()
    c = referrals.c
    query: Select[Any] = (
        select(
            attributions.c.country.label("attributed_country"),
            c.report_id,
            c.incident_time,
            c.incident_type,
            c.country,
            c.platform,
            c.source,
            c.file_count,
            c.escalated,
            c.batched,
            c.revision,
            c.received_at,
        )
        .select_from(referrals.outerjoin(attributions, attributions.c.report_id == c.report_id))
        .order_by(c.incident_time, c.report_id)
    )
    query = flt.apply(query)
    if flt.limit is not None:
        query = query.limit(flt.limit)
    if flt.offset:
        query = query.offset(flt.offset)
    with store.read() as conn:
        return [
            ReferralSummary(
                report_id=r.report_id,
                incident_time=_aware(r.incident_time) or datetime.min.replace(tzinfo=UTC),
                incident_type=r.incident_type,
                country=r.country,
                platform=r.platform,
                source=r.source,
                file_count=r.file_count,
                escalated=bool(r.escalated),
                batched=bool(r.batched),
                revision=r.revision,
                received_at=_aware(r.received_at),
                attributed_country=r.attributed_country,
            )
            for r in conn.execute(query)
        ]


def iter_referrals(
    store: Store, flt: ReferralFilter | None = None, *, batch_size: int = 1000
) -> Iterator[Referral]:
    """Full referrals (with files) matching ``flt``, read in batches."""
    flt = flt or ReferralFilter()
    c = referrals.c
    base = flt.apply(select(c.report_id, c.document, c.received_at)).order_by(
        c.incident_time, c.report_id
    )
    remaining = flt.limit
    offset = flt.offset
    with store.read() as conn:
        while True:
            size = batch_size if remaining is None else min(batch_size, remaining)
            if size <= 0:
                return
            rows = list(conn.execute(base.limit(size).offset(offset)))
            if not rows:
                return
            yield from _load(conn, rows)
            offset += len(rows)
            if remaining is not None:
                remaining -= len(rows)


def count_referrals(store: Store, flt: ReferralFilter | None = None) -> int:
    flt = flt or ReferralFilter()
    query = flt.apply(select(func.count()).select_from(referrals))
    with store.read() as conn:
        return int(conn.execute(query).scalar_one())


def _revisions_of(conn: Connection, report_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """:func:`list_revisions` of many referrals on an open connection."""
    c = revisions.c
    out: dict[str, list[dict[str, Any]]] = {}
    for chunk in chunks(report_ids):
        query = (
            select(
                c.report_id, c.file_id, c.revision, c.replaced_at, c.replaced_by_source, c.document
            )
            .where(c.report_id.in_(chunk))
            .order_by(c.id)
        )
        for r in conn.execute(query):
            out.setdefault(r.report_id, []).append(
                {
                    "file_id": r.file_id,
                    "revision": r.revision,
                    "replaced_at": _aware(r.replaced_at),
                    "replaced_by_source": r.replaced_by_source,
                    "document": json.loads(r.document),
                }
            )
    return out


def list_revisions(store: Store, report_id: str) -> list[dict[str, Any]]:
    """Earlier versions of a referral and its files, oldest first."""
    with store.read() as conn:
        return _revisions_of(conn, [report_id]).get(report_id, [])
