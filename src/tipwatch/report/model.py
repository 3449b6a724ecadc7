"""The parts of an assessment that charts and pages share: a table and a chart with its
table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Chart", "Table"]


@dataclass(frozen=True)
class Table:
    id: str
    caption: str
    columns: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    """Which columns hold numbers (aligned right)."""


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    """States the chart's finding."""
    caption: str
    spec: dict[str, Any]
    """The Vega-Lite specification."""
    table: Table
    """The numbers the chart shows."""
