"""The flow stage of the engine: after a contact's cascade, its flows.

:class:`FlowPath` runs the :class:`~engage.flows.driver.FlowDriver` for the contact an
event or a wake-up just changed, then what the driver's steps caused: a cascade round
for the state they changed (so segments, rules and the flows' own conditions are up to
date before the next step reads them) and the ``on flow enter|exit|goal`` rules. It
repeats until a pass changes nothing. Cost for a contact in no flow and in no segment
a flow enters from: two tests.
"""

from __future__ import annotations

from typing import Final

from engage.actions import Action
from engage.engine.dispatch import Dispatcher
from engage.events import Event
from engage.flows.driver import FlowDriver
from engage.flows.spec import FlowSpec
from engage.policy.quiet import own_zone_name
from engage.program import Program
from engage.state.contact import Contact
from engage.state.writer import StateWriter
from engage.triggers.cascade import Cascade, Problem

#: Passes over one contact at one moment before the engine gives up (a flow of this
#: many state-changing steps in a row, or flows that enter each other in a circle).
MAX_PASSES: Final = 1000


def flow_path(
    program: Program,
    writer: StateWriter,
    cascade: Cascade,
    dispatcher: Dispatcher,
    problems: list[Problem],
    current: dict[str, int] | None = None,
    retained: dict[tuple[str, int], FlowSpec] | None = None,
) -> FlowPath | None:
    """The flow stage of ``program`` (its flows numbered ``current``, with the older
    versions ``retained``), or None when it has no flows."""
    if not program.flows and not retained:
        return None

    def zone_of(contact: Contact) -> str | None:
        return own_zone_name(contact, program)

    driver = FlowDriver(program, writer, zone_of, current, retained, cascade.watches)
    return FlowPath(program, writer, cascade, dispatcher, driver, problems)


class FlowPath:
    """Runs a contact's flows after its cascade (see the module docstring)."""

    __slots__ = ("_cascade", "_dispatcher", "_problems", "_program", "_writer", "driver")

    def __init__(
        self,
        program: Program,
        writer: StateWriter,
        cascade: Cascade,
        dispatcher: Dispatcher,
        driver: FlowDriver,
        problems: list[Problem],
    ) -> None:
        self._program = program
        self._writer = writer
        self._cascade = cascade
        self._dispatcher = dispatcher
        self._problems = problems
        self.driver = driver

    def after(self, contact: Contact, event_id: str | None, out: list[Action]) -> None:
        """Move ``contact`` through its flows at the writer's clock, to a fixpoint."""
        driver = self.driver
        if not driver.concerns(contact):
            return
        writer = self._writer
        cascade = self._cascade
        flow_rules = self._program.flow_rules
        now = writer.now
        for _ in range(MAX_PASSES):
            writer.changes = {}
            progress = driver.advance(contact, now, event_id)
            self._emit(progress.actions, out)
            changes = writer.changes
            if changes:
                if cascade.watches(changes):
                    self._emit(cascade.run(contact, None, event_id, event_type="flow.step"), out)
                else:
                    writer.changes = {}  # nothing reads them: a round would do nothing
            ran = False
            for kind, flow, data in progress.made:
                rules = flow_rules.get((kind, flow))
                if rules:
                    made = Event(contact.id, f"flow.{kind}", now, None, data)
                    writer.changes = {}
                    self._emit(cascade.run(contact, made, event_id, on_rules=rules), out)
                    ran = True
            # Another pass only when something may have moved since this one read the
            # contact: a step changed its state, a rule ran, or a flow was asked for. An
            # enter or exit that no rule listens to changes nothing a pass reads (a
            # re-entry after leaving is decided in the same pass), and skipping the pass
            # that would find nothing to do saves a third of a flow step's cost.
            if not (progress.again or ran or writer.flow_requests):
                return
        self._problems.append(
            Problem(
                "flow loop",
                contact.id,
                now,
                f"flows still moving after {MAX_PASSES} passes at one moment; stopped, "
                "the state reached kept",
            )
        )
        writer.flow_requests.clear()

    def _emit(self, actions: list[Action], out: list[Action]) -> None:
        if actions:
            out.extend(actions)
            self._dispatcher.dispatch(actions)
