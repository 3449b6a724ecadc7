"""Routing packages: everything one country needs about its referrals, in one folder.

A package holds ``referrals.jsonl`` (each referral in canonical form with its attribution
evidence, matches, links, priority and the legal status of each file), ``summary.csv`` (one
line a referral) and ``summary.html`` (a short readable summary that opens in any browser,
offline). Each package is recorded in the store: who made it, when, and which referrals, so
that a referral shows where it was sent and is not sent twice by mistake.
"""

from __future__ import annotations

import csv
import errno
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update

from tipwatch import __version__
from tipwatch.countries import normalise_country
from tipwatch.errors import ConfigError, ConflictError, InputError, NotFoundError
from tipwatch.formats.csv_safety import neutralise_cell, restore_cell
from tipwatch.store import Store
from tipwatch.store.schema import (
    link_groups,
    package_referrals,
    recipients,
    referral_links,
    referrals,
    routing_packages,
)
from tipwatch.triage.attribution import LEVEL_LABELS
from tipwatch.triage.config import TriageConfig, load_config
from tipwatch.triage.dossier import load_dossiers
from tipwatch.triage.priority import TIERS
from tipwatch.triage.queries import NEEDS_LEGAL_PROCESS, QueueEntry, queue, sent_clause

__all__ = [
    "DETAIL_PAGE_ROWS",
    "PACKAGE_FILES",
    "PACKAGE_LINK_MEMBERS",
    "RoutePreview",
    "RoutingPackage",
    "acknowledge_package",
    "add_recipient",
    "detail_page_name",
    "list_recipients",
    "package_files",
    "preview_route",
    "recall_package",
    "route_country",
    "routing_latency",
]

PACKAGE_FILES = ("referrals.jsonl", "summary.csv", "summary.html")
"""The files of a package, all written and checked before the package is recorded."""

DETAIL_PAGE_ROWS = 200
"""Referrals on each page of a package's detail (``detail-001.html``...): a page a browser
opens at once and an officer can scroll; the CSV and JSON Lines keep them all."""

DEFAULT_MARKING = "TLP:AMBER"
"""The handling marking of a package when the caller names none (the setting's default)."""

PACKAGE_GROUPS_SHOWN = 100
"""Link groups described on a package's summary page (largest first)."""

RECIPIENT_KINDS = ("office", "user")


def detail_page_name(number: int) -> str:
    """The file of page ``number`` (from 1) of a package's per-referral detail."""
    return f"detail-{number:03d}.html"


def package_files(referral_count: int) -> list[str]:
    """Every file of a package of ``referral_count`` referrals: :data:`PACKAGE_FILES` and
    its detail pages."""
    pages = (referral_count + DETAIL_PAGE_ROWS - 1) // DETAIL_PAGE_ROWS
    return [*PACKAGE_FILES, *(detail_page_name(n) for n in range(1, pages + 1))]


PACKAGE_LINK_MEMBERS = 50
"""Members listed of each link group in a package record."""

_CSV_COLUMNS = (
    "report_id",
    "tier",
    "score",
    "incident_time",
    "incident_type",
    "country",
    "confidence",
    "decided_by",
    "files",
    "known_files",
    "new_files",
    "files_needing_legal_process",
    "linked_referrals",
    "reasons",
)


@dataclass(frozen=True, slots=True)
class RoutingPackage:
    package_id: int | None
    country: str
    folder: Path | None
    referral_count: int
    tiers: dict[str, int]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _country_code(country: str) -> str:
    code, why = normalise_country(country)
    if code is None:
        raise InputError(f"country {country!r}: {why}")
    return code


def _selection(
    store: Store,
    code: str,
    since: datetime | None,
    until: datetime | None,
    include_sent: bool,
    date_basis: str,
    report_ids: Sequence[str] | None,
    group_ids: Sequence[int] | None,
) -> list[QueueEntry]:
    """The queued referrals a package of ``code`` takes: what a route sends, and previews."""
    return queue(
        store,
        country=code,
        include_sent=include_sent,
        since=since,
        until=until,
        limit=None,
        date_basis=date_basis,
        report_ids=report_ids,
        group_ids=group_ids,
    )


def _tier_counts(entries: Iterable[QueueEntry]) -> dict[str, int]:
    tiers = {t: 0 for t in TIERS}
    for e in entries:
        tiers[e.tier] = tiers.get(e.tier, 0) + 1
    return tiers


def route_country(
    store: Store,
    country: str,
    out: str | Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    include_sent: bool = False,
    created_by: str,
    config: TriageConfig | None = None,
    date_basis: str = "incident",
    report_ids: Sequence[str] | None = None,
    group_ids: Sequence[int] | None = None,
    recipient: str | None = None,
    marking: str = DEFAULT_MARKING,
) -> RoutingPackage:
    """Write the package of ``country``'s open referrals into ``out/`` and record it.

    Referrals already sent in an earlier package are left out unless ``include_sent``. With
    nothing to send, nothing is written or recorded (``package_id`` is ``None``).

    A package counts as sent only once complete: its files are written into a hidden staging
    folder beside ``out`` and read back, the package is recorded, and the folder is renamed to
    ``out`` when that record commits (at the end of the caller's transaction, if there is
    one). A failure or interruption before then leaves the referrals open and no package.
    """
    code = _country_code(country)
    config = config or load_config()
    to = _recipient(store, recipient, code) if recipient is not None else None
    entries = _selection(store, code, since, until, include_sent, date_basis, report_ids, group_ids)
    tiers = _tier_counts(entries)
    if not entries:
        return RoutingPackage(None, code, None, 0, tiers)
    with store.read() as conn:
        services, groups = _services_and_groups(conn, [e.report_id for e in entries], code)
    folder = Path(out)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"{folder} is not empty; choose a new folder for the package")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        _remove_abandoned_staging(folder)
        # Beside the destination, so that moving it into place is one atomic rename.
        staging = Path(
            tempfile.mkdtemp(prefix=f"{_staging_prefix(folder)}{os.getpid()}-", dir=folder.parent)
        )
    except OSError as exc:
        raise ConfigError(
            f"cannot write the package beside {folder}: {exc.strerror or exc}",
            hint="choose a folder tipwatch may write in",
        ) from exc
    try:
        # In this order: record (not yet committed), write into the staging folder, check
        # it, commit, and only then move it into place. An interruption before the commit
        # leaves the referrals open and no package; the move happens only once recorded.
        with store.atomic() as conn:
            now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
            package_id = int(
                conn.execute(
                    insert(routing_packages).values(
                        country=code,
                        created_by=created_by,
                        created_at=now,
                        path=str(folder.resolve()),
                        referral_count=len(entries),
                        since=since.replace(tzinfo=None) if since else None,
                        until=until.replace(tzinfo=None) if until else None,
                        recipient_id=to["id"] if to else None,
                        date_basis=date_basis,
                        status="sent",
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )
            conn.execute(
                insert(package_referrals),
                [{"package_id": package_id, "report_id": e.report_id} for e in entries],
            )
            try:
                _write_package(
                    store,
                    staging,
                    entries,
                    config,
                    package_id=package_id,
                    country=code,
                    created_by=created_by,
                    created_at=now,
                    since=since,
                    until=until,
                    tiers=tiers,
                    date_basis=date_basis,
                    recipient=to,
                    marking=marking,
                    services=services,
                    groups=groups,
                )
                _check_package(staging, [e.report_id for e in entries])
            except OSError as exc:
                raise ConfigError(
                    f"the package for {code} could not be written ({exc.strerror or exc}); "
                    "nothing was recorded and its referrals stay open",
                    hint="free space or choose another folder, and route again",
                ) from exc
            store.after_transaction(
                lambda: _move_into_place(staging, folder, package_id),
                lambda: shutil.rmtree(staging, ignore_errors=True),
            )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return RoutingPackage(package_id, code, folder, len(entries), tiers)


_STAGING_MARK = ".partial-"


def _staging_prefix(folder: Path) -> str:
    """Hidden name of a package being written for ``folder``; the writer's process id follows."""
    return f".{folder.name}{_STAGING_MARK}"


def _remove_abandoned_staging(folder: Path) -> None:
    """Remove the staging folders that routes to ``folder`` killed outright left behind: those
    whose process is gone (a process still running may be writing its own)."""
    prefix = _staging_prefix(folder)
    for leftover in folder.parent.glob(glob.escape(prefix) + "*"):
        pid_text = leftover.name[len(prefix) :].split("-", 1)[0]
        if not (leftover.is_dir() and pid_text.isdigit()):
            continue
        if int(pid_text) != os.getpid():
            try:
                os.kill(int(pid_text), 0)
                continue  # still running
            except ProcessLookupError:
                pass
            except PermissionError:
                continue  # running as another user
        shutil.rmtree(leftover, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_package(
    store: Store,
    folder: Path,
    entries: list[QueueEntry],
    config: TriageConfig,
    *,
    package_id: int,
    country: str,
    created_by: str,
    created_at: datetime,
    since: datetime | None,
    until: datetime | None,
    tiers: dict[str, int],
    date_basis: str,
    recipient: dict[str, Any] | None,
    marking: str,
    services: dict[str, int],
    groups: list[dict[str, Any]],
) -> None:
    """Write the package's files into ``folder`` and flush them to disk: the summary, then
    the per-referral detail in pages of :data:`DETAIL_PAGE_ROWS`."""
    html_rows: list[dict[str, Any]] = []
    legal_counts: dict[str, int] = {}
    legal_total = 0
    linked_total = 0
    with (
        (folder / "referrals.jsonl").open("w", encoding="utf-8") as jsonl,
        (folder / "summary.csv").open("w", encoding="utf-8", newline="") as csv_file,
    ):
        writer = csv.DictWriter(csv_file, fieldnames=_CSV_COLUMNS)
        writer.writeheader()
        for e, record in zip(
            entries, _records(store, [e.report_id for e in entries], config), strict=True
        ):
            jsonl.write(json.dumps(record, default=_json_default, ensure_ascii=False) + "\n")
            attribution = record["attribution"] or {}
            statuses = record["match_status"]
            legal = sum(v == NEEDS_LEGAL_PROCESS for v in record["legal"].values())
            for status in record["legal"].values():
                legal_counts[status] = legal_counts.get(status, 0) + 1
            legal_total += legal
            others = sorted(
                {
                    m["report_id"]
                    for g in record["links"]
                    if g["kind"] == "linked"
                    for m in g["members"]
                }
            )
            linked_total += bool(others)
            reasons = [r["detail"] for r in record["priority"]["reasons"]]
            row: dict[str, Any] = {
                "report_id": e.report_id,
                "tier": e.tier,
                "score": e.score,
                "incident_time": e.incident_time.isoformat(),
                "incident_type": e.incident_type,
                "country": attribution.get("country"),
                "confidence": attribution.get("confidence"),
                "decided_by": attribution.get("decided_by"),
                "files": e.file_count,
                "known_files": sum(v == "known" for v in statuses.values()),
                "new_files": sum(v == "new" for v in statuses.values()),
                "files_needing_legal_process": legal,
                "linked_referrals": " ".join(others),
                "reasons": "; ".join(reasons),
            }
            writer.writerow(
                {k: "" if v is None else neutralise_cell(str(v)) for k, v in row.items()}
            )
            links = [
                f"{g['kind']} group {g['group_id']} ({g['size']})"
                + (
                    ": " + ", ".join(m["report_id"] for m in g["members"][:5])
                    if g["kind"] == "linked"
                    else ""
                )
                for g in record["links"]
            ]
            html_rows.append(
                {
                    "report_id": e.report_id,
                    "tier": e.tier,
                    "score": f"{e.score:g}",
                    "incident_time": e.incident_time.strftime("%Y-%m-%d %H:%M"),
                    "incident_type": e.incident_type,
                    "country": attribution.get("country"),
                    "confidence": f"{attribution.get('confidence', 0):.2f}",
                    "decided_by": LEVEL_LABELS.get(
                        attribution.get("decided_by") or "", "no evidence"
                    ),
                    "warnings": attribution.get("warnings", []),
                    "files": e.file_count,
                    "known": sum(v == "known" for v in statuses.values()),
                    "new": sum(v == "new" for v in statuses.values()),
                    "legal": legal,
                    "reasons": reasons,
                    "links": links,
                }
            )
    pages = [
        html_rows[start : start + DETAIL_PAGE_ROWS]
        for start in range(0, len(html_rows), DETAIL_PAGE_ROWS)
    ]
    page_names = [detail_page_name(n) for n in range(1, len(pages) + 1)]
    incident_types: dict[str, int] = {}
    for e in entries:
        incident_types[e.incident_type] = incident_types.get(e.incident_type, 0) + 1
    common = {
        "package_id": package_id,
        "country": country,
        "marking": marking,
        "version": __version__,
        "count": len(entries),
    }
    _write_html(
        folder / "summary.html",
        "package.html",
        **common,
        created_by=created_by,
        created_at=created_at.strftime("%Y-%m-%dT%H:%MZ"),
        since=since.date().isoformat() if since else None,
        until=until.date().isoformat() if until else None,
        date_basis=date_basis,
        recipient=recipient,
        tiers=list(tiers.items()),
        incident_types=sorted(incident_types.items(), key=lambda kv: (-kv[1], kv[0])),
        services=sorted(services.items(), key=lambda kv: (-kv[1], kv[0])),
        groups=groups,
        legal=legal_counts,
        legal_files=legal_total,
        linked=linked_total,
        pages=[
            (name, page[0]["report_id"], page[-1]["report_id"], len(page))
            for name, page in zip(page_names, pages, strict=True)
        ],
    )
    for number, (name, page) in enumerate(zip(page_names, pages, strict=True), start=1):
        _write_html(
            folder / name,
            "detail.html",
            **common,
            page=number,
            page_count=len(pages),
            previous=page_names[number - 2] if number > 1 else None,
            next=page_names[number] if number < len(pages) else None,
            rows=page,
        )
    for name in (*PACKAGE_FILES, *page_names):
        _fsync(folder / name)
    _fsync(folder)


def _check_package(folder: Path, report_ids: list[str]) -> None:
    """Read the written package back: every referral in ``referrals.jsonl`` and
    ``summary.csv``, in order, and a whole ``summary.html``; raise ``OSError`` if not."""
    try:
        with (folder / "referrals.jsonl").open(encoding="utf-8") as fh:
            written = [json.loads(line)["referral"]["report_id"] for line in fh]
        with (folder / "summary.csv").open(encoding="utf-8", newline="") as fh:
            listed = [restore_cell(row["report_id"]) for row in csv.DictReader(fh)]
        html = (folder / "summary.html").read_bytes()
        pages = (len(report_ids) + DETAIL_PAGE_ROWS - 1) // DETAIL_PAGE_ROWS
        details = [(folder / detail_page_name(n)).read_bytes() for n in range(1, pages + 1)]
    except (ValueError, KeyError, TypeError, csv.Error) as exc:
        raise OSError(errno.EIO, f"the files written do not read back ({exc})") from exc
    whole = all(page.rstrip().endswith(b"</html>") for page in (html, *details))
    if written != report_ids or listed != report_ids or not whole:
        raise OSError(errno.EIO, "the files written do not read back whole")


def _move_into_place(staging: Path, folder: Path, package_id: int) -> None:
    """The last step, once the package is recorded: the checked folder takes its name."""
    try:
        if folder.is_dir():
            folder.rmdir()  # empty (checked before writing); rename needs it gone or empty
        os.rename(staging, folder)
        _fsync(folder.parent)
    except OSError as exc:
        raise ConfigError(
            f"package {package_id} is recorded and complete in {staging}, but it could not be "
            f"moved to {folder}: {exc.strerror or exc}",
            hint=f"move {staging} to {folder} yourself",
        ) from exc


def _records(
    store: Store, report_ids: list[str], config: TriageConfig, chunk: int = 500
) -> Iterator[dict[str, Any]]:
    """The package record of each referral (its dossier's :meth:`~Dossier.package_record`),
    read a chunk of referrals at a time."""
    for start in range(0, len(report_ids), chunk):
        ids = report_ids[start : start + chunk]
        for dossier in load_dossiers(
            store, ids, config=config, max_link_members=PACKAGE_LINK_MEMBERS
        ):
            yield dossier.package_record()


def _link_label(group: dict[str, Any]) -> str:
    label = f"{group['kind']} group {group['group_id']} ({group['size']} referrals)"
    if group["kind"] == "linked":
        label += ": " + ", ".join(m["report_id"] for m in group["members"][:5])
    return label


def _write_html(path: Path, template: str, **context: Any) -> None:
    from jinja2 import Environment, PackageLoader, select_autoescape

    # The pages share one head and style (templates/_page.html), so the loader finds them.
    env = Environment(
        loader=PackageLoader("tipwatch.triage", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    path.write_text(env.get_template(template).render(**context), encoding="utf-8")


def packages(store: Store) -> list[dict[str, Any]]:
    """Every routing package made, newest first."""
    p = routing_packages.c
    with store.read() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(
                select(routing_packages, recipients.c.name.label("recipient"))
                .outerjoin(recipients, recipients.c.id == p.recipient_id)
                .order_by(p.id.desc())
            )
        ]


def _services_and_groups(
    conn: Connection, report_ids: list[str], country: str
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Referrals by reporting service, and the link groups of ``report_ids``: each with why
    it is linked, its members here and where its other members were attributed and routed."""
    from tipwatch.store.bulk import chunks
    from tipwatch.store.schema import attributions

    r, rl, a = referrals.c, referral_links.c, attributions.c
    services: dict[str, int] = {}
    group_ids: dict[int, int] = {}
    for part in chunks(report_ids):
        for row in conn.execute(select(r.platform).where(r.report_id.in_(part))):
            name = row.platform or "not stated"
            services[name] = services.get(name, 0) + 1
        for row in conn.execute(select(rl.group_id).where(rl.report_id.in_(part))):
            group_ids[row.group_id] = group_ids.get(row.group_id, 0) + 1
    here = set(report_ids)
    groups: list[dict[str, Any]] = []
    g = link_groups.c
    ordered = sorted(group_ids, key=lambda gid: (-group_ids[gid], gid))[:PACKAGE_GROUPS_SHOWN]
    for gid in ordered:
        group = conn.execute(select(link_groups).where(g.id == gid)).one_or_none()
        if group is None:
            continue
        elsewhere: dict[str, list[int]] = {}  # country -> [members, of them routed]
        members = conn.execute(
            select(rl.report_id, a.country, sent_clause(rl.report_id).label("routed"))
            .outerjoin(attributions, a.report_id == rl.report_id)
            .where(rl.group_id == gid)
        ).all()
        for m in members:
            if m.report_id in here:
                continue
            counts = elsewhere.setdefault(m.country or "unknown", [0, 0])
            counts[0] += 1
            counts[1] += bool(m.routed)
        reasons = json.loads(group.reasons)
        groups.append(
            {
                "group_id": gid,
                "kind": group.kind,
                "size": group.size,
                "here": group_ids[gid],
                "linked_by": ", ".join(f"{k} ({v})" for k, v in sorted(reasons.items())),
                "elsewhere": [
                    f"{c}: {n} ({routed} routed)" + (" (this country)" if c == country else "")
                    for c, (n, routed) in sorted(elsewhere.items(), key=lambda kv: -kv[1][0])
                ],
            }
        )
    if len(group_ids) > len(ordered):
        # The summary says how many groups it leaves out (the JSON Lines has them all).
        groups.append({"more": len(group_ids) - len(ordered)})
    return services, groups


@dataclass(frozen=True, slots=True)
class RoutePreview:
    """What a route would send, nothing recorded: counts by tier, incident type, service and
    link group."""

    country: str
    referral_count: int
    tiers: dict[str, int]
    incident_types: dict[str, int]
    services: dict[str, int]
    groups: dict[int, int]
    report_ids: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "country": self.country,
            "referrals": self.referral_count,
            "tiers": self.tiers,
            "incident_types": self.incident_types,
            "services": self.services,
            "groups": {str(k): v for k, v in self.groups.items()},
            "report_ids": self.report_ids,
        }


def preview_route(
    store: Store,
    country: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    include_sent: bool = False,
    date_basis: str = "incident",
    report_ids: Sequence[str] | None = None,
    group_ids: Sequence[int] | None = None,
) -> RoutePreview:
    """What :func:`route_country` with the same choice would send; writes nothing."""
    code = _country_code(country)
    entries = _selection(store, code, since, until, include_sent, date_basis, report_ids, group_ids)
    tiers = _tier_counts(entries)
    types: dict[str, int] = {}
    for e in entries:
        types[e.incident_type] = types.get(e.incident_type, 0) + 1
    ids = [e.report_id for e in entries]
    with store.read() as conn:
        services, groups = _services_and_groups(conn, ids, code)
    return RoutePreview(
        code,
        len(entries),
        tiers,
        types,
        services,
        {g["group_id"]: g["here"] for g in groups if "group_id" in g},
        ids,
    )


def _recipient(store: Store, name: str, country: str) -> dict[str, Any]:
    """The registered recipient ``name``, who must receive for ``country``."""
    with store.read() as conn:
        row = conn.execute(select(recipients).where(recipients.c.name == name)).one_or_none()
    if row is None:
        raise NotFoundError(
            f"no recipient named {name!r}", hint="register it first (recipients add)"
        )
    if row.country != country:
        raise InputError(f"recipient {name!r} receives for {row.country}, not {country}")
    return dict(row._mapping)


def add_recipient(
    store: Store,
    name: str,
    country: str,
    *,
    kind: str = "office",
    contact: str | None = None,
    created_by: str,
) -> dict[str, Any]:
    """Register a recipient of packages: a liaison office or a user, for one country."""
    code = _country_code(country)
    name = name.strip()
    if not name or len(name) > 200:
        raise InputError("a recipient's name is 1 to 200 characters")
    if kind not in RECIPIENT_KINDS:
        raise InputError(f"a recipient is an office or a user, not {kind!r}")
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    with store.atomic() as conn:
        if conn.execute(select(recipients.c.id).where(recipients.c.name == name)).first():
            raise ConflictError(f"a recipient named {name!r} exists already")
        values = {
            "name": name,
            "country": code,
            "kind": kind,
            "contact": contact,
            "created_by": created_by,
            "created_at": now,
        }
        rid = conn.execute(insert(recipients).values(**values)).inserted_primary_key[0]  # type: ignore[index]
    return {"id": int(rid), **values}


def list_recipients(store: Store) -> list[dict[str, Any]]:
    """Every registered recipient, by country then name."""
    c = recipients.c
    with store.read() as conn:
        return [
            dict(r._mapping) for r in conn.execute(select(recipients).order_by(c.country, c.name))
        ]


def _package(conn: Connection, package_id: int) -> Any:
    row = conn.execute(
        select(routing_packages).where(routing_packages.c.id == package_id)
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"no routing package {package_id}")
    return row


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def package_country(store: Store, package_id: int) -> str:
    """The country a package was made for (:class:`NotFoundError` when there is none)."""
    with store.read() as conn:
        return str(_package(conn, package_id).country)


def recall_package(store: Store, package_id: int, *, reason: str, by: str) -> int:
    """Recall a package not yet acknowledged: its referrals return to the queue (the package
    and its list stay recorded, marked recalled with when, by whom and why). Returns the
    number of referrals returned."""
    reason = reason.strip()
    if not reason:
        raise InputError("a recall needs a reason")
    with store.atomic() as conn:
        row = _package(conn, package_id)
        if row.status == "recalled":
            raise ConflictError(f"package {package_id} was recalled already ({row.recalled_at})")
        if row.acknowledged_at is not None:
            raise ConflictError(
                f"package {package_id} was acknowledged at {row.acknowledged_at.isoformat()}; "
                "an acknowledged package cannot be recalled",
                hint="ask its recipient to set it aside, and record the outcome",
            )
        conn.execute(
            update(routing_packages)
            .where(routing_packages.c.id == package_id)
            .values(status="recalled", recalled_at=_now(), recalled_by=by, recall_reason=reason)
        )
        return int(row.referral_count)


def acknowledge_package(
    store: Store, package_id: int, *, by: str, outcome: str | None = None
) -> dict[str, Any]:
    """Record that the recipient acknowledged the package (the first time only) and, with
    ``outcome``, what came of it. A recalled package cannot be acknowledged."""
    with store.atomic() as conn:
        row = _package(conn, package_id)
        if row.status == "recalled":
            raise ConflictError(f"package {package_id} was recalled; it cannot be acknowledged")
        values: dict[str, Any] = {}
        if row.acknowledged_at is None:
            values.update(acknowledged_at=_now(), acknowledged_by=by, status="acknowledged")
        elif outcome is None:
            raise ConflictError(
                f"package {package_id} was acknowledged already at "
                f"{row.acknowledged_at.isoformat()}"
            )
        if outcome is not None:
            if not outcome.strip():
                raise InputError("an outcome is a short text, not empty")
            values.update(outcome=outcome.strip(), outcome_at=_now())
        conn.execute(
            update(routing_packages).where(routing_packages.c.id == package_id).values(**values)
        )
        return dict(_package(conn, package_id)._mapping)


def routing_latency(store: Store) -> list[dict[str, Any]]:
    """Notice-to-action time of acknowledged packages, per country and reporting service:
    referrals, and the median hours from receipt of a referral to its package and from the
    package to its acknowledgement."""
    pr, rp, r = package_referrals.c, routing_packages.c, referrals.c
    with store.read() as conn:
        rows = conn.execute(
            select(rp.country, r.platform, r.received_at, rp.created_at, rp.acknowledged_at)
            .select_from(
                routing_packages.join(package_referrals, pr.package_id == rp.id).join(
                    referrals, r.report_id == pr.report_id
                )
            )
            .where(and_(rp.acknowledged_at.is_not(None), rp.status != "recalled"))
        ).all()
    cells: dict[tuple[str, str], tuple[list[float], list[float], list[float]]] = {}
    for row in rows:
        key = (row.country, row.platform or "not stated")
        to_package, to_ack, total = cells.setdefault(key, ([], [], []))
        if row.received_at is not None:
            to_package.append((row.created_at - row.received_at).total_seconds() / 3600)
            total.append((row.acknowledged_at - row.received_at).total_seconds() / 3600)
        to_ack.append((row.acknowledged_at - row.created_at).total_seconds() / 3600)
    return [
        {
            "country": country,
            "service": service,
            "referrals": len(to_ack),
            "median_hours_to_package": _median(to_package),
            "median_hours_to_ack": _median(to_ack),
            "median_hours_total": _median(total),
        }
        for (country, service), (to_package, to_ack, total) in sorted(cells.items())
    ]


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    value = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return round(value, 2)
