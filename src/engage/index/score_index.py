"""Sorted indexes of contacts by score (and by last activity), kept lazily.

Each index is a ``SortedList`` of ``(key, contact id)`` pairs: counting the contacts in a
range is two bisections, ``top(k)`` reads from the end. Keeping such a list exact on every
event would cost two O(log n) list operations per event on the hot path, so the indexes
are lazy: nothing is built until a query needs it, and after that the engine only notes,
the first time a contact changes after a query, what its keys were (:meth:`mark`). The next
query applies those notes in one batch (:meth:`sync`). Decaying scores are indexed by
their scaled value, whose order does not change with time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sortedcontainers import SortedList

from engage.state.contact import Contact, score_of

#: The index of last activity, beside the per-score ones (which use the score index).
LAST_ACTIVITY = -1


class _Top:
    """Compares above every contact id: ``(v, TOP)`` sorts after every ``(v, id)``."""

    __slots__ = ()

    def __lt__(self, other: object) -> bool:
        return False

    def __gt__(self, other: object) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return 0


TOP = _Top()


def _key(contact: Contact, which: int) -> Any:
    return contact.last_activity if which == LAST_ACTIVITY else score_of(contact, which)


class SortedIndexes:
    """The lazily kept indexes of one engine."""

    __slots__ = ("dirty", "lists")

    def __init__(self) -> None:
        self.lists: dict[int, SortedList] = {}
        #: Contacts changed since the last sync, with their keys as they are indexed.
        #: None while no index exists, so the hot path pays nothing.
        self.dirty: dict[Contact, tuple[Any, ...]] | None = None

    def mark(self, contact: Contact) -> None:
        """Note a contact's keys before it changes (only the first time since a sync):
        its scores by index, then its last activity (at :data:`LAST_ACTIVITY`)."""
        dirty = self.dirty
        if dirty is not None and contact not in dirty:
            dirty[contact] = (contact.first_score, *contact.more_scores, contact.last_activity)

    def ensure(self, which: int, contacts: Mapping[str, Contact]) -> SortedList:
        """The index ``which`` (a score index or LAST_ACTIVITY), built if needed, synced."""
        self.sync(contacts)
        index = self.lists.get(which)
        if index is None:
            index = SortedList(
                (key, c.id) for c in contacts.values() if (key := _key(c, which)) is not None
            )
            self.lists[which] = index
            if self.dirty is None:
                self.dirty = {}
        return index

    def sync(self, contacts: Mapping[str, Contact]) -> None:
        """Apply the changes noted since the last query."""
        dirty = self.dirty
        if not dirty:
            return
        for contact, old_keys in dirty.items():
            alive = contacts.get(contact.id) is contact
            for which, index in self.lists.items():
                old = old_keys[which]
                new = _key(contact, which) if alive else None
                if old == new and (old is None) == (new is None):
                    continue
                if old is not None:
                    index.discard((old, contact.id))
                if new is not None:
                    index.add((new, contact.id))
        dirty.clear()

    def rescale(self, which: int, factor: float, contacts: Mapping[str, Contact]) -> None:
        """A decaying score's stored values were all multiplied by ``factor``: rebuild."""
        self.sync(contacts)
        if which in self.lists:
            del self.lists[which]
            self.ensure(which, contacts)

    def drop(self) -> None:
        self.lists.clear()
        self.dirty = None

    def check(self, contacts: Mapping[str, Contact]) -> None:
        """Assert every invariant of the indexes, without syncing them (for tests).

        The indexes are lazy, so "every entry is the contact's current key" is not what
        they promise. What they promise, and what is checked, is that a sync would make
        them exact: dirty is None exactly while no index is built; each list is a
        well-formed ``SortedList``; each noted contact has one old key per index; and
        each index holds exactly the old key of every noted contact (alive or deleted)
        plus the current key of every contact not noted (None keys are not indexed).
        A contact changed without :meth:`mark` shows up as a missing or stale entry.

        Raises AssertionError naming the invariant that broke. Cost: O(n log n) per
        built index, n the contacts (it builds the expected list and sorts it).
        """
        dirty = self.dirty
        assert (dirty is None) == (not self.lists), (
            f"dirty notes must exist exactly while an index is built "
            f"(dirty is {'None' if dirty is None else 'set'}, {len(self.lists)} indexes)"
        )
        noted = dirty or {}
        for contact, old_keys in noted.items():
            width = 2 + len(contact.more_scores)
            assert len(old_keys) == width, (
                f"contact {contact.id!r}: {len(old_keys)} noted keys, expected {width}"
            )
        for which, index in self.lists.items():
            try:
                index._check()
            except AssertionError as error:  # sortedcontainers' own invariants
                raise AssertionError(f"index {which}: SortedList broken: {error}") from error
            expected: list[tuple[Any, str]] = []
            for contact in contacts.values():
                key = noted[contact][which] if contact in noted else _key(contact, which)
                if key is not None:
                    expected.append((key, contact.id))
            for contact, old_keys in noted.items():
                if contacts.get(contact.id) is not contact and old_keys[which] is not None:
                    expected.append((old_keys[which], contact.id))
            expected.sort()
            assert len(index) == len(expected), (
                f"index {which}: {len(index)} entries, expected {len(expected)}"
            )
            for position, (entry, wanted) in enumerate(zip(index, expected, strict=True)):
                assert entry == wanted, (
                    f"index {which}: entry {position} is {entry!r}, expected {wanted!r} "
                    "(a contact changed without mark, or a sync missed it)"
                )


def count_between(
    index: SortedList,
    low: Any = None,
    low_inclusive: bool = True,
    high: Any = None,
    high_inclusive: bool = True,
) -> int:
    """How many entries have a key in the range (None: unbounded). O(log n)."""
    start, stop = _positions(index, low, low_inclusive, high, high_inclusive)
    return max(0, stop - start)


def ids_between(
    index: SortedList,
    low: Any = None,
    low_inclusive: bool = True,
    high: Any = None,
    high_inclusive: bool = True,
) -> Iterator[str]:
    start, stop = _positions(index, low, low_inclusive, high, high_inclusive)
    for position in range(start, stop):
        yield index[position][1]


def _positions(
    index: SortedList, low: Any, low_inclusive: bool, high: Any, high_inclusive: bool
) -> tuple[int, int]:
    if low is None:
        start = 0
    elif low_inclusive:
        start = index.bisect_left((low,))
    else:
        start = index.bisect_right((low, TOP))
    if high is None:
        stop = len(index)
    elif high_inclusive:
        stop = index.bisect_right((high, TOP))
    else:
        stop = index.bisect_left((high,))
    return start, stop


def top_entries(index: SortedList, k: int) -> list[tuple[Any, str]]:
    """The k highest entries, highest first; equal keys in contact-id order."""
    result: list[tuple[Any, str]] = []
    position = len(index) - 1
    while position >= 0 and len(result) < k:
        key = index[position][0]
        group_start = index.bisect_left((key,))
        wanted = k - len(result)
        # Within a key the entries are in id order: take the first ids of the group.
        result.extend(index.islice(group_start, min(position + 1, group_start + wanted)))
        position = group_start - 1
    return result[:k]


def keys_of(entries: Iterable[tuple[Any, str]]) -> list[str]:
    return [contact_id for _, contact_id in entries]
