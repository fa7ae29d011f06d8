"""Charts for the HTML page, drawn by matplotlib into inline SVG.

matplotlib is the optional extra ``engage[plots]`` and is imported here only, when a
page is made. Figures are drawn through the Agg canvas (no GUI backend, no pyplot
global state) and saved as SVG without a date, each with its own id salt, so that the
page is the same for the same numbers and the inline drawings' ids do not collide.
Cost: some tens of milliseconds per chart, plus matplotlib's import (about a second).
"""

from __future__ import annotations

import importlib.util
import io
from typing import Any, Final

from engage.report.model import Chart

EXTRA: Final = "engage[plots]"
#: x-axis labels shown at most; longer axes show every n-th label.
MAX_LABELS: Final = 14


class PlotsUnavailableError(RuntimeError):
    """matplotlib is not installed."""


def require_matplotlib() -> None:
    """Raise :class:`PlotsUnavailableError`, naming the extra, when matplotlib is missing."""
    if importlib.util.find_spec("matplotlib") is None:
        raise PlotsUnavailableError(
            f"--html draws its charts with matplotlib, which is not installed; "
            f"install it with: pip install '{EXTRA}'"
        )


def svg(chart: Chart, salt: str) -> str:
    """One chart as an ``<svg>`` element (text)."""
    require_matplotlib()
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "none"}):
        figure = Figure(figsize=(7.5, 3.4), layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        _draw(axes, chart)
        axes.set_title(chart.title, loc="left", fontsize=11)
        axes.set_xlabel(chart.xlabel)
        axes.set_ylabel(chart.ylabel)
        axes.spines[["top", "right"]].set_visible(False)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _draw(axes: Any, chart: Chart) -> None:
    if chart.kind == "histogram":
        (_, counts), *_ = chart.series
        edges = chart.labels
        if edges[0] == edges[-1]:  # every value the same: one bar at it
            axes.bar([edges[0]], counts, width=1.0)
        else:
            axes.stairs(counts, edges, fill=True, alpha=0.8)
        return
    positions = list(range(len(chart.labels)))
    if chart.kind == "lines":
        for name, values in chart.series:
            axes.plot(positions, values, marker="o", markersize=3, label=name)
    else:
        bottom = [0.0] * len(positions)
        for name, values in chart.series:
            axes.bar(positions, values, bottom=bottom, label=name)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    step = max(1, -(-len(positions) // MAX_LABELS))
    axes.set_xticks(positions[::step], [str(label) for label in chart.labels[::step]])
    if chart.kind == "lines" and len(positions) > 6:
        axes.tick_params(axis="x", labelrotation=45)
    axes.set_ylim(bottom=0)
    if chart.series:
        axes.legend(fontsize=8, frameon=False)
