"""Fixed-width text tables: the one formatter behind every table rgnet prints (sampling, benchmarks,
sweep reports)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def cell_text(value: Any, float_format: str = ".6g") -> str:
    """A cell: floats in ``float_format``, None as ``n/a``, anything else as ``str``."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:{float_format}}"
    return str(value)


def format_table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    float_format: str = ".6g",
    max_columns: int | None = None,
    numbers_right: bool = True,
) -> str:
    """Header, a rule and one line per row, columns padded to their widest cell.

    Only the first ``max_columns`` columns are shown (a last line says how many were left out). Cells of
    numbers are right-aligned when ``numbers_right``, text is left-aligned.
    """
    shown = len(header) if max_columns is None else min(max_columns, len(header))
    cells = [[cell_text(value, float_format) for value in row[:shown]] for row in rows]
    numeric = [
        numbers_right
        and bool(rows)
        and all(isinstance(row[i], (int, float)) and not isinstance(row[i], bool) for row in rows)
        for i in range(shown)
    ]
    widths = [max([len(header[i]), *(len(row[i]) for row in cells)]) for i in range(shown)]

    def line(texts: Sequence[str]) -> str:
        padded = [
            text.rjust(width) if right else text.ljust(width)
            for text, width, right in zip(texts, widths, numeric, strict=True)
        ]
        return "  ".join(padded).rstrip()

    lines = [line(header[:shown]), "  ".join("-" * width for width in widths)]
    lines += [line(row) for row in cells]
    if len(header) > shown:
        lines.append(f"({len(header) - shown} more columns in the CSV)")
    return "\n".join(lines)


def format_records(records: Sequence[Mapping[str, Any]], columns: Sequence[str], **options: Any) -> str:
    """:func:`format_table` of the ``columns`` of each record (a missing key is an empty cell)."""
    return format_table(columns, [[record.get(c, "") for c in columns] for record in records], **options)
