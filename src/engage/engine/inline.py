"""The inline path: events that only add plain points, applied without a change set.

Most events of a plain scoring file (``on email.open +1`` with threshold rules) change
one or two scores and cross no threshold. For those the full path's change set, net
changes and cascade round are pure overhead: the inline path adds the points in place,
with the bisection of :class:`~engage.triggers.thresholds.ThresholdIndex` breakpoints
telling whether any rule could change, and hands the contact to the cascade only then.

It applies only where that is sound: no time atoms and no recency classes (time changes
nothing), and no general rule or segment reading what such an event changes (its
scores, last activity, creation). :func:`inline_plans` decides per event type.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import Any, Final

from engage.actions import Action
from engage.dsl.symbols import NON_ACTIVITY_TYPES
from engage.engine.state import EngineState
from engage.events import DELETED, SUBSCRIPTION, TRACK, UNSUBSCRIBE, UPDATED, Event
from engage.index.score_index import SortedIndexes
from engage.program import Program
from engage.state.contact import Contact, put_score, score_of
from engage.state.writer import whole_as_int

#: Event types with built-in effects: always on the full path.
BUILTIN_TYPES: Final = frozenset({UPDATED, DELETED, UNSUBSCRIBE, SUBSCRIPTION, TRACK})

_Bisect = Callable[[list[float], float], int]
#: ``(score index, points, breakpoints, quiet down, first after)``: see :class:`InlinePlan`.
Delta = tuple[int, float, list[float] | None, bool, _Bisect]
#: ``crossed(contact, score index, old value, event, out)``: one score passed a breakpoint.
OnCrossed = Callable[[Contact, int, Any, Event, list[Action]], None]
#: ``crossed_many(contact, plan, event, out)``: a several-score type passed one.
OnCrossedMany = Callable[[Contact, "InlinePlan", Event, list[Action]], None]


class InlinePlan:
    """An event type the inline path can apply: plain points on inline scores."""

    __slots__ = ("creation_needs_rules", "deltas", "single")

    def __init__(self, deltas: tuple[Delta, ...], creation_needs_rules: bool) -> None:
        #: Per score the type moves: "Quiet down": the points are negative and the
        #: score's rules only fire on the way up, so only a first value (from empty) can
        #: fire anything. "First after": the bisection that finds the first breakpoint a
        #: move from ``low`` can pass: ``bisect_right`` when a score resting on a
        #: breakpoint holds there what it holds above (``score >= k``), else
        #: ``bisect_left``.
        self.deltas = deltas
        self.single = deltas[0] if len(deltas) == 1 else None
        self.creation_needs_rules = creation_needs_rules

    def crosses(self, contact: Contact) -> bool:
        """Whether applying the deltas to the contact's scores passes any breakpoint."""
        for index, delta, points, quiet_down, first_after in self.deltas:
            if not points:
                continue
            old = score_of(contact, index)
            if old is None:
                if points[0] <= delta:
                    return True
                continue
            if quiet_down:
                continue
            new = old + delta
            low, high = (old, new) if old <= new else (new, old)
            at_or_above = first_after(points, low)
            if at_or_above < len(points) and points[at_or_above] <= high:
                return True
        return False


def as_stored(total: float, old: Any) -> Any:
    """A float sum of points as :meth:`StateWriter.add_points` stores it: a whole number
    as an int (:func:`whole_as_int`), and an overflow not at all."""
    return whole_as_int(total) if math.isfinite(total) else old


#: The plan of event types that have no score lines: activity only.
_ACTIVITY_ONLY: Final = "\0activity"


def inline_plans(program: Program) -> dict[str, InlinePlan]:
    """Event types the inline path may apply, with their deltas and breakpoints (empty
    when the program reads anything such events change beyond threshold rules)."""
    if program.has_timers or program.valuation_watched:
        return {}
    general_keys = set(program.rule_deps) | set(program.segment_deps) | set(program.rearm_deps)
    if {("last_activity",), ("created",)} & general_keys:
        return {}
    creation_needs_rules = bool(program.empty_true_rules or program.empty_true_segments)
    plans: dict[str, InlinePlan] = {_ACTIVITY_ONLY: InlinePlan((), creation_needs_rules)}
    for event_type, plan in program.plans.items():
        if not plan.fast or event_type in NON_ACTIVITY_TYPES or event_type in BUILTIN_TYPES:
            continue
        deltas: list[Delta] = []
        usable = True
        for index, delta in plan.deltas:
            key = ("score", index)
            if key in general_keys or program.score_change_rules.get(index):
                usable = False
                break
            threshold = program.thresholds.get(index)
            points: list[float] | None = None
            quiet_down = False
            first_after: _Bisect = bisect_left
            if threshold is not None:
                points = list(threshold.points)
                if threshold.none_special:
                    # A first value for the score can change these rules wherever it lands.
                    points.insert(0, -math.inf)
                # Points taken away from a score whose rules only fire on the way up
                # pass breakpoints without firing anything: no hand-over needed.
                quiet_down = delta < 0 and threshold.rises_only
                first_after = bisect_right if threshold.points_belong_above else bisect_left
            deltas.append((index, delta, points, quiet_down, first_after))
        if usable and deltas:
            plans[event_type] = InlinePlan(tuple(deltas), creation_needs_rules)
    return plans


class InlinePath:
    """Applies admitted events of inline types in place (see the module docstring).

    Args:
        crossed: called after a single-score type's points passed a breakpoint (the
            points are applied; the score's threshold rules are what is left to run).
        crossed_many: called, before anything is applied, when a several-score type
            would pass one; it applies the points on the full path.
    """

    __slots__ = (
        "_contacts",
        "_crossed",
        "_crossed_many",
        "_indexes",
        "_score_count",
        "_skip_types",
        "_state",
        "activity_only",
        "handed_over",
        "plans",
    )

    def __init__(
        self,
        program: Program,
        state: EngineState,
        indexes: SortedIndexes,
        crossed: OnCrossed,
        crossed_many: OnCrossedMany,
    ) -> None:
        self.plans = inline_plans(program)
        self.activity_only = self.plans.get(_ACTIVITY_ONLY)
        self._skip_types = frozenset(program.plans) | BUILTIN_TYPES
        self._state = state
        #: The state's contact table (the state record is fixed for this path's life:
        #: a reload builds a new path).
        self._contacts = state.contacts
        self._indexes = indexes
        self._score_count = len(program.scores)
        self._crossed = crossed
        self._crossed_many = crossed_many
        #: Events applied here that were handed to the cascade (the events applied here
        #: are counted by the engine: every admitted event takes one path).
        self.handed_over = 0

    @property
    def active(self) -> bool:
        """Whether any event type can take the inline path."""
        return bool(self.plans)

    def apply(self, event: Event, out: list[Action]) -> bool:
        """Apply ``event`` (already admitted, the clock already at or past it) if its type
        takes the inline path; False (nothing done) when the full path must apply it.

        Cost: a dict lookup, a few slot writes, and one bisection per score with rules;
        the cascade only when a breakpoint is passed.
        """
        if event.data is not None:
            return False
        event_type = event.type
        plan = self.plans.get(event_type)
        if plan is None:
            if event_type in self._skip_types:
                return False
            plan = self.activity_only
            if plan is None:
                return False
        contacts = self._contacts
        contact_id = event.contact
        contact = contacts.get(contact_id)
        if contact is None and (
            plan.creation_needs_rules or contact_id in self._state.history.deleted_active
        ):
            return False  # the general path creates it (suspended, if deleted while active)
        state = self._state
        moment: float = event.at  # type: ignore[assignment]  # admitted: always set
        indexes = self._indexes
        if contact is None:
            contact = Contact(contact_id, moment, self._score_count)
            contacts[contact_id] = contact
            state.stats.contacts_created += 1
            if indexes.dirty is not None:
                indexes.mark(contact)
            contact.last_activity = moment
        else:
            if indexes.dirty is not None and contact not in indexes.dirty:
                indexes.mark(contact)
            if moment >= state.now:
                # No activity is later than the clock, so an event at the clock is
                # the contact's latest: no comparison needed.
                contact.last_activity = moment
            else:
                last = contact.last_activity
                if last is None or last < moment:
                    contact.last_activity = moment
        single = plan.single
        if single is not None:
            index, delta, points, quiet_down, first_after = single
            # score_of and put_score, written out: two calls would cost more per event
            # than the rest of this branch.
            old = contact.first_score if index == 0 else contact.more_scores[index - 1]
            new = delta if old is None else old + delta
            if new.__class__ is float:
                new = as_stored(new, old)
            if index == 0:
                contact.first_score = new
            else:
                contact.more_scores[index - 1] = new
            if points:
                if old is None:
                    if points[0] <= new:
                        self.handed_over += 1
                        self._crossed(contact, index, old, event, out)
                elif not quiet_down:
                    low, high = (old, new) if old <= new else (new, old)
                    at_or_above = first_after(points, low)
                    if at_or_above < len(points) and points[at_or_above] <= high:
                        self.handed_over += 1
                        self._crossed(contact, index, old, event, out)
        elif plan.crosses(contact):
            self.handed_over += 1
            self._crossed_many(contact, plan, event, out)
            return True
        else:
            for index, delta, *_ in plan.deltas:
                old = score_of(contact, index)
                new = delta if old is None else old + delta
                put_score(contact, index, as_stored(new, old) if new.__class__ is float else new)
        return True
