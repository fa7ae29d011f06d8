"""Why a rule did or did not fire at one step of a contact's timeline, and which score
lines gave the points: the reasoning behind ``engage explain``.

A *step* is one event of the contact or one wake-up (timer) that touched it. The
timeline (:mod:`engage.timeline`) looks at the contact just before and just after the
step — :meth:`Engine.explain` per rule, the contact's view, its score lines' cap
bookkeeping — and this module turns the two looks into outcomes a rule author can
read. It never guesses: when the two looks do not tell why, the answer is
``unknown``.

The reasons follow the order the engine checks them in (:mod:`engage.triggers.modes`):
the trigger (condition, event type, score change...), then ``once``, ``re-arm when``,
``at most once per``; an edge rule that held already does not fire again.

Cost: a few dictionary look-ups per rule and score line, and one call of a line's or
an ``on`` rule's compiled filter; nothing is computed for the other contacts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from engage.events import Event
from engage.program import Program, RuleSpec, ScoreLineSpec
from engage.rules import Rules
from engage.timeutil import coerce_time, format_duration

#: Rule outcome codes (the ``status`` of a rule in ``engage explain --json``).
FIRED: Final = "fired"
CONDITION_FALSE: Final = "condition-false"
HELD: Final = "held"
DISARMED: Final = "disarmed"
COOLDOWN: Final = "cooldown"
ONCE_FIRED: Final = "fired-already"
NOT_THIS_EVENT: Final = "not-this-event"
NOT_TRIGGERED: Final = "not-triggered"
FILTER_FALSE: Final = "filter-false"
UNKNOWN: Final = "unknown"

#: Score line outcome codes (the ``status`` of a score line).
APPLIED: Final = "applied"
PARTLY_CAPPED: Final = "partly-capped"
CAPPED: Final = "capped"
FILTERED_OUT: Final = "filtered-out"
GIVEN_ALREADY: Final = "given-already"

_EPSILON: Final = 1e-9


def plain(value: Any) -> Any:
    """A value as the timeline shows it: floats to six places, tuples as lists.

    A float is never rounded onto a whole number it is not: a decaying score just under
    a threshold (``4.9999999``) must not read as the threshold (``5``).
    """
    if isinstance(value, float):
        rounded = round(value, 6)
        if rounded.is_integer() and rounded != value:
            return value
        return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    return value


@attrs.frozen
class Look:
    """A contact as seen at one moment: what the reasons compare.

    ``verdicts`` holds :meth:`Engine.explain` per rule; ``line_states`` the contact's
    score-line bookkeeping (given totals, recent windows, ``once`` marks) by line id.
    """

    exists: bool
    scores: Mapping[str, float]
    valuation: str | None
    segments: frozenset[str]
    tags: frozenset[str]
    verdicts: Mapping[str, Mapping[str, Any]]
    line_states: Mapping[str, Any]


@attrs.frozen
class Step:
    """What happened between two looks: an event (``event`` set) or a wake-up."""

    now: float
    event: Event | None
    contact: Any  # the engine's contact record after the step (read, never changed)


@attrs.frozen
class RuleOutcome:
    """Whether a rule fired at a step, and if not, why not."""

    rule: str
    status: str
    reason: str
    fired: int
    reads: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "status": self.status,
            "reason": self.reason,
            "fired": self.fired,
            "reads": dict(self.reads),
        }


@attrs.frozen
class LineOutcome:
    """What one score line gave at an event (``given`` None: not known)."""

    line: str
    text: str
    points: float
    given: float | None
    status: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "text": self.text,
            "points": plain(self.points),
            "given": plain(self.given),
            "status": self.status,
            "reason": self.reason,
        }


@attrs.frozen
class ScoreChange:
    """A score before and after a step, with the lines of the event type on it.

    ``other`` is the part of the change no score line explains (rule actions such as
    ``add 5 to score``, the clamp, a score set by ``contact.updated``); None when a
    line's part is unknown.
    """

    score: str
    before: float | None
    after: float | None
    lines: tuple[LineOutcome, ...]
    other: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "before": plain(self.before),
            "after": plain(self.after),
            "lines": [line.to_dict() for line in self.lines],
            "other": plain(self.other),
        }


# -- rules ------------------------------------------------------------------------------


def rule_outcome(
    rule: RuleSpec, program: Program, before: Look, after: Look, fired: int, step: Step
) -> RuleOutcome:
    """The outcome of ``rule`` at ``step``, given how often it fired there."""
    was = before.verdicts.get(rule.name, {})
    now = after.verdicts.get(rule.name, {})
    reads = _reads(was.get("reads") or {}, now.get("reads") or {})

    def outcome(status: str, reason: str) -> RuleOutcome:
        return RuleOutcome(rule.name, status, reason, fired, reads)

    if fired:
        return outcome(FIRED, "fired" if fired == 1 else f"fired {fired} times")
    if rule.kind == "when":
        if not now.get("holds"):
            return outcome(CONDITION_FALSE, f"condition false: {rule.cond_text}")
        stopped = _stopped(rule, was, now)
        if stopped is not None:
            return outcome(*stopped)
        if was.get("holds") and rule.mode != "each":
            return outcome(
                HELD,
                "held already: it was true before (fires once per crossing, again only "
                "after it turns false)",
            )
        cooling = _cooling(rule, was, step.now)
        if cooling is not None:
            return outcome(*cooling)
        if rule.mode == "each" and was.get("reads") == now.get("reads"):
            return outcome(NOT_TRIGGERED, "none of the values it reads changed (each time)")
        return outcome(UNKNOWN, "unknown: it holds, and nothing found kept it from firing")
    missed = _missed_trigger(rule, program, before, after, step)
    if missed is not None:
        return outcome(*missed)
    blocked = _stopped(rule, was, now) or _cooling(rule, was, step.now)
    if blocked is not None:
        return outcome(*blocked)
    if not rule.cond_text:
        return outcome(UNKNOWN, "unknown: it was triggered, and nothing found kept it from firing")
    if rule.kind == "on" and step.event is not None and rule.cond is not None:
        try:
            holds = bool(rule.cond(step.contact, step.event, step.now))
        except Exception:  # a filter that cannot be read now: say so
            holds = True
        if holds:
            return outcome(UNKNOWN, f"unknown: its filter {rule.cond_text} holds now")
    return outcome(FILTER_FALSE, f"filter false: {rule.cond_text}")


def _stopped(
    rule: RuleSpec, was: Mapping[str, Any], now: Mapping[str, Any]
) -> tuple[str, str] | None:
    """``once`` or ``re-arm when``: what keeps a rule from firing even on a crossing."""
    if rule.mode == "once" and was.get("fired_once"):
        return ONCE_FIRED, "fired already (once): it never fires again for this contact"
    if rule.mode == "rearm" and was.get("armed") is False and now.get("armed") is False:
        return DISARMED, "disarmed: it fired, and waits for its re-arm condition to hold"
    return None


def _cooling(rule: RuleSpec, was: Mapping[str, Any], moment: float) -> tuple[str, str] | None:
    """``at most once per``: the rule fired too recently."""
    until = was.get("cooldown_until")
    if until is None or rule.cooldown is None or coerce_time(until) <= moment:
        return None
    return (
        COOLDOWN,
        f"cooldown: at most once per {format_duration(rule.cooldown)}; fired at "
        f"{was.get('last_fired')}, quiet until {until}",
    )


def _missed_trigger(
    rule: RuleSpec, program: Program, before: Look, after: Look, step: Step
) -> tuple[str, str] | None:
    """Why a rule on an event (or an engine-made one) was not triggered; None if it was."""
    kind = rule.kind
    if kind == "on":
        if step.event is None:
            return NOT_THIS_EVENT, f"not an event (a wake-up): it runs on {rule.event_type}"
        if step.event.type != rule.event_type:
            return NOT_THIS_EVENT, f"not this event type: it runs on {rule.event_type}"
        return None
    if kind == "score_change" and rule.score is not None:
        name = program.scores[rule.score].name
        if _same(before.scores.get(name), after.scores.get(name), step):
            return NOT_TRIGGERED, f"{name} did not change"
        return None
    if kind in ("segment_enter", "segment_exit") and rule.segment is not None:
        name = program.segments[rule.segment].name
        entering = kind == "segment_enter"
        moved = (name in after.segments) - (name in before.segments)
        if moved != (1 if entering else -1):
            verb = "enter" if entering else "leave"
            return NOT_TRIGGERED, f"did not {verb} segment {name}"
        return None
    if kind == "tag_added":
        added = after.tags - before.tags
        if rule.tag is None and not added:
            return NOT_TRIGGERED, "no tag was added"
        if rule.tag is not None and rule.tag not in added:
            return NOT_TRIGGERED, f"tag {rule.tag!r} was not added"
        return None
    if kind in _FLOW_EDGES:
        return NOT_TRIGGERED, f"did not {_FLOW_EDGES[kind]} flow {rule.flow}"
    return UNKNOWN, f"unknown: rules on {kind.replace('_', ' ')} are not traced here"


#: What a contact did not do when an ``on flow ...`` rule did not fire.
_FLOW_EDGES: Final = {"flow_enter": "enter", "flow_exit": "leave", "flow_goal": "convert in"}


def _same(before: float | None, after: float | None, step: Step) -> bool:
    """Whether a score stayed as it was. At a wake-up a decaying score moves by time
    alone, which is not a change; at an event, a difference is one."""
    if step.event is None:
        return True
    if before is None or after is None:
        return before is after
    return abs(after - before) <= _EPSILON


def _reads(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The values a rule read: ``[before, after]`` where the step changed them."""
    reads: dict[str, Any] = {}
    for label, value in after.items():
        old = before.get(label, value)
        if plain(old) != plain(value):
            reads[label] = [plain(old), plain(value)]
        else:
            reads[label] = plain(value)
    return reads


# -- score lines ------------------------------------------------------------------------


def line_texts(rules: Rules) -> dict[str, tuple[str, str]]:
    """Every score line's ``(FILE:LINE, its text as written)`` by line id.

    The id is the compiler's (:mod:`engage.dsl.compiler`): score name, event type and
    the line's rank among that score's lines for the type. Cost: one pass over the
    declarations, once per ``engage explain``.
    """
    texts: dict[str, tuple[str, str]] = {}
    for score in rules.checked.scores:
        rules_file = next((f for f in rules.files if score.decl in f.decls), None)
        source = rules_file.source.splitlines() if rules_file is not None else []
        seen: dict[str, int] = {}
        for line in score.decl.lines:
            number = seen[line.event_type] = seen.get(line.event_type, -1) + 1
            span = line.span
            text = ""
            if 0 < span.line <= len(source):
                written = source[span.line - 1]
                end = span.end_column - 1 if span.end_line == span.line else len(written)
                text = " ".join(written[span.column - 1 : end].split())
            place = f"{rules_file.path if rules_file else '?'}:{span.line}"
            texts[f"{score.name}:{line.event_type}:{number}"] = (place, text)
    return texts


def score_changes(
    program: Program,
    texts: Mapping[str, tuple[str, str]],
    before: Look,
    after: Look,
    step: Step,
) -> list[ScoreChange]:
    """Each score an event's lines touch or that changed: before, after, and per line
    what it gave (a ``where`` filter is read on the contact after the event)."""
    event = step.event
    if event is None:
        return []
    plan = program.plans.get(event.type)
    lines: Sequence[ScoreLineSpec] = plan.lines if plan is not None else ()
    changes = []
    for spec in program.scores:
        old, new = before.scores.get(spec.name), after.scores.get(spec.name)
        mine = [line for line in lines if line.score == spec.index]
        delta = (new or 0.0) - (old or 0.0)
        if not mine and abs(delta) <= _EPSILON:
            continue
        outcomes = tuple(_line_outcome(line, texts, before, after, step) for line in mine)
        given = [outcome.given for outcome in outcomes]
        other: float | None = None
        if all(part is not None for part in given):
            rest = delta - sum(part for part in given if part is not None)
            other = 0.0 if abs(rest) <= _EPSILON else rest
        changes.append(ScoreChange(spec.name, old, new, outcomes, other))
    return changes


def _line_outcome(
    line: ScoreLineSpec,
    texts: Mapping[str, tuple[str, str]],
    before: Look,
    after: Look,
    step: Step,
) -> LineOutcome:
    place, text = texts.get(line.id, (line.id, ""))

    def outcome(given: float | None, status: str, reason: str) -> LineOutcome:
        return LineOutcome(place, text, line.points, given, status, reason)

    if line.where is not None:
        try:
            passes = bool(line.where(step.contact, step.event, step.now))
        except Exception:  # unreadable now: the honest answer is unknown
            return outcome(None, UNKNOWN, "unknown: its where filter cannot be read now")
        if not passes:
            return outcome(0, FILTERED_OUT, "filtered out by where")
    if line.cap_total is None and line.cap_window is None and not line.once:
        return outcome(line.points, APPLIED, "applied")
    was = before.line_states.get(line.id) or {}
    now = after.line_states.get(line.id) or {}
    if line.once and was.get("once"):
        return outcome(0, GIVEN_ALREADY, "given already (once)")
    if line.cap_total is not None:
        magnitude = float(now.get("total", 0)) - float(was.get("total", 0))
    elif line.cap_window is not None:
        magnitude = _given_at(now, step.now) - _given_at(was, step.now)
    else:
        magnitude = abs(line.points) if now.get("once") else 0.0
    given = magnitude if line.points >= 0 else -magnitude
    if magnitude >= abs(line.points) - _EPSILON:
        return outcome(line.points, APPLIED, "applied")
    if magnitude > _EPSILON:
        return outcome(given, PARTLY_CAPPED, "partly capped: its max was nearly reached")
    return outcome(0, CAPPED, "capped: its max was reached")


def _given_at(state: Mapping[str, Any], moment: float) -> float:
    """Points a windowed cap recorded at ``moment`` (entries are ``[time, points]``)."""
    return float(sum(entry[1] for entry in state.get("window", ()) if entry[0] == moment))
