"""The reorder buffer: a live feed applied in time order, as a watermark does.

Sources deliver events a little out of order (retries, several producers, mobile
devices that buffer). With a bound set (``Engine(max_out_of_order=...)``), admitted
events are held until the *watermark* — the latest event time seen, less the bound —
passes them, then applied earliest first (ties in arrival order). An event that arrives
older than the watermark was already overtaken by events applied after it: it is
applied at once, at the clock, and counted late, exactly as without a buffer.

Held events are already journaled (admission writes them on arrival), so a crash loses
none: replaying the log passes them through the same buffer, in the same order, and a
snapshot keeps the ones still held. Cost: one heap push and pop per event
(O(log h) for h held events).
"""

from __future__ import annotations

import heapq
import math
from typing import Any

from engage.events import Event, Update

#: One held event: (time, arrival number, event, contact.updated updates).
Held = tuple[float, int, Event, list[Update] | None]


class ReorderBuffer:
    """Admitted events held until the watermark passes them.

    Args:
        bound: how far out of order events may arrive, in seconds.
    """

    __slots__ = ("_arrivals", "_held", "bound", "latest")

    def __init__(self, bound: float) -> None:
        if not bound >= 0:
            raise ValueError("max_out_of_order must be zero or more seconds")
        self.bound = bound
        self._held: list[Held] = []
        self._arrivals = 0
        #: The latest event time seen (the watermark is this less the bound).
        self.latest = -math.inf

    def __len__(self) -> int:
        return len(self._held)

    @property
    def watermark(self) -> float:
        return self.latest - self.bound

    def overtaken(self, moment: float) -> bool:
        """Whether an event at ``moment`` arrives after the watermark passed it."""
        return moment < self.watermark

    def hold(self, event: Event, updates: list[Update] | None) -> None:
        """Keep an admitted event until the watermark passes it."""
        moment: float = event.at  # type: ignore[assignment]  # admitted: always set
        self._arrivals += 1
        heapq.heappush(self._held, (moment, self._arrivals, event, updates))
        self.latest = max(self.latest, moment)

    def release(self, until: float | None = None) -> list[Held]:
        """Take the held events at or before ``until`` (default: the watermark), earliest
        first. ``until=math.inf`` releases everything. Cost: a comparison when nothing is
        due, one heap pop per event released."""
        limit = self.latest - self.bound if until is None else until
        held = self._held
        if not held or held[0][0] > limit:
            return []
        released = []
        while held and held[0][0] <= limit:
            released.append(heapq.heappop(held))
        return released

    def held(self) -> list[Held]:
        """Every held event, in release order (for snapshots)."""
        return sorted(self._held)

    def load(self, entries: list[tuple[Event, list[Update] | None]], latest: float) -> None:
        """Hold events a snapshot kept, in their release order."""
        for event, updates in entries:
            self.hold(event, updates)
        self.latest = max(self.latest, latest)

    def to_state(self) -> dict[str, Any]:
        return {"latest": None if self.latest == -math.inf else self.latest}
