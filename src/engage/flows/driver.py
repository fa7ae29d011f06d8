"""The flow driver: moves one contact through its flows at one moment.

The engine calls :meth:`FlowDriver.advance` after a contact's cascade (an event, a
wake-up, a state action of a flow), when its segments are up to date. For each flow, in
written order, the driver:

1. carries out ``enter flow`` / ``exit flow`` actions the cascade asked for;
2. lets a contact inside leave: at ``to`` (``ended``), when the goal holds (``goal``;
   with ``continue`` it is counted once and the contact stays), when ``exit when``
   holds (``exit``);
3. runs the contact's steps from where it is until it must wait (a ``wait``, a
   ``wait until``, a send held by a policy) or the flow ends (``finished``); a step
   that changed the contact's state ends the pass, so that the engine brings segments
   and rules up to date before the next step reads them;
4. lets a member of the flow's segments that may enter, enter.

Everything it decides is in the contact's own state (:mod:`engage.flows.record`) and in
the clock: no other contact is read, so the same pass runs per key on a stream
processor. A pass costs one unpack of the contact's flow records (a few hundred
nanoseconds per flow) plus the steps it runs.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Container
from typing import Any, Final

from engage.actions import Action
from engage.explain import Cause
from engage.flows.record import FlowRecord, pack, unpack
from engage.flows.spec import (
    ACTION,
    BRANCH,
    END,
    JUMP,
    SPLIT,
    WAIT,
    WAIT_CLOCK,
    WAIT_UNTIL,
    FlowSpec,
)
from engage.program import Program
from engage.state.contact import Contact
from engage.state.writer import StateWriter
from engage.time.zones import DEFAULT_ZONE, next_clock, zone
from engage.triggers.executor import ActionExecutor

#: The time zone of a contact, or None when it names none.
ZoneOf = Callable[[Contact], str | None]

#: A split's cohorts are cut in ten-thousandths (0.01% steps).
_COHORT_SCALE: Final = 10_000


class Progress:
    """What one pass did: the actions it wrote, the flow events it made for rules
    (``(kind, flow, data)``), and whether the engine must run another pass after
    bringing the contact's segments up to date (a step changed its state)."""

    __slots__ = ("actions", "again", "made")

    def __init__(self) -> None:
        self.actions: list[Action] = []
        self.made: list[tuple[str, str, dict[str, Any]]] = []
        self.again = False

    def paused(self) -> bool:
        """Whether a step asked for the engine's cascade before the next one."""
        return self.again


class FlowDriver:
    """Moves contacts through the flows of one program (see the module docstring).

    Args:
        program: the program whose flows run; older versions come in ``retained``.
        writer: the state writer the cascade uses (flow actions change state through it).
        zone_of: the contact's own time zone (its ``timezone`` field), or None.
        current: the version number of each flow of ``program`` (1 when not given).
        retained: older versions contacts still run, by (name, version)
            (see :mod:`engage.flows.versions`).
        watches: whether some rule, segment or flow condition reads one of a set of
            changes (``Cascade.watches``); a step whose changes nothing reads (a send's
            history row, most often) does not pause the pass. None: every change pauses.
    """

    def __init__(
        self,
        program: Program,
        writer: StateWriter,
        zone_of: ZoneOf,
        current: dict[str, int] | None = None,
        retained: dict[tuple[str, int], FlowSpec] | None = None,
        watches: Callable[[dict[Any, Any]], bool] | None = None,
    ) -> None:
        self._watches = watches
        self.entry_mask = program.flow_entry_mask
        self._writer = writer
        self._executor = ActionExecutor(program, writer)
        #: The zone of ``wait until HH:MM`` for a contact that names none, in a flow
        #: that names none: the policy's, else UTC.
        self._default_zone = DEFAULT_ZONE if program.policy is None else program.policy.zone.key
        self._zone_of = zone_of
        self.flows = tuple(spec for spec in program.flows if not spec.retired)
        #: The version new entrants of each flow get.
        self.version = {spec.name: (current or {}).get(spec.name, 1) for spec in self.flows}
        #: Every version a contact may be running, by (name, version).
        self._versions: dict[tuple[str, int], FlowSpec] = dict(retained or {})
        for spec in self.flows:
            self._versions[spec.name, self.version[spec.name]] = spec
        self._current = {spec.name: spec for spec in self.flows}
        #: Each current flow's place in written order (records are kept in entry order).
        self._written = {spec.name: spec.order for spec in self.flows}
        #: The last ``Contact.flows`` value unpacked and its records (see :meth:`_records`).
        self._cached_blob: bytes | None = None
        self._cached_records: dict[str, FlowRecord] = {}

    @property
    def active(self) -> bool:
        return bool(self.flows)

    def concerns(self, contact: Contact) -> bool:
        """Whether a pass could do anything for ``contact`` (cheap: two tests)."""
        return (
            contact.flows is not None
            or contact.segs & self.entry_mask != 0
            or bool(self._writer.flow_requests)
        )

    def specs(self) -> dict[tuple[str, int], FlowSpec]:
        """Every flow version this driver runs, by (name, version): the current ones
        and the older ones contacts are still inside."""
        return dict(self._versions)

    def runnable(self) -> frozenset[tuple[str, int]]:
        """Every (flow, version) this driver can run."""
        return frozenset(self._versions)

    def _records(self, blob: bytes | None) -> dict[str, FlowRecord]:
        """The records of ``blob``, unpacked once for a pass and the wake-up that follows.

        The engine asks for a contact's records twice per moment: :meth:`advance`, then
        :meth:`next_wake` for the timer. The second asks for the very value the first
        packed, so the driver keeps the last value with its records and answers by
        identity (``bytes`` never change, and the reference kept keeps the value alive,
        so no other value can take its place). Saves one unpack, about a fifth of a
        flow step's cost, for one value and one dict held.
        """
        if blob is not None and blob is self._cached_blob:
            return self._cached_records
        return unpack(blob)

    def _remember(self, blob: bytes | None, records: dict[str, FlowRecord]) -> None:
        self._cached_blob = blob
        self._cached_records = records

    def spec_of(self, record: FlowRecord) -> FlowSpec | None:
        """The version of a flow a contact runs, or None when it is gone."""
        return self._versions.get((record.name, record.version))

    # -- one pass ---------------------------------------------------------------------

    def advance(self, contact: Contact, now: float, event_id: str | None) -> Progress:
        """One pass over the contact's flows at ``now`` (see the module docstring)."""
        progress = Progress()
        before = contact.flows
        records = self._records(before)
        self._remember(None, {})  # the records change below: no stale answer meanwhile
        requests = self._writer.flow_requests
        if requests:
            taken = [(verb, flow) for owner, verb, flow in requests if owner == contact.id]
            requests.clear()
            for verb, flow in taken:
                self._request(contact, records, verb, flow, now, event_id, progress)
        for name in self._in_written_order(records):
            record = records[name]
            if record.inside and not progress.paused():
                self._run(contact, record, now, event_id, progress)
        if not progress.paused() and contact.segs & self.entry_mask:
            for spec in self.flows:
                known = records.get(spec.name)
                if (known is None or not known.inside) and self._may_enter(
                    spec, known, contact, now
                )[0]:
                    record = self._enter(contact, spec, records, now, event_id, progress)
                    self._run(contact, record, now, event_id, progress)
                    if progress.paused():
                        break
        packed = pack(records)
        if packed != before:
            contact.flows = packed
        self._remember(contact.flows, records)
        return progress

    def _in_written_order(self, records: dict[str, FlowRecord]) -> list[str]:
        """The names of ``records`` in the flows' written order (the module docstring's
        promise), flows no longer in the rules last. ``records`` itself is in the order
        the contact first entered each flow, which is not the order rule authors read."""
        names = list(records)
        if len(names) > 1:
            last = len(self._written)
            names.sort(key=lambda name: self._written.get(name, last))
        return names

    def _request(
        self,
        contact: Contact,
        records: dict[str, FlowRecord],
        verb: str,
        flow: str,
        now: float,
        event_id: str | None,
        progress: Progress,
    ) -> None:
        """``enter flow`` ignores the segments and the re-entry wait, never the window
        or the rule of one running instance; ``exit flow`` leaves with ``exit``."""
        record = records.get(flow)
        if verb == "exit_flow":
            if record is not None and record.inside:
                leave(contact, record, "exit", now, event_id, progress)
            return
        spec = self._current.get(flow)
        if spec is None or (record is not None and record.inside):
            return
        if spec.start is not None and now < spec.start:
            return
        if spec.end is not None and now >= spec.end:
            return
        record = self._enter(contact, spec, records, now, event_id, progress)
        self._run(contact, record, now, event_id, progress)

    def _may_enter(
        self, spec: FlowSpec, record: FlowRecord | None, contact: Contact, now: float
    ) -> tuple[bool, float | None]:
        """Whether a member may enter ``spec`` now, and else when it may (or None)."""
        segs = contact.segs
        if not segs & spec.segment_mask or spec.retired:
            return False, None
        if spec.end is not None and now >= spec.end:
            return False, None
        if spec.exit_bit and segs & spec.exit_bit:
            return False, None
        when: float | None = None
        if record is not None:
            if spec.reenter_after is None:
                return False, None
            if spec.reenter_only == "converted" and not record.converted:
                return False, None
            if spec.reenter_only == "dismissed" and record.converted:
                return False, None
            when = record.since + spec.reenter_after
        if spec.start is not None and (when is None or spec.start > when):
            when = spec.start
        if when is not None and now < when:
            return False, when
        return True, None

    def _enter(
        self,
        contact: Contact,
        spec: FlowSpec,
        records: dict[str, FlowRecord],
        now: float,
        event_id: str | None,
        progress: Progress,
    ) -> FlowRecord:
        record = records.get(spec.name)
        if record is None:
            record = records[spec.name] = FlowRecord(spec.name)
        version = self.version[spec.name]
        record.enter(version, now)
        action = self._record(contact, spec, version, "enter_flow", now, event_id)
        progress.actions.append(action)
        progress.made.append(("enter", spec.name, {"flow": spec.name, "version": version}))
        return record

    def _record(
        self,
        contact: Contact,
        spec: FlowSpec,
        version: int,
        verb: str,
        now: float,
        event_id: str | None,
    ) -> Action:
        action = Action(now, contact.id, spec.rule, verb, [spec.name], event_id)
        action.version = version
        action.cause = Cause(spec.rule, event_id, condition=verb)
        return action

    # -- running steps ----------------------------------------------------------------

    def _run(
        self,
        contact: Contact,
        record: FlowRecord,
        now: float,
        event_id: str | None,
        progress: Progress,
    ) -> None:
        spec = self.spec_of(record)
        if spec is None:
            leave(contact, record, "removed", now, event_id, progress)
            return
        if spec.end is not None and now >= spec.end:
            leave(contact, record, "ended", now, event_id, progress)
            return
        segs = contact.segs
        if spec.goal_bit and segs & spec.goal_bit:
            if not spec.goal_continue:
                leave(contact, record, "goal", now, event_id, progress)
                return
            if not record.converted:
                record.converted = True
                version = record.version
                progress.actions.append(
                    self._record(contact, spec, version, "flow_goal", now, event_id)
                )
                progress.made.append(("goal", spec.name, {"flow": spec.name, "version": version}))
        if spec.exit_bit and segs & spec.exit_bit:
            leave(contact, record, "exit", now, event_id, progress)
            return
        instructions = spec.instructions
        writer = self._writer
        while True:
            step = instructions[record.pc]
            op = step.op
            if op == WAIT:
                assert step.seconds is not None
                due = record.since + step.seconds
                if now < due:
                    record.wake = due
                    return
                record.move(record.pc + 1, now)
            elif op == WAIT_UNTIL:
                if contact.segs & step.bit or (
                    step.seconds is not None and now >= record.since + step.seconds
                ):
                    record.move(record.pc + 1, now)
                else:
                    record.wake = None if step.seconds is None else record.since + step.seconds
                    return
            elif op == WAIT_CLOCK:
                zone_name = self._zone_of(contact) or spec.zone or self._default_zone
                due = next_clock(
                    record.since, zone(zone_name), step.minutes, weekdays=step.weekdays
                )
                if now < due:
                    record.wake = due
                    return
                record.move(record.pc + 1, now)
            elif op == BRANCH:
                taken = step.cond(contact, None, now)
                record.move(record.pc + 1 if taken else step.target, now)
            elif op == SPLIT:
                first = cohort(contact.id, spec.name, record.entries) < step.percent
                record.move(record.pc + 1 if first else step.target, now)
            elif op == JUMP:
                record.move(step.target, now)
            elif op == ACTION:
                if record.wake is not None and now < record.wake:
                    return  # its send is held: the step runs again when the hold ends
                if self._act(contact, record, spec, step, now, event_id, progress):
                    return  # held: the step runs again when the hold ends
                record.move(record.pc + 1, now)
                changes = writer.changes
                if writer.flow_requests or (
                    changes and (self._watches is None or self._watches(changes))
                ):
                    progress.again = True  # segments and rules first, then the next step
                    return
            elif op == END:
                leave(contact, record, "finished", now, event_id, progress)
                return

    def _act(
        self,
        contact: Contact,
        record: FlowRecord,
        spec: FlowSpec,
        step: Any,
        now: float,
        event_id: str | None,
        progress: Progress,
    ) -> bool:
        """Run an action step; True when its send is held (the flow waits)."""
        cause = Cause(spec.rule, event_id, condition=step.text)
        actions = self._executor.run(step.rule, contact, None, now, event_id, cause)
        for action in actions:
            action.step = step.path  # a send with a step is the flow's to hold, not the gate's
            action.version = record.version
        # Consent, unsubscribes, campaigns were screened as the action ran; caps and
        # quiet hours now (the flow's category rides in the send's options).
        self._executor.settle(contact, now)
        progress.actions.extend(actions)
        held = [a.held_until for a in actions if a.held_until is not None]
        if held:
            record.wake = min(held)
            return True
        return False

    # -- time -------------------------------------------------------------------------

    def next_wake(self, contact: Contact, now: float) -> float | None:
        """The next moment time alone moves the contact in a flow (a wait ends, a flow's
        ``to``, a re-entry or a ``from`` it waits for), or None."""
        best: float | None = None
        records = self._records(contact.flows)
        for record in records.values():
            if not record.inside:
                continue
            if record.wake is not None and (best is None or record.wake < best):
                best = record.wake
            spec = self.spec_of(record)
            if spec is not None and spec.end is not None and (best is None or spec.end < best):
                best = spec.end
        if contact.segs & self.entry_mask:
            for spec in self.flows:
                known = records.get(spec.name)
                if known is not None and known.inside:
                    continue
                when = self._may_enter(spec, known, contact, now)[1]
                if when is not None and (best is None or when < best):
                    best = when
        return best

    def leave_all(
        self, contact: Contact, reason: str, now: float, event_id: str | None
    ) -> list[Action]:
        """Take the contact out of every flow it is inside (a deletion)."""
        progress = Progress()
        records = self._records(contact.flows)
        self._remember(None, {})
        for name in self._in_written_order(records):
            record = records[name]
            if record.inside:
                leave(contact, record, reason, now, event_id, progress)
        contact.flows = pack(records)
        return progress.actions


def leave(
    contact: Contact,
    record: FlowRecord,
    reason: str,
    now: float,
    event_id: str | None,
    progress: Progress,
) -> None:
    """Take the contact out of ``record``'s flow: its ``exit_flow`` record, and the
    ``exit`` (and for a goal, ``goal``) events for rules."""
    version = record.version
    record.leave(reason, now)
    rule = f"flow:{record.name}"
    action = Action(now, contact.id, rule, "exit_flow", [record.name], event_id)
    action.options = {"reason": reason}
    action.version = version
    action.cause = Cause(rule, event_id, condition=reason)
    progress.actions.append(action)
    data = {"flow": record.name, "version": version, "reason": reason}
    if reason == "goal":
        progress.made.append(("goal", record.name, data))
    progress.made.append(("exit", record.name, data))


def leave_removed(
    contact: Contact, runnable: Container[tuple[str, int]], now: float
) -> list[Action]:
    """Take the contact out of every flow version it is inside that can no longer run
    (reason ``removed``): after a reload, before any event."""
    records = unpack(contact.flows)
    progress = Progress()
    for record in records.values():
        if record.inside and (record.name, record.version) not in runnable:
            leave(contact, record, "removed", now, None, progress)
    if progress.actions:
        contact.flows = pack(records)
    return progress.actions


def cohort(contact_id: str, flow: str, entry: int) -> float:
    """Where a contact's entry falls in [0, 100): the same for the same contact, flow
    and entry number on every machine and run (CRC-32, not Python's salted hash)."""
    key = f"{contact_id}\x00{flow}\x00{entry}".encode()
    return (zlib.crc32(key) % _COHORT_SCALE) * 100 / _COHORT_SCALE
