"""The engine: contacts' state, the clock, and the rules applied to a stream of events.

:class:`Engine` ties the pieces together: events are validated (:mod:`engage.events`),
applied to the contact through the :class:`~engage.state.writer.StateWriter` (built-in
effects, then score lines), and the :class:`~engage.triggers.cascade.Cascade` evaluates
only the rules whose inputs changed. Time is the other input: the clock is event time,
and the :class:`~engage.time.timers.TimerIndex` wakes contacts exactly when time alone
changes something for them.

``ingest_many`` has a fast path for the common case — an event whose type only adds
plain points to scores that no general rule reads — that does the work inline, with
local variables, and falls back to the full path whenever a threshold is crossed or
anything else needs attention. Both paths produce the same state and actions.
"""

from __future__ import annotations

import math
import os
import traceback
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from engage.actions import STATE_VERBS, Action
from engage.collector import gc_paused
from engage.dsl.symbols import NON_ACTIVITY_TYPES
from engage.errors import EventError
from engage.events import (
    BOUNCE,
    DELETED,
    MAX_ID_LENGTH,
    MAX_TYPE_LENGTH,
    UNSUBSCRIBE,
    UPDATED,
    Event,
    contact_updates,
    normalize,
    unsubscribe_scope,
)
from engage.index.score_index import SortedIndexes
from engage.program import Program, RuleSpec
from engage.rules import Rules
from engage.scoring.lines import apply_lines
from engage.state.contact import HISTORY, WINDOWS, Contact, put_score, score_of
from engage.state.dedupe import DEFAULT_CAPACITY, DedupeWindow
from engage.state.view import ContactView
from engage.state.writer import StateWriter, whole_as_int
from engage.storage.eventlog import EventLog
from engage.storage.state import ReloadReport
from engage.time.timers import TimerIndex, next_wake
from engage.time.windows import count as window_count
from engage.time.windows import prune, record
from engage.timeutil import MAX_TIME, MIN_TIME, coerce_time, format_time
from engage.triggers.cascade import Cascade, Problem

Handler = Callable[[Action], Any]


class Rejected:
    """An event record that was not accepted, kept with its reason."""

    __slots__ = ("position", "reason", "record")

    def __init__(self, record: Any, reason: str, position: int | None) -> None:
        self.record = record
        self.reason = reason
        self.position = position

    def to_dict(self) -> dict[str, Any]:
        return {"position": self.position, "reason": self.reason, "record": self.record}

    def __repr__(self) -> str:
        return f"Rejected({self.reason!r} at {self.position})"


class Stats:
    """Counters of what the engine has seen."""

    __slots__ = (
        "actions",
        "contacts_created",
        "deleted",
        "duplicates",
        "events",
        "late",
        "rejected",
    )

    def __init__(self) -> None:
        self.events = 0
        self.duplicates = 0
        self.rejected = 0
        self.late = 0
        self.actions = 0
        self.contacts_created = 0
        self.deleted = 0

    def to_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class Engine:
    """An incremental rules engine over contacts.

    Args:
        rules: compiled rules (:func:`engage.load` / :func:`engage.compile`).
        dedupe_window: how many recent event ids to remember for idempotency.
        max_contacts: refuse (as bad records) events that would create a contact past
            this many; None for no limit. A guard against a feed that floods the engine
            with made-up contact ids; settable later as :attr:`max_contacts`.
    """

    def __init__(
        self,
        rules: Rules,
        *,
        dedupe_window: int = DEFAULT_CAPACITY,
        max_contacts: int | None = None,
    ) -> None:
        self.rules = rules
        self.max_contacts = max_contacts
        program = self._program = rules.program_for_engine()
        self._contacts: dict[str, Contact] = {}
        self._now = -math.inf
        self._writer = StateWriter(program)
        self._members: list[set[str]] = [set() for _ in program.segments]
        self.problems: list[Problem] = []
        self._cascade = Cascade(program, self._writer, self._members, self.problems)
        self._timers = TimerIndex()
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self.outbox: list[Action] = []
        self.failed: list[Action] = []
        #: For a failed action, the handlers still to call (by the action's identity).
        self._retry_handlers: dict[int, tuple[Handler, ...]] = {}
        self.rejected: list[Rejected] = []
        self.stats = Stats()
        self._dedupe = DedupeWindow(dedupe_window)
        self._indexes = SortedIndexes()
        self._deleted_history: dict[str, list[Any]] = {}
        self._fast_plans = _fast_plans(program)
        #: The write-ahead event log, when durability is on (see engage.storage).
        self._log: EventLog | None = None
        self._log_seq = 0
        #: What the last restore or reload changed (None for a fresh engine).
        self.reload_report: ReloadReport | None = None
        #: Types the fast path never takes: built-ins with effects, and typed plans.
        self._slow_types = frozenset(program.plans) | _BUILTIN_TYPES
        self._position = 0

    # -- reading ----------------------------------------------------------------------

    @property
    def program(self) -> Program:
        return self._program

    @property
    def clock(self) -> datetime | None:
        """The engine's clock: the latest event time seen or advanced to."""
        from engage.timeutil import epoch_to_datetime

        return None if self._now == -math.inf else epoch_to_datetime(self._now)

    @property
    def now(self) -> float | None:
        """The clock in epoch seconds, or None before the first event."""
        return None if self._now == -math.inf else self._now

    def __len__(self) -> int:
        return len(self._contacts)

    def __contains__(self, contact_id: object) -> bool:
        return contact_id in self._contacts

    def contact_ids(self) -> list[str]:
        """Every contact id, sorted."""
        return sorted(self._contacts)

    def contact(self, contact_id: str) -> ContactView | None:
        """A read-only view of one contact at the clock, or None."""
        contact = self._contacts.get(contact_id)
        if contact is None:
            return None
        return ContactView(self._program, contact, self._clock_or_zero())

    def contacts(self) -> Iterator[ContactView]:
        """Views of every contact, in contact-id order."""
        now = self._clock_or_zero()
        for contact_id in sorted(self._contacts):
            yield ContactView(self._program, self._contacts[contact_id], now)

    def dump(self) -> Iterator[dict[str, Any]]:
        """The state of every contact as the ``--dump`` JSON objects, in id order."""
        for view in self.contacts():
            yield view.to_dict()

    def deleted_history(self, contact_id: str) -> list[Any]:
        """The tracked history of a deleted contact (kept when the contact is removed)."""
        return list(self._deleted_history.get(contact_id, ()))

    def _clock_or_zero(self) -> float:
        return 0.0 if self._now == -math.inf else self._now

    # -- handlers and outbox ------------------------------------------------------------

    def on(self, verb: str, handler: Handler) -> None:
        """Call ``handler(action)`` for every outside action with this verb (``"*"``: all).

        Handlers run after the event's cascade is over, in action order. A handler that
        raises marks the action failed (``action.status``), keeps it in ``engine.failed``
        for :meth:`retry_failed`, and the stream goes on.
        """
        self._handlers[verb].append(handler)

    def drain_outbox(self) -> list[Action]:
        """The outside actions emitted since the last drain (and forget them)."""
        drained = self.outbox
        self.outbox = []
        return drained

    def retry_failed(self) -> list[Action]:
        """Call the handlers again for failed actions; returns those that failed again.

        Only the handler that raised and those after it are called: a handler that
        already took the action does not get it twice. (After a restore, where that is
        not known, every handler of the verb is called.)
        """
        pending = self.failed
        remaining = self._retry_handlers
        self.failed = []
        self._retry_handlers = {}
        for action in pending:
            action.status = "ok"
            action.error = None
            self._call_handlers(action, remaining.get(id(action)))
        return list(self.failed)

    def _dispatch(self, actions: list[Action]) -> None:
        handlers = self._handlers
        for action in actions:
            if action.action in STATE_VERBS or action.suppressed is not None:
                continue
            self.outbox.append(action)
            if handlers:
                self._call_handlers(action)

    def _call_handlers(self, action: Action, handlers: tuple[Handler, ...] | None = None) -> None:
        if handlers is None:
            handlers = (*self._handlers.get(action.action, ()), *self._handlers.get("*", ()))
        for position, handler in enumerate(handlers):
            try:
                handler(action)
            except Exception as exc:  # a host bug must not stop the stream
                action.status = "failed"
                action.error = f"{type(exc).__name__}: {exc}"
                self.failed.append(action)
                self._retry_handlers[id(action)] = handlers[position:]
                return

    # -- events -------------------------------------------------------------------------

    def ingest(self, event: Any) -> list[Action]:
        """Apply one event; returns the actions it caused (timers due before it included)."""
        out: list[Action] = []
        self._position += 1
        self._ingest_one(event, out, self._position)
        self.stats.actions += len(out)
        return out

    def ingest_many(self, events: Iterable[Any]) -> list[Action]:
        """Apply events in order; returns every action caused, in order.

        Bad records are counted and kept in :attr:`rejected` with their reason; they
        never stop the stream.
        """
        out: list[Action] = []
        fast = self._fast_plans
        if not fast:
            for event in events:
                self._position += 1
                self._ingest_one(event, out, self._position)
            self.stats.actions += len(out)
            return out
        # The fast path: every name the loop needs is a local.
        contacts = self._contacts
        get_contact = contacts.get
        get_plan = fast.get
        activity_only = fast.get(_ACTIVITY_ONLY)
        log = self._log
        slow_types = self._slow_types
        dedupe = self._dedupe
        seen_add = dedupe.add
        stats = self.stats
        indexes = self._indexes
        score_count = len(self._program.scores)
        ingest_one = self._ingest_one
        crossed = self._crossed
        sync_clock = self._sync_clock
        max_contacts = self.max_contacts
        position = self._position
        events_seen = 0
        late = 0
        created = 0
        duplicates = 0
        now = self._now
        for event in events:
            position += 1
            if event.__class__ is not dict:
                sync_clock(now)
                ingest_one(event, out, position)
                now = self._now
                continue
            size = len(event)
            if size == 3:
                event_id = None
            elif size == 4 and "id" in event:
                event_id = event["id"]
                if event_id.__class__ is not str or not 0 < len(event_id) <= MAX_ID_LENGTH:
                    sync_clock(now)
                    ingest_one(event, out, position)
                    now = self._now
                    continue
            else:
                sync_clock(now)
                ingest_one(event, out, position)
                now = self._now
                continue
            contact_id = event.get("contact")
            event_type = event.get("type")
            plan = None  # not a text (perhaps not even hashable): the full path says why
            if event_type.__class__ is str:
                plan = get_plan(event_type)
                if plan is None and event_type not in slow_types:
                    plan = activity_only
            at = event.get("at")
            if (
                plan is None
                or len(event_type) > MAX_TYPE_LENGTH  # type: ignore[arg-type]
                or contact_id.__class__ is not str
                or not 0 < len(contact_id) <= MAX_ID_LENGTH
                or (at.__class__ is not float and at.__class__ is not int)
                or not MIN_TIME <= at <= MAX_TIME
            ):
                sync_clock(now)
                ingest_one(event, out, position)
                now = self._now
                continue
            contact = get_contact(contact_id)
            if contact is None and (
                plan.creation_needs_rules
                or (max_contacts is not None and len(contacts) >= max_contacts)
            ):
                sync_clock(now)
                ingest_one(event, out, position)
                now = self._now
                continue
            if event_id is not None and not seen_add(event_id):
                duplicates += 1
                continue
            if log is not None:
                self._log_seq += 1
                log.append({"n": self._log_seq, "p": position, "e": event})
            events_seen += 1
            moment = float(at)
            in_order = moment >= now
            if moment > now:
                now = moment
            elif not in_order:
                late += 1
            if contact is None:
                contact = Contact(contact_id, moment, score_count)
                contacts[contact_id] = contact
                created += 1
                if indexes.dirty is not None:
                    indexes.mark(contact)
                contact.last_activity = moment
            else:
                if indexes.dirty is not None and contact not in indexes.dirty:
                    indexes.mark(contact)
                if in_order:
                    # No activity is later than the clock, so an event at or after the
                    # clock is the contact's latest: no comparison needed.
                    contact.last_activity = moment
                else:
                    last = contact.last_activity
                    if last is None or last < moment:
                        contact.last_activity = moment
            single = plan.single
            if single is not None:
                index, delta, points, quiet_down, first_after = single
                # score_of and put_score, written out: two calls would cost more per
                # event than the rest of this branch.
                old = contact.first_score if index == 0 else contact.more_scores[index - 1]
                new = delta if old is None else old + delta
                if new.__class__ is float:
                    new = _as_stored(new, old)
                if index == 0:
                    contact.first_score = new
                else:
                    contact.more_scores[index - 1] = new
                if points:
                    if old is None:
                        if points[0] <= new:
                            sync_clock(now)
                            crossed(contact, index, old, event_id, event_type, out)
                    elif not quiet_down:
                        low, high = (old, new) if old <= new else (new, old)
                        at_or_above = first_after(points, low)
                        if at_or_above < len(points) and points[at_or_above] <= high:
                            sync_clock(now)
                            crossed(contact, index, old, event_id, event_type, out)
            elif plan.crosses(contact):
                sync_clock(now)
                self._crossed_many(contact, plan, event_id, event_type, out)
            elif plan.deltas:
                for index, delta, *_ in plan.deltas:
                    old = score_of(contact, index)
                    new = delta if old is None else old + delta
                    put_score(
                        contact, index, _as_stored(new, old) if new.__class__ is float else new
                    )
        self._now = now
        self._rebase_decay(now)
        self._position = position
        stats.events += events_seen
        stats.late += late
        stats.contacts_created += created
        stats.duplicates += duplicates
        stats.actions += len(out)
        return out

    def _crossed(
        self,
        contact: Contact,
        index: int,
        old: Any,
        event_id: str | None,
        event_type: str | None,
        out: list[Action],
    ) -> None:
        """A fast-path event moved score ``index`` from ``old`` past a breakpoint.

        The points are applied already (on a fast plan's score, no clamp or decay can
        change them); the score's threshold rules are what is left to run.
        """
        writer = self._writer
        writer.now = self._now
        if writer.changes:
            writer.changes = {}
        actions = self._cascade.score_round(contact, index, old, event_id, event_type)
        if actions:
            out.extend(actions)
            self._dispatch(actions)

    def _crossed_many(
        self,
        contact: Contact,
        plan: _FastPlan,
        event_id: str | None,
        event_type: str | None,
        out: list[Action],
    ) -> None:
        """A fast-path event that moves several scores crosses a breakpoint: apply its
        points on the full path."""
        writer = self._writer
        writer.now = self._now
        writer.changes = {}
        for index, delta, *_ in plan.deltas:
            writer.add_points(contact, index, delta)
        actions = self._cascade.run(contact, None, event_id, event_type=event_type)
        if actions:
            out.extend(actions)
            self._dispatch(actions)

    def _reject(self, record: Any, reason: str, position: int | None) -> None:
        self.stats.rejected += 1
        self.rejected.append(Rejected(record, reason, position))

    def _ingest_one(self, record: Any, out: list[Action], position: int | None) -> None:
        """The full path for one event record."""
        try:
            event = normalize(record)
            updates = contact_updates(event.data, self._program) if event.type == UPDATED else None
        except EventError as exc:
            self._reject(record, str(exc), position)
            return
        moment = event.at
        if moment is None:
            if self._now == -math.inf:
                self._reject(record, "missing 'at' and the engine clock is not set yet", position)
                return
            moment = self._now
        limit = self.max_contacts
        if (
            limit is not None
            and event.contact not in self._contacts
            and len(self._contacts) >= limit
            and event.type != DELETED
        ):
            self._reject(record, f"contact limit reached ({limit:,} contacts)", position)
            return
        if event.id is not None and not self._dedupe.add(event.id):
            self.stats.duplicates += 1
            return
        if self._log is not None:
            self._log_seq += 1
            self._log.append(
                {
                    "n": self._log_seq,
                    "p": position,
                    "e": {
                        "contact": event.contact,
                        "type": event.type,
                        "at": moment,
                        "id": event.id,
                        "data": event.data,
                    },
                }
            )
        self.stats.events += 1
        if moment > self._now:
            self._move_clock(moment, out)
        elif moment < self._now:
            self.stats.late += 1
        try:
            self._apply(event, moment, updates, out)
        except Exception as exc:  # an engine bug must not lose the stream
            self.problems.append(
                Problem(
                    "internal error",
                    event.contact,
                    self._now,
                    f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}",
                )
            )
            self._writer.changes = {}

    def _apply(
        self, event: Event, moment: float, updates: list[Any] | None, out: list[Action]
    ) -> None:
        program = self._program
        writer = self._writer
        now = self._now
        writer.now = now
        writer.changes = {}
        contacts = self._contacts
        contact = contacts.get(event.contact)
        creating = contact is None
        if event.type == DELETED:
            if contact is not None:
                self._delete(contact, event, out)
            return
        if contact is None:
            contact = Contact(event.contact, moment, len(program.scores))
            contacts[event.contact] = contact
            self.stats.contacts_created += 1
            writer.changes[("created",)] = None
        if self._indexes.dirty is not None:
            self._indexes.mark(contact)
        if updates:
            self._apply_updates(contact, updates)
        if event.type == UNSUBSCRIBE:
            writer.unsubscribe(contact, *unsubscribe_scope(event.data))
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
                    record(contact, atom.id, moment, atom.window, now)
                    writer.changes.setdefault(atom.key, before)
            if plan.lines:
                apply_lines(writer, contact, plan.lines, event, now)
            on_rules = plan.on_rules
        actions = self._cascade.run(contact, event, event.id, creating=creating, on_rules=on_rules)
        if program.time_atoms:
            self._schedule(contact)
        if actions:
            out.extend(actions)
            self._dispatch(actions)

    def _apply_updates(self, contact: Contact, updates: list[Any]) -> None:
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
            self._dispatch(actions)
        self._indexes.mark(contact)
        history = contact.get_extra(HISTORY)
        if history:
            self._deleted_history.setdefault(contact.id, []).extend(history)
        for index, members in enumerate(self._members):
            if contact.segs >> index & 1:
                members.discard(contact.id)
        del self._contacts[contact.id]
        self._writer.discarded.discard(contact.id)
        contact.wake = None
        self.stats.deleted += 1

    # -- time -------------------------------------------------------------------------

    def advance(self, when: datetime | float | int | str) -> list[Action]:
        """Move the clock forward to ``when``; fires every timer due by then, in order.

        A time at or before the clock changes nothing (the clock never goes back).
        """
        moment = coerce_time(when)
        out: list[Action] = []
        if moment > self._now:
            if self._log is not None:
                self._log_seq += 1
                self._log.append({"n": self._log_seq, "a": moment})
            self._move_clock(moment, out)
        self.stats.actions += len(out)
        return out

    def _sync_clock(self, now: float) -> None:
        """Give the clock the inline path kept in a local back to the engine.

        The inline path moves the clock without touching decaying scores; before the
        full path or a crossing reads or writes one, the decay reference must follow
        the clock (:meth:`_rebase_decay`), or a far move would overflow the scaling.
        """
        self._now = now
        self._rebase_decay(now)

    def _move_clock(self, moment: float, out: list[Action]) -> None:
        """Fire wake-ups due at or before ``moment`` in time order, then set the clock."""
        timers = self._timers
        contacts = self._contacts
        next_moment = timers.next_moment()
        if next_moment is not None and next_moment <= moment:
            for due, contact in timers.pop_due_with_time(moment, contacts):
                self._wake(contact, due, out)
            timers.compact(contacts)
        self._now = moment
        self._rebase_decay(moment)

    def _wake(self, contact: Contact, moment: float, out: list[Action]) -> None:
        if moment > self._now:  # noqa: PLR1730 - max() is a call: 2% of a clock tick
            self._now = moment
        writer = self._writer
        writer.now = self._now
        writer.changes = {}
        if self._indexes.dirty is not None:
            self._indexes.mark(contact)
        extra = contact.extra
        if extra is not None and WINDOWS in extra:
            windows = extra[WINDOWS]
            for atom in self._program.history_atoms:
                times = windows.get(atom.id)
                if times:
                    prune(times, atom.window, self._now)
        actions = self._cascade.wake(contact)
        self._schedule(contact)
        if actions:
            out.extend(actions)
            self._dispatch(actions)

    def _schedule(self, contact: Contact) -> None:
        moment = next_wake(self._program, contact, self._now)
        if moment != contact.wake:
            contact.wake = moment
            if moment is not None:
                self._timers.push(moment, contact.id)

    def _rebase_decay(self, moment: float) -> None:
        for score in self._program.scores:
            decay = score.decay
            if decay is not None and decay.needs_rebase(moment):
                factor = decay.rebase_factor(moment)
                index = score.index
                for contact in self._contacts.values():
                    value = score_of(contact, index)
                    if value is not None:
                        put_score(contact, index, value * factor)
                self._indexes.rescale(score.index, factor, self._contacts)

    def next_timer(self) -> datetime | None:
        """When the next pending timer is due, or None."""
        from engage.timeutil import epoch_to_datetime

        moment = self._timers.next_moment(self._contacts)
        return None if moment is None else epoch_to_datetime(moment)

    # -- durability -------------------------------------------------------------------

    @property
    def position(self) -> int:
        """How many records this engine has been given (accepted or not)."""
        return self._position

    def snapshot(self, path: str | os.PathLike[str]) -> int:
        """Write the whole state to ``path`` atomically (see :mod:`engage.storage.snapshot`).

        Returns the snapshot's size in bytes.
        """
        from engage.storage import snapshot

        self._indexes.sync(self._contacts)
        if self._log is not None:
            self._log.sync()
        return snapshot.write(self, path)

    @classmethod
    def restore(
        cls,
        path: str | os.PathLike[str],
        rules: Rules,
        *,
        backfill: bool = False,
        dedupe_window: int = DEFAULT_CAPACITY,
    ) -> Engine:
        """An engine with the state of the snapshot at ``path``, running ``rules``.

        The rules may differ from those that wrote the snapshot: state is then mapped by
        name (:meth:`reload` describes how); ``engine.reload_report`` says what changed.

        Raises:
            SnapshotError: the file is not a snapshot this version can read, or is corrupt.
        """
        from engage.storage import snapshot
        from engage.storage.state import install

        # Millions of small containers are built and all of them live on: the cyclic
        # collector would rescan them again and again (more than half the time).
        with gc_paused():
            data = snapshot.read(path)
            capacity = int(data.header.get("dedupe_capacity", dedupe_window))
            engine = cls(rules, dedupe_window=capacity)
            engine.reload_report = install(engine, data, backfill=backfill)
        return engine

    def reload(self, rules: Rules, *, backfill: bool = False) -> ReloadReport:
        """Swap in new rules, keeping every contact's state.

        Scores, fields and rule marks follow their names; a removed score or field is
        reported (its values are dropped); segments and timers are recomputed. New
        ``when`` rules (and rules whose condition changed) do not fire for contacts that
        already match — with ``backfill=True`` they do, once, now.
        """
        from engage.storage.state import in_memory, install

        self._indexes.sync(self._contacts)
        data = in_memory(self)
        log = self._log
        handlers = self._handlers
        fresh = Engine(rules, dedupe_window=self._dedupe.capacity, max_contacts=self.max_contacts)
        fresh._handlers = handlers
        with gc_paused():
            report = install(fresh, data, backfill=backfill)
        self.__dict__.update(fresh.__dict__)
        self._log = log
        self.reload_report = report
        return report

    # -- queries --------------------------------------------------------------------------

    def top(self, score: str, k: int = 10) -> list[tuple[str, Any]]:
        """The k contacts with the highest value of ``score``, highest first.

        Ties are in contact-id order. Runtime: O(log n + k) once the index is built.
        """
        from engage.query import top

        return top(self, score, k)

    def count(self, condition: str) -> int:
        """How many contacts satisfy ``condition`` (a condition in the rules language).

        Ranges on a score, on the recency class and segment membership are answered
        from indexes in O(log n); other conditions scan the contacts.
        """
        from engage.query import count

        return count(self, condition)

    def select(self, condition: str) -> list[str]:
        """The ids of the contacts that satisfy ``condition``, sorted."""
        from engage.query import select

        return select(self, condition)

    def explain(self, contact_id: str, rule: str) -> dict[str, Any]:
        """Why rule ``rule`` did or did not fire for a contact: its condition now,
        what it reads, and the state of its firing mode."""
        from engage.query import explain

        return explain(self, contact_id, rule)

    def summary(self) -> dict[str, Any]:
        """Counters and sizes, for the CLI summary and for monitoring."""
        return {
            **self.stats.to_dict(),
            "contacts": len(self._contacts),
            "problems": len(self.problems),
            "failed_actions": len(self.failed),
            "pending_timers": len(self._timers),
            "clock": None if self._now == -math.inf else format_time(self._now),
        }


#: Event types with built-in effects: always on the full path (except a bounce without
#: data, which has none).
_BUILTIN_TYPES = frozenset({UPDATED, DELETED, UNSUBSCRIBE})
#: The fast plan of event types that have no score lines: activity only.
_ACTIVITY_ONLY = "\0activity"


_Bisect = Callable[[list[float], float], int]


class _FastPlan:
    """An event type the inline path can apply: plain points on fast scores."""

    __slots__ = ("creation_needs_rules", "deltas", "single")

    def __init__(
        self,
        deltas: tuple[tuple[int, float, list[float] | None, bool, _Bisect], ...],
        creation_needs_rules: bool,
    ) -> None:
        #: ``(score index, points, breakpoints, quiet down, first after)`` per score the
        #: type moves. "Quiet down": the points are negative and the score's rules only
        #: fire on the way up, so only a first value (from empty) can fire anything.
        #: "First after": the bisection that finds the first breakpoint that a move from
        #: ``low`` can pass: ``bisect_right`` when a score resting on a breakpoint holds
        #: there what it holds above (``score >= k``), else ``bisect_left``.
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


def _as_stored(total: float, old: Any) -> Any:
    """A float sum of points as :meth:`StateWriter.add_points` stores it: a whole number
    as an int (:func:`whole_as_int`), and an overflow not at all."""
    return whole_as_int(total) if math.isfinite(total) else old


def _fast_plans(program: Program) -> dict[str, _FastPlan]:
    """Event types the inline path may apply, with their deltas and breakpoints.

    The inline path is correct only when nothing but threshold rules reads what such an
    event changes: its scores, the contact's last activity, and its creation.
    """
    if program.time_atoms or program.valuation_watched:
        return {}
    general_keys = set(program.rule_deps) | set(program.segment_deps) | set(program.rearm_deps)
    if {("last_activity",), ("created",)} & general_keys:
        return {}
    creation_needs_rules = bool(program.empty_true_rules or program.empty_true_segments)
    fast: dict[str, _FastPlan] = {_ACTIVITY_ONLY: _FastPlan((), creation_needs_rules)}
    for event_type, plan in program.plans.items():
        if not plan.fast or event_type in NON_ACTIVITY_TYPES:
            continue
        if event_type in _BUILTIN_TYPES:
            continue
        deltas = []
        usable = True
        for index, delta in plan.deltas:
            key = ("score", index)
            if key in general_keys or program.score_change_rules.get(index):
                usable = False
                break
            threshold = program.thresholds.get(index)
            points: list[float] | None = None
            quiet_down = False
            first_after = bisect_left
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
            fast[event_type] = _FastPlan(tuple(deltas), creation_needs_rules)
    return fast
