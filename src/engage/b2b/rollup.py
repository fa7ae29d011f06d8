"""One roll-up of one account: a running aggregate of its contacts' contributions.

Contributions are added and removed as contacts' deltas arrive (a score changed, the
contact moved, it was deleted); nothing here ever looks at the contacts themselves.

- ``sum``, ``avg`` and ``count`` keep a total and a number of values: O(1) per change.
- ``max`` and ``min`` keep a sorted list of ``(value, contact)``: O(log n) per change
  (sortedcontainers' ``SortedList``: a list of sorted lists, log-time in practice).

A decaying score is summed in its *scaled* form (``scoring/decay.py``): every contact's
scaled value is its value times the same factor of the clock, so the sum of scaled
values read at the clock is the sum of values at the clock, exact as time passes
without touching anything; the order of scaled values is the order of values, so max
and min need no re-sorting either. When the engine rebases a decay (every 500
half-lives) the aggregates are rescaled with the contacts (:meth:`Aggregate.rescale`).
"""

from __future__ import annotations

from math import exp2
from typing import Any

from sortedcontainers import SortedList

from engage.scoring.decay import Decay


class Aggregate:
    """The aggregate of one roll-up over one account's contacts."""

    __slots__ = ("kind", "n", "ordered", "total")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        #: How many contacts contribute a value (for ``count``: how many match).
        self.n = 0
        self.total: float = 0
        self.ordered: SortedList | None = SortedList() if kind in ("max", "min") else None

    def add(self, contact: str, value: Any) -> None:
        """A contact's contribution joins (None and False contribute nothing)."""
        if value is None or value is False:
            return
        self.n += 1
        if self.ordered is not None:
            self.ordered.add((value, contact))
        elif self.kind != "count":
            self.total += value

    def remove(self, contact: str, value: Any) -> None:
        """A contribution added earlier leaves (the same value that was added)."""
        if value is None or value is False:
            return
        self.n -= 1
        if self.ordered is not None:
            self.ordered.remove((value, contact))
        elif self.kind != "count":
            # Back to exactly zero when the last value leaves: no rounding residue.
            self.total = 0 if self.n == 0 else self.total - value

    def shift(self, contact: str, before: Any, after: Any) -> None:
        """A contribution changed (:meth:`remove` then :meth:`add`, in one call for the
        common case: a sum's value moved)."""
        if (
            self.ordered is None
            and self.kind != "count"
            and before.__class__ is float
            and after.__class__ is float
        ):
            self.total += after - before
            return
        self.remove(contact, before)
        self.add(contact, after)

    def read(self, decay: Decay | None, now: float) -> Any:
        """The roll-up's value at ``now`` (None: no contact has a value; count: 0)."""
        kind = self.kind
        if kind == "count":
            return self.n
        if self.n == 0:
            return None
        if self.ordered is not None:
            value = self.ordered[-1][0] if kind == "max" else self.ordered[0][0]
            return value if decay is None else decay.read(value, now)
        total = self.total
        if decay is not None:
            total *= exp2((decay.ref - now) / decay.half_life)
        return total / self.n if kind == "avg" else total

    def rescale(self, factor: float) -> None:
        """Multiply every scaled value by ``factor`` (a decay rebase): O(n) for max and
        min (the order is kept), O(1) otherwise."""
        self.total *= factor
        if self.ordered is not None:
            self.ordered = SortedList((value * factor, contact) for value, contact in self.ordered)
