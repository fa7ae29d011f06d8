"""Idempotent ingestion: event ids seen recently are ignored when they come again.

An at-least-once feed may deliver an event twice. The engine remembers the ids of the
last ``capacity`` events that had one (default one million, about 100 bytes each) and
ignores, and counts, a repeat within that window. The window is part of snapshots, so
it holds across restarts. An id older than the window is accepted again: size the
window to cover the feed's redelivery horizon.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

DEFAULT_CAPACITY = 1_000_000


class DedupeWindow:
    """The ids of the most recent events, oldest evicted first."""

    __slots__ = ("_ids", "_order", "capacity")

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 0:
            raise ValueError("capacity must be zero or more")
        self.capacity = capacity
        self._ids: set[str] = set()
        self._order: deque[str] = deque()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> bool:
        """Remember an id; False if it was already in the window (a duplicate)."""
        ids = self._ids
        if event_id in ids:
            return False
        if self.capacity == 0:
            return True
        ids.add(event_id)
        order = self._order
        order.append(event_id)
        if len(order) > self.capacity:
            ids.discard(order.popleft())
        return True

    def ids(self) -> list[str]:
        """The remembered ids, oldest first (for snapshots)."""
        return list(self._order)

    def load(self, ids: Iterable[str]) -> None:
        for event_id in ids:
            self.add(event_id)
