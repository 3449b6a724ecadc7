"""The assessment service: build the threat assessment and write it as HTML (and PDF)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from tipwatch.services._unit import unit
from tipwatch.services.access import Actor
from tipwatch.store import Store

if TYPE_CHECKING:
    from tipwatch.report.assessment import Assessment

__all__ = ["WrittenAssessment", "countries_of", "write_assessment"]


def countries_of(countries: str | None, region: str | None) -> list[str] | None:
    """The countries asked for: comma-separated ISO codes, or a region such as EU27."""
    from tipwatch.report.assessment import countries_of as _countries_of

    return _countries_of(countries, region)


@dataclass
class WrittenAssessment:
    assessment: Assessment
    html_path: Path
    html_bytes: int
    pdf_path: Path | None


def write_assessment(
    store: Store,
    actor: Actor,
    *,
    since: date,
    until: date,
    out: Path,
    countries: Sequence[str] | None = None,
    event: str = "stay-at-home",
    title: str | None = None,
    pdf: Path | None = None,
    chromium: str | Path | None = None,
) -> WrittenAssessment:
    """Build the assessment of ``since``..``until`` (both inclusive) and write it."""
    from tipwatch.report.assessment import build_assessment
    from tipwatch.report.render import render_html, write_pdf

    with unit(store, actor, "assessment.create", object_type="assessment", writes=False) as work:
        assessment = build_assessment(
            store, start=since, end=until, countries=countries, event_kind=event
        )
        html = render_html(assessment, title=title)
        out.write_text(html, encoding="utf-8")
        if pdf is not None:
            write_pdf(out, pdf, chromium=chromium)
        work.object_ids = [str(out)] + ([str(pdf)] if pdf else [])
        work.detail = (
            f"{since.isoformat()} to {until.isoformat()}, {len(assessment.findings)} findings"
        )
    return WrittenAssessment(assessment, out, len(html.encode()), pdf)
