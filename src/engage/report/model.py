"""The report's parts, independent of how they are shown: tables, charts, sections.

Every form of the report (terminal, JSON, HTML) is drawn from one dict of numbers
(:func:`engage.report.sections.build`); a :class:`Section` owns one key of it, says how
to compute its numbers from the :class:`~engage.report.collect.Facts`, and how to
lay them out as tables and charts. Renderers know tables and charts, not sections.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import attrs

from engage.report.collect import Facts
from engage.report.timeline import Timeline


@attrs.frozen
class Table:
    """A titled table; cells are numbers, text, or None (shown as a dash)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


#: ``lines``: one line per series over ``labels``; ``bars``: stacked bars, one per
#: label, a layer per series; ``histogram``: ``labels`` are the bin edges (one more
#: than the counts) and the one series holds the counts.
ChartKind = Literal["lines", "bars", "histogram"]


@attrs.frozen
class Chart:
    """A chart to draw: the data only; :mod:`engage.report.plots` draws it."""

    kind: ChartKind
    title: str
    labels: tuple[Any, ...]
    series: tuple[tuple[str, tuple[float, ...]], ...]
    xlabel: str = ""
    ylabel: str = ""


@attrs.frozen
class Section:
    """One part of the report.

    ``numbers(facts, timeline)`` gives the JSON value under ``key`` (plain lists,
    dicts, numbers and strings; ``timeline`` is None when there is no history);
    ``tables`` and ``charts`` lay that value out.
    """

    key: str
    title: str
    numbers: Callable[[Facts, Timeline | None], Any]
    tables: Callable[[Any, dict[str, Any]], list[Table]]
    charts: Callable[[Any, dict[str, Any]], list[Chart]]
