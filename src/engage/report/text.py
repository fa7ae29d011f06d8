"""The terminal form of ``engage report``: the sections' tables.

On a terminal with ``rich`` installed the tables are drawn by rich; otherwise (a pipe,
a log, no rich) they are plain aligned columns, the same cells. Cost: linear in the
cells.
"""

from __future__ import annotations

from typing import IO, Any

from engage.report.model import Table
from engage.report.sections import tables_of
from engage.terminal import rich_console


def cell(value: Any) -> str:
    """How a number reads in a table: thousands separated, at most 2 decimals."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return str(value)


def render_plain(numbers: dict[str, Any]) -> str:
    """Every table as plain text, numbers right-aligned."""
    meta = numbers["report"]
    parts = [
        f"engage report: {meta['source']}, clock {meta['clock'] or 'not set'}"
        + (f", {len(meta['buckets'])} buckets of a {meta['unit']}" if meta["buckets"] else "")
    ]
    for section, tables in tables_of(numbers):
        if not tables:
            continue
        parts.append(f"\n== {section.title} ==")
        parts += [_plain_table(table) for table in tables]
    return "\n".join(parts) + "\n"


def _plain_table(table: Table) -> str:
    cells = [[cell(value) for value in row] for row in table.rows]
    widths = [
        max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(table.columns)
    ]
    numeric = [_numeric(table, i) for i in range(len(table.columns))]

    def line(values: list[str]) -> str:
        padded = [
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(padded).rstrip()

    return "\n".join([f"\n{table.title}", line(list(table.columns)), *map(line, cells)])


def _numeric(table: Table, index: int) -> bool:
    """Whether a column holds numbers (dashes for None among them): right-aligned."""
    return all(isinstance(row[index], int | float) or row[index] is None for row in table.rows)


def write(numbers: dict[str, Any], stream: IO[str], *, force_rich: bool = False) -> None:
    """Write the report's tables to ``stream``: rich on a terminal, else plain."""
    console = rich_console(stream, force=force_rich)
    if console is None:
        stream.write(render_plain(numbers))
        return
    from rich.table import Table as RichTable

    meta = numbers["report"]
    console.print(f"[bold]engage report[/bold]: {meta['source']}, clock {meta['clock']}")
    for section, tables in tables_of(numbers):
        if not tables:
            continue
        console.rule(section.title)
        for table in tables:
            drawn = RichTable(title=table.title, title_justify="left")
            for index, name in enumerate(table.columns):
                right = _numeric(table, index)
                drawn.add_column(name, justify="right" if right else "left")
            for row in table.rows:
                drawn.add_row(*(cell(value) for value in row))
            console.print(drawn)
