"""The ``demo`` command: the whole pipeline on an invented, calibrated world."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from tipwatch import services
from tipwatch.cli import (
    _REFERRAL_COLUMNS,
    OutputFormat,
    _actor,
    _emit,
    _print_summary,
    _run,
    _stage_progress,
    _table_referral,
    app,
    console,
)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's world, store and outputs.")] = (
        Path("demo-out")
    ),
    scale: Annotated[
        float,
        typer.Option(
            help="Share of real referral volume (1.0: about 1.2 million referrals).",
            min=0.001,
            max=2.0,
        ),
    ] = 0.05,
    seed: Annotated[int, typer.Option(help="The same seed gives the same world.")] = 7,
    sample: Annotated[
        bool, typer.Option("--sample", help="Only ingest the small bundled sample instead.")
    ] = False,
) -> None:
    """Run tipwatch end to end on an invented, calibrated 2019-2020 world, beside its truth.

    Intake, matching, triage, routing, signals, trends, alerts and the assessment; then what
    was found, compared with what was planted.
    """

    def body() -> None:
        if sample:
            _sample_demo(out)
            return
        progress, on_progress = _stage_progress()

        console.print(
            f"Generating an invented 2019-2020 at {scale:g} of real volume (seed {seed})..."
        )
        with progress:
            report = services.demo.run_demo(
                _actor(), out, scale=scale, seed=seed, progress=on_progress
            )
        _print_demo(report)
        name, password = services.demo.add_workspace_account(_actor(), out / "tipwatch.db")
        console.print(
            f"\nWorkspace: run [bold]tipwatch serve --db {out / 'tipwatch.db'}[/] and sign in "
            f"at http://127.0.0.1:8000/ as [bold]{name}[/]"
        )
        console.print(f"password (shown this once): [bold]{password}[/]", soft_wrap=True)

    _run(body)


def _print_demo(report: Any) -> None:
    world = report.world
    seconds = sum(report.seconds.values())
    console.print(
        f"\n[bold]tipwatch demo[/]: {report.files.referrals:,} referrals in "
        f"{len(world.countries)} countries, {seconds:.0f} s "
        f"({', '.join(f'{k} {v:.0f} s' for k, v in report.seconds.items())})"
    )
    table = Table(
        title="Recovered beside the truth", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False
    )
    for col in ("country", "event", "surge (95% CI)", "truth", "change", "truth", "off"):
        table.add_column(col, no_wrap=True)
    by_volume = sorted(report.checks, key=lambda c: -world.countries[c.country].baseline)
    shown = [c for c in report.checks if c.country in ("NL", "SE", world.viral["country"])]
    shown += [c for c in by_volume if c not in shown][: 9 - len(shown)]
    for c in sorted(shown, key=lambda c: c.country):
        surge = "-" if c.factor is None else f"{c.factor:.1f}x ({c.low:.1f}-{c.high:.1f})"
        mark = "" if c.factor is None or c.factor_ok else " !"
        table.add_row(
            c.country,
            c.event,
            surge + mark,
            f"{c.truth_factor:.1f}x",
            c.change.isoformat() if c.change else "-",
            c.truth_change.isoformat() if c.truth_change else "none",
            "" if c.change_days_off is None else f"{c.change_days_off:+d} d",
        )
    console.print(table)
    surging = report.surging
    within = report.changes_within_3_days
    covered = report.intervals_covering_truth
    note = (
        " (small countries have few referrals a day at this scale)"
        if within < len(surging) or covered < len(surging)
        else ""
    )
    console.print(
        f"All {len(surging)} surging countries: change within 3 days in {within}, surge interval "
        f"covers the truth in {covered}{note}.",
        highlight=False,
    )
    r = report.month_ratios
    if r:
        console.print(
            f"World, 2020 over 2019: March {r['march_2020_over_2019']}x (truth "
            f"{r['march_truth']}x, NCMEC {r['march_ncmec']}x), April "
            f"{r['april_2020_over_2019']}x (truth {r['april_truth']}x, NCMEC {r['april_ncmec']}x)",
            highlight=False,
        )
    kp, kf = report.known_planted, report.known_found
    console.print(
        f"Known files found: {kf.get('exact', 0):,} of {kp.get('exact', 0):,} exact, "
        f"{kf.get('near', 0):,} of {kp.get('near', 0):,} near (resized or re-encoded); "
        f"planted account links found: {report.links_found:,} of {report.links_planted:,}",
        highlight=False,
    )
    v = world.viral
    console.print(
        f"Viral batch ({v['referrals']} referrals, {v['country']} {v['day']}): "
        + ("[red]reported as a surge[/]" if report.viral_surge_alert else "not a surge alert")
        + ("; flagged as data quality" if report.viral_quality_alert else "")
        + f". Outage of {world.outage['service']}: "
        + ("flagged" if report.outage_seen else "[red]missed[/]")
        + f". Gap in {world.gap['country']}: "
        + ("flagged" if report.gap_seen else "[red]missed[/]")
        + "."
    )
    for finding in report.findings[:3]:
        console.print(f"  - {finding}", highlight=False)
    console.print(
        f"\nAssessment: [bold]{report.assessment}[/]\nPackage for NL: {report.package}\n"
        f"Truth: {report.files.truth}  Store: {report.out / 'tipwatch.db'}\n"
        f"Next: tipwatch referrals list --db {report.out / 'tipwatch.db'} --country NL, "
        f"tipwatch audit list --db {report.out / 'tipwatch.db'}"
    )


def _sample_demo(out: Path) -> None:
    report = services.demo.run_sample_demo(_actor(), out)
    _print_summary(report.summary)
    console.print(
        f"\nStored in [bold]{report.db_path}[/]: {report.referral_count} referrals, "
        f"{report.file_count} files, {report.quarantined} quarantined record(s)."
    )
    rows = [_table_referral(s.as_dict()) for s in report.referrals]
    # The platform column is left out so the table reads in an 80-column terminal.
    _emit(rows, OutputFormat.TABLE, _REFERRAL_COLUMNS[:-1])
    console.print(
        "\nNext: [bold]tipwatch referrals show ID --db " + str(report.db_path) + "[/], "
        "[bold]tipwatch quarantine list --db " + str(report.db_path) + "[/]"
    )
