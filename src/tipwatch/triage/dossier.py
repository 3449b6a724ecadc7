"""The dossier of a referral: everything the store knows about it, read in one snapshot.

One dossier serves every view of a referral (``referrals show``, the routing packages and the
web page), so they cannot disagree: the referral as the sender wrote it, its files with their
hashes and match status, the list entries they matched (exact and near kept apart), the
attribution with its evidence and history, the legal-viewing status of each file under the
given triage configuration, the link groups with what each member shares, the priority with
its reasons, the packages it was sent in and, when asked, its earlier revisions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tipwatch.errors import NotFoundError
from tipwatch.matching.matcher import _file_matches_of, _file_statuses_of
from tipwatch.models import Referral
from tipwatch.store import Store
from tipwatch.store.referrals import _get_referrals, _revisions_of
from tipwatch.triage.config import TriageConfig
from tipwatch.triage.queries import (
    _attributions_of,
    _legal_statuses,
    _links_of_many,
    _packages_of,
    _priorities_of,
)

__all__ = [
    "DOSSIER_KEYS",
    "PACKAGE_KEYS",
    "Dossier",
    "DossierFile",
    "load_dossier",
    "load_dossiers",
]

DOSSIER_KEYS = (
    "report_id",
    "referral",
    "files",
    "match_status",
    "matches",
    "attribution",
    "legal",
    "links",
    "priority",
    "sent_in",
    "revisions",
)
"""The keys of :meth:`Dossier.as_dict`, in order."""
PACKAGE_KEYS = tuple(k for k in DOSSIER_KEYS if k not in ("sent_in", "revisions"))
"""The keys of :meth:`Dossier.package_record`: what a routing package carries about a referral
(not where the referral was sent before, nor its earlier revisions)."""

DEFAULT_LINK_MEMBERS = 200
"""Members listed of each link group (a viral group can hold thousands)."""


def _json_ready(value: Any) -> Any:
    """Times as ISO 8601 text, containers walked; everything else as it is."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class DossierFile:
    """One file of a referral, as the dossier shows it."""

    file_id: str
    file_name: str | None
    hashes: dict[str, str]
    match_status: str | None
    """``known`` or ``new`` once matched; ``None`` before the referral was matched."""
    legal: str | None
    """``may be viewed`` or ``needs legal process before viewing``."""
    exact_matches: tuple[dict[str, Any], ...]
    near_matches: tuple[dict[str, Any], ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_name": self.file_name,
            "hashes": dict(self.hashes),
            "match_status": self.match_status,
            "legal": self.legal,
            "exact_matches": _json_ready(list(self.exact_matches)),
            "near_matches": _json_ready(list(self.near_matches)),
        }


@dataclass(frozen=True, slots=True)
class Dossier:
    """Everything about one referral, read in one snapshot (see :func:`load_dossier`)."""

    report_id: str
    referral: Referral
    """The referral in canonical form, as the sender wrote it (its newest revision)."""
    files: tuple[DossierFile, ...]
    matches: tuple[dict[str, Any], ...]
    """Every stored match of the files: file, list and version, entry, algorithm, kind,
    distance, category."""
    attribution: dict[str, Any] | None
    """Country, confidence, deciding level, evidence, warnings, GeoIP database and the
    attributions it replaced (``history``, newest first); ``None`` before triage."""
    legal: dict[str, str]
    """``file id -> legal-viewing status`` under the configuration the dossier was read with."""
    links: tuple[dict[str, Any], ...]
    """Link groups: id, kind, size, reasons and members with what each shares."""
    priority: dict[str, Any] | None
    """Tier, score and reasons (largest first); ``None`` before triage."""
    sent_in: tuple[dict[str, Any], ...]
    """The routing packages it was sent in, oldest first."""
    revisions: tuple[dict[str, Any], ...] | None
    """Earlier versions of the referral and its files, when asked for; else ``None``."""

    @property
    def match_status(self) -> dict[str, str]:
        """``file id -> known|new`` for the files that have been matched."""
        return {f.file_id: f.match_status for f in self.files if f.match_status is not None}

    def as_dict(self) -> dict[str, Any]:
        """The whole dossier, JSON-ready (times in ISO 8601), keys as :data:`DOSSIER_KEYS`."""
        return {
            "report_id": self.report_id,
            "referral": json.loads(self.referral.model_dump_json(exclude_defaults=True)),
            "files": [f.as_dict() for f in self.files],
            "match_status": self.match_status,
            "matches": {
                "exact": _json_ready([m for m in self.matches if m["kind"] == "exact"]),
                "near": _json_ready([m for m in self.matches if m["kind"] != "exact"]),
            },
            "attribution": _json_ready(self.attribution),
            "legal": dict(self.legal),
            "links": _json_ready(list(self.links)),
            "priority": _json_ready(self.priority),
            "sent_in": _json_ready(list(self.sent_in)),
            "revisions": None if self.revisions is None else _json_ready(list(self.revisions)),
        }

    def package_record(self) -> dict[str, Any]:
        """What a routing package carries about the referral: :meth:`as_dict` without the
        packages it was sent in before and its revisions (keys as :data:`PACKAGE_KEYS`)."""
        whole = self.as_dict()
        return {key: whole[key] for key in PACKAGE_KEYS}


def load_dossier(
    store: Store,
    report_id: str,
    *,
    config: TriageConfig,
    revisions: bool = False,
    max_link_members: int = DEFAULT_LINK_MEMBERS,
) -> Dossier:
    """The dossier of one referral; :class:`NotFoundError` when there is no such referral.

    The legal-viewing status follows ``config`` (pass the team's triage configuration, the one
    routing uses, so that what is shown agrees with what is sent).
    """
    found = load_dossiers(
        store, [report_id], config=config, revisions=revisions, max_link_members=max_link_members
    )
    if not found:
        raise NotFoundError(f"no referral with report id {report_id!r}")
    return found[0]


def load_dossiers(
    store: Store,
    report_ids: Sequence[str],
    *,
    config: TriageConfig,
    revisions: bool = False,
    max_link_members: int = DEFAULT_LINK_MEMBERS,
) -> list[Dossier]:
    """The dossiers of many referrals, in the order asked, read in one snapshot.

    Each part is read for all the referrals at once (in batches of a few hundred ids), so the
    number of queries does not grow with the number of referrals. Report ids with no referral
    are left out.
    """
    ids = list(dict.fromkeys(report_ids))
    with store.read() as conn:
        referrals = _get_referrals(conn, ids)
        ids = [rid for rid in ids if rid in referrals]
        attributions = _attributions_of(conn, ids, history=True)
        statuses = _file_statuses_of(conn, ids)
        matches = _file_matches_of(conn, ids)
        countries = {
            rid: (
                None
                if rid not in attributions or attributions[rid]["country"] == "unknown"
                else attributions[rid]["country"]
            )
            for rid in ids
        }
        legal = _legal_statuses(conn, countries, config)
        links = _links_of_many(conn, ids, settings=config.linking, max_members=max_link_members)
        priorities = _priorities_of(conn, ids)
        packages = _packages_of(conn, ids)
        earlier = _revisions_of(conn, ids) if revisions else {}
    out: list[Dossier] = []
    for rid in ids:
        referral = referrals[rid]
        mine = matches.get(rid, [])
        files = tuple(
            DossierFile(
                file_id=media.file_id,
                file_name=media.file_name,
                hashes=dict(media.hashes),
                match_status=statuses.get(rid, {}).get(media.file_id),
                legal=legal.get(rid, {}).get(media.file_id),
                exact_matches=tuple(
                    m for m in mine if m["file_id"] == media.file_id and m["kind"] == "exact"
                ),
                near_matches=tuple(
                    m for m in mine if m["file_id"] == media.file_id and m["kind"] != "exact"
                ),
            )
            for media in referral.files
        )
        out.append(
            Dossier(
                report_id=rid,
                referral=referral,
                files=files,
                matches=tuple(mine),
                attribution=attributions.get(rid),
                legal=legal.get(rid, {}),
                links=tuple(links.get(rid, [])),
                priority=priorities.get(rid),
                sent_in=tuple(packages.get(rid, [])),
                revisions=tuple(earlier.get(rid, [])) if revisions else None,
            )
        )
    return out
