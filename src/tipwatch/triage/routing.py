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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from tipwatch import __version__
from tipwatch.countries import normalise_country
from tipwatch.errors import ConfigError, InputError
from tipwatch.formats.csv_safety import neutralise_cell, restore_cell
from tipwatch.store import Store
from tipwatch.store.schema import package_referrals, routing_packages
from tipwatch.triage.attribution import LEVEL_LABELS
from tipwatch.triage.config import TriageConfig, load_config
from tipwatch.triage.dossier import load_dossiers
from tipwatch.triage.priority import TIERS
from tipwatch.triage.queries import NEEDS_LEGAL_PROCESS, QueueEntry, queue

__all__ = ["PACKAGE_FILES", "PACKAGE_LINK_MEMBERS", "RoutingPackage", "route_country"]

PACKAGE_FILES = ("referrals.jsonl", "summary.csv", "summary.html")
"""The files of a package, all written and checked before the package is recorded."""

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
) -> RoutingPackage:
    """Write the package of ``country``'s open referrals into ``out/`` and record it.

    Referrals already sent in an earlier package are left out unless ``include_sent``. With
    nothing to send, nothing is written or recorded (``package_id`` is ``None``).

    A package counts as sent only once complete: its files are written into a hidden staging
    folder beside ``out`` and read back, the package is recorded, and the folder is renamed to
    ``out`` when that record commits (at the end of the caller's transaction, if there is
    one). A failure or interruption before then leaves the referrals open and no package.
    """
    code, why = normalise_country(country)
    if code is None:
        raise InputError(f"country {country!r}: {why}")
    config = config or load_config()
    entries = queue(
        store, country=code, include_sent=include_sent, since=since, until=until, limit=None
    )
    tiers = {t: 0 for t in TIERS}
    for e in entries:
        tiers[e.tier] = tiers.get(e.tier, 0) + 1
    if not entries:
        return RoutingPackage(None, code, None, 0, tiers)
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
) -> None:
    """Write the package's three files into ``folder`` and flush them to disk."""
    html_rows: list[dict[str, Any]] = []
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
    _write_html(
        folder / "summary.html",
        package_id=package_id,
        country=country,
        created_by=created_by,
        created_at=created_at.strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        count=len(entries),
        since=since.date().isoformat() if since else None,
        until=until.date().isoformat() if until else None,
        tiers=list(tiers.items()),
        legal_files=legal_total,
        linked=linked_total,
        rows=html_rows,
    )
    for name in PACKAGE_FILES:
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
    except (ValueError, KeyError, TypeError, csv.Error) as exc:
        raise OSError(errno.EIO, f"the files written do not read back ({exc})") from exc
    if written != report_ids or listed != report_ids or not html.rstrip().endswith(b"</html>"):
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


def _write_html(path: Path, **context: Any) -> None:
    from jinja2 import Environment, select_autoescape

    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    source = (resources.files("tipwatch.triage") / "templates" / "package.html").read_text(
        encoding="utf-8"
    )
    path.write_text(env.from_string(source).render(**context), encoding="utf-8")


def packages(store: Store) -> list[dict[str, Any]]:
    """Every routing package made, newest first."""
    p = routing_packages.c
    with store.read() as conn:
        return [
            dict(r._mapping) for r in conn.execute(select(routing_packages).order_by(p.id.desc()))
        ]
