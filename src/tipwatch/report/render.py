"""Rendering the assessment: one self-contained HTML file (charts as inline SVG, styles and the
table's sorting script inline, nothing fetched), and a PDF of it printed by Chromium."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from tipwatch.errors import ConfigError
from tipwatch.report.assessment import Assessment
from tipwatch.report.charts import render_svg
from tipwatch.trends.events import event_name

__all__ = ["CHART_CAPTIONS", "find_chromium", "render_html", "write_pdf"]

CHART_CAPTIONS = {
    "daily": "Each country's daily count (7-day mean); grey: the baseline level with a band of "
    "two standard errors of a weekly mean; dashed: the country's own event.",
    "aligned": "Level against baseline (1 = no change), each country's own event at day 0; "
    "grey lines: countries, blue: their median.",
    "ranking": "Surge factor of the four weeks from each country's own event, with its 95% "
    "interval; the dashed line is no change.",
    "material": "Weekly share of referrals with a file known from a hash list, and with a file "
    "matching no list (possibly new material).",
    "annotations": "Weekly share of referrals with a file annotated as possible "
    "self-production, and as live streaming.",
    "blocked": "Blocked access attempts by country, weekly: requests, not people.",
    "helpline": "Helpline contacts by age band, weekly.",
}


def render_html(assessment: Assessment, *, title: str | None = None) -> str:
    from jinja2 import Environment, select_autoescape

    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    source = (resources.files("tipwatch.report") / "templates" / "assessment.html").read_text(
        encoding="utf-8"
    )
    charts: list[dict[str, Any]] = [
        {"name": name, "svg": render_svg(spec), "caption": CHART_CAPTIONS.get(name, "")}
        for name, spec in assessment.charts.items()
    ]
    countries = assessment.countries
    shown = ", ".join(countries) if len(countries) <= 12 else f"{len(countries)} countries"
    return env.from_string(source).render(
        title=title or "Threat assessment: referrals and signals",
        subtitle=(
            f"{assessment.start:%d %B %Y} to {assessment.end:%d %B %Y}; {shown}; measured from "
            f"each country's {event_name(assessment.event_kind)}."
        ),
        findings=assessment.findings,
        table=assessment.table,
        event_label=event_name(assessment.event_kind),
        charts=charts,
        caveats=assessment.caveats,
        provenance=assessment.provenance,
    )


def find_chromium(configured: str | Path | None = None) -> str:
    """The Chromium (or Chrome) program: ``configured`` (the ``chromium`` setting), else the
    first on the PATH."""
    if configured:
        return str(configured)
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise ConfigError(
        "making a PDF needs Chromium, and none was found on the PATH",
        hint="install Chromium (Debian: apt-get install chromium) or name its program in "
        "the chromium setting",
    )


def write_pdf(
    html_path: Path,
    pdf_path: Path,
    *,
    chromium: str | Path | None = None,
    timeout: float = 120.0,
) -> None:
    """Print the HTML file to PDF (A4) with headless Chromium (``chromium``: its program, as
    for :func:`find_chromium`)."""
    program = find_chromium(chromium)
    with tempfile.TemporaryDirectory() as profile:
        command = [
            program,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf_path.resolve()}",
            html_path.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise ConfigError(f"Chromium did not finish the PDF in {timeout:.0f} s") from exc
    if done.returncode != 0 or not pdf_path.exists() or pdf_path.stat().st_size == 0:
        raise ConfigError(f"Chromium could not print the PDF: {done.stderr.strip()[-500:]}")
