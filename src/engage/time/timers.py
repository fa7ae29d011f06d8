"""The timer index: every future moment at which some contact changes by time alone.

Each contact has at most one pending wake-up (``Contact.wake``): the earliest moment at
which one of the program's time atoms — a recency-class boundary, a ``within`` window
ending, an event leaving a ``had``/``count`` window, a decaying score passing a threshold
— can change something for it. That is the shape a stream processor such as Flink wants
(one event-time timer per key). The index is a binary heap of ``(moment, contact id)``:
moving the clock pops the due entries in time order, then by contact id, which makes
firing deterministic. A contact whose wake-up moves leaves its old entry behind; popped
entries that no longer match ``Contact.wake`` are skipped, and the heap is rebuilt when
such stale entries outnumber the live ones.

Cost: moving the clock costs O(log n) per wake-up that fires — it follows the number of
transitions, not contacts times ticks.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping

from engage.program import Program
from engage.state.contact import WINDOWS, Contact, score_of
from engage.time.valuation import is_discarded, next_boundary
from engage.time.windows import next_expiry


class TimerIndex:
    """Pending wake-ups, earliest first."""

    __slots__ = ("_heap",)

    def __init__(self) -> None:
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, moment: float, contact_id: str) -> None:
        heapq.heappush(self._heap, (moment, contact_id))

    def next_moment(self, contacts: Mapping[str, Contact] | None = None) -> float | None:
        """The earliest pending moment, or None.

        With ``contacts``, stale entries at the head (a contact whose wake-up moved or
        who was deleted) are dropped first, so the answer is a moment that will fire.
        """
        heap = self._heap
        if contacts is not None:
            while heap:
                moment, contact_id = heap[0]
                contact = contacts.get(contact_id)
                if contact is not None and contact.wake == moment:
                    break
                heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, until: float, contacts: Mapping[str, Contact]) -> Iterator[Contact]:
        """Contacts whose wake-up is at or before ``until``, in (moment, id) order.

        Each contact's ``wake`` is cleared before it is yielded; the caller processes
        it at ``contact.wake``'s old value, given back as the yielded moment by
        :meth:`pop_due_with_time`.
        """
        for _, contact in self.pop_due_with_time(until, contacts):
            yield contact

    def pop_due_with_time(
        self, until: float, contacts: Mapping[str, Contact]
    ) -> Iterator[tuple[float, Contact]]:
        heap = self._heap
        while heap and heap[0][0] <= until:
            moment, contact_id = heapq.heappop(heap)
            contact = contacts.get(contact_id)
            if contact is None or contact.wake != moment:
                continue  # stale: the contact's wake-up moved, or it was deleted
            contact.wake = None
            yield moment, contact

    def compact(self, contacts: Mapping[str, Contact]) -> None:
        """Rebuild from the live wake-ups when stale entries dominate."""
        if len(self._heap) <= 4 * len(contacts) + 1024:
            return
        self._heap = [(c.wake, c.id) for c in contacts.values() if c.wake is not None]
        heapq.heapify(self._heap)

    def entries(self) -> list[tuple[float, str]]:
        """The live and stale entries, sorted (for snapshots and tests)."""
        return sorted(self._heap)


def next_wake(program: Program, contact: Contact, now: float) -> float | None:
    """The earliest moment after ``now`` at which time alone may change ``contact``."""
    best: float | None = None
    for atom in program.time_atoms:
        kind = atom.kind
        moment: float | None = None
        if kind == "valuation":
            if not is_discarded(contact):
                moment = next_boundary(program.classes, contact.last_activity, now)
        elif kind == "within":
            assert atom.anchor is not None
            anchor = atom.anchor(contact, None, now)
            if anchor.__class__ is float:
                moment = anchor + atom.window
                if moment <= now:
                    moment = None
        elif kind == "decay":
            decay = program.scores[atom.score].decay
            if decay is not None:
                moment = decay.next_crossing(score_of(contact, atom.score), now, atom.breakpoints)
        elif kind == "window":
            extra = contact.extra
            if extra is not None:
                windows = extra.get(WINDOWS)
                if windows:
                    moment = next_expiry(windows.get(atom.atom), atom.window, now)
        if moment is not None and (best is None or moment < best):
            best = moment
    return best
