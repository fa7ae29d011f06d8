"""What a keyed stream task does for one contact, without any stream processor.

The Flink job (:mod:`engage.scaleout.flink`) keeps, per contact, one value: a
:class:`Slot` (the step's state bytes, the pending wake-up, the contact's recent event
ids) and one event-time timer at :func:`timer_ms` of that wake-up. Everything it does
with them is here, as plain functions over plain values, so that the same code is
tested without a JVM and any other keyed processor (Kafka Streams via a Python bridge,
a hand-written consumer) can reuse it.

Cost per event: one ``json.loads`` of the record, one :func:`engage.engine.step.step`
(a msgpack decode and encode of the contact around the engine's own work) and one
``json.dumps`` per action.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import attrs

from engage.engine.step import Deltas, StepResult, step, wake
from engage.rules import Rules, compile_sources
from engage.timeutil import coerce_time

#: How many of a contact's most recent event ids are kept to drop repeats (0: none).
DEFAULT_RECENT_IDS = 16


@attrs.frozen
class Slot:
    """One contact's keyed value: the step's state bytes (None: not created, or deleted
    and nothing kept), its pending wake-up in epoch seconds, its recent event ids."""

    state: bytes | None = None
    wake: float | None = None
    ids: tuple[str, ...] = ()

    def to_value(self) -> tuple[bytes | None, float | None, tuple[str, ...]]:
        """The plain tuple stored in the processor's state (pickled there)."""
        return (self.state, self.wake, self.ids)

    @classmethod
    def from_value(cls, value: Any) -> Slot:
        """The slot of a stored tuple (None: a contact never seen)."""
        if value is None:
            return cls()
        state, moment, ids = value
        return cls(state, moment, tuple(ids))


@attrs.frozen
class Outcome:
    """What the task must do after one event or timer: keep ``slot`` (None: clear the
    key), emit ``lines`` (actions as JSON Lines text), apply ``segments`` (name, +1 or
    -1) to the segment counts, and move the timer from ``old_timer`` to ``new_timer``
    (milliseconds; None: no timer)."""

    slot: Slot | None
    lines: list[str]
    segments: list[tuple[str, int]]
    old_timer: int | None
    new_timer: int | None
    duplicate: bool = False


def timer_ms(moment: float | None) -> int | None:
    """The event-time timer (ms) for a wake-up: rounded up, so that the watermark has
    passed the exact moment when it fires (``wake`` is then called with the moment)."""
    return None if moment is None else math.ceil(moment * 1000)


def parse_line(line: str) -> tuple[str, int, str] | None:
    """``(contact, event time in ms, line)`` of one JSON Lines event, or None when the
    record has no contact id text or no usable ``at`` (the job cannot place it in event
    time; ``engage run`` would apply a record without ``at`` at its global clock)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    contact = record.get("contact")
    if not isinstance(contact, str) or "at" not in record:
        return None
    try:
        moment = coerce_time(record["at"])
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(moment):
        return None
    return contact, math.floor(moment * 1000), line


def compile_texts(sources: Sequence[tuple[str, str]]) -> Rules:
    """Compile the rules shipped with a job as ``(name, text)`` pairs."""
    return compile_sources(list(sources))


class ContactTask:
    """The keyed step for one task: call :meth:`on_event` and :meth:`on_timer` with the
    key's stored value; obey the returned :class:`Outcome`.

    ``cutoff`` (epoch seconds) is the latest wake-up that may fire: a bounded input ends
    with a watermark that fires every timer, while ``engage run`` fires none beyond its
    clock (the last event's time, or ``--until``). None: fire all (unbounded input).
    """

    def __init__(
        self,
        rules: Rules,
        *,
        cutoff: float | None = None,
        recent_ids: int = DEFAULT_RECENT_IDS,
    ) -> None:
        self.rules = rules
        self.cutoff = cutoff
        self.recent_ids = recent_ids

    def on_event(self, value: Any, line: str) -> Outcome:
        """Apply one event (the JSON text ``line``) to the contact stored as ``value``."""
        slot = Slot.from_value(value)
        record = json.loads(line)
        event_id = record.get("id") if isinstance(record, dict) else None
        ids = slot.ids
        if isinstance(event_id, str) and self.recent_ids > 0:
            if event_id in ids:
                old = timer_ms(slot.wake)
                return Outcome(slot, [], [], old, old, duplicate=True)
            ids = (*ids, event_id)[-self.recent_ids :]
        result = step(self.rules, slot.state, record)
        return self._outcome(slot, result, ids)

    def on_timer(self, value: Any, timestamp: int) -> Outcome:
        """Fire the contact's wake-up whose timer is ``timestamp`` (ms). A stale timer
        (the wake-up moved and its delete raced the firing) or one past the cutoff
        changes nothing."""
        slot = Slot.from_value(value)
        moment = slot.wake
        if moment is None or slot.state is None or timer_ms(moment) != timestamp:
            return Outcome(slot, [], [], None, None)
        if self.cutoff is not None and moment > self.cutoff:
            return Outcome(slot, [], [], None, None)
        result = wake(self.rules, slot.state, moment)
        # The timer has fired: nothing to delete.
        return self._outcome(attrs.evolve(slot, wake=None), result, slot.ids)

    def _outcome(self, slot: Slot, result: StepResult, ids: tuple[str, ...]) -> Outcome:
        lines = [json.dumps(action.to_dict()) for action in result.actions]
        segments = segment_changes(result.deltas)
        old = timer_ms(slot.wake)
        if result.state is None and not ids:
            return Outcome(None, lines, segments, old, None)
        moment = None if result.state is None else result.next_wake
        return Outcome(Slot(result.state, moment, ids), lines, segments, old, timer_ms(moment))


def segment_changes(deltas: Deltas) -> list[tuple[str, int]]:
    """Segment entries (+1) and exits (-1) of one step, for the segment counts."""
    return [(name, 1) for name in deltas.entered] + [(name, -1) for name in deltas.left]
