"""CSV cells that a spreadsheet cannot run: the one rule every CSV writer of tipwatch applies.

A spreadsheet reads a cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (CSV injection): a referral's text could then run commands or send data
away when an analyst opens an export. Following OWASP's advice, such a cell is written with a
single quote before it (``'=HYPERLINK(...)``), which spreadsheets show as text. A number
(``-3``, ``+1.5e3``) is left as it is: a spreadsheet reads it as a number, never a formula.

The rule can be undone (:func:`restore_cell`), so that a file tipwatch wrote reads back as
written: a cell that already begins with quotes before one of those characters gets one more.
"""

from __future__ import annotations

import re

__all__ = ["FORMULA_TRIGGERS", "neutralise_cell", "restore_cell"]

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""The first characters that make a spreadsheet read a cell as a formula (OWASP)."""

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _would_run(text: str) -> bool:
    bare = text.lstrip("'")
    return bare.startswith(FORMULA_TRIGGERS) and _NUMBER.fullmatch(bare) is None


def neutralise_cell(text: str) -> str:
    """``text`` as a CSV cell that no spreadsheet reads as a formula."""
    return "'" + text if _would_run(text) else text


def restore_cell(text: str) -> str:
    """The text :func:`neutralise_cell` was given for the cell ``text``."""
    return text[1:] if text.startswith("'") and _would_run(text) else text
