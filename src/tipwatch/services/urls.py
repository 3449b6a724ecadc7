"""URL list services: import, check, list, compare and export versions, and count blocked
access from filter logs into the signals trends read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tipwatch.services._unit import unit
from tipwatch.services.access import Actor
from tipwatch.store import Store

if TYPE_CHECKING:
    from tipwatch.settings import Settings
    from tipwatch.urls._versions import ExportResult, ImportResult, VersionDiff

__all__ = [
    "EXPORT_FORMATS",
    "LOG_FORMATS",
    "SCOPES",
    "CheckResult",
    "check_urls",
    "diff_versions",
    "export_list",
    "import_list",
    "ingest_logs",
    "list_lists",
    "list_versions",
]

EXPORT_FORMATS = ("rpz", "hosts", "squid", "plain", "csv", "splash")
LOG_FORMATS = ("squid", "squid-combined", "bind", "unbound", "csv")
SCOPES = ("page", "page+query", "folder", "host", "host+subdomains")


def _settings(settings: Settings | None) -> Settings:
    from tipwatch.settings import get_settings

    return settings or get_settings()


def import_list(
    store: Store,
    actor: Actor,
    path: Path,
    *,
    list_name: str,
    version: str | None = None,
    fmt: str | None = None,
    delta: bool = False,
    scope: str | None = None,
    category: str | None = None,
    source: str | None = None,
    settings: Settings | None = None,
) -> ImportResult:
    """Import ``path`` as a new version of the URL list ``list_name`` (created when new):
    one transaction; each bad record reported with its line."""
    from tipwatch.urls._list import Scope
    from tipwatch.urls._versions import import_url_list

    limits = _settings(settings)
    default_scope = Scope.parse(scope) if scope else None
    with unit(store, actor, "url.import", object_type="url_list", object_ids=[list_name]) as work:
        assert work.conn is not None
        result = import_url_list(
            work.conn,
            path,
            list_name=list_name,
            version=version,
            fmt=fmt,
            delta=delta,
            default_scope=default_scope,
            category=category,
            source=source,
            max_length=limits.url_max_length,
        )
        work.detail = (
            f"version {result.version}: {result.entries} entries (+{result.added} "
            f"-{result.retired}), {len(result.problems)} records refused, state "
            f"{result.state_sha256}"
        )
    return result


@dataclass
class CheckResult:
    """One URL checked: its canonical form and the entries it matches, or why it cannot be
    read."""

    url: str
    canonical: str | None = None
    matches: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "canonical": self.canonical,
            "listed": bool(self.matches),
            "matches": self.matches,
            "error": self.error,
        }


def check_urls(
    store: Store,
    actor: Actor,
    urls: Iterable[str],
    *,
    lists: Sequence[str] | None = None,
    settings: Settings | None = None,
) -> list[CheckResult]:
    """Check each URL against the active entries of ``lists`` (default: all)."""
    from tipwatch.store.url_lists import require_url_list
    from tipwatch.urls._canonical import URLError, canonical_parts
    from tipwatch.urls._versions import cached_index

    limits = _settings(settings)
    with unit(
        store,
        actor,
        "url.check",
        object_type="url_list",
        object_ids=list(lists or []),
        writes=False,
    ) as work:
        assert work.conn is not None
        for name in lists or ():
            require_url_list(work.conn, name)
        index = cached_index(work.conn, store.url, lists)
        out: list[CheckResult] = []
        for url in urls:
            try:
                parts = canonical_parts(url, max_length=limits.url_max_length)
            except URLError as exc:
                out.append(CheckResult(url[:2000], error=str(exc)))
                continue
            out.append(
                CheckResult(
                    url[:2000],
                    str(parts),
                    [
                        {
                            "scope": m.scope.value,
                            "key": m.key,
                            "list": m.list_name,
                            "category": m.category,
                        }
                        for m in index.lookup(parts)
                    ],
                )
            )
        work.detail = f"{len(out)} URLs checked, {sum(bool(r.matches) for r in out)} listed"
    return out


def list_lists(store: Store, actor: Actor) -> list[dict[str, Any]]:
    """Each URL list with its newest version, entries and state hash."""
    from tipwatch.store.url_lists import list_summaries

    with unit(store, actor, "url.read", object_type="url_list", writes=False) as work:
        assert work.conn is not None
        return list_summaries(work.conn)


def list_versions(store: Store, actor: Actor, list_name: str) -> list[dict[str, Any]]:
    """The versions of one list, oldest first, with their changes and state hashes."""
    from tipwatch.store.url_lists import url_list_versions_of

    with unit(
        store, actor, "url.read", object_type="url_list", object_ids=[list_name], writes=False
    ) as work:
        assert work.conn is not None
        return [v.as_dict() for v in url_list_versions_of(work.conn, list_name)]


def diff_versions(
    store: Store, actor: Actor, list_name: str, old: str, new: str | None = None
) -> VersionDiff:
    """What changed from version ``old`` to ``new`` (default: the newest)."""
    from tipwatch.urls._versions import diff_versions as _diff

    with unit(
        store, actor, "url.read", object_type="url_list", object_ids=[list_name], writes=False
    ) as work:
        assert work.conn is not None
        return _diff(work.conn, list_name, old, new)


def export_list(
    store: Store,
    actor: Actor,
    list_name: str,
    fmt: str,
    out: Path | IO[str],
    *,
    version: str | None = None,
    settings: Settings | None = None,
) -> ExportResult:
    """Write a version of the list (default: the newest) in ``fmt`` to ``out`` (a stream or
    a file; a folder for ``squid``). The result says what each format had to leave out."""
    from tipwatch.urls._versions import export_version

    limits = _settings(settings)
    with unit(
        store, actor, "url.export", object_type="url_list", object_ids=[list_name], writes=False
    ) as work:
        assert work.conn is not None
        result = export_version(
            work.conn,
            list_name,
            fmt,
            out,
            version=version,
            zone=limits.url_rpz_zone,
            splash={
                "message": limits.url_splash_message,
                "helpline": limits.url_helpline,
                "helpline_url": limits.url_helpline_url,
            },
        )
        work.detail = (
            f"{fmt} of version {result.version}: {result.written} written, "
            f"{result.left_out_pages} page entries left out"
        )
    return result


def ingest_logs(
    store: Store,
    actor: Actor,
    paths: Sequence[Path],
    *,
    list_name: str,
    fmt: str | None = None,
    provider: str = "unknown",
    country: str | None = None,
    geoip: Path | None = None,
    version: str | None = None,
    window: float | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Read filter logs against a version of ``list_name`` (default: the newest), count
    blocked requests, attempts, (client, entry) pairs and clients per day, country,
    provider, method and mode, and write them as signals (feed ``blocked``) with the list's
    size: one transaction. Values for the same day and dimensions are replaced, so all the
    logs of a provider's day belong in one run."""
    from tipwatch.store.signals import write_signal_values
    from tipwatch.urls._accounting import BlockedAccounting
    from tipwatch.urls._versions import load_index, version_of

    limits = _settings(settings)
    key = limits.pseudonym_key.get_secret_value().encode() if limits.pseudonym_key else b""
    country_of = None
    geo = None
    if geoip is not None:
        from tipwatch.triage.geoip import GeoIPDatabase

        geo = GeoIPDatabase(geoip)

        def country_of(ip: str) -> str | None:
            assert geo is not None
            return geo.lookup(ip).country

    try:
        with unit(
            store,
            actor,
            "url.ingest_log",
            object_type="url_list",
            object_ids=[list_name, *map(str, paths)],
        ) as work:
            assert work.conn is not None
            chosen = version_of(work.conn, list_name, version)
            index = load_index(work.conn, [list_name], version=version)
            counter = BlockedAccounting(
                index,
                list_name,
                chosen.version,
                chosen.entries,
                key,
                provider=provider,
                country=country,
                country_of=country_of,
                window=window if window is not None else limits.url_attempt_window,
                clock_tolerance=limits.url_log_clock_tolerance,
                max_url_length=limits.url_max_length,
            )
            formats = [counter.read_file(p, fmt) for p in paths]
            values = counter.signal_values(",".join(str(p) for p in paths)[:1000])
            written = write_signal_values(work.conn, values)
            summary = counter.summary()
            summary["formats"] = formats
            summary["values_written"] = written
            work.detail = (
                f"{counter.lines} lines, {counter.matched} matched, {counter.errors} refused, "
                f"{written} values"
            )
    finally:
        if geo is not None:
            geo.close()
    return summary
