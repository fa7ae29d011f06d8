"""Admission: the one way in for every event record.

``ingest``, ``ingest_many`` and the replay of a write-ahead log all pass each record
through :meth:`Admission.stream`, which in this order

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
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from engage.engine.journal import Journal
from engage.engine.state import EngineState
from engage.errors import EventError
from engage.events import (
    DELETED,
    ENTITY_KEYS,
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
        "updates",
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
        #: The validated updates of the ``contact.updated`` last yielded, else None.
        self.updates: list[Update] | None = None
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

    def stream(self, records: Iterable[Any]) -> Iterator[Event]:
        """The admitted events of ``records``, in order, each with its time set; records
        rejected or duplicated are counted and skipped. Each record gets the next
        position (``state.position``); :attr:`updates` holds the validated updates of
        the ``contact.updated`` just yielded (None for other types).

        Cost per record: a few type tests for a plain record (a dict of exactly
        ``contact``, ``type``, a numeric ``at`` and optionally a text ``id``, within the
        limits ``normalize`` applies: written out here, since this runs once per event),
        ``normalize`` otherwise; one set operation for an id; one log append when the
        journal is attached. A generator: resuming it costs less than a call per record.
        """
        state = self._state
        stats = state.stats
        contacts = state.contacts
        dedupe_add = state.dedupe.add
        journal = self._journal
        journaled = journal.active
        limit = self.max_contacts
        program = self._program
        # Counters in locals, written back when the stream ends or is dropped: attribute
        # writes per record were a fifth of a plain event's admission.
        position = state.position
        admitted = 0
        had_updates = self.updates is not None
        try:
            for record in records:
                position += 1
                event = None
                if record.__class__ is dict:
                    size = len(record)
                    event_id = record.get("id") if size == 4 else None
                    if size == 3 or (
                        size == 4
                        and event_id.__class__ is str
                        and 0 < len(event_id) <= MAX_ID_LENGTH
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
                            if event.type in ENTITY_KEYS and program.b2b is None:
                                raise EventError(
                                    f"{event.type}: these rules declare no accounts or leads"
                                )
                        if event.type == UPDATED:
                            updates = contact_updates(event.data, program)
                    except EventError as exc:
                        state.reject(record, str(exc), position)
                        continue
                moment = event.at
                if moment is None:  # only a record without 'at' (normalize's) leaves it unset
                    if not state.started:
                        reason = "missing 'at' and the engine clock is not set yet"
                        state.reject(record, reason, position)
                        continue
                    moment = event.at = state.now
                if moment > self._future_limit and self._in_future(moment):
                    stats.future += 1
                    state.reject(record, self._future_reason(moment), position)
                    continue
                if (
                    limit is not None
                    and event.contact not in contacts
                    and len(contacts) >= limit
                    and event.type != DELETED
                ):
                    state.reject(record, f"contact limit reached ({limit:,} contacts)", position)
                    continue
                if event.id is not None and not dedupe_add(event.id):
                    stats.duplicates += 1
                    continue
                if journaled:
                    journal.event(position, event)
                admitted += 1
                if moment < state.now:
                    stats.late += 1
                if updates is not None or had_updates:
                    self.updates = updates
                    had_updates = updates is not None
                state.position = position
                yield event
        finally:
            state.position = position
            stats.events += admitted

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
