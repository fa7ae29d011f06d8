"""The sections of ``engage report`` and the one dict of numbers they make.

:data:`SECTIONS` is the extension point: a new part of the report is a
:class:`~engage.report.model.Section` added to it (the flows and sends sections live in
:mod:`engage.report.flows` and :mod:`engage.report.sends`), with the facts it needs
gathered in :mod:`engage.report.collect`; the terminal, JSON and HTML forms pick it up
without change. The keys of the JSON object are documented in ``docs/authoring.md``.

Over-time lists follow ``report.buckets``: firings are summed over each bucket, sizes
are sampled at each bucket's end (the last bucket ends at the clock).
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any, Final

import attrs

from engage.history.summary import history_numbers, history_tables
from engage.report import accounts, flows, sends
from engage.report.collect import Facts, class_names, sample
from engage.report.model import Chart, Section, Table
from engage.report.timeline import Timeline
from engage.state.contact import ACTIVE, SUSPENDED
from engage.timeutil import format_time

#: The version of the JSON layout; it changes only when a key changes meaning or goes.
FORMAT: Final = 1
#: Bins of a score histogram.
BINS: Final = 10


def build(facts: Facts) -> dict[str, Any]:
    """Every number of the report, as one JSON-ready dict (keys stable, see FORMAT).

    Costs a pass over the contacts (scores and statuses) plus a few indexed counts.
    """
    engine = facts.engine
    now = engine.now
    timeline = (
        Timeline.spanning(facts.first, now)
        if facts.first is not None and now is not None and facts.source == "events"
        else None
    )
    numbers: dict[str, Any] = {
        "report": {
            "format": FORMAT,
            "source": facts.source,
            "clock": None if now is None else format_time(now),
            "unit": None if timeline is None else timeline.unit,
            "buckets": [] if timeline is None else timeline.to_list(),
        }
    }
    for section in SECTIONS:
        numbers[section.key] = section.numbers(facts, timeline)
    return numbers


def _round(value: float) -> float | int:
    rounded = round(value, 6)
    return int(rounded) if float(rounded).is_integer() else rounded


def _labels(meta: dict[str, Any]) -> tuple[str, ...]:
    return tuple(bucket["start"] for bucket in meta["buckets"])


def _over_time_table(
    title: str, meta: dict[str, Any], series: list[tuple[str, list[Any]]]
) -> list[Table]:
    """A table with a row per bucket and a column per series (none without buckets)."""
    if not meta["buckets"] or not series:
        return []
    rows = tuple(
        (label, *(values[index] for _, values in series))
        for index, label in enumerate(_labels(meta))
    )
    return [Table(title, (meta["unit"], *(name for name, _ in series)), rows)]


def _lines(title: str, meta: dict[str, Any], series: list[tuple[str, list[Any]]]) -> list[Chart]:
    if not meta["buckets"] or not series:
        return []
    plotted = tuple((name, tuple(float(v or 0) for v in values)) for name, values in series)
    return [Chart("lines", title, _labels(meta), plotted, xlabel=meta["unit"], ylabel="contacts")]


def _sampled(facts: Facts, timeline: Timeline | None, key: str, now: int) -> list[int] | None:
    """``key``'s samples at each bucket's end; the last bucket's end is now."""
    if timeline is None:
        return None
    values = []
    for bucket in timeline.buckets:
        if bucket.end_day is None:
            values.append(now)
        else:
            values.append(facts.samples.get(bucket.end_day, {}).get(key, 0))
    return values


# -- totals -------------------------------------------------------------------------------


def _totals(facts: Facts, timeline: Timeline | None) -> dict[str, Any]:
    summary = facts.engine.summary()
    from_events = facts.source == "events"
    return {
        "records": facts.records if from_events else None,
        "events": summary["events"],
        "duplicates": summary["duplicates"],
        "rejected": {
            "total": facts.bad.count if from_events else summary["rejected"],
            "by_reason": dict(facts.bad.reasons.most_common()) if from_events else None,
        },
        "late": summary["late"],
        "actions": facts.actions if from_events else summary["actions"],
        "contacts": summary["contacts"],
    }


def _totals_tables(value: dict[str, Any], meta: dict[str, Any]) -> list[Table]:
    rows: list[tuple[Any, ...]] = [
        ("records read", value["records"]),
        ("events accepted", value["events"]),
        ("duplicates", value["duplicates"]),
        ("rejected", value["rejected"]["total"]),
    ]
    rows += [(f"  {reason}", n) for reason, n in (value["rejected"]["by_reason"] or {}).items()]
    rows += [
        ("late", value["late"]),
        ("actions", value["actions"]),
        ("contacts", value["contacts"]),
    ]
    return [Table("Totals", ("", "count"), tuple(rows))]


# -- contacts -----------------------------------------------------------------------------


def _contacts(facts: Facts, timeline: Timeline | None) -> dict[str, Any]:
    statuses: Counter[str] = Counter({ACTIVE: 0, SUSPENDED: 0})
    for view in facts.engine.contacts():
        statuses[view.status] += 1
    return {"by_status": dict(statuses)}


def _contacts_tables(value: dict[str, Any], meta: dict[str, Any]) -> list[Table]:
    rows = tuple(value["by_status"].items())
    return [Table("Contacts by status", ("status", "contacts"), rows)]


def _contacts_charts(value: dict[str, Any], meta: dict[str, Any]) -> list[Chart]:
    series = tuple((status, (float(n),)) for status, n in value["by_status"].items())
    return [Chart("bars", "Contacts by status", ("contacts",), series, ylabel="contacts")]


# -- rules --------------------------------------------------------------------------------


def _rules(facts: Facts, timeline: Timeline | None) -> list[dict[str, Any]]:
    names = [rule.name for rule in facts.program.rules]
    firings = facts.firings
    if firings is None:
        return [{"rule": name, "firings": None, "over_time": None} for name in names]
    totals: Counter[str] = Counter()
    for (rule, _), n in firings.items():
        totals[rule] += n
    known = set(names)
    names += sorted(name for name in totals if name not in known)  # flow steps and such
    buckets: dict[str, list[int]] = {}
    if timeline is not None:
        buckets = {name: [0] * len(timeline.buckets) for name in names}
        for (rule, day), n in firings.items():
            buckets[rule][timeline.index_of_day(day)] += n
    return [
        {"rule": name, "firings": totals[name], "over_time": buckets.get(name)} for name in names
    ]


def _rules_tables(value: list[dict[str, Any]], meta: dict[str, Any]) -> list[Table]:
    rows = tuple((row["rule"], row["firings"]) for row in value)
    kept = any(row["firings"] is not None for row in value)
    title = "Rule firings" if kept else "Rule firings (not kept in a state folder)"
    tables = [Table(title, ("rule", "firings"), rows)]
    fired = [(row["rule"], row["over_time"]) for row in value if row["firings"]]
    return tables + _over_time_table(f"Rule firings per {meta['unit']}", meta, fired)


def _rules_charts(value: list[dict[str, Any]], meta: dict[str, Any]) -> list[Chart]:
    fired = [(row["rule"], row["over_time"]) for row in value if row["firings"]]
    charts = _lines(f"Rule firings per {meta['unit']}", meta, fired)
    return [attrs.evolve(chart, ylabel="firings") for chart in charts]


# -- segments and recency classes ---------------------------------------------------------


def _segments(facts: Facts, timeline: Timeline | None) -> list[dict[str, Any]]:
    now = sample(facts.engine)
    return [
        {
            "segment": segment.name,
            "now": now[f"segment:{segment.name}"],
            "over_time": _sampled(
                facts, timeline, f"segment:{segment.name}", now[f"segment:{segment.name}"]
            ),
        }
        for segment in facts.program.segments
        if not segment.hidden
    ]


def _segments_tables(value: list[dict[str, Any]], meta: dict[str, Any]) -> list[Table]:
    rows = tuple((row["segment"], row["now"]) for row in value)
    series = [(row["segment"], row["over_time"]) for row in value]
    return [
        Table("Segments now", ("segment", "contacts"), rows),
        *_over_time_table(f"Segment sizes at the end of each {meta['unit']}", meta, series),
    ]


def _segments_charts(value: list[dict[str, Any]], meta: dict[str, Any]) -> list[Chart]:
    series = [(row["segment"], row["over_time"]) for row in value]
    return _lines("Segment sizes", meta, series)


def _classes(facts: Facts, timeline: Timeline | None) -> dict[str, Any]:
    counts = sample(facts.engine)
    names = class_names(facts.program)
    now = {name: counts[f"class:{name}"] for name in names}
    return {
        "now": now,
        "over_time": None
        if timeline is None
        else {name: _sampled(facts, timeline, f"class:{name}", now[name]) for name in names},
    }


def _classes_tables(value: dict[str, Any], meta: dict[str, Any]) -> list[Table]:
    rows = tuple(value["now"].items())
    series = list((value["over_time"] or {}).items())
    return [
        Table("Recency classes now", ("class", "contacts"), rows),
        *_over_time_table(f"Recency classes at the end of each {meta['unit']}", meta, series),
    ]


def _classes_charts(value: dict[str, Any], meta: dict[str, Any]) -> list[Chart]:
    return _lines("Recency classes", meta, list((value["over_time"] or {}).items()))


# -- scores -------------------------------------------------------------------------------


def _scores(facts: Facts, timeline: Timeline | None) -> list[dict[str, Any]]:
    program = facts.program
    values: dict[str, list[float]] = {score.name: [] for score in program.scores}
    contacts = 0
    for view in facts.engine.contacts():
        contacts += 1
        for name, value in view.scores.items():
            values[name].append(value)
    result = []
    for score in program.scores:
        found = sorted(values[score.name])
        low, high = (found[0], found[-1]) if found else (0.0, 0.0)
        result.append(
            {
                "score": score.name,
                "contacts": len(found),
                "empty": contacts - len(found),
                "min": _round(found[0]) if found else None,
                "median": _round(statistics.median(found)) if found else None,
                "max": _round(found[-1]) if found else None,
                "histogram": _histogram(found, low, high),
            }
        )
    return result


def _histogram(values: list[float], low: float, high: float) -> dict[str, list[Any]]:
    """BINS equal bins from ``low`` to ``high`` (the values' range; the last bin is
    closed), or one bin when the range is a point. O(n)."""
    if not high > low:
        return {"edges": [_round(low), _round(high)], "counts": [len(values)]}
    width = (high - low) / BINS
    edges = [_round(low + i * width) for i in range(BINS)] + [_round(high)]
    counts = [0] * BINS
    for value in values:
        index = min(max(int((value - low) / width), 0), BINS - 1)
        counts[index] += 1
    return {"edges": edges, "counts": counts}


def _scores_tables(value: list[dict[str, Any]], meta: dict[str, Any]) -> list[Table]:
    rows = tuple(
        (row["score"], row["contacts"], row["empty"], row["min"], row["median"], row["max"])
        for row in value
    )
    tables = [Table("Scores now", ("score", "contacts", "empty", "min", "median", "max"), rows)]
    for row in value:
        edges, counts = row["histogram"]["edges"], row["histogram"]["counts"]
        bins = tuple((edges[i], edges[i + 1], n) for i, n in enumerate(counts))
        tables.append(Table(f"Score {row['score']}: histogram", ("from", "to", "contacts"), bins))
    return tables


def _scores_charts(value: list[dict[str, Any]], meta: dict[str, Any]) -> list[Chart]:
    return [
        Chart(
            "histogram",
            f"Score {row['score']}",
            tuple(row["histogram"]["edges"]),
            (("contacts", tuple(float(n) for n in row["histogram"]["counts"])),),
            xlabel=row["score"],
            ylabel="contacts",
        )
        for row in value
    ]


#: The sections, in the order shown. Add a section here to extend the report.
# -- contact history (engage.history.summary) ---------------------------------------------


def _history(facts: Facts, timeline: Timeline | None) -> dict[str, Any]:
    engine = facts.engine
    return history_numbers(engine.state.contacts.values(), len(engine.state.history.deleted_active))


def _history_tables(value: dict[str, Any], meta: dict[str, Any]) -> list[Table]:
    return [Table(*table) for table in history_tables(value)]


SECTIONS: tuple[Section, ...] = (
    Section("totals", "Totals", _totals, _totals_tables, lambda value, meta: []),
    Section("contacts", "Contacts", _contacts, _contacts_tables, _contacts_charts),
    Section("rules", "Rules", _rules, _rules_tables, _rules_charts),
    Section("segments", "Segments", _segments, _segments_tables, _segments_charts),
    Section("classes", "Recency classes", _classes, _classes_tables, _classes_charts),
    Section("scores", "Scores", _scores, _scores_tables, _scores_charts),
    Section("flows", "Flows", flows.numbers, flows.tables, flows.charts),
    Section("sends", "Sends", sends.numbers, sends.tables, sends.charts),
    Section("history", "Contact history", _history, _history_tables, lambda value, meta: []),
    Section("accounts", "Accounts and leads", accounts.numbers, accounts.tables, accounts.charts),
)


def tables_of(numbers: dict[str, Any]) -> list[tuple[Section, list[Table]]]:
    """Each section with its tables, in the order shown."""
    meta = numbers["report"]
    return [(section, section.tables(numbers.get(section.key), meta)) for section in SECTIONS]


def charts_of(numbers: dict[str, Any]) -> list[tuple[Section, list[Chart]]]:
    """Each section with its charts, in the order shown."""
    meta = numbers["report"]
    return [(section, section.charts(numbers.get(section.key), meta)) for section in SECTIONS]
