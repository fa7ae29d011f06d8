"""Continuous exponential decay of a score, without touching contacts as time passes.

All contacts of one score decay at the same rate, so the engine stores for each contact
a *scaled* value ``s = v * 2 ** ((t - ref) / half_life)``, which does not change with
time; the value at the clock is ``s * 2 ** ((ref - now) / half_life)``. Adding points at
time t adds ``p * 2 ** ((t - ref) / half_life)`` to s. The order of contacts by s is the
order by value at any moment, so the sorted score index never needs re-sorting as time
passes. When the clock runs far from ``ref`` the factor would overflow a float; the
engine then moves ``ref`` forward and rescales every stored value (:meth:`rebase_factor`),
a rare O(contacts) step (every 500 half-lives).

Decay goes toward 0; ``clamp LO to HI`` applies to the value read (a clamp whose low
bound is above 0 holds the decayed value at LO).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

#: Move the reference time once the clock is this many half-lives past it.
REBASE_AFTER_HALF_LIVES = 500.0


class Decay:
    """The decay law of one score: half-life, clamp bounds and the reference time."""

    __slots__ = ("half_life", "high", "low", "ref")

    def __init__(self, half_life: float, low: float, high: float, ref: float = 0.0) -> None:
        self.half_life = half_life
        self.low = low
        self.high = high
        self.ref = ref

    def factor(self, now: float) -> float:
        """``2 ** ((now - ref) / half_life)``: value times factor is the scaled value."""
        return math.exp2((now - self.ref) / self.half_life)

    def raw(self, scaled: float, now: float) -> float:
        return scaled * math.exp2((self.ref - now) / self.half_life)

    def read(self, scaled: float | None, now: float) -> float | None:
        """The score's value at ``now`` (clamped), or None when empty."""
        if scaled is None:
            return None
        value = scaled * math.exp2((self.ref - now) / self.half_life)
        if value < self.low:
            return self.low
        if value > self.high:
            return self.high
        return value

    def scale(self, value: float, now: float) -> float:
        """The scaled form of ``value`` held at ``now``."""
        return value * math.exp2((now - self.ref) / self.half_life)

    def needs_rebase(self, now: float) -> bool:
        return abs(now - self.ref) > REBASE_AFTER_HALF_LIVES * self.half_life

    def rebase_factor(self, now: float) -> float:
        """Move ``ref`` to ``now``; returns the factor every stored value must be multiplied by."""
        factor = math.exp2((self.ref - now) / self.half_life)
        self.ref = now
        return factor

    def next_crossing(
        self, scaled: float | None, now: float, breakpoints: Sequence[float]
    ) -> float | None:
        """The first moment after ``now`` at which the value reaches or passes a
        breakpoint.

        The raw value moves toward 0, so only breakpoints between it and 0 (and inside
        the clamp bounds, where the read value can move) can be met. A value strictly on
        the far side of the nearest breakpoint first *reaches* it: the moment returned is
        the first float time at which the value read is at the breakpoint or past it
        (``score <= 1.5`` turns true there, when the value reads exactly 1.5). A value
        sitting on a breakpoint must *pass* it: the first float time strictly past
        (``score < 1.5`` turns true there). A condition evaluated at the moment returned
        sees the new side; when the value never reads the breakpoint exactly, the two
        moments are one.
        """
        if scaled is None or scaled == 0 or not breakpoints:
            return None
        raw = scaled * math.exp2((self.ref - now) / self.half_life)
        if raw > 0:
            # Moving down: the largest breakpoint below the current value, above 0.
            top = min(raw, self.high)
            index = bisect_right(breakpoints, top) - 1  # a value sitting on one must pass it
            if index < 0:
                return None
            target = breakpoints[index]
            if target <= 0 or target < self.low:
                return None
            moment = self.ref + self.half_life * math.log2(scaled / target)
            # Reaching target is passing the float just above it.
            edge = target if top == target else math.nextafter(target, math.inf)
            return self._first_past(scaled, moment, now, edge, below=True)
        bottom = max(raw, self.low)
        index = bisect_left(breakpoints, bottom)
        if index >= len(breakpoints):
            return None
        target = breakpoints[index]
        if target >= 0 or target > self.high:
            return None
        moment = self.ref + self.half_life * math.log2(scaled / target)
        edge = target if bottom == target else math.nextafter(target, -math.inf)
        return self._first_past(scaled, moment, now, edge, below=False)

    def _first_past(
        self, scaled: float, moment: float, now: float, target: float, *, below: bool
    ) -> float:
        """Nudge ``moment`` to the first float time strictly past ``target`` (to
        find when a breakpoint is reached, the caller passes the float beside it).

        The closed form is exact only to a few ulps of time: check it and its
        neighbours, else bracket the moment and bisect.
        """
        ref = self.ref
        half_life = self.half_life
        if moment > now:
            # Nearly always the closed form is the first float past, or one ulp
            # before it: check that, and be done.
            value = scaled * math.exp2((ref - moment) / half_life)
            if value < target if below else value > target:
                previous = math.nextafter(moment, -math.inf)
                if previous <= now:
                    return moment
                value = scaled * math.exp2((ref - previous) / half_life)
                if not (value < target if below else value > target):
                    return moment
            else:
                following = math.nextafter(moment, math.inf)
                value = scaled * math.exp2((ref - following) / half_life)
                if value < target if below else value > target:
                    return following

        def past(at: float) -> bool:
            value = scaled * math.exp2((ref - at) / half_life)
            return value < target if below else value > target

        # The general case: a value this close to the breakpoint reads the same over
        # many ulps of time (hundreds, for a slow decay), so stepping ulp by ulp may
        # not reach the edge. Bracket the first moment past between a moment that is
        # not past (``now`` is not: the breakpoint was chosen on the value's far side)
        # and one that is, then bisect down to two adjacent floats.
        high = max(moment, math.nextafter(now, math.inf))
        step = max(abs(high) * 1e-15, 1e-9)
        while not past(high):
            high += step
            step *= 2
        low = high
        step = max(abs(high) * 1e-15, 1e-9)
        while low > now and past(low):
            high = low
            low = max(high - step, now)
            step *= 2
        while True:
            middle = (low + high) / 2
            if middle <= low or middle >= high:
                return high
            if past(middle):
                high = middle
            else:
                low = middle
