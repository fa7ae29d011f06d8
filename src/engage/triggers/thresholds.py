"""The threshold index: which rules on a score can change truth when the score moves.

A rule whose condition reads one score and constants only (``score >= 5``,
``score between 10 and 20``, ``score < 3 or score == 7``) is a function of the score's
value that is constant between consecutive constants of the condition (its
*breakpoints*). So when the score moves from ``old`` to ``new``, only rules with a
breakpoint in ``[min(old, new), max(old, new)]`` can change truth: two bisections in a
sorted list of breakpoints find them, in O(log R + k) for R rules of which k are in the
range, instead of evaluating all R.

An empty score (never set) is not on the number line; the index treats it as lying
below every breakpoint, and keeps apart the few rules (``score != 3``,
``score is empty``, ``not score >= 5``) whose truth on an empty score differs from
their truth below every breakpoint.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class ThresholdIndex(Generic[T]):
    """Rules on one score, indexed by the breakpoints of their conditions."""

    __slots__ = ("_rules", "none_special", "points", "points_belong_above", "rises_only", "size")

    def __init__(
        self,
        entries: Iterable[tuple[T, Sequence[float], Callable[[Any], bool]]],
    ) -> None:
        """``entries``: (rule, its breakpoints, its predicate of the score value)."""
        pairs: list[tuple[float, int, T]] = []
        special: list[T] = []
        order = 0
        #: Every rule's condition only turns true as the score rises: a score that goes
        #: down (from a value, not from empty) can then fire none of them.
        self.rises_only = True
        #: At every breakpoint, every rule holds what it holds just above it (``>=``,
        #: ``<``, not ``>``): a move from ``old`` to ``new`` then changes a rule only if
        #: a breakpoint lies in ``(min, max]``, and a score resting on a breakpoint
        #: that moves away from it upward changes nothing there.
        self.points_belong_above = True
        for rule, points, predicate in entries:
            for point in sorted(set(points)):
                pairs.append((point, order, rule))
            below = min(points) - 1.0 if points else 0.0
            if bool(predicate(None)) != bool(predicate(below)):
                special.append(rule)
            if self.rises_only and not _only_rises(points, predicate):
                self.rises_only = False
            if self.points_belong_above and not _belong_above(points, predicate):
                self.points_belong_above = False
            order += 1
        pairs.sort(key=lambda item: (item[0], item[1]))
        #: Sorted breakpoints. Integers when every breakpoint is a whole number: scores
        #: are whole numbers in most rule sets, and CPython compares an int with an int
        #: several times faster than with a float, which is most of a bisection's cost.
        self.points: list[float] = [point for point, _, _ in pairs]
        if all(_whole(point) for point in self.points):
            self.points = [int(point) for point in self.points]
        self._rules: list[T] = [rule for _, _, rule in pairs]
        self.none_special: tuple[T, ...] = tuple(special)
        self.size = order

    def __len__(self) -> int:
        return self.size

    def rules(self) -> list[T]:
        """Every rule of the index, once each."""
        seen: dict[int, T] = {}
        for rule in (*self._rules, *self.none_special):
            seen.setdefault(id(rule), rule)
        return list(seen.values())

    @property
    def breakpoints(self) -> tuple[float, ...]:
        """Every breakpoint, sorted, without repeats (for decay crossing times)."""
        return tuple(sorted(set(self.points)))

    def candidates(self, old: float | None, new: float | None) -> list[T]:
        """Rules whose truth may differ between ``old`` and ``new`` (no duplicates).

        Runtime complexity: O(log R + k), k the rules with a breakpoint in range.
        """
        points = self.points
        if old is None or new is None:
            if old is None and new is None:
                return []
            value: float = new if old is None else old  # type: ignore[assignment]
            hi = bisect_right(points, value)
            found = self._rules[:hi]
            found.extend(self.none_special)
        else:
            if old <= new:
                lo = bisect_left(points, old)
                hi = bisect_right(points, new)
            else:
                lo = bisect_left(points, new)
                hi = bisect_right(points, old)
            if lo == hi:
                return []
            found = self._rules[lo:hi]
        if len(found) > 1:
            seen: set[int] = set()
            unique = []
            for rule in found:
                if id(rule) not in seen:
                    seen.add(id(rule))
                    unique.append(rule)
            return unique
        return found

    def check(self) -> None:
        """Assert the internal invariants (for tests)."""
        assert self.points == sorted(self.points)
        assert len(self.points) == len(self._rules)


def _whole(point: float) -> bool:
    """Whether ``point`` is a whole number (as an int it compares the same)."""
    return isinstance(point, int) or (isinstance(point, float) and point.is_integer())


def _only_rises(points: Sequence[float], predicate: Callable[[Any], bool]) -> bool:
    """Whether ``predicate`` never goes from true to false as the value rises."""
    stretches = _stretches(points)
    if not stretches:
        return True
    was_true = bool(predicate(stretches[0][0] - 1.0))
    for here, above in stretches:
        for value in (here, above):
            holds = bool(predicate(value))
            if was_true and not holds:
                return False
            was_true = holds
    return True


def _belong_above(points: Sequence[float], predicate: Callable[[Any], bool]) -> bool:
    """Whether at each breakpoint ``predicate`` holds what it holds just above it."""
    return all(
        bool(predicate(here)) == bool(predicate(above)) for here, above in _stretches(points)
    )


def _stretches(points: Sequence[float]) -> list[tuple[float, float]]:
    """Each breakpoint, ascending, with a value inside the stretch just above it.

    A rule's predicate is constant between consecutive breakpoints, so these values
    (and one below the first) show every truth value it takes, in order.
    """
    ordered = sorted(set(points))
    if not ordered:
        return []
    return [
        (here, (here + after) / 2)
        for here, after in zip(ordered, [*ordered[1:], ordered[-1] + 2.0], strict=False)
    ]
