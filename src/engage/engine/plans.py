"""The plan path: events applied by their type's generated plan.

:func:`engage.dsl.plans.build_plans` writes, for each event type, one function that
applies the type's effects in place and tells whether any rule or segment could move;
this module runs it for an admitted event and, when something could, continues with the
cascade exactly as the general path does (or, when the only units that move are plain
rules the plan fired, with the cascade's round for them). Events that create a contact,
carry updates (``contact.updated``), or have built-in effects take the general path.
"""

from __future__ import annotations

from collections.abc import Callable

from engage.actions import Action
from engage.dsl.plans import FULL, OTHER_TYPES, UNPLANNED_TYPES, Plan, build_plans
from engage.engine.dispatch import Dispatcher
from engage.engine.state import EngineState
from engage.events import Event
from engage.index.score_index import SortedIndexes
from engage.program import Program
from engage.state.contact import Contact
from engage.state.writer import StateWriter
from engage.triggers.cascade import Cascade


class PlanPath:
    """Applies admitted events through their type's plan (see the module docstring).

    Args:
        schedule: recomputes a contact's wake-up (called after each planned event
            when the program has time atoms).
    """

    __slots__ = (
        "_cascade",
        "_dispatcher",
        "_has_timers",
        "_indexes",
        "_other",
        "_schedule",
        "_state",
        "_writer",
        "applied",
        "fired",
        "handed_over",
        "next_wake",
        "plans",
        "source",
    )

    def __init__(
        self,
        program: Program,
        state: EngineState,
        writer: StateWriter,
        cascade: Cascade,
        indexes: SortedIndexes,
        dispatcher: Dispatcher,
        schedule: Callable[[Contact], None],
    ) -> None:
        self.plans, self.source, self.next_wake = build_plans(program)
        self._other = self.plans[OTHER_TYPES]
        self._state = state
        self._writer = writer
        self._cascade = cascade
        self._indexes = indexes
        self._dispatcher = dispatcher
        self._schedule = schedule
        self._has_timers = program.has_timers
        #: Events a plan applied; of those, the ones handed to the cascade and the ones
        #: whose plan fired rules itself.
        self.applied = 0
        self.handed_over = 0
        self.fired = 0

    def plan_for(self, event: Event) -> Plan | None:
        """The plan for an admitted event without updates, or None."""
        plan = self.plans.get(event.type)
        if plan is None and event.type not in UNPLANNED_TYPES:
            return self._other
        return plan

    def apply(self, plan: Plan, event: Event, out: list[Action]) -> bool:
        """Apply ``event`` through ``plan`` (the clock already at or past it); False,
        with nothing changed, when the general path must apply it instead.

        Cost: one generated call; when a rule fires, its plain actions
        (:meth:`Cascade.plan_round`), or the cascade when another unit could move.
        """
        state = self._state
        contact = state.contacts.get(event.contact)
        if contact is None:
            return False  # a first event: the general path knows creation
        now = state.now
        indexes = self._indexes
        if indexes.dirty is not None:
            indexes.mark(contact)
        changes = plan.function(contact, event, now, event.at)  # type: ignore[arg-type]
        if changes is FULL:
            return False
        self.applied += 1
        if changes is None:
            if self._has_timers:
                self._schedule(contact)
            return True
        writer = self._writer
        writer.now = now
        if changes.__class__ is tuple:
            self.fired += 1
            writer.changes = {}
            actions = self._cascade.plan_round(contact, event, *changes)
        else:
            self.handed_over += 1
            writer.changes = changes
            actions = self._cascade.run(contact, event, event.id, on_rules=plan.on_rules)
        if self._has_timers:
            self._schedule(contact)
        if actions:
            out.extend(actions)
            self._dispatcher.dispatch(actions)
        return True
