"""The assessment (report/) and the trends alerts run no SQL of their own: their counts come
from the query modules of the packages that own the tables."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tipwatch"
FORBIDDEN = ("sqlalchemy", "tipwatch.store.schema")
CHECKED = [*sorted((SRC / "report").rglob("*.py")), SRC / "trends" / "alerts.py"]


def forbidden_imports(source: str) -> list[str]:
    """For each import statement of ``source`` (anywhere in it, functions included) that
    reaches into a module of ``FORBIDDEN``, that module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [f for f in FORBIDDEN if any(n == f or n.startswith(f + ".") for n in names)]
    return found


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: str(p.relative_to(SRC)))
def test_no_sql_in_report_and_alerts(path: Path) -> None:
    assert forbidden_imports(path.read_text(encoding="utf-8")) == []


def test_the_check_sees_every_spelling_of_the_imports() -> None:
    source = """
import sqlalchemy as sa
def f():
    from sqlalchemy import select
    from tipwatch.store import schema
    from tipwatch.store.schema import referrals
from tipwatch.store import Store
"""
    assert forbidden_imports(source) == [
        "sqlalchemy",
        "sqlalchemy",
        "tipwatch.store.schema",
        "tipwatch.store.schema",
    ]


def test_the_checked_files_are_there() -> None:
    assert SRC / "report" / "assessment.py" in CHECKED
    assert all(p.is_file() for p in CHECKED)
