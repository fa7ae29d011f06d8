"""Admission: the one way in for every event record.

``ingest``, ``ingest_many`` and the replay of a write-ahead log all pass each record
through :meth:`Admission.admit`, which in this order

1. validates it (a few type tests for the common plain record,
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

import math
import time
from collections.abc import Callable
from typing import Any

from engage.engine.journal import Journal
from engage.engine.state import EngineState
from engage.errors import EventError
from engage.events import (
    DELETED,
    MAX_ID_LENGTH,
    MAX_TYPE_LENGTH,
    UPDATED,
    Event,
    Update,
    contact_updates,
    normalize,
)
from engage.program import Program
from engage.timeutil import (
    DEFAULT_MAX_FUTURE,
    MAX_TIME,
    MIN_TIME,
    format_duration,
    format_time,
)

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

    __slots__ = (
        "_future_limit",
        "_journal",
        "_max_future",
        "_program",
        "_state",
        "max_contacts",
        "wall_clock",
    )

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
        self.wall_clock = wall_clock
        self.max_future = max_future

    @property
    def max_future(self) -> float | None:
        return self._max_future

    @max_future.setter
    def max_future(self, seconds: float | None) -> None:
        self._max_future = seconds
        #: Times up to this are not in the future (a cache of the host's clock plus the
        #: margin, moved up when an event passes it; -inf: read the clock first).
        self._future_limit = -math.inf if seconds is not None else math.inf

    def admit(self, record: Any, position: int | None) -> Admitted | None:
        """The event of ``record`` with its time set, or None when it was rejected or
        a duplicate (counted either way).

        Cost: a few type tests for a plain record (a dict of exactly ``contact``,
        ``type``, a numeric ``at`` and optionally a text ``id``, within the limits
        ``normalize`` applies: written out here, since this runs once per event),
        ``normalize`` otherwise; one set operation for an id; one log append when the
        journal is attached.
        """
        state = self._state
        event = None
        if record.__class__ is dict:
            size = len(record)
            event_id = record.get("id") if size == 4 else None
            if size == 3 or (
                size == 4 and event_id.__class__ is str and 0 < len(event_id) <= MAX_ID_LENGTH
            ):
                contact = record.get("contact")
                type_ = record.get("type")
                at = record.get("at")
                if (
                    contact.__class__ is str
                    and 0 < len(contact) <= MAX_ID_LENGTH
                    and type_.__class__ is str
                    and 0 < len(type_) <= MAX_TYPE_LENGTH
                    and (at.__class__ is float or at.__class__ is int)
                    and MIN_TIME <= at <= MAX_TIME
                ):
                    event = Event(contact, type_, float(at), event_id, None)
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
        if moment > self._future_limit and self._in_future(moment):
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
        journal = self._journal
        if journal.active:
            journal.event(position, event)
        stats = state.stats
        stats.events += 1
        if moment < state.now:
            stats.late += 1
        return event, updates

    def _in_future(self, moment: float) -> bool:
        """Whether ``moment`` is past the margin; moves the cached limit up to the host's
        clock (read once per event that passes the cached limit, not once per event)."""
        if self.max_future is None:
            self._future_limit = math.inf
            return False
        self._future_limit = self.wall_clock() + self.max_future
        return moment > self._future_limit

    def _future_reason(self, moment: float) -> str:
        assert self.max_future is not None
        return (
            f"'at' is in the future: {format_time(moment)} is more than "
            f"{format_duration(self.max_future)} after the host's clock "
            f"({format_time(self.wall_clock())}); set max_future to accept such times"
        )
