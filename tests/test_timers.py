"""The timer index (a wheel of one-hour buckets) against a plain binary heap.

Whatever the pushes, the clock moves and the wake-ups moved or dropped in between, the
index must give back exactly the live entries a heap of every entry would, in the same
(moment, contact id) order — including entries pushed while the clock is moving, into
the bucket being popped or into an earlier one.
"""

from __future__ import annotations

import heapq
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from engage.time.timers import BUCKET_SECONDS, TimerIndex
from test_oracle_core import SETTINGS


class _Contact:
    __slots__ = ("id", "wake")

    def __init__(self, contact_id: str) -> None:
        self.id = contact_id
        self.wake: float | None = None


class _HeapTimers:
    """The reference: every entry in one heap (the index before the buckets)."""

    def __init__(self) -> None:
        self.heap: list[tuple[float, str]] = []

    def push(self, moment: float, contact_id: str) -> None:
        heapq.heappush(self.heap, (moment, contact_id))

    def pop_due(self, until: float, contacts: dict[str, Any]) -> list[tuple[float, str]]:
        out = []
        while self.heap and self.heap[0][0] <= until:
            moment, contact_id = heapq.heappop(self.heap)
            contact = contacts.get(contact_id)
            if contact is not None and contact.wake == moment:
                contact.wake = None
                out.append((moment, contact_id))
        return out


_IDS = [f"c{n}" for n in range(6)]
#: Moments near bucket edges and inside one bucket, so that ties and edges come up.
_OFFSETS = st.sampled_from([0.0, 1.0, 59.5, BUCKET_SECONDS - 1.0, BUCKET_SECONDS, 7200.0, 90000.0])

_OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("schedule"), st.sampled_from(_IDS), _OFFSETS),
        st.tuples(st.just("drop"), st.sampled_from(_IDS), st.just(0.0)),
        st.tuples(st.just("advance"), st.just(""), _OFFSETS),
    ),
    max_size=40,
)


def _run(operations: list[tuple[str, str, float]], index: Any) -> list[Any]:
    """Drive ``index`` like the engine does; returns what it fired, with moments."""
    contacts = {contact_id: _Contact(contact_id) for contact_id in _IDS}
    now = 10 * BUCKET_SECONDS
    fired: list[Any] = []
    for kind, contact_id, offset in operations:
        if kind == "schedule":
            contact = contacts[contact_id]
            moment = now + offset + 0.25
            if moment != contact.wake:
                contact.wake = moment
                index.push(moment, contact_id)
        elif kind == "drop":
            contacts[contact_id].wake = None
        else:
            now += offset
            if isinstance(index, TimerIndex):
                due = [(m, c.id) for m, c in index.pop_due_with_time(now, contacts)]
            else:
                due = index.pop_due(now, contacts)
            fired.append(("tick", now, due))
            # A woken contact schedules again, sometimes in the bucket being popped.
            for moment, woken in due:
                contacts[woken].wake = moment + 30.0
                index.push(moment + 30.0, woken)
    return fired


@SETTINGS
@given(_OPERATIONS)
def test_buckets_fire_like_one_heap(operations: list[tuple[str, str, float]]) -> None:
    assert _run(operations, TimerIndex()) == _run(operations, _HeapTimers())


def test_an_entry_pushed_while_popping_comes_out_in_order() -> None:
    contacts = {name: _Contact(name) for name in ("a", "b", "c")}
    index = TimerIndex()
    for name, moment in (("a", 100.0), ("b", 300.0)):
        contacts[name].wake = moment
        index.push(moment, name)
    seen = []
    for moment, contact in index.pop_due_with_time(1000.0, contacts):
        seen.append((moment, contact.id))
        if contact.id == "a":
            # Into the bucket being popped, before b's entry.
            contacts["c"].wake = 200.0
            index.push(200.0, "c")
    assert seen == [(100.0, "a"), (200.0, "c"), (300.0, "b")]
    assert len(index) == 0


def test_stale_entries_are_skipped_and_compacted() -> None:
    contacts = {f"c{n}": _Contact(f"c{n}") for n in range(3)}
    index = TimerIndex()
    for step in range(2000):
        contact = contacts[f"c{step % 3}"]
        contact.wake = 5000.0 + step
        index.push(contact.wake, contact.id)
    assert len(index) == 2000
    index.compact(contacts)
    assert index.entries() == sorted((c.wake, c.id) for c in contacts.values())
    assert index.next_moment(contacts) == min(c.wake for c in contacts.values() if c.wake)
    due = [(moment, contact.id) for moment, contact in index.pop_due_with_time(1e9, contacts)]
    assert due == [(6997.0, "c2"), (6998.0, "c0"), (6999.0, "c1")]
    assert index.next_moment(contacts) is None
