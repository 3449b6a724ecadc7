"""What every interface applies to the files and tables it writes out."""

from __future__ import annotations

from tipwatch.formats.csv_safety import neutralise_cell

__all__ = ["csv_cell"]


def csv_cell(text: str) -> str:
    """``text`` as a CSV cell no spreadsheet runs as a formula (the rule of
    :mod:`tipwatch.formats.csv_safety`, the same for every CSV tipwatch writes)."""
    return neutralise_cell(text)
