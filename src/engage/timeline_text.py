"""A contact's timeline as text for a terminal: what ``engage explain`` prints.

Each step is a heading (time, event or wake-up), then the score changes with the line
that gave each point, the rules with fired or why not, what else changed, and the
actions. :func:`lines` gives ``(text, style)`` pairs: :func:`write` prints the text as
it is, or, on a terminal where the optional ``rich`` library is importable, with the
styles as colours. ``rich`` is never required: it is imported only then.

Cost: linear in the size of the timeline.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from typing import IO, Any

from engage.timeline import EVENT, Entry, Timeline
from engage.timeline_reasons import FIRED, RuleOutcome, ScoreChange, plain
from engage.timeutil import format_time

Styled = tuple[str, str]


def lines(timeline: Timeline, rules_files: str) -> Iterator[Styled]:
    """The printed lines of ``timeline``, each with a style name (``""``: none)."""
    entries = timeline.entries
    events = sum(1 for entry in entries if entry.kind == EVENT)
    wake_ups = len(entries) - events
    yield (
        f"{timeline.contact}: {_count(events, 'event')}, {_count(wake_ups, 'wake-up')} "
        f"({rules_files})",
        "bold",
    )
    for entry in entries:
        yield "", ""
        yield from _entry(entry)
    if timeline.final is not None:
        yield "", ""
        yield f"at the end: {_final(timeline.final)}", "bold"


def write(styled: Iterator[Styled], stream: IO[str]) -> None:
    """Print the lines; in colour when ``stream`` is a terminal and ``rich`` is there."""
    console = _rich_console(stream)
    if console is None:
        for text, _ in styled:
            stream.write(text + "\n")
        return
    text_class = importlib.import_module("rich.text").Text
    for text, style in styled:
        console.print(text_class(text, style=style or ""), soft_wrap=True)


def _rich_console(stream: IO[str]) -> Any:
    isatty = getattr(stream, "isatty", None)
    if isatty is None or not isatty():
        return None
    try:
        console_module = importlib.import_module("rich.console")
    except ImportError:
        return None
    return console_module.Console(file=stream, highlight=False)


def _entry(entry: Entry) -> Iterator[Styled]:
    when = format_time(entry.at)
    if entry.kind == EVENT and entry.event is not None:
        event = entry.event
        heading = f"{when}  event {event.get('type')}"
        if event.get("id") is not None:
            heading += f"  id {event['id']}"
        if event.get("data"):
            heading += "  " + json.dumps(event["data"], ensure_ascii=False, sort_keys=True)
        if entry.place:
            heading += f"  ({entry.place})"
    else:
        heading = f"{when}  wake-up (time alone changed something)"
    yield heading, "bold cyan"
    if entry.note:
        yield f"  {entry.note}", "red"
    for change in entry.scores:
        yield from _score(change)
    changed = _changes(entry.changes)
    if changed:
        yield f"  changed: {changed}", ""
    if entry.rules:
        width = max(len(rule.rule) for rule in entry.rules)
        yield "  rules:", ""
        for rule in entry.rules:
            yield _rule(rule, width)
    if entry.actions:
        yield "  actions:", ""
        for action in entry.actions:
            yield f"    {action.rule}: {_action(action.to_dict())}", "green"


def _score(change: ScoreChange) -> Iterator[Styled]:
    yield f"  {change.score}: {_number(change.before)} -> {_number(change.after)}", ""
    for line in change.lines:
        given = "?" if line.given is None else _signed(line.given)
        style = "" if line.status == "applied" else "dim"
        text = f"{line.text}  ({line.line})" if line.text else line.line
        yield f"    {given:>6}  {line.reason}: {text}", style
    if change.other is None:
        yield "         ?  the rest of the change: unknown", "dim"
    elif change.other:
        yield (
            f"    {_signed(change.other):>6}  not from score lines (rule actions, the clamp "
            "or data set by the event)",
            "",
        )


def _rule(rule: RuleOutcome, width: int) -> Styled:
    fired = rule.status == FIRED
    mark = "FIRED" if fired else "no"
    text = f"    {rule.rule:<{width}}  {mark:<5}  "
    text += "" if fired else rule.reason
    reads = _reads(rule.reads)
    if reads:
        text += f"  [{reads}]" if not fired else reads
    return text.rstrip(), "green" if fired else ""


def _reads(reads: dict[str, Any] | Any) -> str:
    parts = []
    for label, value in dict(reads).items():
        if isinstance(value, list) and len(value) == 2:
            parts.append(f"{label}: {_number(value[0])} -> {_number(value[1])}")
        else:
            parts.append(f"{label}: {_number(value)}")
    return ", ".join(parts)


def _changes(changes: dict[str, Any]) -> str:
    parts = []
    if "valuation" in changes:
        before, after = changes["valuation"]
        parts.append(f"valuation {before} -> {after}")
    labels = (
        ("segments_entered", "entered segment"),
        ("segments_left", "left segment"),
        ("tags_added", "tagged"),
        ("tags_removed", "untagged"),
    )
    for key, label in labels:
        if changes.get(key):
            parts.append(f"{label} {', '.join(changes[key])}")
    return "; ".join(parts)


def _action(record: dict[str, Any]) -> str:
    text = str(record["action"])
    args = record.get("args") or []
    if args:
        text += " " + " ".join(json.dumps(arg, ensure_ascii=False) for arg in args)
    options = record.get("options")
    if options:
        text += " (" + ", ".join(f"{key} {value}" for key, value in options.items()) + ")"
    for key in ("suppressed", "skipped"):
        if record.get(key):
            text += f" [{key}: {record[key]}]"
    if record.get("held_until"):
        text += f" [held until {record['held_until']}]"
    return text


def _final(state: dict[str, Any]) -> str:
    parts = [f"{name} {_number(value)}" for name, value in state.get("scores", {}).items()]
    parts.append(f"valuation {state.get('valuation')}")
    for key in ("segments", "tags"):
        if state.get(key):
            parts.append(f"{key} {', '.join(state[key])}")
    return ", ".join(parts)


def _number(value: Any) -> str:
    if value is None:
        return "no value"
    return str(plain(value))


def _signed(value: float) -> str:
    shown = plain(value)
    return f"+{shown}" if value > 0 else str(shown)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
