"""The journal: the one owner of the write-ahead event log and its sequence numbers.

Every accepted record and every clock move is written here before it is applied, when
durability is on (see :mod:`engage.storage.statedir`); without a log attached, writing
costs one attribute test. The sequence number counts entries ever written, across log
segments and snapshots, so that recovery knows which entries a snapshot covers.
"""

from __future__ import annotations

from typing import Any

from engage.events import Event, envelope_key
from engage.storage.eventlog import EventLog


class Journal:
    """Sequence numbers, and the event log they are written to (when attached)."""

    __slots__ = ("_log", "active", "seq")

    def __init__(self) -> None:
        self._log: EventLog | None = None
        #: Whether a log is attached (a plain attribute: admission reads it per event).
        self.active = False
        #: The number of the last entry written (or replayed).
        self.seq = 0

    @property
    def path(self) -> str | None:
        """The file of the attached log segment, or None."""
        return None if self._log is None else self._log.path

    def attach(self, log: EventLog | None) -> EventLog | None:
        """Write to ``log`` from now on (None: stop logging); returns the previous log,
        which the caller closes."""
        previous = self._log
        self._log = log
        self.active = log is not None
        return previous

    def event(self, position: int | None, event: Event) -> None:
        """Write an accepted event (with the record position it came from)."""
        log = self._log
        if log is not None:
            self.seq += 1
            log.append(
                {
                    "n": self.seq,
                    "p": position,
                    "e": {
                        envelope_key(event.type): event.contact,
                        "type": event.type,
                        "at": event.at,
                        "id": event.id,
                        "data": event.data,
                    },
                }
            )

    def advance(self, moment: float) -> None:
        """Write a move of the clock."""
        log = self._log
        if log is not None:
            self.seq += 1
            log.append({"n": self.seq, "a": moment})

    def record(self, key: str, payload: Any) -> None:
        """Write an entry of another kind (``{key: payload}``; a tracking batch's
        chunk, see :mod:`engage.history.batch`), replayed by ``Engine.replay_entry``."""
        log = self._log
        if log is not None:
            self.seq += 1
            log.append({"n": self.seq, key: payload})

    def sync(self) -> None:
        """Force what was written to disk."""
        if self._log is not None:
            self._log.sync()

    def close(self) -> None:
        """Close the attached log, if any, and stop logging."""
        log = self.attach(None)
        if log is not None:
            log.close()
