"""Event plans: for each event type, one generated function that applies it.

The general path applies an event through the :class:`~engage.state.writer.StateWriter`
(a call per change, each recorded), then the cascade's first round looks the changed
inputs up in the dependency map, one key at a time, for every event. Yet what an event
type can change is known when the rules are compiled: its score lines (with their
filters, caps, decay and clamp), its event windows, the last activity. So are the rules
and segments that read those inputs. A plan is that knowledge written out as Python:

1. apply the type's effects in place, exactly as the general path would (last activity,
   windows, score lines), recording each input's value before its first change in the
   change set the cascade reads;
2. look only at the units the type can affect, each behind a test of whether its inputs
   really changed: the segments (would membership move?), the threshold rules (would
   one rise?), the rules of the dependency map (would a truth bit move, or a rule
   hold?), the disarmed rules' re-arm conditions, ``score change`` rules and the type's
   own ``on`` rules (would one hold?);
3. return None when none of them would do anything, which is the common case; else the
   change set, with which the engine runs :meth:`Cascade.run
   <engage.triggers.cascade.Cascade.run>` exactly as the general path does (same
   change set, same state): the actions, their order and their causes are the general
   path's, by construction;
4. except when the only units that move are rules the plan may fire itself (plain
   rules, :func:`engage.triggers.plain.plan_fired`: fixed actions that nothing reads):
   a threshold rule that rises, a ``when`` rule whose truth bit rises (the plan raises
   it), a ``score change`` or ``on`` rule whose condition holds. Then it returns the
   change set and those rules, and the engine fires them with :meth:`Cascade.plan_round
   <engage.triggers.cascade.Cascade.plan_round>`: what the general first round would
   fire, with the same causes, and no round after it.

A plan returns :data:`FULL` before changing anything when the event needs the general
path (an ``email.bounce`` of kind ``hard``). Event types with built-in effects
(``contact.updated``, ``contact.deleted``, ``unsubscribe``) have no plan.

As for conditions (:mod:`engage.dsl.codegen`), user text never becomes code: the
generated source names rules, segments, predicates and keys only through module globals
(``_R3``, ``_K5``...) and numbers through ``repr()``; it is registered with
``linecache``, so a traceback through a plan shows its line, and ``engage check --plan``
prints it.
"""

from __future__ import annotations

import itertools
import linecache
import math
from collections.abc import Callable
from typing import Any, Final

from engage.events import BOUNCE, DELETED, SUBSCRIPTION, TRACK, UNSUBSCRIBE, UPDATED, Event
from engage.program import Key, Program, RuleSpec, SegmentSpec
from engage.scoring.lines import allowed_points
from engage.state.contact import LINE_STATE, WINDOWS, Contact, score_of
from engage.state.writer import LAST_ACTIVITY_KEY, VALUATION_KEY, whole_as_int
from engage.time.valuation import class_of, is_discarded
from engage.time.windows import count as window_count
from engage.time.windows import next_expiry
from engage.time.windows import record as record_window
from engage.triggers import modes
from engage.triggers.plain import plan_fired

#: What a plan returns when the event must take the general path (nothing applied).
FULL: Final = object()

#: Event types with built-in effects: the general path applies them.
UNPLANNED_TYPES: Final = frozenset({UPDATED, DELETED, UNSUBSCRIBE, SUBSCRIPTION, TRACK})

#: The plan of the event types that have no score line, rule or window: activity only.
OTHER_TYPES: Final = "\0other"

#: ``plan(contact, event, now, moment)``: None (nothing more to do), the change set to
#: run the cascade with, the change set and the rules to fire with
#: :meth:`~engage.triggers.cascade.Cascade.plan_round` (a tuple), or :data:`FULL`.
PlanFunction = Callable[[Contact, Event, float, float], Any]
#: ``next_wake(contact, now)``: the earliest moment after ``now`` at which time alone may
#: change the contact, or None.
NextWake = Callable[[Contact, float], "float | None"]

_program_ids = itertools.count(1)


class Plan:
    """One event type's generated plan."""

    __slots__ = ("event_type", "function", "name", "on_rules", "source")

    def __init__(
        self,
        event_type: str,
        name: str,
        source: str,
        on_rules: tuple[RuleSpec, ...],
    ) -> None:
        self.event_type = event_type
        self.name = name
        #: The generated source of this plan's function.
        self.source = source
        #: The type's ``on`` rules, for the cascade when the plan hands over.
        self.on_rules = on_rules
        self.function: PlanFunction = _unbuilt

    def __repr__(self) -> str:
        return f"<Plan {self.event_type!r} {self.name}>"


def _unbuilt(contact: Contact, event: Event, now: float, moment: float) -> Any:
    raise RuntimeError("plan used before it was compiled")


def _score_change_event(
    program: Program, contact: Contact, index: int, old: Any, now: float
) -> Event:
    """The ``score.change`` event the cascade makes for score ``index`` changing from
    ``old`` (values as read at ``now``)."""
    spec = program.scores[index]
    new = score_of(contact, index)
    decay = spec.decay
    before, after = old, new
    if decay is not None:
        before = None if old is None else decay.read(old, now)
        after = None if new is None else decay.read(new, now)
    delta = None if before is None or after is None else after - before
    data = {"score": spec.name, "old": before, "new": after, "delta": delta}
    return Event(contact.id, "score.change", now, None, data)


def score_change_quiet(
    program: Program,
    rules: tuple[RuleSpec, ...],
    contact: Contact,
    index: int,
    old: Any,
    now: float,
) -> bool:
    """Whether no ``score change`` rule of score ``index`` would hold for a change from
    ``old`` (the engine-made event built as the cascade builds it)."""
    made = _score_change_event(program, contact, index, old, now)
    for rule in rules:
        cond = rule.cond
        if cond is None or cond(contact, made, now):
            return False
    return True


def score_changes(
    program: Program,
    rules: tuple[RuleSpec, ...],
    contact: Contact,
    index: int,
    old: Any,
    now: float,
) -> tuple[RuleSpec, ...]:
    """The ``score change`` rules of score ``index`` whose condition holds for a change
    from ``old``, in order (their mode is applied when they fire)."""
    made = _score_change_event(program, contact, index, old, now)
    return tuple(rule for rule in rules if rule.cond is None or rule.cond(contact, made, now))


def _stored(index: int) -> str:
    return "c.first_score" if index == 0 else f"c.more_scores[{index - 1}]"


class _Source:
    """Lines of generated source and the globals they name."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.lines: list[str] = []
        self.namespace = namespace
        self._names: dict[int, str] = {}
        self._counter = itertools.count(1)

    def name(self, value: object, prefix: str = "_K") -> str:
        """A global bound to ``value`` (one name per object)."""
        known = self._names.get(id(value))
        if known is not None:
            return known
        name = f"{prefix}{next(self._counter)}"
        self.namespace[name] = value
        self._names[id(value)] = name
        return name

    def add(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)


def _filtered_points(points: float) -> float:
    """The points :func:`~engage.scoring.lines.allowed_points` gives for a line
    without cap or ``once``: the same value, a whole magnitude as an int."""
    sign = -1 if points < 0 else 1
    magnitude = abs(points)
    if magnitude == int(magnitude):
        magnitude = int(magnitude)
    return sign * magnitude


def _number(value: float) -> str:
    """A finite number as source (``repr``); the caller handles infinities."""
    assert math.isfinite(value)
    return repr(value)


class _PlanWriter:
    """Writes one event type's plan function."""

    def __init__(
        self, program: Program, out: _Source, event_type: str | None, fired: frozenset[int]
    ) -> None:
        self.program = program
        self.out = out
        self.event_type = event_type
        self.plan = None if event_type is None else program.plans.get(event_type)
        #: The ranks of the rules a plan may fire itself (:func:`plan_fired`).
        self.fired = fired
        #: Whether this plan fires some rule itself, and raises some truth bit.
        self.fires = False
        self.raises = False

    def write(self, function: str) -> tuple[RuleSpec, ...]:
        program = self.program
        out = self.out
        plan = self.plan
        out.add(0, f"def {function}(c, ev, now, moment):")
        if self.event_type == BOUNCE:
            out.add(1, "data = ev.data")
            out.add(1, "if data and data.get('kind') == 'hard':")
            out.add(2, "return _FULL")
        out.add(1, "ch = {}")
        start = len(out.lines)
        # Last activity (every planned type is an activity type).
        la = out.name(LAST_ACTIVITY_KEY)
        out.add(1, "la = c.last_activity")
        out.add(1, "if la is None or la < moment:")
        out.add(2, f"ch[{la}] = la")
        out.add(2, "c.last_activity = moment")
        touched: list[Key] = [LAST_ACTIVITY_KEY]
        if plan is not None:
            for atom in plan.history:
                self._window(atom)
                touched.append(atom.key)
            if plan.lines:
                self._lines()
                touched.extend(program.scores[line.score].key for line in plan.lines)
        on_rules = () if plan is None else plan.on_rules
        if self._quiet(list(dict.fromkeys(touched)), on_rules) and self.fires:
            out.add(1, "if fire:")
            if self.raises:
                out.add(2, "c.truth |= rise")
            out.add(2, "return ch, fire")
        out.add(1, "return None")
        if self.fires:
            out.lines[start:start] = ["    fire = ()"] + (["    rise = 0"] if self.raises else [])
        out.add(0, "")
        return on_rules

    # -- effects --------------------------------------------------------------------

    def _window(self, atom: Any) -> None:
        out = self.out
        depth = 1
        if atom.where is not None:
            out.add(1, f"if {out.name(atom.where, '_P')}(c, ev, now):")
            depth = 2
        key = out.name(atom.key)
        window = _number(atom.window)
        out.add(depth, "extra = c.extra")
        out.add(depth, f"windows = extra.get({WINDOWS!r}, {{}}) if extra else {{}}")
        out.add(depth, f"before = _window_count(windows.get({atom.id!r}), {window}, now)")
        out.add(depth, f"_record_window(c, {atom.id!r}, moment, {window}, now)")
        out.add(depth, f"if {key} not in ch:")
        out.add(depth + 1, f"ch[{key}] = before")

    def _lines(self) -> None:
        """The score lines, as :func:`engage.scoring.lines.apply_lines` applies them:
        every filter first, on the state the event found, then the points in order."""
        out = self.out
        assert self.plan is not None
        lines = self.plan.lines
        for number, line in enumerate(lines):
            if line.where is not None:
                out.add(1, f"w{number} = {out.name(line.where, '_P')}(c, ev, now)")
        for number, line in enumerate(lines):
            depth = 1
            if line.where is not None:
                out.add(1, f"if w{number}:")
                depth = 2
            if line.plain:
                self._add_points(depth, line.score, _number(line.points))
                continue
            if line.cap_total is None and line.cap_window is None and not line.once:
                # allowed_points of a line that is only filtered: its (empty) record
                # made, and its points as that function gives them.
                out.add(depth, "extra = c.extra")
                out.add(depth, "if extra is None:")
                out.add(depth + 1, "extra = c.more()")
                out.add(depth, f"states = extra.get({LINE_STATE!r})")
                out.add(depth, "if states is None:")
                out.add(depth + 1, f"states = extra[{LINE_STATE!r}] = {{}}")
                out.add(depth, f"if {line.id!r} not in states:")
                out.add(depth + 1, f"states[{line.id!r}] = {{}}")
                points = _filtered_points(line.points)
                if points:
                    self._add_points(depth, line.score, _number(points))
                continue
            out.add(depth, f"points = _allowed(c, {out.name(line, '_L')}, now)")
            out.add(depth, "if points:")
            self._add_points(depth + 1, line.score, "points")

    def _add_points(self, depth: int, index: int, points: str) -> None:
        """:meth:`StateWriter.add_points` written out for one score."""
        out = self.out
        spec = self.program.scores[index]
        stored = _stored(index)
        decay = None if spec.decay is None else out.name(spec.decay, "_D")
        key = out.name(spec.key)
        out.add(depth, f"old = {stored}")
        if decay is None:
            out.add(depth, f"value = (0 if old is None else old) + {points}")
        else:
            out.add(depth, f"value = (0 if old is None else {decay}.read(old, now)) + {points}")
        out.add(depth, "if value.__class__ is not float or _isfinite(value):")
        inner = depth + 1
        if spec.low != -math.inf:
            out.add(inner, f"if value < {_number(spec.low)}:")
            out.add(inner + 1, f"value = {_number(spec.low)}")
        if spec.high != math.inf:
            keyword = "elif" if spec.low != -math.inf else "if"
            out.add(inner, f"{keyword} value > {_number(spec.high)}:")
            out.add(inner + 1, f"value = {_number(spec.high)}")
        out.add(inner, "if value.__class__ is float:")
        out.add(inner + 1, "value = _whole(value)")
        if decay is not None:
            out.add(inner, f"value = {decay}.scale(value, now)")
        out.add(inner, "if old is None or old != value:")
        out.add(inner + 1, f"if {key} not in ch:")
        out.add(inner + 2, f"ch[{key}] = old")
        out.add(inner + 1, f"{stored} = value")

    # -- would the cascade do anything? ----------------------------------------------

    def _quiet(self, touched: list[Key], on_rules: tuple[RuleSpec, ...]) -> bool:
        """Return the change set as soon as a unit the change touches would move, unless
        the plan can fire it itself (then it joins ``fire``, the rules to fire, after
        which the plan returns the change set with them). False when the code written
        always returns."""
        program = self.program
        out = self.out
        # A flag per input: did it really change (the cascade's net changes)?
        flags: dict[Key, str] = {}
        for key in touched:
            name = out.name(key)
            if key[0] == "score":
                flag = f"s{key[1]}"
                out.add(1, f"o{key[1]} = ch.get({name}, _MISSING)")
                out.add(1, f"{flag} = o{key[1]} is not _MISSING and {_stored(key[1])} != o{key[1]}")
            elif key == LAST_ACTIVITY_KEY:
                flag = "n_la"
                out.add(1, f"{flag} = {name} in ch")
            else:
                flag = f"h{key[1]}"
                out.add(1, f"{flag} = {name} in ch")
            flags[key] = flag
        if program.valuation_watched and LAST_ACTIVITY_KEY in flags:
            classes = out.name(program.classes)
            out.add(1, "n_class = False")
            out.add(1, "if n_la:")
            out.add(2, "discarded = _is_discarded(c)")
            out.add(2, f"was = _class_of({classes}, la, discarded, now)")
            out.add(2, f"n_class = was != _class_of({classes}, c.last_activity, discarded, now)")
            flags[VALUATION_KEY] = "n_class"
        keys = list(flags)

        def gate(reads: list[Key]) -> str:
            return " or ".join(dict.fromkeys(flags[key] for key in reads))

        # Segments whose inputs changed: would membership move?
        for segment in program.segments:
            reads = [key for key in keys if segment in program.segment_deps.get(key, ())]
            if reads:
                self._segment(gate(reads), segment)
        # Re-arm conditions of disarmed rules.
        rearms: dict[RuleSpec, list[Key]] = {}
        for key in keys:
            for rule in program.rearm_deps.get(key, ()):
                rearms.setdefault(rule, []).append(key)
        for rule, reads in rearms.items():
            name = out.name(rule, "_R")
            out.add(
                1, f"if ({gate(reads)}) and _is_disarmed({name}, c) and {name}.rearm(c, None, now):"
            )
            out.add(2, "return ch")
        # Threshold rules: would one rise?
        for key in keys:
            if key[0] == "score" and key[1] in program.thresholds:
                index = key[1]
                thresholds = out.name(program.thresholds[index], "_T")
                out.add(1, f"if {flags[key]}:")
                out.add(2, f"new = {_stored(index)}")
                out.add(2, f"for rule in {thresholds}.candidates(o{index}, new):")
                out.add(3, "holds = rule.threshold[1]")
                out.add(3, f"if holds(new) and not holds(o{index}):")
                crossing = program.thresholds[index].rules()
                if all(rule.rank in self.fired for rule in crossing):
                    out.add(4, "fire += (rule,)")
                    self.fires = True
                else:
                    out.add(4, "return ch")
        # Rules of the dependency map: would a truth bit move, or a rule hold?
        candidates: dict[RuleSpec, list[Key]] = {}
        for key in keys:
            for rule in program.rule_deps.get(key, ()):
                candidates.setdefault(rule, []).append(key)
        for rule, reads in candidates.items():
            self._rule(gate(reads), rule)
        # ``score change`` rules: would one hold?
        for key in keys:
            if key[0] == "score" and program.score_change_rules.get(key[1]):
                index = key[1]
                rules = out.name(program.score_change_rules[index])
                if all(rule.rank in self.fired for rule in program.score_change_rules[index]):
                    out.add(1, f"if {flags[key]}:")
                    out.add(
                        2,
                        f"fire += _score_changes(_PROGRAM, {rules}, c, {index!r}, o{index}, now)",
                    )
                    self.fires = True
                    continue
                out.add(
                    1,
                    f"if {flags[key]} and not _score_change_quiet("
                    f"_PROGRAM, {rules}, c, {index!r}, o{index}, now):",
                )
                out.add(2, "return ch")
        # The type's own ``on`` rules.
        for rule in on_rules:
            depth = 1
            if rule.cond is not None:
                out.add(1, f"if {out.name(rule.cond, '_P')}(c, ev, now):")
                depth = 2
            if rule.rank in self.fired:
                out.add(depth, f"fire += ({out.name(rule, '_R')},)")
                self.fires = True
                continue
            out.add(depth, "return ch")
            if rule.cond is None:
                return False
        return True

    def _segment(self, gate: str, segment: SegmentSpec) -> None:
        out = self.out
        cond = out.name(segment.cond, "_P")
        out.add(
            1, f"if ({gate}) and bool({cond}(c, None, now)) != (c.segs & {segment.bit!r} != 0):"
        )
        out.add(2, "return ch")

    def _rule(self, gate: str, rule: RuleSpec) -> None:
        out = self.out
        cond = out.name(rule.cond, "_P")
        out.add(1, f"if {gate}:")
        out.add(2, f"holds = bool({cond}(c, None, now))")
        if rule.bit:
            test = f"holds != (c.truth & {rule.bit!r} != 0)"
            if rule.mode == "each":
                test = f"holds or {test}"
        else:
            test = "holds"
        out.add(2, f"if {test}:")
        if rule.rank not in self.fired:
            out.add(3, "return ch")
            return
        # A plain rule on each rise (with a truth bit): it fires when the bit rises,
        # which the plan records only if nothing hands over; a fall needs no firing.
        out.add(3, "if holds:")
        out.add(4, f"fire += ({out.name(rule, '_R')},)")
        out.add(4, f"rise |= {rule.bit!r}")
        out.add(3, "else:")
        out.add(4, f"c.truth ^= {rule.bit!r}")
        self.fires = self.raises = True


def _write_next_wake(program: Program, out: _Source) -> None:
    """``_next_wake(c, now)``: :func:`engage.time.timers.next_wake` for this program's
    time atoms, written out (the class boundaries as constants, no loop over atoms)."""
    out.add(0, "# the next wake-up (engage.time.timers.next_wake, written out)")
    out.add(0, "def _next_wake(c, now):")
    out.add(1, "best = None")

    def keep(depth: int) -> None:
        out.add(depth, "if m is not None and (best is None or m < best):")
        out.add(depth + 1, "best = m")

    for atom in program.time_atoms:
        if atom.kind == "valuation":
            if not atom.breakpoints:
                continue
            out.add(1, "la = c.last_activity")
            out.add(1, "if la is not None and not _is_discarded(c):")
            depth = 2
            for window in atom.breakpoints:  # the class ends some condition tells apart
                out.add(depth, f"m = la + {_number(window)}")
                out.add(depth, "if m <= now:")
                depth += 1
            out.add(depth, "m = None")
            keep(2)
        elif atom.kind == "within":
            out.add(1, f"anchor = {out.name(atom.anchor, '_P')}(c, None, now)")
            out.add(1, "if anchor.__class__ is float:")
            out.add(2, f"m = anchor + {_number(atom.window)}")
            out.add(2, "if m > now and (best is None or m < best):")
            out.add(3, "best = m")
        elif atom.kind == "decay":
            decay = program.scores[atom.score].decay
            if decay is None:
                continue
            breakpoints = out.name(atom.breakpoints)
            stored = _stored(atom.score)
            out.add(1, f"m = {out.name(decay, '_D')}.next_crossing({stored}, now, {breakpoints})")
            keep(1)
        elif atom.kind == "rows":
            out.add(1, f"m = {out.name(atom.anchor, '_P')}(c, None, now)")
            keep(1)
        elif atom.kind == "window":
            out.add(1, "extra = c.extra")
            out.add(1, "if extra is not None:")
            out.add(2, f"windows = extra.get({WINDOWS!r})")
            out.add(2, "if windows:")
            length = _number(atom.window)
            counts = "None" if atom.counts is None else out.name(atom.counts)
            out.add(3, f"m = _next_expiry(windows.get({atom.atom!r}), {length}, now, {counts})")
            keep(3)
    out.add(1, "return best")
    out.add(0, "")


def build_plans(program: Program) -> tuple[dict[str, Plan], str, NextWake]:
    """A plan for every event type the program names (and one, under
    :data:`OTHER_TYPES`, for every other type), the program's next wake-up function
    (``next_wake(contact, now)``), and the whole generated source.

    Cost: one ``compile`` of a module for the program, when the engine is built.
    """
    namespace: dict[str, Any] = {
        "_FULL": FULL,
        "_MISSING": _MISSING,
        "_PROGRAM": program,
        "_isfinite": math.isfinite,
        "_whole": whole_as_int,
        "_allowed": allowed_points,
        "_window_count": window_count,
        "_record_window": record_window,
        "_is_discarded": is_discarded,
        "_class_of": class_of,
        "_is_disarmed": modes.is_disarmed,
        "_score_change_quiet": score_change_quiet,
        "_score_changes": score_changes,
        "_next_expiry": next_expiry,
    }
    out = _Source(namespace)
    fired = plan_fired(program)
    plans: dict[str, Plan] = {}
    types: list[str | None] = [t for t in program.plans if t not in UNPLANNED_TYPES]
    if BOUNCE not in program.plans:
        types.append(BOUNCE)  # a hard bounce needs the general path: a plan of its own
    types.append(None)
    for number, event_type in enumerate(types, 1):
        function = f"_plan{number}"
        first = len(out.lines)
        title = "other event types" if event_type is None else f"event type {event_type!r}"
        out.add(0, f"# {title}")
        on_rules = _PlanWriter(program, out, event_type, fired).write(function)
        source = "\n".join(out.lines[first:]) + "\n"
        key = OTHER_TYPES if event_type is None else event_type
        plans[key] = Plan(key, function, source, on_rules)
    _write_next_wake(program, out)
    source = "\n".join(out.lines) + "\n"
    filename = f"<engage-plans-{next(_program_ids)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    exec(compile(source, filename, "exec"), namespace)  # our source: user text only via repr()
    for plan in plans.values():
        plan.function = namespace[plan.name]
    return plans, source, namespace["_next_wake"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Final = _Missing()
