"""Signals and trends commands: ``signals``, ``events``, ``trends``, ``alerts``,
``changepoints``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from tipwatch import services
from tipwatch.cli import (
    DbOption,
    FormatOption,
    OutputFormat,
    _actor,
    _emit,
    _fail,
    _open,
    _print_json,
    _run,
    app,
    console,
    err_console,
    plain,
)

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
    _print_json(data)


# -- signals --------------------------------------------------------------------------------


@signals_app.command("import")
def signals_import(
    path: Annotated[Path, typer.Argument(help="A CSV feed file (formats: docs/trends.md).")],
    feed: Annotated[
        str, typer.Option("--feed", help="blocked, helpline or metric.", show_default=False)
    ],
    db: DbOption = None,
) -> None:
    """Import a feed. Bad rows are listed with their line and reason; the rest is stored."""

    def body() -> None:
        result = services.trends.import_signals(_open(db), _actor(), path, feed)
        console.print(
            f"{result.rows:,} row(s) read, {result.values_stored:,} value(s) stored, "
            f"{len(result.problems):,} row(s) refused",
            highlight=False,
        )
        for problem in result.problems[:20]:
            err_console.print(Text(f"  {plain(problem)}"))
        if len(result.problems) > 20:
            err_console.print(f"  ... and {len(result.problems) - 20:,} more")

    _run(body)


@signals_app.command("list")
def signals_list(db: DbOption = None, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """The imported metrics by country, with period and span."""

    def body() -> None:
        rows = services.trends.list_signals(_open(db), _actor())
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
    since: Annotated[str | None, typer.Option(help="From this day (included).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this day (included).")] = None,
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.CSV,
) -> None:
    """The daily series of one metric, one row a day and country."""

    def body() -> None:
        series = services.trends.series(
            _open(db),
            _actor(),
            metric,
            countries=[country] if country else None,
            since=_day(since, "--since"),
            until=_day(until, "--until"),
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

    def body() -> None:
        events = services.trends.list_events(_open(db), _actor(), country=country, kind=kind)
        rows = [_event_row(e) for e in events]
        _emit(rows, fmt, ("country", "date", "kind", "label", "source"))
        if fmt is OutputFormat.TABLE:
            console.print(
                f"OxCGRT data: {services.trends.OXCGRT_CREDIT}", style="dim", highlight=False
            )

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

    def body() -> None:
        when = _day(day, "DAY")
        assert when is not None
        event = services.trends.add_event(_open(db), _actor(), country, when, kind, label)
        console.print(Text(f"added {event.kind} for {event.country} on {event.date}"))

    _run(body)


@events_app.command("import")
def events_import(
    path: Annotated[Path, typer.Argument(help="CSV with country,date,kind[,label,source].")],
    db: DbOption = None,
) -> None:
    """Import events from a CSV file; bad rows are listed, the rest stored."""

    def body() -> None:
        stored, problems = services.trends.import_events(_open(db), _actor(), path)
        console.print(f"{stored:,} event(s) stored, {len(problems):,} row(s) refused")
        for p in problems[:20]:
            err_console.print(Text(f"  {plain(p)}"))

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
    since: Annotated[str | None, typer.Option(help="Use data from this day (included).")] = None,
    until: Annotated[str | None, typer.Option(help="Use data up to this day (included).")] = None,
    align: Annotated[
        bool, typer.Option(help="Also test own-event alignment against a common date.")
    ] = True,
    db: DbOption = None,
    fmt: Annotated[
        OutputFormat,
        typer.Option(
            "--format", "-f", help="table (sentences), json, or csv (one row per country)."
        ),
    ] = OutputFormat.TABLE,
) -> None:
    """Surge factor, change, peak and lag from each country's own event, in sentences."""

    def body() -> None:
        if baseline not in ("before", "year"):
            _fail(f"--baseline must be before or year, got {baseline!r}")
        with _spinner("analysing"):
            found = services.trends.trends(
                _open(db),
                _actor(),
                metric=metric,
                country=country,
                event=event,
                window_start=_day(window_start, "--window-start"),
                window_days=window_days,
                baseline_days=baseline_days,
                baseline=baseline,
                trend=trend,
                since=_day(since, "--since"),
                until=_day(until, "--until"),
                align=align,
            )
        results, alignment, alignment_problem = (
            found.countries,
            found.alignment,
            found.alignment_problem,
        )
        if fmt is OutputFormat.CSV:
            rows = [r.as_dict() for r in results]
            _emit(rows, fmt, _flat_columns(rows))
            return
        if fmt is OutputFormat.JSON:
            _json_out(found.as_dict())
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
    country: Annotated[
        str | None, typer.Option(help="Only these countries (ISO codes, comma-separated).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Alerts from this day (included).")] = None,
    until: Annotated[str | None, typer.Option(help="Alerts up to this day (included).")] = None,
    quality: Annotated[
        bool,
        typer.Option(help="Also data-quality alerts (gaps, spikes, dominant service, viral)."),
    ] = True,
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Surge and fall alerts (yellow, red), false-discovery controlled across countries, one
    row per episode (consecutive alerted days of a country: start, end, direction, peak, level).

    Data-quality alerts (gaps, one-day spikes, a dominant service, viral batches, outages) are
    listed apart, as episodes too. The dates and countries chosen apply to both.
    """

    def body() -> None:
        with _spinner("computing alerts"):
            result = services.trends.alerts(
                _open(db),
                _actor(),
                metric=metric,
                countries=[c.strip() for c in country.split(",") if c.strip()] if country else None,
                since=_day(since, "--since"),
                until=_day(until, "--until"),
                quality=quality,
            )
        rows = [
            {
                "start": e.start,
                "end": e.end,
                "days": e.days,
                "country": e.country,
                "metric": e.metric,
                "direction": e.direction,
                "level": e.level,
                "peak_day": e.peak_day,
                "peak_observed": e.peak_observed,
                "peak_expected": round(e.peak_expected, 1),
                "q_value": float(f"{e.q_value:.3g}"),
            }
            for e in result.surge
        ]
        quality_rows = [
            {
                "start": q.start,
                "end": q.end,
                "days": q.days,
                "country": q.country,
                "kind": q.kind,
                "detail": q.detail,
            }
            for q in result.data_quality
        ]
        if fmt is OutputFormat.JSON:
            _json_out({"surge": rows, "data_quality": quality_rows})
            return
        if fmt is OutputFormat.CSV:
            # One table: surge episodes, then data-quality episodes, told apart by their kind.
            rows = [
                {"kind": "surge" if r["direction"] == "up" else "fall", **r} for r in rows
            ] + quality_rows
            _emit(
                rows,
                fmt,
                (
                    "start",
                    "end",
                    "days",
                    "country",
                    "kind",
                    "level",
                    "peak_day",
                    "peak_observed",
                    "peak_expected",
                    "q_value",
                    "detail",
                ),
            )
            return
        console.print(
            f"[bold]Surge alerts[/] ({len(rows)} episodes; peak: the day most above "
            "expectation, observed vs expected; a fall: the 7-day total most below it)"
        )
        # The peak in one cell, so that the table fits an 80-column terminal.
        table_rows = [
            {
                **r,
                "peak": f"{e.peak_day:%d %b}: {e.peak_observed:,.0f} vs {e.peak_expected:,.0f}",
            }
            for r, e in zip(rows, result.surge, strict=True)
        ]
        _emit(table_rows, fmt, ("start", "end", "country", "direction", "level", "peak", "q_value"))
        if quality:
            console.print(f"[bold]Data-quality alerts[/] ({len(quality_rows)} episodes)")
            _emit(quality_rows, fmt, ("start", "end", "days", "country", "kind", "detail"))

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

    def body() -> None:
        data, changes = services.trends.changepoints(
            _actor(), path, column=column, penalty=penalty, min_size=min_size
        )
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
    since: Annotated[str, typer.Option("--since", help="First day (included), e.g. 2020-01-01.")],
    until: Annotated[str, typer.Option("--until", help="Last day (included), e.g. 2020-06-30.")],
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
    """Write the threat assessment of a period (a month, a quarter, a year ...): title page
    with its marking, executive summary, key figures, a section per signal in the store,
    charts with their numbers, caveats and provenance, in one self-contained HTML file that
    opens offline (and a PDF with page numbers on request)."""
    import time

    from tipwatch.settings import get_settings

    def body() -> None:
        start = _day(since, "--since")
        end = _day(until, "--until")
        assert start is not None and end is not None
        wanted = services.assessment.countries_of(countries, region)
        began = time.perf_counter()
        with _spinner("analysing"):
            written = services.assessment.write_assessment(
                _open(db),
                _actor(),
                since=start,
                until=end,
                out=out,
                countries=wanted,
                event=event,
                title=title,
                pdf=pdf,
                chromium=get_settings().chromium,
            )
        assessment = written.assessment
        console.print(
            Text(
                f"Wrote {out} ({written.html_bytes / 1e6:.1f} MB, {len(assessment.findings)} "
                f"findings, {len(assessment.charts)} charts) in "
                f"{time.perf_counter() - began:.1f} s"
            )
        )
        for finding in assessment.findings[:3]:
            console.print(Text(f"  - {finding.text}"))
        if pdf is not None:
            console.print(Text(f"Wrote {pdf}"))

    _run(body)


assessment_app = typer.Typer(
    help="Draft the assessment: your own sections, decisions on its findings, published "
    "versions (each kept in the store).",
    no_args_is_help=True,
)
app.add_typer(assessment_app, name="assessment")


@assessment_app.command("new")
def assessment_new(
    name: Annotated[str, typer.Argument(help="A name for the draft, e.g. 2020-H1.")],
    since: Annotated[str, typer.Option("--since", help="First day (included).")],
    until: Annotated[str, typer.Option("--until", help="Last day (included).")],
    countries: Annotated[
        str | None, typer.Option(help="Comma-separated ISO codes (default: all attributed).")
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="EU27 for the 27 EU member states.", show_default=False)
    ] = None,
    event: Annotated[str, typer.Option(help="The event kind to measure from.")] = "stay-at-home",
    title: Annotated[str | None, typer.Option(help="The report's title.")] = None,
    db: DbOption = None,
) -> None:
    """Start a draft of the assessment of a period (a month, a quarter, a year ...)."""

    def body() -> None:
        start, end = _day(since, "--since"), _day(until, "--until")
        assert start is not None and end is not None
        draft = services.assessment.create_draft(
            _open(db),
            _actor(),
            name=name,
            since=start,
            until=end,
            countries=services.assessment.countries_of(countries, region),
            event=event,
            title=title,
        )
        console.print(Text(f"Draft {draft.name}: {draft.start} to {draft.end}"))

    _run(body)


@assessment_app.command("list")
def assessment_list(db: DbOption = None) -> None:
    """The drafts: period, sections, decisions, published versions."""

    def body() -> None:
        for d in services.assessment.list_drafts(_open(db), _actor()):
            console.print(
                Text(
                    f"{d.name}  {d.start} to {d.end}  {len(d.sections)} section(s)  "
                    f"{len(d.decisions)} decision(s)  {d.versions} version(s)"
                )
            )

    _run(body)


@assessment_app.command("section")
def assessment_section(
    name: Annotated[str, typer.Argument(help="The draft.")],
    title: Annotated[str, typer.Option(help="The section's heading.")],
    file: Annotated[Path, typer.Option("--file", help="The section's text, in Markdown.")],
    before: Annotated[
        str,
        typer.Option(
            help="Where it goes: before summary, key-figures, referrals, blocked, helplines, "
            "forums, timing, caveats, method, or at the end."
        ),
    ] = "summary",
    position: Annotated[
        int | None, typer.Option(help="Replace the section at this position.")
    ] = None,
    db: DbOption = None,
) -> None:
    """Add your own section (an introduction, an assessment, recommendations) to a draft."""

    def body() -> None:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot read {file}: {exc.strerror or exc}")
            return
        number = services.assessment.add_section(
            _open(db), _actor(), name, title=title, markdown=text, before=before,
            position=position,
        )  # fmt: skip
        console.print(Text(f"Section {number} of {name}: {title}"))

    _run(body)


@assessment_app.command("findings")
def assessment_findings(
    name: Annotated[str, typer.Argument(help="The draft.")],
    db: DbOption = None,
) -> None:
    """The draft's findings as the store stands, with their ids and your decisions."""

    def body() -> None:
        for f in services.assessment.draft_findings(_open(db), _actor(), name):
            console.print(Text(f"[{f.decision}] {f.id}: {f.edited or f.text}"))

    _run(body)


@assessment_app.command("decide")
def assessment_decide(
    name: Annotated[str, typer.Argument(help="The draft.")],
    finding: Annotated[str, typer.Argument(help="The finding's id (see `findings`).")],
    action: Annotated[str, typer.Argument(help="accept, edit or drop.")],
    text: Annotated[
        str, typer.Option(help="The edited sentence (edit); it must keep the finding's number.")
    ] = "",
    db: DbOption = None,
) -> None:
    """Accept, edit or drop one finding before publishing."""

    def body() -> None:
        services.assessment.decide_finding(_open(db), _actor(), name, finding, action, text)
        console.print(Text(f"{action}: {finding}"))

    _run(body)


@assessment_app.command("publish")
def assessment_publish(
    name: Annotated[str, typer.Argument(help="The draft.")],
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("assessment.html"),
    pdf: Annotated[Path | None, typer.Option(help="Also a PDF (needs Chromium).")] = None,
    db: DbOption = None,
) -> None:
    """Publish a new version of the draft: written to --out, and kept in the store."""
    from tipwatch.settings import get_settings

    def body() -> None:
        done = services.assessment.publish(
            _open(db), _actor(), name, out=out, pdf=pdf, chromium=get_settings().chromium
        )
        console.print(
            Text(
                f"Published {name} version {done.version} ({done.findings} findings) to {out}"
                + (f" and {pdf}" if pdf else "")
            )
        )

    _run(body)


@assessment_app.command("versions")
def assessment_versions(
    name: Annotated[str, typer.Argument(help="The draft.")],
    version: Annotated[int | None, typer.Option(help="Write this version's page to --out.")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write it.")] = None,
    db: DbOption = None,
) -> None:
    """The published versions of a draft; with --version and --out, one of them as published."""

    def body() -> None:
        store, actor = _open(db), _actor()
        if version is not None:
            if out is None:
                _fail("--version needs --out (the file to write the page to)")
                return
            found = services.assessment.published_version(store, actor, name, version)
            out.write_text(found.html, encoding="utf-8")
            console.print(Text(f"Wrote version {version} of {name} to {out}"))
            return
        for v in services.assessment.list_versions(store, actor, name):
            console.print(
                Text(
                    f"v{v.version}  {v.published_at:%Y-%m-%d %H:%M}  {v.published_by}  "
                    f"{v.marking}  inputs {v.inputs_sha256[:12]}  page {v.html_sha256[:12]}"
                )
            )

    _run(body)


def _flat_columns(rows: list[dict[str, Any]]) -> list[str]:
    """The columns of rows for CSV: the keys whose values are not nested."""
    if not rows:
        return ["country"]
    return [k for k, v in rows[0].items() if not isinstance(v, dict | list)]


def _spinner(label: str) -> Any:
    """A spinner on standard error while long work runs (only on a terminal)."""
    import contextlib

    if not err_console.is_terminal:
        return contextlib.nullcontext()
    return err_console.status(label, spinner="dots")
