"""The HTML form of ``engage report``: one self-contained page.

No external assets: the style sheet is inline, the charts are inline SVG
(:mod:`engage.report.plots`), and the numbers are both in tables and, whole, in a
``<script type="application/json" id="engage-report">`` block (the ``--json`` object).
Every text that comes from rules or events is escaped. Cost: the charts' drawing.
"""

from __future__ import annotations

import html
import json
from typing import Any

from engage.report.model import Table
from engage.report.plots import require_matplotlib, svg
from engage.report.sections import charts_of, tables_of

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
caption { text-align: left; font-weight: bold; padding: 0.3em 0; }
th, td { padding: 0.2em 0.8em; border-bottom: 1px solid #eee; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.chart svg { max-width: 100%; height: auto; }
.meta { color: #666; }
"""


def page(numbers: dict[str, Any]) -> str:
    """The whole page for the report's numbers (the ``--json`` object)."""
    require_matplotlib()
    meta = numbers["report"]
    charts = dict((section.key, found) for section, found in charts_of(numbers))
    body = [
        "<h1>engage report</h1>",
        f'<p class="meta">from {_text(meta["source"])}, clock {_text(meta["clock"])}'
        + (
            f", {len(meta['buckets'])} buckets of a {_text(meta['unit'])}"
            if meta["buckets"]
            else ""
        )
        + "</p>",
    ]
    chart_number = 0
    for section, tables in tables_of(numbers):
        drawn = charts[section.key]
        if not tables and not drawn:
            continue
        body.append(f'<section id="{_text(section.key)}"><h2>{_text(section.title)}</h2>')
        for chart in drawn:
            chart_number += 1
            body.append(
                f'<figure class="chart" data-chart="{_text(chart.title)}">'
                f"{svg(chart, f'chart-{chart_number}')}</figure>"
            )
        body += [_table(table) for table in tables]
        body.append("</section>")
    data = json.dumps(numbers, sort_keys=True).replace("</", "<\\/")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>engage report</title>"
        f"<style>{STYLE}</style></head><body>\n"
        + "\n".join(body)
        + f'\n<script type="application/json" id="engage-report">{data}</script>\n'
        "</body></html>\n"
    )


def _text(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _table(table: Table) -> str:
    head = "".join(f"<th>{_text(name)}</th>" for name in table.columns)
    rows = []
    for row in table.rows:
        cells = "".join(
            f'<td class="n">{_number(value)}</td>'
            if isinstance(value, int | float) and not isinstance(value, bool)
            else f"<td>{'-' if value is None else _text(value)}</td>"
            for value in row
        )
        rows.append(f"<tr>{cells}</tr>")
    return (
        f"<table><caption>{_text(table.title)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _number(value: float) -> str:
    """A number exactly as the JSON form writes it."""
    return json.dumps(value)
