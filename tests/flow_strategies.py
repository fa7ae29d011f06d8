"""Hypothesis strategies for flows: random :class:`~flow_oracle.Program` values (rendered
to rules text by :func:`flow_oracle.render`) and random streams of events and clock moves.

Programs: a score with points (some negative) per event type, ``on TYPE`` rules that
tag, untag, enter or leave flows, one or two segments over the score, tags and ``had``
windows, ``on flow`` rules, and one or two flows with random headers (segments, ``from``
/ ``to`` as dates in the flow's zone or as UTC times, ``timezone``, ``re-enter after D
[only ...]``, ``exit when``, ``goal [continue]``) and steps (``wait``, ``wait until COND
[at most D]``, ``wait until HH:MM [on weekdays]``, ``if`` / ``else if`` / ``else``,
``split``, sends, notify, tag, untag, ``enter flow`` / ``exit flow``), blocks nested two
deep and sometimes empty.

Streams: a few contacts, event gaps that often equal the program's durations (so events
land on the moment a wait ends), late events, clock moves of minutes to days (past several
timers), ``contact.updated`` setting a ``timezone``, deletions; starting on a Monday in
January or on the Fridays before the American and European clock changes of March 2026.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from flow_oracle import (
    Act,
    Cond,
    EventRule,
    Flow,
    FlowRule,
    If,
    Program,
    Split,
    Step,
    Wait,
    WaitClock,
    WaitUntil,
)

MINUTE = 60
HOUR = 3600
DAY = 86400
#: Monday 2026-01-05 10:00Z; Friday 2026-03-06 10:00Z (US clocks change on Sunday the
#: 8th); Friday 2026-03-27 10:00Z (European clocks change on Sunday the 29th).
STARTS = [1767607200, 1772791200, 1774605600]
TAGS = ["A", "B", "C"]
EVENT_TYPES = ["email.open", "web.visit", "email.click", "form.submit"]
CONTACTS = ["c1", "c2", "c3"]
WAITS = [30 * MINUTE, HOUR, 2 * HOUR, DAY, 2 * DAY]
AT_MOST = [HOUR, 12 * HOUR, DAY]
REENTER = [HOUR, DAY, 2 * DAY]
#: ``had TYPE within D`` windows.
HAD = [HOUR, DAY]
ZONES = ["America/Bogota", "America/New_York", "Europe/Madrid", "Asia/Tokyo"]
#: Zones a contact's ``timezone`` field takes (one is not a zone: the flow's applies).
CONTACT_ZONES = ["America/New_York", "Europe/Madrid", "Asia/Kolkata", "Mars/Olympus"]
CLOCKS = [0, 9 * 60, 9 * 60 + 30, 14 * 60, 23 * 60 + 45]
PERCENTS = [0, 10, 50, 90, 100]
#: Whether flows may say ``from T`` without ``to`` (``test_from_without_to_compiles``).
FROM_ALONE = True


@st.composite
def atom(draw: st.DrawFn, segments: tuple[str, ...] = ()) -> Cond:
    """A score comparison, ``tagged``, ``not tagged``, ``[not] had TYPE within D`` or
    (when given) ``in segment``."""
    kind = draw(st.integers(-2, 5 if segments else 4))
    if kind < 0:  # time alone makes it stop holding (and `not had` start)
        had = ("had", draw(st.sampled_from(EVENT_TYPES)), draw(st.sampled_from(HAD)))
        return ("not", had) if kind == -2 else had
    if kind <= 1:
        return ("score", draw(st.sampled_from([">=", ">", "<", "<="])), draw(st.integers(-2, 6)))
    if kind <= 3:
        return ("tagged", draw(st.sampled_from(TAGS)))
    if kind == 4:
        return ("not", ("tagged", draw(st.sampled_from(TAGS))))
    return ("seg", draw(st.sampled_from(segments)))


@st.composite
def condition(draw: st.DrawFn, segments: tuple[str, ...] = ()) -> Cond:
    """An atom, or two joined by ``and`` / ``or``."""
    first = draw(atom(segments))
    join = draw(st.integers(0, 3))
    if join <= 1:
        return first
    return ("and" if join == 2 else "or", first, draw(atom(segments)))


@st.composite
def action_step(draw: st.DrawFn, flows: tuple[str, ...]) -> Act:
    kind = draw(st.integers(0, 9))
    if kind <= 2:
        return Act("send email", draw(st.sampled_from(["w", "x", "y"])))
    if kind == 3:
        return Act("notify", "sales")
    if kind <= 5:
        return Act("tag", draw(st.sampled_from(TAGS)))
    if kind <= 7:
        return Act("untag", draw(st.sampled_from(TAGS)))
    return Act(draw(st.sampled_from(["enter flow", "exit flow"])), draw(st.sampled_from(flows)))


@st.composite
def step(draw: st.DrawFn, segments: tuple[str, ...], flows: tuple[str, ...], depth: int) -> Step:
    kind = draw(st.integers(0, 11 if depth else 7))
    if kind <= 1:
        return Wait(draw(st.sampled_from(WAITS)))
    if kind <= 3:
        at_most = draw(st.one_of(st.none(), st.sampled_from(AT_MOST)))
        return WaitUntil(draw(st.one_of(atom(), condition(segments))), at_most)
    if kind == 4:
        return WaitClock(draw(st.sampled_from(CLOCKS)), draw(st.booleans()))
    if kind <= 7:
        return draw(action_step(flows))
    if kind <= 9:
        count = draw(st.integers(1, 2))
        branches = tuple(
            (draw(condition(segments)), draw(block(segments, flows, depth - 1)))
            for _ in range(count)
        )
        otherwise = draw(st.one_of(st.none(), block(segments, flows, depth - 1)))
        return If(branches, otherwise)
    return Split(
        draw(st.sampled_from(PERCENTS)),
        draw(block(segments, flows, depth - 1)),
        draw(block(segments, flows, depth - 1)),
    )


@st.composite
def block(
    draw: st.DrawFn, segments: tuple[str, ...], flows: tuple[str, ...], depth: int
) -> tuple[Step, ...]:
    """A block of steps (nested ones may be empty)."""
    low = 1 if depth == 2 else 0
    return tuple(
        draw(step(segments, flows, depth)) for _ in range(draw(st.integers(low, 3 + depth)))
    )


def _iso(epoch: int) -> str:
    from engage.timeutil import format_time

    return format_time(float(epoch))


@st.composite
def window(draw: st.DrawFn, base: int, zone: str | None) -> tuple[str | None, str | None]:
    """``from`` / ``to``: none, one or both, as UTC times or as dates (local midnight)."""
    start: str | None = None
    end: str | None = None
    if draw(st.integers(0, 2)) == 0:
        start = _iso(base + draw(st.sampled_from([HOUR, 5 * HOUR, DAY, 2 * DAY])))
    if draw(st.integers(0, 2)) == 0:
        offset = draw(st.sampled_from([DAY, 2 * DAY, 3 * DAY]))
        end = _iso(base + offset + draw(st.sampled_from([0, 7 * HOUR])))
    if start is not None and end is None and not FROM_ALONE:
        end = _iso(base + 9 * DAY)
    if start is not None and end is not None and end <= start:
        start = None
    if draw(st.integers(0, 4)) == 0:  # dates in the flow's zone
        day = _iso(base)[:10]
        start = day if draw(st.booleans()) else None
        end = f"{day[:8]}{int(day[8:]) + draw(st.integers(1, 3)):02d}"
    return start, end


@st.composite
def flow(
    draw: st.DrawFn, name: str, base: int, segments: tuple[str, ...], flows: tuple[str, ...]
) -> Flow:
    zone = draw(st.one_of(st.none(), st.sampled_from(ZONES)))
    start, end = draw(window(base, zone))
    reenter = draw(st.one_of(st.none(), st.none(), st.sampled_from(REENTER)))
    only = None
    if reenter is not None:
        only = draw(st.sampled_from([None, None, "converted", "dismissed"]))
    exit_when = draw(st.one_of(st.none(), atom(), condition(segments)))
    goal = draw(st.one_of(st.none(), atom(), condition(segments)))
    member_of = draw(st.lists(st.sampled_from(segments), min_size=1, max_size=2, unique=True))
    return Flow(
        name=name,
        segments=tuple(member_of),
        steps=draw(block(segments, flows, 2)),
        start=start,
        end=end,
        zone=zone,
        reenter=reenter,
        reenter_only=only,
        exit=exit_when,
        goal=goal,
        goal_continue=goal is not None and draw(st.booleans()),
    )


@st.composite
def programs(draw: st.DrawFn) -> tuple[int, Program]:
    """A start time and a random program (see the module docstring)."""
    base = draw(st.sampled_from(STARTS))
    points = tuple(
        (kind, draw(st.sampled_from([-2, -1, 1, 1, 2, 3])))
        for kind in EVENT_TYPES[:3]
        if draw(st.integers(0, 3))
    ) or (("email.open", 1),)
    names = ("s1", "s2")[: draw(st.integers(1, 2))]
    segments = tuple((name, draw(condition())) for name in names)
    flow_names = ("f1", "f2")[: draw(st.integers(1, 2))]
    flows = tuple(draw(flow(name, base, names, flow_names)) for name in flow_names)
    event_rules = []
    for _ in range(draw(st.integers(1, 4))):
        verb = draw(st.sampled_from(["tag", "tag", "tag", "untag", "enter flow", "exit flow"]))
        arg = draw(st.sampled_from(TAGS if verb in ("tag", "untag") else flow_names))
        event_rules.append(EventRule(draw(st.sampled_from(EVENT_TYPES)), verb, arg))
    flow_rules = []
    for _ in range(draw(st.integers(0, 2))):
        edge = draw(st.sampled_from(["enter", "exit", "goal"]))
        reason = None
        if edge == "exit":
            reason = draw(st.sampled_from([None, "goal", "exit", "finished"]))
        verb = draw(st.sampled_from(["tag", "untag"]))
        flow_rules.append(
            FlowRule(
                edge, draw(st.sampled_from(flow_names)), reason, verb, draw(st.sampled_from(TAGS))
            )
        )
    program = Program(
        points=points,
        segments=segments,
        flows=flows,
        event_rules=tuple(event_rules),
        flow_rules=tuple(flow_rules),
        zone_field=draw(st.integers(0, 3)) == 0,
    )
    return base, program


GAPS = [0, 1, 30 * MINUTE, HOUR, 2 * HOUR, 5 * HOUR, 12 * HOUR, DAY, 2 * DAY]


@st.composite
def flow_operations(draw: st.DrawFn, base: int, zone_field: bool) -> list[tuple[str, Any]]:
    """``("event", record)`` and ``("advance", epoch seconds)`` operations from ``base``."""
    ops: list[tuple[str, Any]] = []
    clock = base
    for n in range(draw(st.integers(2, 24))):
        if draw(st.integers(0, 3)) == 0:
            clock += draw(st.sampled_from([HOUR, 5 * HOUR, DAY, 2 * DAY, 3 * DAY]))
            clock += draw(st.sampled_from([0, 0, 1, 17 * MINUTE]))
            ops.append(("advance", clock))
        clock += draw(st.sampled_from(GAPS))
        at = clock
        if draw(st.integers(0, 11)) == 0:
            at = clock - draw(st.sampled_from([1, HOUR]))  # a late event
        record: dict[str, Any] = {"contact": draw(st.sampled_from(["c1", "c1", *CONTACTS]))}
        kind = draw(st.integers(0, 19))
        if kind == 0 and n > 1:
            record["type"] = "contact.deleted"
        elif kind <= 2 and zone_field:
            record["type"] = "contact.updated"
            record["data"] = {"timezone": draw(st.sampled_from(CONTACT_ZONES))}
        else:
            record["type"] = draw(st.sampled_from(EVENT_TYPES))
        record["at"] = at
        if draw(st.integers(0, 5)):
            record["id"] = f"e{n}"
        ops.append(("event", record))
    if draw(st.booleans()):
        ops.append(("advance", clock + draw(st.sampled_from([HOUR, DAY, 3 * DAY]))))
    return ops


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Program, list[tuple[str, Any]]]:
    """A program and a stream for it."""
    base, program = draw(programs())
    return program, draw(flow_operations(base, program.zone_field))
