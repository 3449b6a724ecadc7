"""Reading a numeric series from a CSV file (for ``tipwatch changepoints``)."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from tipwatch.errors import InputError

__all__ = ["ValueSeries", "read_value_series"]

MAX_ROWS = 10_000_000


@dataclass
class ValueSeries:
    column: str
    values: list[float]
    labels: list[str] | None
    """The first column's text for each row (a date, say), when another column holds values."""


def read_value_series(path: Path, column: str | None = None) -> ValueSeries:
    """The values of one column of a CSV file with a header row.

    Without ``column``: the last column. Every cell must be a finite number; the error names
    the line and the cell.
    """
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: not a readable CSV file ({exc})") from exc
        if not header:
            raise InputError(f"{path}: the file is empty (a header row is needed)")
        header = [h.strip() for h in header]
        if column is None:
            index = len(header) - 1
        elif column in header:
            index = header.index(column)
        else:
            raise InputError(f"{path}: no column {column!r}; columns: {', '.join(header)}")
        values: list[float] = []
        labels: list[str] | None = [] if index > 0 else None
        try:
            for line, row in enumerate(reader, start=2):
                if not row or all(not c.strip() for c in row):
                    continue
                if len(values) >= MAX_ROWS:
                    raise InputError(f"{path}: more than {MAX_ROWS:,} rows")
                if index >= len(row):
                    raise InputError(f"{path}, line {line}: no value in column {header[index]!r}")
                cell = row[index].strip()
                try:
                    value = float(cell)
                except ValueError:
                    raise InputError(
                        f"{path}, line {line}: {header[index]!r} is not a number: {cell[:40]!r}"
                    ) from None
                if not math.isfinite(value):
                    raise InputError(f"{path}, line {line}: {header[index]!r} is {cell!r}")
                values.append(value)
                if labels is not None:
                    labels.append(row[0].strip())
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: not a readable CSV file ({exc})") from exc
    return ValueSeries(header[index], values, labels)
