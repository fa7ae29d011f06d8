"""Small records the engine hands to hosts: rejected records and counters."""

from __future__ import annotations

from typing import Any


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
        "future",
        "late",
        "rejected",
        "reordered",
    )

    def __init__(self) -> None:
        #: Records accepted (admitted).
        self.events = 0
        self.duplicates = 0
        #: Records rejected as bad, ``future`` among them.
        self.rejected = 0
        #: Records rejected for a time too far after the host's clock.
        self.future = 0
        #: Events applied at the clock because they came older than it (or, with a
        #: reorder bound, older than the watermark).
        self.late = 0
        #: Events that came out of order within the reorder bound, and were put back in
        #: time order.
        self.reordered = 0
        self.actions = 0
        self.contacts_created = 0
        self.deleted = 0

    def to_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}

    def load(self, counters: dict[str, Any]) -> None:
        """Set the counters a snapshot kept (names this version does not know are skipped)."""
        for name, value in counters.items():
            if name in self.__slots__:
                setattr(self, name, int(value))
