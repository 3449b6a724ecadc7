"""Rendering the assessment: one self-contained HTML file (charts as inline SVG, styles and the
tables' sorting script inline, nothing fetched), and a PDF of it printed by Chromium with the
handling marking at the top of every page and the page number at the foot.

The analyst's own text (Markdown sections, and decisions on the findings) is merged here:
see :class:`Drafting`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from tipwatch.errors import ConfigError, InputError
from tipwatch.report.assessment import Assessment, Finding
from tipwatch.report.charts import render_svg
from tipwatch.trends.events import event_name

__all__ = [
    "AnalystSection",
    "Decision",
    "Drafting",
    "apply_decisions",
    "find_chromium",
    "headline_number",
    "markdown_to_html",
    "render_html",
    "section_pages",
    "write_pdf",
    "write_report",
]


@dataclass(frozen=True)
class AnalystSection:
    """A section the analyst wrote, in Markdown, placed before the section ``before`` (an id
    of the assessment's sections, ``summary``, ``key-figures``, ``caveats``, ``method``, or
    ``end`` for after them all)."""

    title: str
    markdown: str
    before: str = "summary"


@dataclass(frozen=True)
class Decision:
    """What the analyst decided about a finding: ``accept``, ``edit`` (with ``text``) or
    ``drop``."""

    action: str
    text: str = ""


@dataclass
class Drafting:
    sections: list[AnalystSection] = field(default_factory=list)
    decisions: dict[str, Decision] = field(default_factory=dict)
    version: int | None = None
    """The published version number, when this is a published version."""


_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def headline_number(finding: Finding) -> str | None:
    """A finding's main number (its ``headline``, else the first number of its text): an
    edit must keep it, so that the sentence stays tied to the figure it came from."""
    if finding.headline:
        return finding.headline
    found = _NUMBER.search(finding.text)
    return found.group(0) if found else None


def apply_decisions(findings: list[Finding], decisions: dict[str, Decision]) -> list[Finding]:
    """The findings with the analyst's decisions applied: dropped ones left out, edited ones
    with the analyst's words (and the same numbers, id and weight)."""
    out = []
    for f in findings:
        decision = decisions.get(f.id)
        if decision is None or decision.action == "accept":
            out.append(f)
        elif decision.action == "drop":
            continue
        elif decision.action == "edit":
            number = headline_number(f)
            if number is not None and number not in decision.text:
                raise InputError(
                    f"the edit of finding {f.id!r} leaves out its number {number}",
                    hint="keep the finding's number in the edited sentence (it links the "
                    "sentence to its source), or drop the finding",
                )
            out.append(
                Finding(
                    decision.text,
                    f.weight,
                    {**f.numbers, "edited_from": f.text},
                    id=f.id,
                    section=f.section,
                    confidence=f.confidence,
                    headline=f.headline,
                )
            )
        else:
            raise InputError(f"unknown decision {decision.action!r} on finding {f.id!r}")
    return out


def markdown_to_html(text: str) -> str:
    """The analyst's Markdown as HTML; raw HTML in it is shown as text, never run."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
    html: str = md.render(text)
    # Headings inside a section sit below the section's own heading.
    return re.sub(
        r"<(/?)h([1-4])>", lambda m: f"<{m.group(1)}h{min(int(m.group(2)) + 2, 6)}>", html
    )


def _css_string(text: str) -> Any:
    """``text`` as a quoted CSS string (for the page margins' marking): anything but plain
    letters, digits and a little punctuation is written as a CSS escape, so that no marking
    can end the string or the style sheet."""
    from markupsafe import Markup

    plain = " :+-_.,/()"
    body = "".join(c if c.isalnum() or c in plain else f"\\{ord(c):x} " for c in text)
    return Markup(f'"{body}"')


def render_html(
    assessment: Assessment,
    *,
    title: str | None = None,
    drafting: Drafting | None = None,
    page_numbers: dict[str, int] | None = None,
) -> str:
    """The assessment as one HTML page. ``page_numbers`` (section id -> PDF page) fills the
    table of contents for print."""
    from jinja2 import Environment, select_autoescape

    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["css_string"] = _css_string
    source = (resources.files("tipwatch.report") / "templates" / "assessment.html").read_text(
        encoding="utf-8"
    )
    drafting = drafting or Drafting()
    findings = apply_decisions(assessment.findings, drafting.decisions)
    by_section: dict[str, list[Finding]] = {}
    for f in findings:
        by_section.setdefault(f.section, []).append(f)
    charts: dict[str, dict[str, Any]] = {
        # The figure's wrapper names the chart for assistive technology (its title); the
        # drawing itself is hidden from it, and its numbers are in the table beside it.
        name: {
            "chart": chart,
            "svg": render_svg(chart.spec).replace("<svg", '<svg aria-hidden="true"', 1),
        }
        for name, chart in assessment.charts.items()
    }
    analyst: dict[str, list[dict[str, str]]] = {}
    known = {"summary", "key-figures", "caveats", "method", "end"} | {
        s.id for s in assessment.sections
    }
    for k, part in enumerate(drafting.sections):
        anchor = part.before if part.before in known else "summary"
        analyst.setdefault(anchor, []).append(
            {"id": f"analyst-{k + 1}", "title": part.title, "html": markdown_to_html(part.markdown)}
        )
    contents: list[dict[str, Any]] = []

    def entry(sid: str, heading: str, level: int = 2) -> None:
        for part_ in analyst.get(sid, []):
            contents.append({"id": part_["id"], "title": part_["title"], "level": 2})
        contents.append({"id": sid, "title": heading, "level": level})

    entry("summary", "Executive summary")
    entry("key-figures", "Key figures")
    for s in assessment.sections:
        entry(s.id, s.title, s.level)
    entry("caveats", "Caveats")
    entry("method", "Method, sources and inputs")
    for part_ in analyst.get("end", []):
        contents.append({"id": part_["id"], "title": part_["title"], "level": 2})
    page = assessment.title_page
    return env.from_string(source).render(
        page=page,
        title=title or page.title,
        summary=findings[:5],
        by_section=by_section,
        key_figures=assessment.key_figures,
        sections=assessment.sections,
        charts=charts,
        analyst=analyst,
        contents=contents,
        page_numbers=page_numbers or {},
        event_label=event_name(assessment.event_kind),
        caveats=assessment.caveats,
        provenance=assessment.provenance,
        version=drafting.version,
        period=assessment.period,
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
    for :func:`find_chromium`). The page's own CSS puts the marking and the page numbers in
    the page margins."""
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


def section_pages(pdf_path: Path, headings: dict[str, str]) -> dict[str, int]:
    """The page on which each heading (section id -> heading text) first appears in the PDF,
    read back with ``pdftotext``; headings not found are left out."""
    program = shutil.which("pdftotext")
    if program is None:
        return {}
    text = subprocess.run(
        [program, "-layout", str(pdf_path), "-"], capture_output=True, text=True, check=False
    ).stdout
    pages = text.split("\f")
    out: dict[str, int] = {}
    # The contents page lists every heading: look for each from the page after it.
    start = next((i for i, p in enumerate(pages) if "Contents" in p), -1) + 1
    for sid, heading in headings.items():
        for number, body in enumerate(pages[start:], start=start + 1):
            if any(line.strip() == heading for line in body.splitlines()):
                out[sid] = number
                break
    return out


def write_report(
    assessment: Assessment,
    html_path: Path,
    pdf_path: Path | None = None,
    *,
    title: str | None = None,
    drafting: Drafting | None = None,
    chromium: str | Path | None = None,
) -> str:
    """Write the HTML (and the PDF, printed twice: the second time with the page numbers of
    the first in its table of contents). Returns the HTML."""
    html = render_html(assessment, title=title, drafting=drafting)
    html_path.write_text(html, encoding="utf-8")
    if pdf_path is None:
        return html
    write_pdf(html_path, pdf_path, chromium=chromium)
    headings = {s.id: s.title for s in assessment.sections}
    headings.update(
        {
            "summary": "Executive summary",
            "key-figures": "Key figures",
            "caveats": "Caveats",
            "method": "Method, sources and inputs",
        }
    )
    numbers = section_pages(pdf_path, headings)
    if numbers:
        with tempfile.TemporaryDirectory() as tmp:
            printed = Path(tmp) / html_path.name
            printed.write_text(
                render_html(assessment, title=title, drafting=drafting, page_numbers=numbers),
                encoding="utf-8",
            )
            write_pdf(printed, pdf_path, chromium=chromium)
    return html
