"""Triage commands: ``triage``, ``links``, ``queue``, ``route``, ``packages``,
``recipients``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from tipwatch import services
from tipwatch.cli import (
    ClusterOption,
    DbOption,
    FormatOption,
    ObjectFormat,
    OutputFormat,
    SinceOption,
    UntilOption,
    _actor,
    _emit,
    _fail,
    _open,
    _parse_time,
    _print_json,
    _run,
    _stage_progress,
    app,
    console,
    err_console,
    plain,
)

if TYPE_CHECKING:
    from tipwatch.triage.config import TriageConfig

links_app = typer.Typer(
    help="Linked referrals: show a referral's links, list groups.", no_args_is_help=True
)
app.add_typer(links_app, name="links")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Triage settings (TOML) over the documented defaults: weights, tiers, legal rule. "
        "Default: the triage_config setting, so every command uses the team's.",
        show_default=False,
    ),
]


def _config(path: Path | None) -> TriageConfig:
    from tipwatch.settings import get_settings

    return services.triage.load_triage_config(path or get_settings().triage_config)


@app.command()
def triage(
    db: DbOption = None,
    geoip: Annotated[
        Path | None,
        typer.Option(
            "--geoip",
            help="A MaxMind-format country database (.mmdb). A newer one re-attributes all "
            "referrals; without it the last one loaded is used.",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
    force: Annotated[
        bool, typer.Option(help="Attribute with a GeoIP database older than the one in use.")
    ] = False,
    fmt: Annotated[
        ObjectFormat, typer.Option("--format", "-f", help="table (a summary) or json.")
    ] = ObjectFormat.TABLE,
    cluster: ClusterOption = None,
) -> None:
    """Attribute a country to each referral, link referrals, and score their priority.

    Run it after ingesting and matching. Attribution keeps its history; links and priorities
    are rebuilt each time, so changed weights re-score everything.
    """

    def body() -> None:
        as_json = fmt is ObjectFormat.JSON
        settings = _config(config)
        store = _open(db)
        progress, on_progress = _stage_progress(enabled=not as_json)

        with progress:
            summary = services.triage.run_triage(
                store,
                _actor(),
                geoip=geoip,
                config=settings,
                force=force,
                cluster=cluster,
                progress=on_progress,
            )
        if as_json:
            _print_json(summary.as_dict())
            return
        if summary.referrals == 0:
            console.print("The store holds no referrals yet: `tipwatch ingest FILES` first.")
            return
        if summary.geoip_note:
            err_console.print(f"[yellow]note:[/] {summary.geoip_note}", highlight=False)
        console.print(
            f"{summary.referrals:,} referral(s) triaged in {summary.seconds:.1f} s; "
            f"{summary.attributed:,} (re)attributed"
            + (
                " (a newer GeoIP database: all re-attributed, history kept)"
                if summary.reattributed_all
                else ""
            )
            + (f" with {summary.geoip}" if summary.geoip else ""),
            highlight=False,
        )
        table = Table(title="Countries", header_style="bold")
        table.add_column("country")
        table.add_column("referrals", justify="right")
        for code, n in summary.countries.most_common(12):
            table.add_row(code, f"{n:,}")
        if len(summary.countries) > 12:
            rest = sum(n for _, n in summary.countries.most_common()[12:])
            table.add_row(f"{len(summary.countries) - 12} more", f"{rest:,}")
        tiers = Table(title="Priority", header_style="bold")
        tiers.add_column("tier")
        tiers.add_column("referrals", justify="right")
        for t in services.triage.TIERS:
            tiers.add_row(t, f"{summary.tiers.get(t, 0):,}")
        console.print(table)
        console.print(tiers)
        console.print(
            f"{summary.groups:,} linked group(s) holding {summary.linked_referrals:,} referrals; "
            f"{summary.viral_groups:,} viral group(s) holding {summary.viral_referrals:,} "
            "referrals (kept apart).",
            highlight=False,
        )

    _run(body)


@links_app.command("show")
def links_show(
    report_id: Annotated[str, typer.Argument(help="The referral's report id.")],
    db: DbOption = None,
    config: ConfigOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """The groups a referral belongs to, and what ties it to each other member.

    Each tie is named with its kind and strength (account 1.0, new file 0.8, near file 0.6,
    IP 0.5). A member attributed to another country shows where it was routed, if it was.
    """

    def body() -> None:
        groups = services.triage.links_of(_open(db), _actor(), report_id, config=_config(config))
        if fmt is OutputFormat.JSON:
            _print_json(groups)
            return
        if not groups and fmt is OutputFormat.TABLE:
            console.print(Text(f"{plain(report_id)} is linked to no other referral."))
            return
        rows = []
        for g in groups:
            for m in g["members"]:
                elsewhere = m["country"] != g["country"]
                rows.append(
                    {
                        "group": f"{g['group_id']} ({g['kind']}, {g['size']})",
                        "report_id": m["report_id"],
                        "country": m["country"],
                        "routed_to": ", ".join(m["routed_to"])
                        or ("not routed" if elsewhere else ""),
                        "shares": "; ".join(
                            f"{t['kind']} {t['strength']:.1f}: {t['evidence']}" for t in m["ties"]
                        )
                        or "; ".join(m["shares"]),
                    }
                )
        _emit(rows, fmt, ("group", "report_id", "country", "routed_to", "shares"))

    _run(body)


@links_app.command("groups")
def links_groups(
    db: DbOption = None,
    kind: Annotated[
        str | None,
        typer.Option(help="linked, viral or circulating (default: all).", show_default=False),
    ] = None,
    min_size: Annotated[int, typer.Option(help="Smallest group to list.", min=2)] = 2,
    limit: Annotated[int, typer.Option(help="At most this many groups.", min=1)] = 50,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Link groups, largest first, with their stable ids and where they came from.

    Viral groups (one item shared widely) and circulating groups (one file on a hash list or
    sent by many accounts) are kept apart from the linked groups of one offender.
    """

    def body() -> None:
        if kind not in (None, "linked", "viral", "circulating"):
            _fail("--kind must be linked, viral or circulating")
        rows = services.triage.link_groups(
            _open(db), _actor(), kind=kind, min_size=min_size, limit=limit
        )
        if fmt is OutputFormat.TABLE:
            # A terminal shows the first members; JSON and CSV carry them all.
            for row in rows:
                shown = row["members"][:5]
                more = len(row["members"]) - len(shown)
                row["members"] = " ".join(shown) + (f" (+{more} more)" if more else "")
        _emit(rows, fmt, ("group_id", "kind", "size", "linked_by", "history", "members"))

    _run(body)


@links_app.command("circulating")
def links_circulating(
    db: DbOption = None,
    limit: Annotated[int, typer.Option(help="At most this many files.", min=1)] = 50,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Files that circulate: referrals, accounts and countries sharing each.

    A file on a hash list, sent by many accounts, or viral links no offenders; this view is
    for victim identification and for spotting viral batches.
    """

    def body() -> None:
        rows = services.triage.circulating(_open(db), _actor(), limit=limit)
        _emit(
            rows,
            fmt,
            ("group_id", "kind", "file", "listed", "referrals", "accounts", "countries"),
        )

    _run(body)


@app.command("queue")
def queue_command(
    db: DbOption = None,
    country: Annotated[
        str | None,
        typer.Option(help="Only this country (ISO code), or 'unknown'.", show_default=False),
    ] = None,
    tier: Annotated[
        list[str] | None, typer.Option(help="Only these tiers (repeat the option).")
    ] = None,
    include_sent: Annotated[
        bool, typer.Option(help="Also list referrals already sent in a package.")
    ] = False,
    since: SinceOption = None,
    until: UntilOption = None,
    limit: Annotated[int, typer.Option(help="At most this many referrals.", min=1)] = 50,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Open referrals by tier and score, most urgent first, with the reasons."""

    def body() -> None:
        for t in tier or []:
            if t not in services.triage.TIERS:
                _fail(f"--tier must be one of {', '.join(services.triage.TIERS)}, got {t!r}")
        entries = services.triage.queue(
            _open(db),
            _actor(),
            country=country,
            tiers=tier,
            include_sent=include_sent,
            since=_parse_time(since, "--since"),
            until=_parse_time(until, "--until", end=True),
            limit=limit,
        )
        rows = [e.as_dict() for e in entries]
        if fmt is OutputFormat.TABLE:
            for row in rows:
                row["incident_time"] = str(row["incident_time"]).replace(" ", "T")[:16]
                row["score"] = f"{row['score']:g}"
                row["country"] = f"{row['country']} {row['confidence'] or 0:.2f}"
            if not rows:
                routed = (
                    services.triage.routed_count(_open(db), _actor(), country)
                    if country and country.lower() != "unknown"
                    else None
                )
                if country and routed and routed["referrals"]:
                    console.print(
                        f"No open referrals for {country.upper()}: {routed['referrals']:,} "
                        f"routed in {routed['packages']} package(s), the last at "
                        f"{routed['last_at']:%Y-%m-%dT%H:%MZ} (`tipwatch packages`).",
                        highlight=False,
                    )
                    return
                console.print("The queue is empty (run `tipwatch triage` after ingesting).")
                return
        _emit(rows, fmt, ("report_id", "tier", "score", "country", "incident_time", "reasons"))

    _run(body)


route_app = typer.Typer(
    help="Route a country's referrals in a package; preview, recall, acknowledge, report times.",
    invoke_without_command=True,
)
app.add_typer(route_app, name="route")
recipients_app = typer.Typer(
    help="The recipients of routing packages: liaison offices and users.", no_args_is_help=True
)
app.add_typer(recipients_app, name="recipients")


@route_app.callback()
def route(
    ctx: typer.Context,
    country: Annotated[
        str | None,
        typer.Option("--country", help="ISO 3166-1 code, e.g. NL.", show_default=False),
    ] = None,
    db: DbOption = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for the package (default: packages/COUNTRY-DATE-TIME)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only referrals from this day (included).", show_default=False),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Only referrals up to this day (included).", show_default=False),
    ] = None,
    by: Annotated[
        str,
        typer.Option(help="Count the period by the incident's date or the received date."),
    ] = "incident",
    referral: Annotated[
        list[str] | None,
        typer.Option(help="Only this referral (repeat the option).", show_default=False),
    ] = None,
    group: Annotated[
        list[int] | None,
        typer.Option(help="Only the referrals of this link group (repeat).", show_default=False),
    ] = None,
    recipient: Annotated[
        str | None,
        typer.Option(
            help="The registered recipient (see `tipwatch recipients`).", show_default=False
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Show what would be sent; write and record nothing.")
    ] = False,
    include_sent: Annotated[
        bool, typer.Option(help="Also include referrals sent in an earlier package.")
    ] = False,
    config: ConfigOption = None,
    fmt: Annotated[
        ObjectFormat, typer.Option("--format", "-f", help="table (a summary) or json.")
    ] = ObjectFormat.TABLE,
) -> None:
    """Write the package for one country: summary.html, detail pages, summary.csv and
    referrals.jsonl.

    The package is recorded (who, when, for which recipient, which referrals); referrals show
    where they were sent. `--dry-run` shows what would go, by tier, incident type, service and
    group. The package is made by the settings' actor (the login name by default).
    """
    from datetime import UTC, datetime

    if ctx.invoked_subcommand is not None:
        return

    def body() -> None:
        if country is None:
            _fail("say which country to route: --country NL (or a subcommand: see --help)")
            return
        start = _parse_time(since, "--since")
        end = _parse_time(until, "--until", end=True)
        if dry_run:
            preview = services.triage.preview_route(
                _open(db),
                _actor(),
                country,
                since=start,
                until=end,
                include_sent=include_sent,
                date_basis=by,
                report_ids=referral,
                group_ids=group,
            )
            if fmt is ObjectFormat.JSON:
                _print_json(preview.as_dict())
                return
            console.print(
                f"Would send {preview.referral_count} referral(s) to {preview.country} "
                "(dry run: nothing written or recorded).",
                highlight=False,
            )
            for title, counts in (
                ("tier", preview.tiers),
                ("incident type", preview.incident_types),
                ("service", preview.services),
                ("group", {str(k): v for k, v in preview.groups.items()}),
            ):
                table = Table(title=f"By {title}", header_style="bold")
                table.add_column(title)
                table.add_column("referrals", justify="right")
                for name, n in counts.items():
                    table.add_row(Text(plain(name)), f"{n:,}")
                console.print(table)
            return
        folder = out or Path("packages") / (f"{country.upper()}-{datetime.now(UTC):%Y%m%d-%H%M%S}")
        package = services.triage.route(
            _open(db),
            _actor(),
            country,
            folder,
            since=start,
            until=end,
            include_sent=include_sent,
            config=_config(config),
            date_basis=by,
            report_ids=referral,
            group_ids=group,
            recipient=recipient,
        )
        if package.package_id is None:
            console.print(f"No open referrals attributed to {package.country}; nothing written.")
            return
        tiers = ", ".join(f"{n} {t}" for t, n in package.tiers.items() if n)
        console.print(
            f"Package {package.package_id} for {package.country}: {package.referral_count} "
            f"referral(s) ({tiers}) in [bold]{package.folder}[/] "
            "(summary.html, detail pages, summary.csv, referrals.jsonl)"
        )

    _run(body)


@route_app.command("recall")
def route_recall(
    package_id: Annotated[int, typer.Argument(help="The package's number.")],
    reason: Annotated[str, typer.Option(help="Why it is recalled (recorded).")],
    db: DbOption = None,
) -> None:
    """Recall a package not yet acknowledged: its referrals return to the queue."""

    def body() -> None:
        n = services.triage.recall_package(_open(db), _actor(), package_id, reason=reason)
        console.print(f"Package {package_id} recalled; {n} referral(s) are back in the queue.")

    _run(body)


@route_app.command("ack")
def route_ack(
    package_id: Annotated[int, typer.Argument(help="The package's number.")],
    db: DbOption = None,
) -> None:
    """Record that the recipient acknowledged a package (it can no longer be recalled)."""

    def body() -> None:
        row = services.triage.acknowledge_package(_open(db), _actor(), package_id)
        console.print(
            f"Package {package_id} acknowledged at {row['acknowledged_at']:%Y-%m-%dT%H:%M:%SZ}."
        )

    _run(body)


@route_app.command("outcome")
def route_outcome(
    package_id: Annotated[int, typer.Argument(help="The package's number.")],
    outcome: Annotated[str, typer.Argument(help="What came of it, in a few words.")],
    db: DbOption = None,
) -> None:
    """Record a package's outcome (acknowledging it too, if it was not yet)."""

    def body() -> None:
        services.triage.acknowledge_package(_open(db), _actor(), package_id, outcome=outcome)
        console.print(f"Outcome of package {package_id} recorded.")

    _run(body)


@route_app.command("latency")
def route_latency(db: DbOption = None, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """Notice-to-action times of acknowledged packages, per country and service (hours)."""

    def body() -> None:
        rows = services.triage.routing_latency(_open(db), _actor())
        _emit(
            rows,
            fmt,
            (
                "country",
                "service",
                "referrals",
                "median_hours_to_package",
                "median_hours_to_ack",
                "median_hours_total",
            ),
        )

    _run(body)


@recipients_app.command("add")
def recipients_add(
    name: Annotated[str, typer.Argument(help="The recipient's name, e.g. 'NL liaison office'.")],
    country: Annotated[str, typer.Option("--country", help="The country it receives for.")],
    kind: Annotated[str, typer.Option(help="office (a liaison office) or user.")] = "office",
    contact: Annotated[
        str | None, typer.Option(help="How to reach it (kept, not used).", show_default=False)
    ] = None,
    db: DbOption = None,
) -> None:
    """Register a recipient of routing packages."""

    def body() -> None:
        row = services.triage.add_recipient(
            _open(db), _actor(), name, country, kind=kind, contact=contact
        )
        console.print(
            Text(f"Recipient {row['id']}: {plain(row['name'])} ({row['kind']}, {row['country']})")
        )

    _run(body)


@recipients_app.command("list")
def recipients_list(db: DbOption = None, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """The registered recipients, by country."""

    def body() -> None:
        rows = services.triage.list_recipients(_open(db), _actor())
        _emit(rows, fmt, ("id", "name", "country", "kind", "contact"))

    _run(body)


@app.command("packages")
def packages_command(db: DbOption = None, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """The routing packages made so far, newest first."""

    def body() -> None:
        rows = services.triage.packages(_open(db), _actor())
        _emit(
            rows,
            fmt,
            (
                "id",
                "country",
                "referral_count",
                "recipient",
                "status",
                "created_by",
                "created_at",
                "path",
            ),
        )

    _run(body)
