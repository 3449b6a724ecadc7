"""Referral services: intake, listing, the dossier, and the quarantine."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tipwatch.services._unit import batch, unit
from tipwatch.services.access import Actor, bound_country
from tipwatch.services.triage import TIERS
from tipwatch.store import Store

if TYPE_CHECKING:
    from tipwatch.formats.detect import InputFormat
    from tipwatch.intake import IngestSummary, ProgressCallback
    from tipwatch.store.quarantine import QuarantineEntry
    from tipwatch.store.referrals import IdentifierBackfill, ReferralSummary
    from tipwatch.triage.config import TriageConfig
    from tipwatch.triage.dossier import Dossier

__all__ = [
    "INPUT_FORMATS",
    "dismiss_quarantined",
    "incident_slug",
    "ingest",
    "list_quarantined",
    "list_referrals",
    "referral_schema",
    "reindex_identifiers",
    "require_visible",
    "retry_quarantined",
    "search_referrals",
    "show_quarantined",
    "show_referral",
]


def ingest(
    store: Store,
    actor: Actor,
    paths: Sequence[Path],
    *,
    input_format: str | None = None,
    batch_size: int = 500,
    progress: ProgressCallback | None = None,
    max_xml_record_bytes: int | None = None,
    max_jsonl_line_bytes: int | None = None,
    max_bad_record_share: float | None = None,
) -> IngestSummary:
    """Read referral files and folders into the store (committed batch by batch).

    The limits default to the readers' own (the settings of the same names)."""
    from tipwatch.intake import ingest_paths

    with batch(store, actor, "intake.ingest", object_type="file") as work:
        work.object_ids = [str(p) for p in paths]
        summary = ingest_paths(
            store,
            paths,
            fmt=_input_format(input_format),
            batch_size=batch_size,
            progress=progress,
            max_xml_record_bytes=max_xml_record_bytes,
            max_jsonl_line_bytes=max_jsonl_line_bytes,
            max_bad_record_share=max_bad_record_share,
        )
        work.detail = (
            f"{summary.ingested} ingested, {summary.duplicates} duplicates, "
            f"{summary.revised} revised, {summary.quarantined} quarantined, "
            f"{len(summary.skipped)} skipped"
        )
    return summary


def reindex_identifiers(
    store: Store,
    actor: Actor,
    *,
    batch_size: int = 1000,
    progress: ProgressCallback | None = None,
) -> IdentifierBackfill:
    """Index the identifiers (accounts, e-mail addresses, screen names, IPs, URLs) of the
    referrals that have none, such as those stored before migration 0010, so that a search by
    one of them finds them. Committed batch by batch, safe to stop and to run again (a
    complete index is left as it is); administrators only, audited as
    ``referral.reindex``. ``progress`` is called as ``("identifiers", done, total)``."""
    from tipwatch.store.referrals import backfill_identifiers

    with batch(store, actor, "referral.reindex", object_type="referral") as work:
        result = backfill_identifiers(
            store,
            batch_size=batch_size,
            progress=(lambda done, total: progress("identifiers", done, total))
            if progress is not None
            else None,
        )
        work.detail = (
            f"{result.missing} referrals without identifier rows; {result.indexed} indexed "
            f"({result.rows} rows); {result.missing - result.indexed} name no identifier"
        )
    return result


def list_referrals(
    store: Store,
    actor: Actor,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    country: str | None = None,
    stated_country: str | None = None,
    incident_type: str | None = None,
    tiers: Sequence[str] = (),
    status: str | None = None,
    service: str | None = None,
    received_since: datetime | None = None,
    received_until: datetime | None = None,
    limit: int | None = 100,
    offset: int = 0,
) -> list[ReferralSummary]:
    """Stored referrals, oldest incident first; bounds are ``since <= t < until``.

    ``country`` is the attributed country, ``stated_country`` the sender's; both take an ISO
    code (alpha-2, or alpha-3 for the countries tipwatch knows) or ``unknown``. An unknown
    code, tier or status is refused.
    """
    from tipwatch.errors import InputError
    from tipwatch.models import IncidentType
    from tipwatch.store.referrals import ReferralFilter
    from tipwatch.store.referrals import list_referrals as _list

    try:
        itype = IncidentType.parse(incident_type) if incident_type else None
    except ValueError as exc:
        raise InputError(str(exc)) from None
    for tier in tiers:
        if tier not in TIERS:
            raise InputError(f"no tier {tier!r}; the tiers are {', '.join(TIERS)}")
    if status not in (None, "open", "sent"):
        raise InputError(f"a referral's status is open or sent, not {status!r}")
    flt = ReferralFilter(
        since=since,
        until=until,
        country=_country(country),
        stated_country=_country(stated_country),
        incident_type=itype,
        tiers=tuple(tiers),
        status=status,
        service=service,
        received_since=received_since,
        received_until=received_until,
        limit=limit,
        offset=offset,
    )
    with unit(store, actor, "referral.list", object_type="referral", writes=False) as work:
        bound = bound_country(actor)
        if bound is not None:
            from dataclasses import replace

            flt = replace(flt, routed_to=bound)
        rows = _list(store, flt)
        work.detail = f"{len(rows)} listed"
    return rows


def _country(value: str | None) -> str | None:
    """The ISO alpha-2 code of an alpha-2 or alpha-3 code; ``unknown`` stays; else refused."""
    from tipwatch.countries import require_country_code

    if value is None or value.lower() in ("unknown", "none", "-"):
        return value
    return require_country_code(value)


def show_referral(
    store: Store,
    actor: Actor,
    report_id: str,
    *,
    config: TriageConfig,
    revisions: bool = False,
) -> Dossier:
    """A referral's dossier, read in one snapshot. Reading it is audited."""
    from tipwatch.triage.dossier import load_dossier

    with unit(
        store, actor, "referral.show", object_type="referral", object_ids=[report_id], writes=False
    ):
        require_visible(store, actor, [report_id])
        return load_dossier(store, report_id, config=config, revisions=revisions)


def require_visible(store: Store, actor: Actor, report_ids: Sequence[str]) -> None:
    """Refuse, as not found, a referral a country-bound actor (a liaison officer) may not
    see: one not in a standing package routed to its country. Others see every referral."""
    from tipwatch.errors import NotFoundError
    from tipwatch.triage.queries import routed_to

    country = bound_country(actor)
    if country is None:
        return
    visible = routed_to(store, report_ids, country)
    for report_id in report_ids:
        if report_id not in visible:
            raise NotFoundError(f"no referral with report id {report_id!r}")


SEARCH_KINDS = ("account", "screen_name", "email", "ip", "url", "report_id", "hash")
"""What :func:`search_referrals` looks a referral up by."""


def search_referrals(
    store: Store,
    actor: Actor,
    *,
    by: str | None = None,
    value: str | None = None,
    country: str | None = None,
    tiers: Sequence[str] = (),
    case_status: str | None = None,
    assignee: str | None = None,
    service: str | None = None,
    incident_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> list[ReferralSummary]:
    """Referrals found by an identifier (``by``/``value``: an account, screen name, e-mail,
    IP address, URL, report id or file hash) and filters, oldest incident first, read after
    the keyset cursor ``after`` (the last row's incident time and report id)."""
    from dataclasses import replace

    from tipwatch.errors import InputError
    from tipwatch.models import IncidentType
    from tipwatch.store.referrals import ReferralFilter
    from tipwatch.store.referrals import list_referrals as _list
    from tipwatch.workflow.cases import STATUSES

    if (by is None) != (value is None):
        raise InputError("a search names both what it looks by and the value")
    if by is not None and by not in SEARCH_KINDS:
        raise InputError(f"a search looks by {', '.join(SEARCH_KINDS)}, not {by!r}")
    if case_status is not None and case_status not in STATUSES:
        raise InputError(f"a case status is one of {', '.join(STATUSES)}, not {case_status!r}")
    for tier in tiers:
        if tier not in TIERS:
            raise InputError(f"no tier {tier!r}; the tiers are {', '.join(TIERS)}")
    try:
        itype = IncidentType.parse(incident_type) if incident_type else None
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if not 1 <= limit <= 1000:
        raise InputError(f"a page holds 1 to 1000 referrals, not {limit}")
    identifier = (by, value) if by not in (None, "report_id", "hash") else None
    flt = ReferralFilter(
        since=since,
        until=until,
        country=_country(country),
        incident_type=itype,
        tiers=tuple(tiers),
        service=service,
        identifier=identifier,  # type: ignore[arg-type]
        assignee=assignee,
        case_status=case_status,
        after=after,
        limit=limit,
    )
    with unit(store, actor, "referral.list", object_type="referral", writes=False) as work:
        bound = bound_country(actor)
        if bound is not None:
            flt = replace(flt, routed_to=bound)
        if by == "report_id":
            flt = replace(flt, report_ids=(value or "",))
        elif by == "hash":
            flt = replace(flt, file_hash=value)
        rows = _list(store, flt)
        work.detail = f"{len(rows)} found" + (f" by {by}" if by else "")
    return rows


def list_quarantined(
    store: Store, actor: Actor, *, status: str = "open", limit: int | None = None
) -> list[QuarantineEntry]:
    from tipwatch.store.quarantine import list_quarantine

    with unit(store, actor, "quarantine.list", object_type="quarantine", writes=False) as work:
        entries = list_quarantine(store, status=status, limit=limit)  # type: ignore[arg-type]
        work.detail = f"{len(entries)} listed"
    return entries


def show_quarantined(store: Store, actor: Actor, entry_id: int) -> QuarantineEntry:
    from tipwatch.store.quarantine import get_quarantine_entry

    with unit(
        store,
        actor,
        "quarantine.show",
        object_type="quarantine",
        object_ids=[str(entry_id)],
        writes=False,
    ):
        return get_quarantine_entry(store, entry_id)


def retry_quarantined(
    store: Store, actor: Actor, entry_ids: Sequence[int] | None = None
) -> list[str]:
    """Read quarantined records again (``None``: every open one); what happened to each."""
    from tipwatch.intake import retry_quarantined as _retry
    from tipwatch.store.quarantine import list_quarantine

    results: list[str] = []
    with unit(store, actor, "quarantine.retry", object_type="quarantine") as work:
        ids = (
            list(entry_ids)
            if entry_ids is not None
            else [e.id for e in list_quarantine(store, status="open")]
        )
        work.object_ids = [str(i) for i in ids]
        for entry_id in ids:
            results.append(_retry(store, entry_id))
    return results


def dismiss_quarantined(
    store: Store, actor: Actor, entry_ids: Sequence[int], *, reason: str
) -> int:
    """Set open quarantine entries aside for good, with the reason. Returns how many."""
    from tipwatch.store.quarantine import dismiss_quarantine

    with unit(
        store,
        actor,
        "quarantine.dismiss",
        object_type="quarantine",
        object_ids=[str(i) for i in entry_ids],
        detail=reason,
    ):
        return dismiss_quarantine(store, entry_ids, reason=reason)


def incident_slug(incident_type: str) -> str:
    """The short name of an incident type (``online-enticement``); ValueError when unknown."""
    from tipwatch.models import IncidentType

    return IncidentType(incident_type).slug


INPUT_FORMATS = ("xml", "jsonl", "csv")
"""The referral file formats intake reads (detected per file unless one is forced)."""


def _input_format(name: str | None) -> InputFormat | None:
    from tipwatch.formats.detect import InputFormat

    return None if name is None else InputFormat(name)


def referral_schema() -> dict[str, object]:
    """The JSON Schema of the canonical referral form."""
    from tipwatch.models import Referral

    return Referral.model_json_schema()
