"""The engine: contacts' state, the clock, and the rules applied to a stream of events.

:class:`Engine` ties the owned parts together:

- :class:`~engage.engine.state.EngineState` — contacts, clock, dedupe window, counters;
- :class:`~engage.engine.journal.Journal` — the write-ahead log and its sequence;
- :class:`~engage.engine.admission.Admission` — the one way in for every record;
- :class:`~engage.engine.inline.InlinePath` — plain points applied in place;
- :class:`~engage.engine.plans.PlanPath` — every other event through its type's
  generated plan (:mod:`engage.dsl.plans`), the cascade only when a unit could move;
- :class:`~engage.engine.dispatch.Dispatcher` — handlers, outbox, failed actions;

and the parts derived from the program: the :class:`~engage.state.writer.StateWriter`
(built-in effects, score lines), the :class:`~engage.triggers.cascade.Cascade` (only
the rules whose inputs changed), the :class:`~engage.time.timers.TimerIndex` (wake-ups
exactly when time alone changes something), segment members and sorted indexes. A
reload swaps the program and rebuilds every derived part from the state; nothing
derived survives it. ``docs/architecture.md`` walks through an event's path.
"""

from __future__ import annotations

import math
import os
import traceback
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from engage import query
from engage.actions import Action
from engage.b2b.runtime import B2BRuntime
from engage.b2b.store import EntityStore
from engage.collector import gc_paused
from engage.dsl.symbols import NON_ACTIVITY_TYPES
from engage.engine.admission import Admission
from engage.engine.dispatch import Dispatcher, Handler
from engage.engine.flowpath import FlowPath, flow_path
from engage.engine.inline import InlinePath, InlinePlan
from engage.engine.journal import Journal
from engage.engine.plans import PlanPath
from engage.engine.records import Rejected, Stats
from engage.engine.reorder import Held, ReorderBuffer
from engage.engine.state import EngineState
from engage.errors import EventError
from engage.events import (
    BOUNCE,
    DELETED,
    ENTITY_KEYS,
    SUBSCRIPTION,
    TRACK,
    UNSUBSCRIBE,
    UPDATED,
    Event,
    Update,
    contact_updates,
    subscription_change,
    unsubscribe_entries,
)
from engage.flows.driver import leave_removed
from engage.flows.versions import assign as assign_versions
from engage.flows.versions import in_use as flows_in_use
from engage.history import batch as history_batch
from engage.history import channels as history_channels
from engage.history.rows import row_dict
from engage.history.rows import version as history_version
from engage.history.track import Mode, Outcome, track_many, track_request
from engage.history.track import track as track_row
from engage.index.score_index import SortedIndexes
from engage.program import Program, RuleSpec
from engage.query import QueryCache, QueryScope
from engage.rules import Rules
from engage.scoring.lines import apply_lines
from engage.state.contact import (
    ACTIVE,
    HELD,
    HISTORY,
    WINDOWS,
    Contact,
    put_score,
    record_flows,
    score_of,
)
from engage.state.dedupe import DEFAULT_CAPACITY
from engage.state.view import ContactView
from engage.state.writer import TRACKED_KEY, StateWriter
from engage.storage import snapshot
from engage.storage.state import (
    ReloadReport,
    event_record,
    held_events,
    install,
    pending_actions,
    snapshot_data,
    snapshot_header,
)
from engage.time.timers import TimerIndex
from engage.time.valuation import is_discarded
from engage.time.windows import count as window_count
from engage.time.windows import prune
from engage.time.windows import record as record_window
from engage.timeutil import DEFAULT_MAX_FUTURE, coerce_time, epoch_to_datetime, format_time
from engage.triggers.cascade import Cascade, Problem

__all__ = ["Engine", "Handler", "Rejected", "Stats"]


class Engine:
    """An incremental rules engine over contacts.

    Args:
        rules: compiled rules (:func:`engage.load` / :func:`engage.compile`).
        dedupe_window: how many recent event ids to remember for idempotency.
        max_contacts: refuse (as bad records) events that would create a contact past
            this many; None for no limit. A guard against a feed that floods the engine
            with made-up contact ids; settable later as :attr:`max_contacts`.
        max_out_of_order: how far out of order (seconds) a live feed may deliver
            events: they are held that long and applied in time order (a watermark;
            see :mod:`engage.engine.reorder`). None (the default): applied as they come.
        max_future: refuse (as bad records) events stamped more than this many seconds
            after the host's clock (default one day); None for simulations.
        readd_suspended: a contact deleted while active and added again comes back
            suspended (default, as emBlue does: a deletion is not undone by a
            re-import); False brings it back active. Settable later.
        channel_activity: record each channel's last action on the contact (the
            profile's channels). None (the default): when the rules use history
            features (a ``statuses`` block or a history condition); settable later.
    """

    def __init__(
        self,
        rules: Rules,
        *,
        dedupe_window: int = DEFAULT_CAPACITY,
        max_contacts: int | None = None,
        max_out_of_order: float | None = None,
        max_future: float | None = DEFAULT_MAX_FUTURE,
        readd_suspended: bool = True,
        channel_activity: bool | None = None,
    ) -> None:
        #: Whether a contact deleted while active comes back suspended when added again.
        self.readd_suspended = readd_suspended
        self._channel_option = channel_activity
        #: The engine's state record (read-only for hosts; see :mod:`engage.engine.state`).
        self.state = EngineState(dedupe_window)
        #: The write-ahead log, when durability is on (see :mod:`engage.storage.statedir`).
        self.journal = Journal()
        self._dispatcher = Dispatcher()
        #: What the last restore or reload changed (None for a fresh engine).
        self.reload_report: ReloadReport | None = None
        self._max_contacts = max_contacts
        self._max_future = max_future
        self._reorder = None if max_out_of_order is None else ReorderBuffer(max_out_of_order)
        self._derive(rules)

    def _derive(self, rules: Rules, flows_in_use: set[tuple[str, int]] | None = None) -> None:
        """Build every part that depends on the program, empty: the caller fills the
        derived structures from the state (:meth:`_rebuild_derived`) when there is one.

        ``flows_in_use``: the (flow, version) pairs contacts of the state to come are
        inside; older versions among them are compiled to run beside the rules.
        """
        self.rules = rules
        versions = assign_versions(rules, self.state.flow_versions, flows_in_use or set())
        program = self._program = versions.program
        state = self.state
        self._writer = StateWriter(program)
        self._members: list[set[str]] = [set() for _ in program.segments]
        self._cascade = Cascade(program, self._writer, self._members, state.problems)
        self._timers = TimerIndex()
        self._indexes = SortedIndexes()
        self._queries = QueryCache()
        self._admission = Admission(
            program, state, self.journal, self._max_contacts, self._max_future
        )
        self._inline = InlinePath(program, state, self._indexes, self._crossed, self._crossed_many)
        self._flows: FlowPath | None = flow_path(
            program,
            self._writer,
            self._cascade,
            self._dispatcher,
            state.problems,
            versions.current,
            versions.retained,
        )
        self._planned = PlanPath(
            program,
            state,
            self._writer,
            self._cascade,
            self._indexes,
            self._dispatcher,
            self._schedule,
            None if self._flows is None else self._flows.after,
        )
        self._decaying = tuple(score for score in program.scores if score.decay is not None)
        self._has_timers = program.has_timers
        #: Decides sends; it holds rule sends that contacts' wake-ups release.
        self._gate = self._cascade.executor.gate
        self._category_of = {name: c.category for name, c in program.campaigns.items()}
        self._channels = self._channel_option
        if self._channels is None:
            self._channels = program.reads_history or bool(
                program.statuses is not None and program.statuses.declared
            )
        self._writer.channels = bool(self._channels)
        self._full_applied = 0
        self._inline_applied = 0
        #: The inline path's apply, or None when no event type takes it (or when flows
        #: run: a flow reads what any event changes, so every event takes its plan).
        inline = self._inline.active and self._flows is None
        self._apply_inline = self._inline.apply if inline else None
        #: Accounts and leads (engine/b2b), None for rules that declare neither: then
        #: nothing below looks at them.
        self._b2b: B2BRuntime | None = None
        self.__dict__.pop("_wake", None)
        if program.b2b is not None:
            self._b2b = B2BRuntime(
                program.b2b, self._dispatcher.dispatch, self._reject_admitted, self._b2b_problem
            )
            # Every event on the full path, every wake-up read before and after: the
            # contact's delta is what the accounts are kept from.
            self._apply_inline = None
            self._wake = self._wake_b2b  # type: ignore[method-assign]

    # -- reading ----------------------------------------------------------------------

    @property
    def program(self) -> Program:
        return self._program

    @property
    def max_contacts(self) -> int | None:
        """The contact limit (None: none); records past it are rejected."""
        return self._max_contacts

    @max_contacts.setter
    def max_contacts(self, limit: int | None) -> None:
        self._max_contacts = limit
        self._admission.max_contacts = limit

    @property
    def channel_activity(self) -> bool:
        """Whether each channel's last action is recorded on the contact."""
        return bool(self._channels)

    @channel_activity.setter
    def channel_activity(self, on: bool) -> None:
        self._channel_option = self._channels = on
        self._writer.channels = on

    @property
    def max_future(self) -> float | None:
        """How far after the host's clock an event time may be (None: no limit)."""
        return self._max_future

    @max_future.setter
    def max_future(self, seconds: float | None) -> None:
        self._max_future = seconds
        self._admission.max_future = seconds

    @property
    def max_out_of_order(self) -> float | None:
        """The reorder bound in seconds (None: events are applied as they come)."""
        return None if self._reorder is None else self._reorder.bound

    @max_out_of_order.setter
    def max_out_of_order(self, seconds: float | None) -> None:
        if self._reorder is not None and len(self._reorder):
            raise ValueError("events are held: flush() them before changing the bound")
        self._reorder = None if seconds is None else ReorderBuffer(seconds)

    @property
    def held(self) -> int:
        """How many events the reorder buffer holds (waiting for the watermark)."""
        return 0 if self._reorder is None else len(self._reorder)

    @property
    def stats(self) -> Stats:
        return self.state.stats

    @property
    def rejected(self) -> list[Rejected]:
        """Records that were not accepted, with their reason (a host may clear it)."""
        return self.state.rejected

    @property
    def problems(self) -> list[Problem]:
        """What went wrong while running rules: loops cut short, internal errors."""
        return self.state.problems

    @property
    def outbox(self) -> list[Action]:
        """Outside actions emitted since the last :meth:`drain_outbox`."""
        return self._dispatcher.outbox

    @property
    def failed(self) -> list[Action]:
        """Actions whose handler raised (see :meth:`retry_failed`)."""
        return self._dispatcher.failed

    @property
    def clock(self) -> datetime | None:
        """The engine's clock: the latest event time seen or advanced to."""
        return epoch_to_datetime(self.state.now) if self.state.started else None

    @property
    def now(self) -> float | None:
        """The clock in epoch seconds, or None before the first event."""
        return self.state.now if self.state.started else None

    @property
    def position(self) -> int:
        """How many records this engine has been given (accepted or not)."""
        return self.state.position

    @property
    def inline_types(self) -> frozenset[str]:
        """The event types the inline path applies (see :mod:`engage.engine.inline`)."""
        return frozenset(self._inline.plans)

    def flow_specs(self) -> dict[tuple[str, int], Any]:
        """Every flow version the engine runs, by (name, version) — the current ones and
        older ones contacts are still inside (``engage.flows.spec.FlowSpec``)."""
        return {} if self._flows is None else self._flows.driver.specs()

    def flow_versions(self) -> dict[str, int]:
        """The version new entrants of each flow get, by flow name."""
        return {} if self._flows is None else dict(self._flows.driver.version)

    def path_counts(self) -> dict[str, int]:
        """How many admitted events each path applied since this program was loaded:
        ``inline`` (of which ``handed_over`` reached the cascade), ``plan`` (their
        type's generated plan; of which ``plan_handed_over`` ran the cascade and
        ``plan_fired`` fired plain rules without it) and ``full``."""
        inline = self._inline
        planned = self._planned
        return {
            "inline": self._inline_applied,
            "handed_over": inline.handed_over,
            "plan": planned.applied,
            "plan_handed_over": planned.handed_over,
            "plan_fired": planned.fired,
            "full": self._full_applied,
        }

    @property
    def entities(self) -> EntityStore | None:
        """Accounts and leads (read-only for hosts), or None when the rules declare
        neither (see docs/accounts.md)."""
        return None if self._b2b is None else self._b2b.store

    @property
    def plan_source(self) -> str:
        """The generated source of the event plans (see :mod:`engage.dsl.plans`)."""
        return self._planned.source

    def __len__(self) -> int:
        return len(self.state.contacts)

    def __contains__(self, contact_id: object) -> bool:
        return contact_id in self.state.contacts

    def contact_ids(self) -> list[str]:
        """Every contact id, sorted."""
        return sorted(self.state.contacts)

    def contact(self, contact_id: str) -> ContactView | None:
        """A read-only view of one contact at the clock, or None."""
        contact = self.state.contacts.get(contact_id)
        if contact is None:
            return None
        return ContactView(self._program, contact, self.state.clock_or_zero())

    def contacts(self) -> Iterator[ContactView]:
        """Views of every contact, in contact-id order."""
        now = self.state.clock_or_zero()
        contacts = self.state.contacts
        for contact_id in sorted(contacts):
            yield ContactView(self._program, contacts[contact_id], now)

    def dump(self) -> Iterator[dict[str, Any]]:
        """The state of every contact as the ``--dump`` JSON objects, in id order."""
        for view in self.contacts():
            yield view.to_dict()

    def deleted_history(self, contact_id: str) -> list[dict[str, Any]]:
        """The history rows of a deleted contact (kept when the contact is removed), as
        :attr:`ContactView.history <engage.state.view.ContactView.history>` shows rows."""
        rows = self.state.deleted_history.get(contact_id, ())
        return [row_dict(row, format_time) for row in history_batch.readable_rows(rows)]

    # -- history --------------------------------------------------------------------

    def _track_request(
        self, event: Event, creating: bool
    ) -> tuple[str, str | None, str | None, str | None, Mode] | None:
        """A ``history.track`` event's request, or None when it is a bad record (kept
        in :attr:`rejected` with its reason) or asks to update a contact not known."""
        try:
            request = track_request(event.data, self._program.statuses)
        except EventError as exc:
            self.state.reject(event_record(event), str(exc), None)
            return None
        if creating and request[4] == "update":
            reason = f"no contact {event.contact!r} to update (mode update creates no row)"
            self.state.reject(event_record(event), reason, None)
            return None
        return request

    def track(
        self,
        contact_id: str,
        status: str,
        *,
        campaign: str | None = None,
        offer: str | None = None,
        channel: str | None = None,
        mode: Mode = "both",
    ) -> Outcome:
        """Track ``status`` on one contact's history at the clock, as a rule's ``track``
        does (see :mod:`engage.history.track`), running the rules it changes; returns
        what it did. An unknown contact is created only in a mode that creates (else
        ``"no row"``). Not journaled: a feed sends ``history.track`` events, a batch
        uses :meth:`track_batch`.

        Cost: the walk back over the contact's rows, plus the cascade when a rule reads
        the history.
        """
        out: list[Action] = []
        now = self.state.clock_or_zero()
        status = self._program.statuses.canonical(status)
        outcome = self._track_one(contact_id, status, campaign, offer, channel, mode, now, out)
        self.state.stats.actions += len(out)
        return outcome

    def _track_one(
        self,
        contact_id: str,
        status: str,
        campaign: str | None,
        offer: str | None,
        channel: str | None,
        mode: Mode,
        at: float,
        out: list[Action],
    ) -> Outcome:
        """Track one contact at ``at`` (``status`` already in its declared spelling),
        then run the rules the change reaches, at the clock."""
        state = self.state
        contact = state.contacts.get(contact_id)
        if contact is None and mode == "update":
            return "no row"
        writer = self._writer
        writer.now = now = state.clock_or_zero()
        writer.changes = {}
        creating = contact is None
        if contact is None:
            contact = Contact(contact_id, now, len(self._program.scores))
            state.contacts[contact_id] = contact
            state.stats.contacts_created += 1
            writer.changes[("created",)] = None
            if self.readd_suspended and contact_id in state.history.deleted_active:
                writer.suspend(contact)
        if self._indexes.dirty is not None:
            self._indexes.mark(contact)
        writer.changes[TRACKED_KEY] = history_version(contact)
        outcome = track_row(contact, status, at, campaign, offer, channel, mode)
        if outcome in ("unchanged", "no row") and not creating:
            writer.changes = {}
            return outcome
        actions = self._cascade.run(contact, None, None, creating=creating, event_type=TRACK)
        if self._has_timers:
            self._schedule(contact)
        if actions:
            out.extend(actions)
            self._dispatcher.dispatch(actions)
        return outcome

    def apply_tracking(
        self,
        ids: Iterable[str],
        status: str,
        campaign: str | None,
        offer: str | None,
        mode: Mode,
        at: float,
        out: list[Action],
    ) -> dict[str, Any]:
        """Track ``status`` on each contact of ``ids`` at ``at`` (the primitive of
        :meth:`track_batch` and of its replay; ``status`` in its declared spelling).
        Returns the counts per outcome and the ids with no contact (``unknown``).

        Cost per id: a dictionary lookup and the walk back over its rows when no rule
        reads the history (nothing else can change); otherwise also the cascade for
        each contact whose rows changed.
        """
        counts: dict[str, Any] = {"updated": 0, "created": 0, "unchanged": 0, "no row": 0}
        unknown: list[str] = []
        contacts = self.state.contacts
        one = self._track_one
        if self._program.reads_history:
            # A rule may see the change: each contact through the cascade.
            for contact_id in ids:
                if contact_id not in contacts:
                    unknown.append(contact_id)
                    if mode == "update":
                        continue
                outcome = one(contact_id, status, campaign, offer, None, mode, at, out)
                counts[outcome] += 1
        else:
            unknown = track_many(contacts, ids, status, at, campaign, offer, None, mode, counts)
            if mode != "update":
                for contact_id in unknown:
                    outcome = one(contact_id, status, campaign, offer, None, mode, at, out)
                    counts[outcome] += 1
        counts["unknown"] = unknown
        self.state.stats.actions += len(out)
        return counts

    def track_batch(self, batch: history_batch.Batch) -> history_batch.BatchResult:
        """Apply a batch of tracking (``engage track``): see :mod:`engage.history.batch`
        for its modes, ``others``, unknown ids and why applying it twice changes nothing
        the second time. Journaled as one entry per chunk of ids when a log is attached.

        Cost: O(ids) dictionary work; the cascade only for contacts whose rows changed
        and only when a rule reads the history.
        """
        return history_batch.apply(self, batch)

    def check_invariants(self) -> None:
        """Assert that every derived structure agrees with the state (O(n log n)).

        Segment members equal the contacts whose segment bit is set, the discarded set
        equals the discarded contacts, every sorted index holds each contact's current
        keys, and the timer wheel holds each contact's wake-up.
        """
        contacts = self.state.contacts
        for segment, members in zip(self._program.segments, self._members, strict=True):
            expected = {cid for cid, c in contacts.items() if c.segs & segment.bit}
            assert members == expected, f"segment {segment.name!r}: members drifted"
        discarded = {cid for cid, c in contacts.items() if is_discarded(c)}
        assert self._writer.discarded == discarded, "the discarded set drifted"
        self._indexes.sync(contacts)
        self._indexes.check(contacts)
        self._timers.check(contacts)
        if self._b2b is not None:
            self._b2b.store.check(contacts, self.state.clock_or_zero())

    # -- handlers and outbox ------------------------------------------------------------

    def on(self, verb: str, handler: Handler) -> None:
        """Call ``handler(action)`` for every outside action with this verb (``"*"``: all).

        Handlers run after the event's cascade is over, in action order. A handler that
        raises marks the action failed (``action.status``), keeps it in ``engine.failed``
        for :meth:`retry_failed`, and the stream goes on.
        """
        self._dispatcher.on(verb, handler)

    def drain_outbox(self) -> list[Action]:
        """The outside actions emitted since the last drain (and forget them)."""
        return self._dispatcher.drain()

    def retry_failed(self) -> list[Action]:
        """Call the handlers again for failed actions; returns those that failed again.

        Only the handler that raised and those after it are called: a handler that
        already took the action does not get it twice, across reloads too. (After a
        restore, where that is not known, every handler of the verb is called.)
        """
        return self._dispatcher.retry()

    # -- events -------------------------------------------------------------------------

    def ingest(self, event: Any) -> list[Action]:
        """Apply one event; returns the actions it caused (timers due before it included)."""
        out: list[Action] = []
        self._ingest((event,), out)
        self.state.stats.actions += len(out)
        return out

    def ingest_many(self, events: Iterable[Any]) -> list[Action]:
        """Apply events in order; returns every action caused, in order.

        Bad records are counted and kept in :attr:`rejected` with their reason; they
        never stop the stream. The same as :meth:`ingest` of each record in turn, at
        less cost per record (the loop's names are looked up once).
        """
        out: list[Action] = []
        self._ingest(events, out)
        self.state.stats.actions += len(out)
        return out

    def _ingest(self, records: Iterable[Any], out: list[Action]) -> None:
        """Every record through admission, then its event through the clock and the
        inline path, its type's plan or the full path (see docs/architecture.md)."""
        state = self.state
        admission = self._admission
        if self._reorder is not None:
            for event in admission.stream(records):
                self._through_reorder(event, out)
            return
        if self._b2b is not None:
            self._ingest_b2b(records, out)
            return
        apply_inline = self._apply_inline
        move_clock = self._move_clock
        apply_guarded = self._apply_guarded
        # Without timers or decaying scores, moving the clock is setting it.
        clock_is_plain = not (self._has_timers or self._decaying)
        inline_applied = 0
        channels = self._channels
        contacts = state.contacts
        record_channel = history_channels.record
        for event in admission.stream(records):
            moment: float = event.at  # type: ignore[assignment]  # admitted: always set
            if moment > state.now:
                if clock_is_plain:
                    state.now = moment
                else:
                    move_clock(moment, out)
            updates = admission.updates
            if updates is not None or apply_inline is None or not apply_inline(event, out):
                apply_guarded(event, updates, out)
            else:
                inline_applied += 1
            if channels:
                record_channel(contacts.get(event.contact), event.type, moment)
        self._inline_applied += inline_applied

    def replay_entry(self, frame: dict[str, Any]) -> list[Action]:
        """Apply one write-ahead log entry exactly as it was applied the first time
        (its record position, then the record, the clock move or the tracking batch)."""
        if "e" in frame:
            self.state.position = int(frame.get("p", self.state.position + 1)) - 1
            actions = self.ingest(frame["e"])
        elif "a" in frame:
            actions = self.advance(frame["a"])
        elif history_batch.FRAME_KEY in frame:
            actions = history_batch.replay(self, frame[history_batch.FRAME_KEY])
        else:
            actions = []
        self.journal.seq = int(frame["n"])
        return actions

    def _crossed(
        self, contact: Contact, index: int, old: Any, event: Event, out: list[Action]
    ) -> None:
        """An inline event moved score ``index`` from ``old`` past a breakpoint.

        The points are applied already (on an inline score no clamp or decay can change
        them); the score's threshold rules are what is left to run.
        """
        writer = self._writer
        writer.now = self.state.now
        if writer.changes:
            writer.changes = {}
        actions = self._cascade.score_round(contact, index, old, event.id, event.type)
        if actions:
            out.extend(actions)
            self._dispatcher.dispatch(actions)

    def _crossed_many(
        self, contact: Contact, plan: InlinePlan, event: Event, out: list[Action]
    ) -> None:
        """An inline event that moves several scores passes a breakpoint: apply its
        points on the full path."""
        writer = self._writer
        writer.now = self.state.now
        writer.changes = {}
        for index, delta, *_ in plan.deltas:
            writer.add_points(contact, index, delta)
        actions = self._cascade.run(contact, None, event.id, event_type=event.type)
        if actions:
            out.extend(actions)
            self._dispatcher.dispatch(actions)

    def _through_reorder(self, event: Event, out: list[Action]) -> None:
        """An admitted event into the reorder buffer (or, past the watermark, applied at
        once), then whatever the watermark releases."""
        reorder = self._reorder
        assert reorder is not None
        moment: float = event.at  # type: ignore[assignment]  # admitted: always set
        latest = reorder.latest
        if moment < latest - reorder.bound:
            # Overtaken by the watermark: late, applied at the clock as ever.
            self._apply_admitted(event, self._admission.updates, out)
        else:
            if moment < latest:
                self.state.stats.reordered += 1
            reorder.hold(event, None)
        released = reorder.release()
        if released:
            self._apply_released(released, out)

    def flush(self) -> list[Action]:
        """Apply every event the reorder buffer holds, in time order (the end of a
        stream: nothing older can come any more)."""
        out: list[Action] = []
        self._release(math.inf, out)
        self.state.stats.actions += len(out)
        return out

    def _release(self, until: float | None, out: list[Action]) -> None:
        """Apply the held events the watermark (or ``until``) passed, earliest first.
        A ``contact.updated`` is validated again against the program now running."""
        if self._reorder is not None:
            self._apply_released(self._reorder.release(until), out)

    def _apply_released(self, released: list[Held], out: list[Action]) -> None:
        for _, _, event, _ in released:
            updates = None
            if event.type == UPDATED:
                try:
                    updates = contact_updates(event.data, self._program)
                except EventError as exc:
                    self.state.reject(event_record(event), str(exc), None)
                    continue
            self._apply_admitted(event, updates, out)

    def _apply_admitted(
        self, event: Event, updates: list[Update] | None, out: list[Action]
    ) -> None:
        """One admitted event: the clock, then the inline path, its plan or the full path
        (what :meth:`_ingest`'s loop does with its names at hand)."""
        moment: float = event.at  # type: ignore[assignment]  # admitted: always set
        if moment > self.state.now:
            self._move_clock(moment, out)
        if self._b2b is not None:
            self._apply_b2b(event, updates, out)
            return
        apply_inline = self._apply_inline
        if updates is None and apply_inline is not None and apply_inline(event, out):
            self._inline_applied += 1
        else:
            self._apply_guarded(event, updates, out)
        if self._channels:
            history_channels.record(self.state.contacts.get(event.contact), event.type, moment)

    def _ingest_b2b(self, records: Iterable[Any], out: list[Action]) -> None:
        """The loop of :meth:`_ingest` for rules with accounts or leads: what
        :meth:`_apply_b2b` does per event, with its names looked up once."""
        b2b = self._b2b
        assert b2b is not None
        state = self.state
        admission = self._admission
        contacts = state.contacts
        store = b2b.store
        read = b2b.read
        settle = b2b.settle
        move_clock = self._move_clock
        apply_guarded = self._apply_guarded
        lead_decay = b2b.lead_decay
        for event in admission.stream(records):
            moment: float = event.at  # type: ignore[assignment]  # admitted: always set
            if moment > state.now:
                move_clock(moment, out)
            now = state.now
            if lead_decay:
                store.move_clock(now)
            if event.type in ENTITY_KEYS:
                b2b.entity_event(event, now, out)
                continue
            contact = contacts.get(event.contact)
            before = None if contact is None else read(contact, now)
            apply_guarded(event, admission.updates, out)
            settle(event.contact, before, contacts.get(event.contact), event, now, out)

    def _apply_b2b(self, event: Event, updates: list[Update] | None, out: list[Action]) -> None:
        """An event of rules with accounts or leads: an account or lead record to the
        store; a contact's event read before and after, its delta settled."""
        b2b = self._b2b
        assert b2b is not None
        state = self.state
        if b2b.lead_decay:
            b2b.store.move_clock(state.now)
        if event.type in ENTITY_KEYS:
            b2b.entity_event(event, state.now, out)
            return
        contacts = state.contacts
        contact = contacts.get(event.contact)
        before = None if contact is None else b2b.read(contact, state.now)
        self._apply_guarded(event, updates, out)
        b2b.settle(event.contact, before, contacts.get(event.contact), event, state.now, out)

    def _wake_b2b(self, contact: Contact, moment: float, out: list[Action]) -> None:
        """A wake-up, read before and after for the contact's account (segments and
        conditions that time moves can change a roll-up's ``where``)."""
        b2b = self._b2b
        assert b2b is not None
        before = b2b.reading(contact, self.state.now)
        Engine._wake(self, contact, moment, out)
        b2b.settle(contact.id, before, contact, None, self.state.now, out)

    def _b2b_problem(self, key: str, message: str) -> None:
        """An internal error of the accounts-and-leads stage, kept as a problem."""
        self.state.problems.append(
            Problem(
                "internal error", key, self.state.now, f"{message}\n{traceback.format_exc(limit=6)}"
            )
        )

    def _reject_admitted(self, event: Event, reason: str) -> None:
        """An admitted record that its stage refused (a bad account or lead value)."""
        self.state.reject(event_record(event), reason, self.state.position)

    def _apply_guarded(self, event: Event, updates: list[Update] | None, out: list[Action]) -> None:
        """An event through its type's plan when it has one, else the full path."""
        planned = self._planned
        plan = planned.plan_for(event) if updates is None else None
        try:
            if plan is None or not planned.apply(plan, event, out):
                self._full_applied += 1
                self._apply(event, updates, out)
        except Exception as exc:  # an engine bug must not lose the stream
            self.state.problems.append(
                Problem(
                    "internal error",
                    event.contact,
                    self.state.now,
                    f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}",
                )
            )
            self._writer.changes = {}

    def _apply(self, event: Event, updates: list[Update] | None, out: list[Action]) -> None:
        program = self._program
        writer = self._writer
        state = self.state
        now = state.now
        moment: float = event.at  # type: ignore[assignment]  # admitted: always set
        writer.now = now
        writer.changes = {}
        contacts = state.contacts
        contact = contacts.get(event.contact)
        creating = contact is None
        if event.type == DELETED:
            if contact is not None:
                self._delete(contact, event, out)
            return
        tracked = None
        if event.type == TRACK:
            tracked = self._track_request(event, contact is None)
            if tracked is None:
                return
        if contact is None:
            contact = Contact(event.contact, moment, len(program.scores))
            contacts[event.contact] = contact
            state.stats.contacts_created += 1
            writer.changes[("created",)] = None
            if self.readd_suspended and event.contact in state.history.deleted_active:
                writer.suspend(contact)
        if self._indexes.dirty is not None:
            self._indexes.mark(contact)
        if updates:
            self._apply_updates(contact, updates)
        if tracked is not None:
            writer.track(contact, *tracked)
        if event.type == UNSUBSCRIBE:
            self._unsubscribe(contact, event)
        elif event.type == SUBSCRIPTION:
            self._subscription(contact, event)
        elif event.type == BOUNCE and event.data and event.data.get("kind") == "hard":
            writer.hard_bounce(contact)
        if event.type not in NON_ACTIVITY_TYPES:
            writer.activity(contact, moment)
        plan = program.plans.get(event.type)
        on_rules: tuple[RuleSpec, ...] = ()
        if plan is not None:
            for atom in plan.history:
                if atom.where is None or atom.where(contact, event, now):
                    windows = contact.extra.get(WINDOWS, {}) if contact.extra else {}
                    before = window_count(windows.get(atom.id), atom.window, now)
                    record_window(contact, atom.id, moment, atom.window, now)
                    writer.changes.setdefault(atom.key, before)
            if plan.lines:
                apply_lines(writer, contact, plan.lines, event, now)
            on_rules = plan.on_rules
        actions = self._cascade.run(contact, event, event.id, creating=creating, on_rules=on_rules)
        if actions:
            out.extend(actions)
            self._dispatcher.dispatch(actions)
        if self._flows is not None:
            self._flows.after(contact, event.id, out)
        if self._has_timers:
            self._schedule(contact)

    def _unsubscribe(self, contact: Contact, event: Event) -> None:
        """An ``unsubscribe`` event: every scope its data names (campaign, category,
        both, or everything; on its channel or on every channel)."""
        for scope, name, channel in unsubscribe_entries(event.data, self._category_of):
            self._writer.unsubscribe(contact, scope, name, channel)

    def _subscription(self, contact: Contact, event: Event) -> None:
        """A ``subscription`` event (a preference centre): join or leave one list."""
        list_name, subscribed = subscription_change(event.data)
        if subscribed:
            self._writer.subscribe_list(contact, list_name)
        else:
            self._writer.unsubscribe_list(contact, list_name)

    def _apply_updates(self, contact: Contact, updates: list[Update]) -> None:
        writer = self._writer
        for kind, target, value in updates:
            if kind == "field":
                writer.set_field(contact, target, value)
            elif kind == "score":
                writer.set_score(contact, target, value)
            elif kind == "consent":
                writer.set_consent(contact, target, value)
            elif kind == "tag":
                writer.add_tag(contact, target)
            elif kind == "group":
                writer.add_group(contact, target)
            elif kind == "status":
                writer.set_status(contact, value)
            else:
                writer.set_undeclared(contact, target, value)

    def _delete(self, contact: Contact, event: Event, out: list[Action]) -> None:
        plan = self._program.plans.get(DELETED)
        if plan is not None and plan.on_rules:
            actions = self._cascade.run(contact, event, event.id, on_rules=plan.on_rules)
            out.extend(actions)
            self._dispatcher.dispatch(actions)
        if self._flows is not None and contact.flows is not None:
            out.extend(self._flows.driver.leave_all(contact, "deleted", self.state.now, event.id))
        state = self.state
        self._indexes.mark(contact)
        history = contact.get_extra(HISTORY)
        if history:
            state.deleted_history.setdefault(contact.id, []).extend(history)
        if contact.status == ACTIVE:
            state.history.deleted_active.add(contact.id)
        for index, members in enumerate(self._members):
            if contact.segs >> index & 1:
                members.discard(contact.id)
        del state.contacts[contact.id]
        self._writer.discarded.discard(contact.id)
        contact.wake = None
        state.stats.deleted += 1

    # -- time -------------------------------------------------------------------------

    def advance(self, when: datetime | float | int | str) -> list[Action]:
        """Move the clock forward to ``when``; fires every timer due by then, in order.

        A time at or before the clock changes nothing (the clock never goes back).
        """
        moment = coerce_time(when)
        out: list[Action] = []
        if moment > self.state.now:
            self.journal.advance(moment)
            self._release(moment, out)
            self._move_clock(moment, out)
        self.state.stats.actions += len(out)
        return out

    def _move_clock(self, moment: float, out: list[Action]) -> None:
        """Fire wake-ups due at or before ``moment`` in time order, then set the clock.

        Cost without timers or decaying scores: two attribute tests.
        """
        if self._has_timers:
            timers = self._timers
            contacts = self.state.contacts
            next_moment = timers.next_moment()
            if next_moment is not None and next_moment <= moment:
                for due, contact in timers.pop_due_with_time(moment, contacts):
                    self._wake(contact, due, out)
                timers.compact(contacts)
        self.state.now = moment
        if self._decaying:
            self._rebase_decay(moment)

    def _wake(self, contact: Contact, moment: float, out: list[Action]) -> None:
        state = self.state
        if moment > state.now:  # noqa: PLR1730 - max() is a call: 2% of a clock tick
            state.now = moment
        writer = self._writer
        writer.now = state.now
        writer.changes = {}
        if self._indexes.dirty is not None:
            self._indexes.mark(contact)
        extra = contact.extra
        if extra is not None and WINDOWS in extra:
            windows = extra[WINDOWS]
            for atom in self._program.history_atoms:
                times = windows.get(atom.id)
                if times:
                    prune(times, atom.window, state.now)
        if extra is not None and HELD in extra:
            self._release_held(contact, out)
        actions = self._cascade.wake(contact)
        if actions:
            out.extend(actions)
            self._dispatcher.dispatch(actions)
        if self._flows is not None:
            self._flows.after(contact, None, out)
        self._schedule(contact)

    def _release_held(self, contact: Contact, out: list[Action]) -> None:
        """A wake-up of a contact with held rule sends: those due now are decided again
        and written as new actions (dispatched when they go out)."""
        released = self._gate.release(contact, self.state.now)
        if released:
            executor = self._cascade.executor
            self._writer.now = self.state.now
            for action in released:
                executor.went_out(contact, action)  # its history row, when it goes out
            out.extend(released)
            self._dispatcher.dispatch(released)

    def _schedule(self, contact: Contact) -> None:
        now = self.state.now
        moment = self._planned.next_wake(contact, now)
        if self._flows is not None:
            flow_moment = self._flows.driver.next_wake(contact, now)
            if flow_moment is not None and (moment is None or flow_moment < moment):
                moment = flow_moment
        extra = contact.extra
        if extra is not None and HELD in extra:
            release = self._gate.next_release(contact)
            if release is not None and (moment is None or release < moment):
                moment = release
        if moment != contact.wake:
            contact.wake = moment
            if moment is not None:
                self._timers.push(moment, contact.id)

    def _rebase_decay(self, moment: float) -> None:
        for score in self._decaying:
            decay = score.decay
            assert decay is not None
            if decay.needs_rebase(moment):
                factor = decay.rebase_factor(moment)
                index = score.index
                for contact in self.state.contacts.values():
                    value = score_of(contact, index)
                    if value is not None:
                        put_score(contact, index, value * factor)
                self._indexes.rescale(score.index, factor, self.state.contacts)
                if self._b2b is not None:
                    self._b2b.store.rescale(index, factor)

    def next_timer(self) -> datetime | None:
        """When the next pending timer is due, or None."""
        moment = self._timers.next_moment(self.state.contacts)
        return None if moment is None else epoch_to_datetime(moment)

    # -- durability -------------------------------------------------------------------

    def snapshot(self, path: str | os.PathLike[str]) -> int:
        """Write the whole state to ``path`` atomically (see :mod:`engage.storage.snapshot`).

        Returns the snapshot's size in bytes.
        """
        self.journal.sync()
        held = [] if self._reorder is None else [h[2] for h in self._reorder.held()]
        header = snapshot_header(
            self._program, self.state, self.journal.seq, self.outbox, self.failed, held
        )
        return snapshot.write(path, header, self.state.contacts.values())

    @classmethod
    def restore(
        cls,
        path: str | os.PathLike[str],
        rules: Rules,
        *,
        backfill: bool = False,
        dedupe_window: int = DEFAULT_CAPACITY,
        max_out_of_order: float | None = None,
        max_future: float | None = DEFAULT_MAX_FUTURE,
    ) -> Engine:
        """An engine with the state of the snapshot at ``path``, running ``rules``.

        The rules may differ from those that wrote the snapshot: state is then mapped by
        name (:meth:`reload` describes how); ``engine.reload_report`` says what changed.
        Events the snapshot's reorder buffer held are held again (without a bound, they
        are applied now, in time order).

        Raises:
            SnapshotError: the file is not a snapshot this version can read, or is corrupt.
        """
        # Millions of small containers are built and all of them live on: the cyclic
        # collector would rescan them again and again (more than half the time).
        with gc_paused():
            data = snapshot.read(path)
            capacity = int(data.header.get("dedupe_capacity", dedupe_window))
            engine = cls(
                rules,
                dedupe_window=capacity,
                max_out_of_order=max_out_of_order,
                max_future=max_future,
            )
            if rules.program.flows or data.header.get("flow_versions"):
                engine._adopt_flow_versions(data)
            engine.reload_report = engine._install(data, backfill=backfill)
            engine._dispatcher.load(*pending_actions(data.header))
            engine._hold_again(held_events(data.header))
        return engine

    def _hold_again(self, events: list[Event]) -> None:
        if not events:
            return
        if self._reorder is None:
            # No bound to hold them by: applied now, in their release order, each
            # ``contact.updated`` validated again as a release does.
            self._apply_released([(0.0, 0, event, None) for event in events], [])
            return
        for event in events:
            self._reorder.hold(event, None)

    def reload(self, rules: Rules, *, backfill: bool = False) -> ReloadReport:
        """Swap in new rules, keeping every contact's state.

        Scores, fields and rule marks follow their names; a removed score or field is
        reported (its values are dropped); segments and timers are recomputed. New
        ``when`` rules (and rules whose condition changed) do not fire for contacts that
        already match — with ``backfill=True`` they do, once, now.

        Every part derived from the old program (writer, cascade, members, timers,
        indexes, compiled queries, inline plans) is rebuilt; the journal, the handlers,
        the outbox and the failed actions stay as they are.
        """
        data = snapshot_data(self._program, self.state, self.journal.seq)
        rejected = self.state.rejected
        self.state = EngineState(self.state.dedupe.capacity)
        self.state.rejected = rejected  # bad records are kept, whatever the rules
        self.rules = rules
        self._adopt_flow_versions(data)
        with gc_paused():
            report = self._install(data, backfill=backfill)
        self.reload_report = report
        return report

    def _adopt_flow_versions(self, data: Any) -> None:
        """Take the flow versions ``data`` (a snapshot's) knows, then build the derived
        parts for the rules, with the older versions its contacts still run."""
        known = data.header.get("flow_versions") or {}
        self.state.flow_versions = {name: list(texts) for name, texts in known.items()}
        self._derive(self.rules, flows_in_use(record_flows(r) for r in data.contacts))

    def _install(self, data: Any, *, backfill: bool) -> ReloadReport:
        installed = install(self._program, self.state, data)
        self.journal.seq = installed.journal_seq
        self._rebuild_derived(
            recompute=not installed.same_program, report=installed.report, backfill=backfill
        )
        return installed.report

    def _rebuild_derived(self, *, recompute: bool, report: ReloadReport, backfill: bool) -> None:
        """Segment members, discarded set, timers; after a remap also segments and truths
        (and, with a backfill, the new rules fired for the contacts that match)."""
        program = self._program
        state = self.state
        now = state.clock_or_zero()
        writer = self._writer
        writer.now = now
        if self._b2b is not None:
            self._b2b.store.rebuild(state.contacts.values(), now)
        changed = set(report.new_rules) | set(report.changed_rules)
        fresh_rules = tuple(
            rule for rule in program.rules if rule.kind == "when" and rule.name in changed
        )
        runnable = frozenset() if self._flows is None else self._flows.driver.runnable()
        self._keep_releasing_held_sends()
        for contact in state.contacts.values():
            if contact.flows is not None:
                left = leave_removed(contact, runnable, now)
                if left:
                    report.flow_actions.extend(left)
                    self._dispatcher.dispatch(left)
            if recompute:
                contact.segs = 0
                for segment in program.segments:
                    assert segment.cond is not None
                    if segment.cond(contact, None, now):
                        contact.segs |= segment.bit
                for rule in fresh_rules:
                    if rule.bit and not backfill:
                        assert rule.cond is not None
                        if rule.cond(contact, None, now):
                            contact.truth |= rule.bit
            for segment in program.segments:
                if contact.segs & segment.bit:
                    self._members[segment.index].add(contact.id)
            if is_discarded(contact):
                writer.discarded.add(contact.id)
            if self._has_timers:
                if recompute:
                    contact.wake = None
                    self._schedule(contact)
                elif contact.wake is not None:
                    # A wake-up the same program computed; None stays None (nothing time
                    # can change after the moment it was computed, so none after the clock).
                    self._timers.push(contact.wake, contact.id)
            else:
                contact.wake = None
        if backfill and fresh_rules:
            for contact_id in sorted(state.contacts):
                contact = state.contacts[contact_id]
                writer.changes = {}
                self._indexes.mark(contact)
                actions = self._cascade.run(contact, None, None, forced=fresh_rules)
                if self._has_timers:
                    self._schedule(contact)
                if actions:
                    self._dispatcher.dispatch(actions)
                    report.backfilled_actions.extend(actions)

    def _keep_releasing_held_sends(self) -> None:
        """Rules that cannot hold sends, loaded over contacts that hold some (held under
        the rules before): keep the wake-ups that release them. Cost: a pass over the
        contacts, only when the new rules have no timers of their own."""
        if self._has_timers:
            return
        for contact in self.state.contacts.values():
            extra = contact.extra
            if extra is not None and HELD in extra:
                self._has_timers = True
                return

    # -- queries --------------------------------------------------------------------------

    def _scope(self) -> QueryScope:
        return QueryScope(
            self._program,
            self.state,
            self._members,
            self._writer.discarded,
            self._indexes,
            self._cascade,
            self._writer,
            self._queries,
        )

    def top(self, score: str, k: int = 10) -> list[tuple[str, Any]]:
        """The k contacts with the highest value of ``score``, highest first.

        Ties are in contact-id order. Runtime: O(log n + k) once the index is built.
        """
        return query.top(self._scope(), score, k)

    def count(self, condition: str) -> int:
        """How many contacts satisfy ``condition`` (a condition in the rules language).

        Ranges on a score, on the recency class and segment membership are answered
        from indexes in O(log n); other conditions scan the contacts.
        """
        return query.count(self._scope(), condition)

    def select(self, condition: str) -> list[str]:
        """The ids of the contacts that satisfy ``condition``, sorted."""
        return query.select(self._scope(), condition)

    def explain(self, contact_id: str, rule: str) -> dict[str, Any]:
        """Why rule ``rule`` did or did not fire for a contact: its condition now,
        what it reads, and the state of its firing mode."""
        return query.explain(self._scope(), contact_id, rule)

    def summary(self) -> dict[str, Any]:
        """Counters and sizes, for the CLI summary and for monitoring."""
        state = self.state
        return {
            **state.stats.to_dict(),
            "contacts": len(state.contacts),
            "problems": len(state.problems),
            "failed_actions": len(self.failed),
            "pending_timers": len(self._timers),
            "held": self.held,
            "clock": format_time(state.now) if state.started else None,
            **({} if self._b2b is None else self._b2b.store.counts()),
        }
