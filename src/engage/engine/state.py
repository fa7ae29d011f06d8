"""The engine's state record: what an engine knows that its rules do not determine.

Everything else an engine holds (segment members, the discarded set, the sorted
indexes, the timer wheel, compiled queries) is *derived*: rebuilt from this record and
the program whenever either changes (a restore, a reload). Storage writes and reads this
record; queries read it; nothing reads the façade's private attributes.
"""

from __future__ import annotations

import math
from typing import Any

from engage.engine.records import Rejected, Stats
from engage.history.state import HistoryState
from engage.state.contact import Contact
from engage.state.dedupe import DedupeWindow
from engage.triggers.cascade import Problem


class EngineState:
    """Contacts, the clock, the dedupe window, counters and what was kept aside.

    Args:
        dedupe_capacity: how many recent event ids the dedupe window remembers.
    """

    __slots__ = (
        "contacts",
        "dedupe",
        "deleted_history",
        "flow_versions",
        "history",
        "now",
        "position",
        "problems",
        "rejected",
        "stats",
    )

    def __init__(self, dedupe_capacity: int) -> None:
        #: Every live contact by id.
        self.contacts: dict[str, Contact] = {}
        #: The clock in epoch seconds (``-inf`` before the first event).
        self.now = -math.inf
        #: How many records the engine has been given, accepted or not.
        self.position = 0
        self.dedupe = DedupeWindow(dedupe_capacity)
        self.stats = Stats()
        #: The tracked history of deleted contacts, kept when they are removed.
        self.deleted_history: dict[str, list[Any]] = {}
        #: The text of every version of each flow the engine has run (name -> texts,
        #: version N at index N - 1; see engage.flows.versions).
        self.flow_versions: dict[str, list[str]] = {}
        #: Deleted-while-active ids and applied tracking batches (engage.history.state).
        self.history = HistoryState()
        #: Records that were not accepted, with their reason.
        self.rejected: list[Rejected] = []
        #: What went wrong while running rules (loops, internal errors).
        self.problems: list[Problem] = []

    @property
    def started(self) -> bool:
        """Whether the clock has been set (by an event or an advance)."""
        return self.now != -math.inf

    def clock_or_zero(self) -> float:
        """The clock, or 0.0 before it is set (for reads that need a number)."""
        return 0.0 if self.now == -math.inf else self.now

    def reject(self, record: Any, reason: str, position: int | None) -> None:
        """Count and keep a record that was not accepted."""
        self.stats.rejected += 1
        self.rejected.append(Rejected(record, reason, position))
