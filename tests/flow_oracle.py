"""A naive reference interpreter of campaign flows: the oracle of ``test_oracle_flows.py``.

It works from a small structured program (:class:`Program`: a score with points per event
type, tags set by ``on TYPE`` rules, segments over the score and tags, ``on flow`` rules
and one or two flows), which :func:`render` writes as rules text for the engine. It shares
no code with the engine: it does not parse the text, does not compile flows into
instructions, keeps no hidden segments and no timers.

- **Conditions** are evaluated from the contact's plain state (its score, tags and the
  times of its events, for ``had TYPE within D``) every time one is read; segments are
  recomputed each time they are asked about.
- **Positions** are paths into the nested steps (``(4, "a", 0)``: the first step of the
  first block of the fifth step's ``split``), walked with the nesting, not jump targets;
  step names (``"5.a.1"``) are made from the path.
- **Time**: before each event and clock move, every moment at which a timer could fire
  is listed for every contact (each arrival at a step plus *every* duration the program
  mentions, each next wall-clock time, every ``from`` and ``to``, every end of a
  re-entry wait, every event time plus every ``had`` window), and at the earliest one every
  contact is processed, again and again until the target time. Processing a contact with
  nothing due must change nothing: the engine, which processes only the contacts its
  timers name, must then agree.

At one moment, one contact is processed in *passes* (the driver's docstring): ``enter
flow`` / ``exit flow`` requests; each flow it is inside, in written order (``to`` ->
``ended``; goal -> ``goal``, or counted once with ``continue``; ``exit when`` ->
``exit``; then steps until a wait, the end, or a step that changed its state, which ends
the pass); then entries, in written order. After a pass the ``on flow enter|exit|goal``
rules run; passes repeat while one did anything.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

#: A condition: ``("score", OP, N)``, ``("tagged", T)``, ``("had", TYPE, SECONDS)``,
#: ``("seg", NAME)``, ``("not", C)``, ``("and", C, C)`` or ``("or", C, C)``.
Cond = tuple[Any, ...]

UTC = "UTC"


# ---------------------------------------------------------------------------------------
# Programs


@dataclass(frozen=True)
class Wait:
    """``wait D``."""

    seconds: int


@dataclass(frozen=True)
class WaitUntil:
    """``wait until COND [at most D]``."""

    cond: Cond
    at_most: int | None


@dataclass(frozen=True)
class WaitClock:
    """``wait until HH:MM [on weekdays]``."""

    minutes: int
    weekdays: bool


@dataclass(frozen=True)
class Act:
    """An action step: ``verb`` is ``send email``, ``notify``, ``tag``, ``untag``, ``enter
    flow`` or ``exit flow``."""

    verb: str
    arg: str


@dataclass(frozen=True)
class If:
    """``if C { } else if C { } [else { }]``."""

    branches: tuple[tuple[Cond, tuple[Step, ...]], ...]
    otherwise: tuple[Step, ...] | None


@dataclass(frozen=True)
class Split:
    """``split N% { } else { }``."""

    percent: int
    first: tuple[Step, ...]
    second: tuple[Step, ...]


Step = Wait | WaitUntil | WaitClock | Act | If | Split


@dataclass(frozen=True)
class Flow:
    """A flow: header lines (``start`` / ``end`` as written) and steps."""

    name: str
    segments: tuple[str, ...]
    steps: tuple[Step, ...]
    start: str | None = None
    end: str | None = None
    zone: str | None = None
    reenter: int | None = None
    reenter_only: str | None = None
    exit: Cond | None = None
    goal: Cond | None = None
    goal_continue: bool = False


@dataclass(frozen=True)
class EventRule:
    """``on TYPE then VERB ARG`` (verb: ``tag``, ``untag``, ``enter flow``, ``exit flow``)."""

    event_type: str
    verb: str
    arg: str


@dataclass(frozen=True)
class FlowRule:
    """``on flow EDGE FLOW [where event.reason == R] then VERB ARG``."""

    edge: str
    flow: str
    reason: str | None
    verb: str
    arg: str


@dataclass(frozen=True)
class Program:
    """A whole random rules file, in the oracle's terms."""

    points: tuple[tuple[str, int], ...]
    segments: tuple[tuple[str, Cond], ...]
    flows: tuple[Flow, ...]
    event_rules: tuple[EventRule, ...] = ()
    flow_rules: tuple[FlowRule, ...] = ()
    zone_field: bool = False


def walk(steps: tuple[Step, ...]) -> list[Step]:
    """Every step of a block, nested ones included, depth first."""
    found: list[Step] = []
    for step in steps:
        found.append(step)
        if isinstance(step, If):
            for _, block in step.branches:
                found.extend(walk(block))
            if step.otherwise is not None:
                found.extend(walk(step.otherwise))
        elif isinstance(step, Split):
            found.extend(walk(step.first))
            found.extend(walk(step.second))
    return found


# ---------------------------------------------------------------------------------------
# Rendering as rules text


def duration(seconds: int) -> str:
    """``86400`` as ``1 day``, ``5400`` as ``90 minutes``."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def cond_text(cond: Cond) -> str:
    """A condition as rules text (compound parts in parentheses)."""
    kind = cond[0]
    if kind == "score":
        return f"score {cond[1]} {cond[2]}"
    if kind == "tagged":
        return f'tagged "{cond[1]}"'
    if kind == "seg":
        return f"in segment {cond[1]}"
    if kind == "had":
        return f"had {cond[1]} within {duration(cond[2])}"
    if kind == "not":
        return f"not ({cond_text(cond[1])})"
    return f"({cond_text(cond[1])} {kind} {cond_text(cond[2])})"


def _action_text(verb: str, arg: str) -> str:
    if verb in ("send email", "tag", "untag"):
        return f'{verb} "{arg}"'
    return f"{verb} {arg}"


def _steps_text(steps: tuple[Step, ...], indent: str) -> list[str]:
    lines: list[str] = []
    for step in steps:
        if isinstance(step, Wait):
            lines.append(f"{indent}wait {duration(step.seconds)}")
        elif isinstance(step, WaitUntil):
            most = "" if step.at_most is None else f" at most {duration(step.at_most)}"
            lines.append(f"{indent}wait until {cond_text(step.cond)}{most}")
        elif isinstance(step, WaitClock):
            clock = f"{step.minutes // 60:02d}:{step.minutes % 60:02d}"
            lines.append(f"{indent}wait until {clock}{' on weekdays' if step.weekdays else ''}")
        elif isinstance(step, Act):
            lines.append(f"{indent}{_action_text(step.verb, step.arg)}")
        elif isinstance(step, If):
            for number, (cond, block) in enumerate(step.branches):
                head = "if" if number == 0 else "} else if"
                lines.append(f"{indent}{head} {cond_text(cond)} {{")
                lines.extend(_steps_text(block, indent + "    "))
            if step.otherwise is not None:
                lines.append(f"{indent}}} else {{")
                lines.extend(_steps_text(step.otherwise, indent + "    "))
            lines.append(f"{indent}}}")
        else:
            lines.append(f"{indent}split {step.percent}% {{")
            lines.extend(_steps_text(step.first, indent + "    "))
            lines.append(f"{indent}}} else {{")
            lines.extend(_steps_text(step.second, indent + "    "))
            lines.append(f"{indent}}}")
    return lines


def render(program: Program) -> str:
    """The program as a rules file the engine compiles."""
    lines: list[str] = []
    if program.zone_field:
        lines.append("fields {\n    timezone: text\n}")
    lines.append("score {")
    lines.extend(f"    on {kind} {points:+d}" for kind, points in program.points)
    lines.append("}")
    lines.extend(f"segment {name} = {cond_text(cond)}" for name, cond in program.segments)
    lines.extend(
        f"on {rule.event_type} then {_action_text(rule.verb, rule.arg)}"
        for rule in program.event_rules
    )
    for rule in program.flow_rules:
        where = "" if rule.reason is None else f' where event.reason == "{rule.reason}"'
        lines.append(
            f"on flow {rule.edge} {rule.flow}{where} then {_action_text(rule.verb, rule.arg)}"
        )
    for flow in program.flows:
        lines.append(f"flow {flow.name} {{")
        lines.append(f"    for segment {', '.join(flow.segments)}")
        if flow.start is not None:
            lines.append(f"    from {flow.start}" + ("" if flow.end is None else f" to {flow.end}"))
        elif flow.end is not None:
            lines.append(f"    to {flow.end}")
        if flow.zone is not None:
            lines.append(f'    timezone "{flow.zone}"')
        if flow.reenter is not None:
            only = "" if flow.reenter_only is None else f" only {flow.reenter_only}"
            lines.append(f"    re-enter after {duration(flow.reenter)}{only}")
        if flow.exit is not None:
            lines.append(f"    exit when {cond_text(flow.exit)}")
        if flow.goal is not None:
            lines.append(
                f"    goal {cond_text(flow.goal)}{' continue' if flow.goal_continue else ''}"
            )
        lines.extend(_steps_text(flow.steps, "    "))
        lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# Time


def written_time(text: str, zone_name: str | None) -> float:
    """A flow's ``from`` / ``to`` as written: without a zone, in the flow's zone."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone_name or UTC))
    return moment.timestamp()


def next_wall_clock(since: float, zone_name: str, minutes: int, weekdays: bool) -> float:
    """The first moment at or after ``since`` when the wall clock in the zone shows
    ``minutes`` after midnight (Monday to Friday when ``weekdays``)."""
    tz = ZoneInfo(zone_name)
    day = datetime.fromtimestamp(since, tz).date()
    for offset in range(10):
        candidate_day = day + timedelta(days=offset)
        if weekdays and candidate_day.weekday() >= 5:
            continue
        wall = datetime(
            candidate_day.year,
            candidate_day.month,
            candidate_day.day,
            minutes // 60,
            minutes % 60,
            tzinfo=tz,
        )
        if wall.timestamp() >= since:
            return wall.timestamp()
    raise AssertionError("no wall-clock time within ten days")


def cohort(contact: str, flow: str, entry: int) -> float:
    """Where an entry falls in [0, 100) for ``split``: the CRC-32 of contact, flow and entry
    number (the language's promise: deterministic on every machine), in 0.01% steps."""
    key = f"{contact}\x00{flow}\x00{entry}".encode()
    return (zlib.crc32(key) % 10_000) / 100


# ---------------------------------------------------------------------------------------
# The interpreter


@dataclass
class Run:
    """A contact's place in one flow."""

    inside: bool = False
    pos: tuple[Any, ...] | None = None
    since: float = 0.0
    entries: int = 0
    converted: bool = False
    left: float = 0.0
    reason: str = ""
    #: At a wait step: the kind of wait (for the coverage features).
    waiting: str = ""


@dataclass
class Person:
    """A contact's plain state."""

    id: str
    score: float | None = None
    tags: set[str] = field(default_factory=set)
    zone: Any = None
    runs: dict[str, Run] = field(default_factory=dict)
    #: ``(type, time)`` of every event of the contact (for ``had TYPE within D``).
    events: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Output:
    """One flow output record, as compared with the engine's."""

    at: float
    contact: str
    rule: str
    action: str
    args: tuple[str, ...]
    step: str | None
    reason: str | None
    event: str | None


#: Passes over one contact at one moment before the oracle gives up.
MAX_PASSES = 200


class LoopError(Exception):
    """Flows that enter each other forever at one moment (left out of comparisons)."""


class FlowOracle:
    """Runs a :class:`Program` over events and clock moves (see the module docstring).

    Attributes:
        outputs: every flow output record, in the order made.
        features: what happened, counted (``"wait expired"``, ``"exit while waiting"``...),
            for the strategy coverage test.
    """

    def __init__(self, program: Program) -> None:
        self.program = program
        self.flows = program.flows
        self.by_name = {flow.name: flow for flow in program.flows}
        self.segments = dict(program.segments)
        self.points = dict(program.points)
        self.now = -math.inf
        self.contacts: dict[str, Person] = {}
        self.seen: set[str] = set()
        self.outputs: list[Output] = []
        self.features: Counter[str] = Counter()
        #: Whether contacts are processed at a timer moment (not for an event).
        self.at_timer = False
        self.window = {
            flow.name: (
                None if flow.start is None else written_time(flow.start, flow.zone),
                None if flow.end is None else written_time(flow.end, flow.zone),
            )
            for flow in program.flows
        }
        steps = [step for flow in program.flows for step in walk(flow.steps)]
        self.durations = {step.seconds for step in steps if isinstance(step, Wait)}
        self.durations |= {
            step.at_most for step in steps if isinstance(step, WaitUntil) and step.at_most
        }
        self.clocks = {(s.minutes, s.weekdays) for s in steps if isinstance(s, WaitClock)}
        #: Every ``had ... within D`` window the program mentions, in seconds.
        self.windows: set[int] = set()
        conds = [cond for _, cond in program.segments]
        for flow in program.flows:
            conds.extend(c for c in (flow.exit, flow.goal) if c is not None)
        for step in steps:
            if isinstance(step, WaitUntil):
                conds.append(step.cond)
            elif isinstance(step, If):
                conds.extend(cond for cond, _ in step.branches)
        while conds:
            cond = conds.pop()
            if cond[0] == "had":
                self.windows.add(cond[2])
            elif cond[0] in ("not", "and", "or"):
                conds.extend(cond[1:])

    # -- conditions -------------------------------------------------------------------

    def holds(self, cond: Cond, person: Person) -> bool:
        kind = cond[0]
        if kind == "score":
            value = person.score
            if value is None:
                return False
            op, number = cond[1], cond[2]
            return bool(
                {
                    ">=": value >= number,
                    ">": value > number,
                    "<=": value <= number,
                    "<": value < number,
                }[op]
            )
        if kind == "tagged":
            return cond[1] in person.tags
        if kind == "had":
            return any(t > self.now - cond[2] for k, t in person.events if k == cond[1])
        if kind == "seg":
            return self.holds(self.segments[cond[1]], person)
        if kind == "not":
            return not self.holds(cond[1], person)
        if kind == "and":
            return self.holds(cond[1], person) and self.holds(cond[2], person)
        return self.holds(cond[1], person) or self.holds(cond[2], person)

    def zone_of(self, person: Person, flow: Flow) -> str:
        """``wait until HH:MM``: the contact's ``timezone`` field, else the flow's zone."""
        if isinstance(person.zone, str):
            try:
                ZoneInfo(person.zone)
            except (ValueError, KeyError, OSError):
                pass
            else:
                return person.zone
        return flow.zone or UTC

    # -- the stream -------------------------------------------------------------------

    def event(self, record: dict[str, Any]) -> None:
        """Apply one event record (times in epoch seconds; a late one at the clock)."""
        event_id = record.get("id")
        if event_id is not None:
            if event_id in self.seen:
                return
            self.seen.add(event_id)
        at = float(record["at"])
        if at > self.now:
            self.advance(at)
        now = self.now
        kind = record["type"]
        person = self.contacts.get(record["contact"])
        if kind == "contact.deleted":
            if person is not None:
                for flow in self.flows:
                    run = person.runs.get(flow.name)
                    if run is not None and run.inside:
                        self._leave(person, flow, run, "deleted", now, event_id, [])
                del self.contacts[person.id]
            return
        if person is None:
            person = self.contacts[record["contact"]] = Person(record["contact"])
        if kind == "contact.updated":
            data = record.get("data") or {}
            if "timezone" in data and self.program.zone_field:
                person.zone = data["timezone"]
        if kind in self.points:
            person.score = (person.score or 0) + self.points[kind]
        if kind != "contact.updated":
            person.events.append((kind, at))
        requests: list[tuple[str, str]] = []
        for rule in self.program.event_rules:
            if rule.event_type == kind:
                self._rule_action(person, rule.verb, rule.arg, requests)
        self._moment(person, now, event_id, requests)

    def advance(self, target: float) -> int:
        """Move the clock to ``target``, processing every contact at each moment a
        timer could fire on the way; returns how many of those moments had outputs."""
        busy = 0
        while True:
            moments = {
                moment
                for person in self.contacts.values()
                for moment in self._candidates(person)
                if self.now < moment <= target
            }
            if not moments:
                break
            self.now = min(moments)
            done = len(self.outputs)
            self.at_timer = True
            for name in sorted(self.contacts):
                self._moment(self.contacts[name], self.now, None, [])
            self.at_timer = False
            if len(self.outputs) > done:
                busy += 1
        self.now = max(self.now, target)
        return busy

    def _candidates(self, person: Person) -> set[float]:
        """A superset of the moments at which time alone may move ``person``."""
        moments = {t + d for _, t in person.events for d in self.windows}
        for flow in self.flows:
            start, end = self.window[flow.name]
            moments.update(m for m in (start, end) if m is not None)
            run = person.runs.get(flow.name)
            if run is None:
                continue
            if run.inside:
                moments.update(run.since + d for d in self.durations)
                zone_name = self.zone_of(person, flow)
                moments.update(
                    next_wall_clock(run.since, zone_name, minutes, weekdays)
                    for minutes, weekdays in self.clocks
                )
            elif flow.reenter is not None:
                moments.add(run.left + flow.reenter)
        return moments

    # -- one moment of one contact ----------------------------------------------------

    def _moment(
        self, person: Person, now: float, event_id: str | None, requests: list[tuple[str, str]]
    ) -> None:
        for _ in range(MAX_PASSES):
            made: list[tuple[str, Flow, str | None]] = []
            taken, requests = requests, []
            paused = False
            for verb, name in taken:
                paused = self._request(person, verb, name, now, event_id, made, requests) or paused
            for flow in self.flows:
                run = person.runs.get(flow.name)
                if run is not None and run.inside and not paused:
                    paused = self._run(person, flow, run, now, event_id, made, requests)
            if not paused:
                for flow in self.flows:
                    run = person.runs.get(flow.name)
                    if (run is None or not run.inside) and self._may_enter(person, flow, now):
                        if self.at_timer:
                            self.features["entry at a timer moment"] += 1
                        run = self._enter(person, flow, now, event_id, made)
                        if self._run(person, flow, run, now, event_id, made, requests):
                            paused = True
                            break
            for edge, flow, reason in made:
                for rule in self.program.flow_rules:
                    if (rule.edge, rule.flow) == (edge, flow.name) and rule.reason in (
                        None,
                        reason,
                    ):
                        self._rule_action(person, rule.verb, rule.arg, requests)
            if not (paused or made or requests):
                return
        raise LoopError(person.id)

    def _rule_action(
        self, person: Person, verb: str, arg: str, requests: list[tuple[str, str]]
    ) -> bool:
        """A state action of a rule or a step; True when it changed something."""
        if verb == "tag":
            if arg in person.tags:
                return False
            person.tags.add(arg)
            return True
        if verb == "untag":
            if arg not in person.tags:
                return False
            person.tags.discard(arg)
            return True
        if verb in ("enter flow", "exit flow"):
            requests.append((verb, arg))
            return True
        return False

    def _request(
        self,
        person: Person,
        verb: str,
        name: str,
        now: float,
        event_id: str | None,
        made: list[tuple[str, Flow, str | None]],
        requests: list[tuple[str, str]],
    ) -> bool:
        """``enter flow`` (inside the window, not inside already: segments and re-entry
        limits do not apply) / ``exit flow`` (leaves with ``exit``)."""
        flow = self.by_name[name]
        run = person.runs.get(name)
        if verb == "exit flow":
            if run is not None and run.inside:
                self.features["exit flow action"] += 1
                self._leave(person, flow, run, "exit", now, event_id, made)
            return False
        if run is not None and run.inside:
            return False
        start, end = self.window[name]
        if (start is not None and now < start) or (end is not None and now >= end):
            return False
        self.features["enter flow action"] += 1
        run = self._enter(person, flow, now, event_id, made)
        return self._run(person, flow, run, now, event_id, made, requests)

    def _may_enter(self, person: Person, flow: Flow, now: float) -> bool:
        if not any(self.holds(self.segments[name], person) for name in flow.segments):
            return False
        start, end = self.window[flow.name]
        if end is not None and now >= end:
            return False
        if start is not None and now < start:
            return False
        if flow.exit is not None and self.holds(flow.exit, person):
            self.features["entry held back by exit when"] += 1
            return False
        run = person.runs.get(flow.name)
        if run is None:
            return True
        if flow.reenter is None:
            return False
        if flow.reenter_only == "converted" and not run.converted:
            return False
        if flow.reenter_only == "dismissed" and run.converted:
            return False
        return now >= run.left + flow.reenter

    def _out(
        self,
        person: Person,
        now: float,
        event_id: str | None,
        rule: str,
        action: str,
        args: tuple[str, ...],
        step: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.outputs.append(Output(now, person.id, rule, action, args, step, reason, event_id))

    def _enter(
        self,
        person: Person,
        flow: Flow,
        now: float,
        event_id: str | None,
        made: list[tuple[str, Flow, str | None]],
    ) -> Run:
        run = person.runs.setdefault(flow.name, Run())
        if run.entries:
            self.features["re-entry"] += 1
            if flow.reenter_only is not None:
                self.features[f"re-entry only {flow.reenter_only}"] += 1
        run.inside = True
        run.pos = (0,)
        run.since = now
        run.entries += 1
        run.converted = False
        run.waiting = ""
        self._out(person, now, event_id, f"flow:{flow.name}", "enter_flow", (flow.name,))
        made.append(("enter", flow, None))
        return run

    def _leave(
        self,
        person: Person,
        flow: Flow,
        run: Run,
        reason: str,
        now: float,
        event_id: str | None,
        made: list[tuple[str, Flow, str | None]],
    ) -> None:
        self.features[f"left: {reason}"] += 1
        if self.at_timer and reason in ("exit", "goal"):
            self.features["exit or goal by time alone"] += 1
        if run.waiting and reason in ("exit", "goal"):
            self.features[f"{reason} while waiting ({run.waiting})"] += 1
            self.features[f"{reason} while waiting"] += 1
        run.inside = False
        run.pos = None
        run.left = now
        run.reason = reason
        run.waiting = ""
        if reason == "goal":
            run.converted = True
        rule = f"flow:{flow.name}"
        self._out(person, now, event_id, rule, "exit_flow", (flow.name,), None, reason)
        if reason == "goal":
            made.append(("goal", flow, reason))
        made.append(("exit", flow, reason))

    # -- steps ------------------------------------------------------------------------

    def _run(
        self,
        person: Person,
        flow: Flow,
        run: Run,
        now: float,
        event_id: str | None,
        made: list[tuple[str, Flow, str | None]],
        requests: list[tuple[str, str]],
    ) -> bool:
        """Checks, then steps until a wait or the end; True when a step changed the
        contact's state (the pass ends there)."""
        _, end = self.window[flow.name]
        if end is not None and now >= end:
            self._leave(person, flow, run, "ended", now, event_id, made)
            return False
        if flow.goal is not None and self.holds(flow.goal, person):
            if not flow.goal_continue:
                self._leave(person, flow, run, "goal", now, event_id, made)
                return False
            if not run.converted:
                run.converted = True
                self.features["goal continue"] += 1
                self._out(person, now, event_id, f"flow:{flow.name}", "flow_goal", (flow.name,))
                made.append(("goal", flow, None))
        if flow.exit is not None and self.holds(flow.exit, person):
            self._leave(person, flow, run, "exit", now, event_id, made)
            return False
        while True:
            assert run.pos is not None
            step = step_at(flow.steps, run.pos)
            if step is None:
                self._leave(person, flow, run, "finished", now, event_id, made)
                return False
            if isinstance(step, Wait):
                if now < run.since + step.seconds:
                    run.waiting = "wait"
                    return False
                self.features["wait expired"] += 1
                self._move(flow, run, following(flow.steps, run.pos), now)
            elif isinstance(step, WaitUntil):
                if self.holds(step.cond, person):
                    self.features["wait until met"] += 1
                    if self.at_timer:
                        self.features["wait until met by time alone"] += 1
                    if now > run.since:
                        self.features["wait until met later"] += 1
                elif step.at_most is not None and now >= run.since + step.at_most:
                    self.features["wait until timed out"] += 1
                else:
                    run.waiting = "wait until"
                    return False
                self._move(flow, run, following(flow.steps, run.pos), now)
            elif isinstance(step, WaitClock):
                due = next_wall_clock(
                    run.since, self.zone_of(person, flow), step.minutes, step.weekdays
                )
                if now < due:
                    run.waiting = "clock"
                    return False
                self.features["clock wait expired"] += 1
                self._move(flow, run, following(flow.steps, run.pos), now)
            elif isinstance(step, If):
                chosen: Any = None
                for number, (cond, _) in enumerate(step.branches):
                    if self.holds(cond, person):
                        chosen = number
                        break
                if chosen is None and step.otherwise is not None:
                    chosen = "else"
                self.features[f"if took {'else' if chosen == 'else' else 'branch'}"] += 1
                target = (
                    following(flow.steps, run.pos)
                    if chosen is None
                    else inside(flow.steps, run.pos, chosen)
                )
                self._move(flow, run, target, now)
            elif isinstance(step, Split):
                first = cohort(person.id, flow.name, run.entries) < step.percent
                self.features[f"split {'a' if first else 'b'}"] += 1
                self._move(flow, run, inside(flow.steps, run.pos, "a" if first else "b"), now)
            else:
                path = step_name(run.pos)
                self._out(
                    person,
                    now,
                    event_id,
                    f"flow:{flow.name}",
                    step.verb.replace(" ", "_"),
                    (step.arg,),
                    path,
                )
                changed = self._rule_action(person, step.verb, step.arg, requests)
                self._move(flow, run, following(flow.steps, run.pos), now)
                if changed:
                    return True

    def _move(self, flow: Flow, run: Run, pos: tuple[Any, ...] | None, now: float) -> None:
        run.pos = pos if pos is not None else (len(flow.steps),)
        run.since = now
        run.waiting = ""


# ---------------------------------------------------------------------------------------
# Positions: paths into the nested steps


def _block(steps: tuple[Step, ...], prefix: tuple[Any, ...]) -> tuple[Step, ...]:
    """The block a position's last index counts in (``prefix``: the position without it)."""
    block = steps
    for index in range(0, len(prefix), 2):
        step = block[prefix[index]]
        key = prefix[index + 1]
        if isinstance(step, If):
            block = step.otherwise or () if key == "else" else step.branches[key][1]
        else:
            assert isinstance(step, Split)
            block = step.first if key == "a" else step.second
    return block


def _settle(steps: tuple[Step, ...], pos: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """``pos``, or when it is past the end of its block, the step after the block's
    parent (None: past the last step)."""
    while True:
        if pos[-1] < len(_block(steps, pos[:-1])):
            return pos
        if len(pos) == 1:
            return None
        pos = (*pos[:-3], pos[-3] + 1)


def step_at(steps: tuple[Step, ...], pos: tuple[Any, ...]) -> Step | None:
    """The step at ``pos`` (None: the flow is finished)."""
    settled = _settle(steps, pos)
    return None if settled is None else _block(steps, settled[:-1])[settled[-1]]


def following(steps: tuple[Step, ...], pos: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The position after the step at ``pos`` (after its whole block for ``if``/``split``)."""
    return _settle(steps, (*pos[:-1], pos[-1] + 1))


def inside(steps: tuple[Step, ...], pos: tuple[Any, ...], key: Any) -> tuple[Any, ...] | None:
    """The first step of block ``key`` of the ``if`` / ``split`` at ``pos``."""
    return _settle(steps, (*pos, key, 0))


def step_name(pos: tuple[Any, ...]) -> str:
    """``(4, "a", 0)`` as ``"5.a.1"``; ``if`` branches are numbered from 1."""
    parts = [str(pos[0] + 1)]
    for index in range(1, len(pos), 2):
        key = pos[index]
        parts.append(str(key + 1) if isinstance(key, int) else key)
        parts.append(str(pos[index + 1] + 1))
    return ".".join(parts)


def run_oracle(program: Program, ops: list[tuple[str, Any]]) -> FlowOracle:
    """The oracle after ``ops`` (``("event", record)`` / ``("advance", epoch)``)."""
    oracle = FlowOracle(program)
    for kind, value in ops:
        if kind == "event":
            oracle.event(value)
        elif oracle.advance(float(value)) >= 2:
            oracle.features["clock move past several timers"] += 1
    return oracle
