"""Admission: the one way in for every event record.

``ingest``, ``ingest_many`` and the replay of a write-ahead log all pass each record
through :meth:`Admission.admit`, which in this order

1. validates it (:func:`~engage.events.plain_event` for the common plain record,
   :func:`~engage.events.normalize` for everything else, and the ``contact.updated``
   data against the declared fields), or rejects it with its reason;
2. refuses a record that would create a contact past the contact limit;
3. drops a repeated event id (counted as a duplicate);
4. writes the record to the journal;
5. counts it, and counts it late when it is older than the clock.

A time more than ``max_future`` after the host's wall clock is a bad record ("in the
future"), rejected at step 1: it never moves the clock.

Moving the clock is the caller's next step: it fires the wake-ups due before the event,
which needs the rules. A record that fails any step is counted and kept, never lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from engage.engine.journal import Journal
from engage.engine.state import EngineState
from engage.errors import EventError
from engage.events import DELETED, UPDATED, Event, Update, contact_updates, normalize, plain_event
from engage.program import Program
from engage.timeutil import DEFAULT_MAX_FUTURE, format_duration, format_time

#: An admitted event and, for ``contact.updated``, its validated updates.
Admitted = tuple[Event, list[Update] | None]


class Admission:
    """Validation, contact limit, dedupe, journal and counters, in one step.

    Args:
        max_contacts: refuse records that would create a contact past this many (None:
            no limit); a guard against a feed that floods the engine with made-up ids.
        max_future: refuse records whose time is more than this many seconds after
            ``wall_clock()`` (None: no limit, for simulations and replays of made-up
            times).
        wall_clock: the host's clock in epoch seconds.
    """

    __slots__ = ("_journal", "_program", "_state", "max_contacts", "max_future", "wall_clock")

    def __init__(
        self,
        program: Program,
        state: EngineState,
        journal: Journal,
        max_contacts: int | None = None,
        max_future: float | None = DEFAULT_MAX_FUTURE,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._program = program
        self._state = state
        self._journal = journal
        self.max_contacts = max_contacts
        self.max_future = max_future
        self.wall_clock = wall_clock

    def admit(self, record: Any, position: int | None) -> Admitted | None:
        """The event of ``record`` with its time set, or None when it was rejected or
        a duplicate (counted either way).

        Cost: a few type tests for a plain record, ``normalize`` otherwise; one set
        operation for an id; one log append when the journal is attached.
        """
        state = self._state
        event = plain_event(record) if record.__class__ is dict else None
        updates = None
        if event is None or event.type == UPDATED:
            try:
                if event is None:
                    event = normalize(record)
                if event.type == UPDATED:
                    updates = contact_updates(event.data, self._program)
            except EventError as exc:
                state.reject(record, str(exc), position)
                return None
        moment = event.at
        if moment is None:  # only a record without 'at' (normalize's) leaves it unset
            if not state.started:
                state.reject(record, "missing 'at' and the engine clock is not set yet", position)
                return None
            moment = event.at = state.now
        if self.max_future is not None and moment > self.wall_clock() + self.max_future:
            state.stats.future += 1
            state.reject(record, self._future_reason(moment), position)
            return None
        limit = self.max_contacts
        if (
            limit is not None
            and event.contact not in state.contacts
            and len(state.contacts) >= limit
            and event.type != DELETED
        ):
            state.reject(record, f"contact limit reached ({limit:,} contacts)", position)
            return None
        if event.id is not None and not state.dedupe.add(event.id):
            state.stats.duplicates += 1
            return None
        self._journal.event(position, event)
        stats = state.stats
        stats.events += 1
        if moment < state.now:
            stats.late += 1
        return event, updates

    def _future_reason(self, moment: float) -> str:
        assert self.max_future is not None
        return (
            f"'at' is in the future: {format_time(moment)} is more than "
            f"{format_duration(self.max_future)} after the host's clock "
            f"({format_time(self.wall_clock())}); set max_future to accept such times"
        )
