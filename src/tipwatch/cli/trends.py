"""Signals and trends commands: ``signals``, ``events``, ``trends``, ``alerts``,
``changepoints``."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from tipwatch.cli import (
    DbOption,
    FormatOption,
    OutputFormat,
    _emit,
    _fail,
    _open,
    _run,
    app,
    console,
    err_console,
)
from tipwatch.settings import get_settings

signals_app = typer.Typer(
    help="Daily signals: import feeds (blocked access, helplines, any metric), list, show.",
    no_args_is_help=True,
)
events_app = typer.Typer(
    help="The event calendar (OxCGRT 2020 lockdowns shipped; add your own).",
    no_args_is_help=True,
)
app.add_typer(signals_app, name="signals")
app.add_typer(events_app, name="events")


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"{option} must be a date such as 2020-03-16, got {value!r}")
        raise


def _json_out(data: Any) -> None:
    def default(value: Any) -> Any:
        if isinstance(value, date):
            return value.isoformat()
        return str(value)

    sys.stdout.write(json.dumps(data, indent=2, default=default, ensure_ascii=False) + "\n")


# -- signals --------------------------------------------------------------------------------


@signals_app.command("import")
def signals_import(
    path: Annotated[Path, typer.Argument(help="A CSV feed file (see docs/signals.md).")],
    feed: Annotated[
        str, typer.Option("--feed", help="blocked, helpline or metric.", show_default=False)
    ],
    db: DbOption = None,
) -> None:
    """Import a feed. Bad rows are listed with their line and reason; the rest is stored."""
    from tipwatch.trends.signals import import_feed

    def body() -> None:
        result = import_feed(_open(db), path, feed)
        console.print(
            f"{result.rows:,} row(s) read, {result.values_stored:,} value(s) stored, "
            f"{len(result.problems):,} row(s) refused",
            highlight=False,
        )
        for problem in result.problems[:20]:
            err_console.print(f"  {problem}", highlight=False)
        if len(result.problems) > 20:
            err_console.print(f"  ... and {len(result.problems) - 20:,} more")

    _run(body)


@signals_app.command("list")
def signals_list(db: DbOption = None, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """The imported metrics by country, with period and span."""
    from tipwatch.trends.signals import list_signals

    def body() -> None:
        rows = list_signals(_open(db))
        if not rows and fmt is OutputFormat.TABLE:
            console.print("No imported signals yet (tipwatch signals import FILE --feed ...).")
            return
        _emit(rows, fmt, ("feed", "metric", "country", "period", "values", "first", "last"))

    _run(body)


@signals_app.command("show")
def signals_show(
    metric: Annotated[
        str,
        typer.Argument(
            help="referrals, incident_type:SLUG, service:NAME, annotation:NAME, "
            "material:known|new, tier:NAME, viral, or an imported metric."
        ),
    ] = "referrals",
    country: Annotated[str | None, typer.Option(help="One country (ISO code).")] = None,
    since: Annotated[str | None, typer.Option(help="From this day.")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this day.")] = None,
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.CSV,
) -> None:
    """The daily series of one metric, one row a day and country."""

    def body() -> None:
        from tipwatch.trends.signals import series_of

        series = series_of(
            _open(db),
            metric,
            countries=[country] if country else None,
            start=_day(since, "--since"),
            end=_day(until, "--until"),
        )
        rows = [
            {"date": s.day(i).isoformat(), "country": c, "value": float(v)}
            for c, s in sorted(series.items())
            for i, v in enumerate(s.values)
        ]
        _emit(rows, fmt, ("date", "country", "value"))

    _run(body)


# -- events ---------------------------------------------------------------------------------


@events_app.command("list")
def events_list(
    country: Annotated[str | None, typer.Option(help="One country (ISO code).")] = None,
    kind: Annotated[str | None, typer.Option(help="e.g. stay-at-home, school-closure.")] = None,
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Events by country and date: the shipped OxCGRT 2020 dates and your own."""
    from tipwatch.trends.events import OXCGRT_CREDIT, list_events

    def body() -> None:
        rows = [_event_row(e) for e in list_events(_open(db), country=country, kind=kind)]
        _emit(rows, fmt, ("country", "date", "kind", "label", "source"))
        if fmt is OutputFormat.TABLE:
            console.print(f"OxCGRT data: {OXCGRT_CREDIT}", style="dim", highlight=False)

    _run(body)


def _event_row(e: Any) -> dict[str, Any]:
    return {
        "country": e.country,
        "date": e.date,
        "kind": e.kind,
        "label": e.label,
        "source": e.source,
    }


@events_app.command("add")
def events_add(
    country: Annotated[str, typer.Argument(help="ISO code, e.g. NL.")],
    day: Annotated[str, typer.Argument(help="YYYY-MM-DD")],
    kind: Annotated[str, typer.Argument(help="A short name, e.g. stay-at-home.")],
    label: Annotated[str, typer.Option(help="What happened.")] = "",
    db: DbOption = None,
) -> None:
    """Add an event to the calendar (yours replaces a shipped one of the same kind)."""
    from tipwatch.trends.events import add_event

    def body() -> None:
        when = _day(day, "DAY")
        assert when is not None
        event = add_event(_open(db), country, when, kind, label)
        console.print(f"added {event.kind} for {event.country} on {event.date}")

    _run(body)


@events_app.command("import")
def events_import(
    path: Annotated[Path, typer.Argument(help="CSV with country,date,kind[,label,source].")],
    db: DbOption = None,
) -> None:
    """Import events from a CSV file; bad rows are listed, the rest stored."""
    from tipwatch.trends.events import import_events

    def body() -> None:
        stored, problems = import_events(_open(db), path)
        console.print(f"{stored:,} event(s) stored, {len(problems):,} row(s) refused")
        for p in problems[:20]:
            err_console.print(f"  {p}", highlight=False)

    _run(body)


# -- trends ---------------------------------------------------------------------------------


@app.command()
def trends(
    metric: Annotated[str, typer.Option(help="The metric (see `signals show --help`).")] = (
        "referrals"
    ),
    country: Annotated[str | None, typer.Option(help="One country (ISO code).")] = None,
    event: Annotated[str, typer.Option(help="The event kind to measure from.")] = "stay-at-home",
    window_start: Annotated[
        str | None, typer.Option(help="One window start for all (default: each own event).")
    ] = None,
    window_days: Annotated[int, typer.Option(help="Length of the surge window.", min=7)] = 28,
    baseline_days: Annotated[int, typer.Option(help="Days of baseline before.", min=28)] = 56,
    baseline: Annotated[
        str, typer.Option(help="before (the weeks before) or year (also a year earlier).")
    ] = "before",
    trend: Annotated[bool, typer.Option(help="Fit a time trend in the baseline.")] = False,
    since: Annotated[str | None, typer.Option(help="Use data from this day.")] = None,
    until: Annotated[str | None, typer.Option(help="Use data up to this day.")] = None,
    align: Annotated[
        bool, typer.Option(help="Also test own-event alignment against a common date.")
    ] = True,
    db: DbOption = None,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="table (sentences) or json.")
    ] = OutputFormat.TABLE,
) -> None:
    """Surge factor, change, peak and lag from each country's own event, in sentences."""
    from tipwatch.errors import InsufficientDataError
    from tipwatch.trends.countries import alignment_test, analyse_countries
    from tipwatch.trends.events import list_events

    def body() -> None:
        if baseline not in ("before", "year"):
            _fail(f"--baseline must be before or year, got {baseline!r}")
        from tipwatch.trends.signals import series_of

        store = _open(db)
        series = series_of(
            store,
            metric,
            countries=[country] if country else None,
            start=_day(since, "--since"),
            end=_day(until, "--until"),
            attributed_only=True,
        )
        calendar = list_events(store)
        results = analyse_countries(
            series,
            calendar,
            event_kind=event,
            window_days=window_days,
            baseline_days=baseline_days,
            window_start=_day(window_start, "--window-start"),
            baseline=baseline,
            trend=trend,
        )
        alignment = None
        alignment_problem = None
        if align and len(series) >= 3:
            try:
                alignment = alignment_test(series, calendar, event_kind=event)
            except InsufficientDataError as exc:
                alignment_problem = str(exc)
        if fmt is OutputFormat.JSON:
            _json_out(
                {
                    "metric": metric,
                    "countries": [r.as_dict() for r in results],
                    "alignment": None if alignment is None else alignment.__dict__,
                    "alignment_problem": alignment_problem,
                }
            )
            return
        for r in results:
            console.print(f"[bold]{r.country}[/]")
            for sentence in r.sentences():
                console.print(f"  {sentence}.", highlight=False)
        if alignment is not None:
            console.print(f"\n{alignment.explain()}.", highlight=False)
        elif alignment_problem:
            console.print(f"\n{alignment_problem}", highlight=False)

    _run(body)


@app.command()
def alerts(
    metric: Annotated[str, typer.Option(help="The metric (see `signals show --help`).")] = (
        "referrals"
    ),
    since: Annotated[str | None, typer.Option(help="Alerts from this day.")] = None,
    until: Annotated[str | None, typer.Option(help="Alerts up to this day.")] = None,
    quality: Annotated[
        bool, typer.Option(help="Also data-quality alerts (gaps, dominant service, viral).")
    ] = True,
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Daily surge alerts (yellow, red), false-discovery controlled across countries.

    Data-quality alerts (gaps, a dominant service, viral batches) are listed apart.
    """
    from tipwatch.trends.alerts import quality_alerts, surge_alerts

    def body() -> None:
        from tipwatch.trends.signals import series_of

        store = _open(db)
        series = series_of(store, metric, attributed_only=True)
        found = surge_alerts(series, start=_day(since, "--since"), end=_day(until, "--until"))
        rows = [
            {
                "day": a.day,
                "country": a.country,
                "level": a.level,
                "observed": a.observed,
                "expected": round(a.expected, 1),
                "threshold": a.threshold,
                "q_value": float(f"{a.q_value:.3g}"),
            }
            for a in found
        ]
        quality_rows = []
        if quality:
            referral_store = store if metric == "referrals" else None
            quality_rows = [
                {"day": q.day, "country": q.country, "kind": q.kind, "detail": q.detail}
                for q in quality_alerts(referral_store, series)
            ]
        if fmt is OutputFormat.JSON:
            _json_out({"surge": rows, "data_quality": quality_rows})
            return
        if fmt is OutputFormat.CSV:
            _emit(
                rows,
                fmt,
                ("day", "country", "level", "observed", "expected", "threshold", "q_value"),
            )
            return
        console.print(f"[bold]Surge alerts[/] ({len(rows)})")
        _emit(rows, fmt, ("day", "country", "level", "observed", "expected", "q_value"))
        if quality:
            console.print(f"[bold]Data-quality alerts[/] ({len(quality_rows)})")
            _emit(quality_rows, fmt, ("day", "country", "kind", "detail"))

    _run(body)


@app.command("changepoints")
def changepoints_command(
    path: Annotated[Path, typer.Argument(help="A CSV file with a header row.")],
    column: Annotated[
        str | None, typer.Option(help="The column of values (default: the last).")
    ] = None,
    penalty: Annotated[float, typer.Option(help="Evidence needed for a change.", min=0.1)] = 3.0,
    min_size: Annotated[int, typer.Option(help="Shortest segment.", min=1)] = 5,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Where the level of a numeric series changes (any series, counts or not)."""
    from tipwatch.formats.series_csv import read_value_series
    from tipwatch.trends.changepoints import detect_changes

    def body() -> None:
        data = read_value_series(path, column)
        changes, _ = detect_changes(data.values, penalty=penalty, min_size=min_size)
        rows = [
            {
                "index": c.index,
                "label": data.labels[c.index] if data.labels else "",
                "before": round(c.before, 4),
                "after": round(c.after, 4),
                "strength": round(c.gain, 1),
            }
            for c in changes
        ]
        if fmt is OutputFormat.TABLE and not rows:
            console.print(f"No change in {len(data.values):,} values of {data.column!r}.")
            return
        columns: tuple[str, ...] = ("index", "label", "before", "after", "strength")
        if not data.labels:
            columns = ("index", "before", "after", "strength")
        _emit(rows, fmt, columns)

    _run(body)


# -- assessment -----------------------------------------------------------------------------


@app.command()
def assess(
    date_from: Annotated[str, typer.Option("--from", help="First day, e.g. 2020-01-01.")],
    date_to: Annotated[str, typer.Option("--to", help="Last day, e.g. 2020-06-30.")],
    countries: Annotated[
        str | None, typer.Option(help="Comma-separated ISO codes (default: all attributed).")
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="EU27 for the 27 EU member states.", show_default=False)
    ] = None,
    event: Annotated[str, typer.Option(help="The event kind to measure from.")] = "stay-at-home",
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("assessment.html"),
    pdf: Annotated[
        Path | None, typer.Option(help="Also a PDF of the same content (needs Chromium).")
    ] = None,
    title: Annotated[str | None, typer.Option(help="The report's title.")] = None,
    db: DbOption = None,
) -> None:
    """Write the threat assessment: key findings, a table by country, charts, caveats and
    provenance, in one self-contained HTML file that opens offline (and a PDF on request)."""
    import time

    from tipwatch.report.assessment import build_assessment, countries_of
    from tipwatch.report.render import render_html, write_pdf

    def body() -> None:
        start = _day(date_from, "--from")
        end = _day(date_to, "--to")
        assert start is not None and end is not None
        wanted = countries_of(countries, region)
        began = time.perf_counter()
        with console.status("analysing", spinner="dots"):
            assessment = build_assessment(
                _open(db), start=start, end=end, countries=wanted, event_kind=event
            )
            html = render_html(assessment, title=title)
        out.write_text(html, encoding="utf-8")
        console.print(
            f"Wrote [bold]{out}[/] ({len(html.encode()) / 1e6:.1f} MB, {len(assessment.findings)} "
            f"findings, {len(assessment.charts)} charts) in {time.perf_counter() - began:.1f} s"
        )
        for finding in assessment.findings[:3]:
            console.print(f"  - {finding.text}", highlight=False)
        if pdf is not None:
            write_pdf(out, pdf, chromium=get_settings().chromium)
            console.print(f"Wrote [bold]{pdf}[/]")

    _run(body)
