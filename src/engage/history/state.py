"""What the engine keeps about history beyond the contacts' own rows.

- the ids of contacts deleted while active, so that one added again comes back
  suspended (emBlue's rule: a deletion cannot be undone by a re-import; reactivation
  is explicit);
- the batches ``engage track`` applied (by their key), so that a batch applied twice
  changes nothing the second time.

Both travel in the snapshot header under one key (:data:`HEADER_KEY`); the contacts'
rows travel with the contacts.
"""

from __future__ import annotations

from typing import Any, Final

#: The snapshot header key of :meth:`HistoryState.to_header`.
HEADER_KEY: Final = "history"
#: How many applied batch keys are remembered (oldest forgotten first).
MAX_BATCHES: Final = 10_000


class HistoryState:
    """Deleted-while-active ids and applied batch keys. Lookups are O(1)."""

    __slots__ = ("batches", "deleted_active")

    def __init__(self) -> None:
        #: Ids of contacts deleted while active (they come back suspended).
        self.deleted_active: set[str] = set()
        #: Applied batch keys -> their summary (counts), in the order applied.
        self.batches: dict[str, dict[str, Any]] = {}

    def note_batch(self, key: str, summary: dict[str, Any]) -> None:
        """Remember an applied batch (forgetting the oldest past :data:`MAX_BATCHES`)."""
        self.batches[key] = summary
        while len(self.batches) > MAX_BATCHES:
            del self.batches[next(iter(self.batches))]

    def to_header(self) -> dict[str, Any]:
        return {"deleted_active": sorted(self.deleted_active), "batches": self.batches}

    def load(self, header: Any) -> None:
        """Read :meth:`to_header` output; anything unreadable is left out."""
        if not isinstance(header, dict):
            return
        ids = header.get("deleted_active")
        if isinstance(ids, list):
            self.deleted_active = {i for i in ids if isinstance(i, str)}
        batches = header.get("batches")
        if isinstance(batches, dict):
            self.batches = {
                k: v for k, v in batches.items() if isinstance(k, str) and isinstance(v, dict)
            }
