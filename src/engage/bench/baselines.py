"""Hand-written pure-Python baselines, run in the same process as the engine.

A speed figure means little on its own (machines differ by 3x); a ratio against a
tight loop doing the same work on the same machine in the same run does not move
with the machine. Each baseline here is what a competent developer would write for
exactly one workload, with no rules language, no validation and no generality: the
upper bound a general engine is measured against.

:func:`threshold_loop` is issue 2's loop: a dict of scores and a bisection over the
sorted thresholds. :class:`RescanBaseline` is issue 3's naive clock: at every tick it
recomputes every contact's recency class and decayed scores, evaluates every
threshold, and diffs against the previous tick — O(contacts x ticks).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import Any

from engage.bench.rulesets import (
    ENGAGEMENT_HALF_LIFE_DAYS,
    ENGAGEMENT_POINTS,
    HEAT_HALF_LIFE_DAYS,
    HEAT_POINTS,
    TIME_CLASSES,
    TIME_THRESHOLDS,
    VALUATION_DAYS,
)

DAY = 86_400.0


class ThresholdResult:
    """What the threshold loop computed: crossings in order, final scores and tags."""

    __slots__ = ("crossings", "scores", "tags")

    def __init__(
        self,
        crossings: list[tuple[str, int]],
        scores: dict[str, float | None],
        tags: dict[str, set[str]],
    ) -> None:
        #: (contact, threshold index) for every upward crossing, in event order.
        self.crossings = crossings
        self.scores = scores
        self.tags = tags


def threshold_loop(
    events: Sequence[Mapping[str, Any]],
    points: Mapping[str, float],
    thresholds: Sequence[float],
    tag_names: Sequence[str],
) -> ThresholdResult:
    """Issue 2's baseline: scores in a dict, thresholds by bisection, tags in sets.

    It keeps the engine's semantics for ``when score >= k then tag T``: a contact's
    score starts empty (None) and the first points set it; a rule fires when the score
    goes from below k (or empty) to k or above, in ascending k order, and re-arms when
    the score drops below k again (nothing to store: "armed" is ``score < k``). The
    clock is the latest event time, as in the engine. Event types with no points
    register the contact and change nothing else.
    """
    scores: dict[str, float | None] = {}
    tags: dict[str, set[str]] = {}
    crossings: list[tuple[str, int]] = []
    points_get = points.get
    scores_get = scores.get
    tags_get = tags.get
    record = crossings.append
    ks = list(thresholds)
    names = list(tag_names)
    count = len(ks)
    lowest = ks[0] if ks else math.inf
    bisect = bisect_right
    now = -math.inf
    for event in events:
        at = event["at"]
        if at > now:  # noqa: PLR1730 - max() is a call per event: slower in the hot loop
            now = at
        contact = event["contact"]
        delta = points_get(event["type"])
        old = scores_get(contact)
        if delta is None:
            if old is None and contact not in scores:
                scores[contact] = None
            continue
        if old is None:
            new = delta
            scores[contact] = new
            if new < lowest:
                continue
            first = 0
        else:
            new = old + delta
            scores[contact] = new
            if new <= old:
                continue  # going down re-arms, which needs no bookkeeping: armed is score < k
            first = bisect(ks, old)
            if first == count or ks[first] > new:
                continue  # the usual case: no threshold between old and new
        last = bisect(ks, new, first)
        contact_tags = tags_get(contact)
        if contact_tags is None:
            contact_tags = tags[contact] = set()
        for index in range(first, last):
            record((contact, index))
            contact_tags.add(names[index])
    return ThresholdResult(crossings, scores, tags)


# -- the naive clock (issue 3) -----------------------------------------------------------

#: Bit of each time-workload tag in a contact's truth mask: the classes, then thresholds.
TIME_TAGS: tuple[str, ...] = (*TIME_CLASSES, *(tag for tag, _, _, _ in TIME_THRESHOLDS))
_BIT = {tag: 1 << position for position, tag in enumerate(TIME_TAGS)}


class RescanBaseline:
    """Issue 3's naive baseline: rescan every contact at every tick and diff.

    State per contact, in parallel lists (the leanest pure-Python layout): last
    activity, and each decaying score as its value at the reference time ``ref`` (the
    clock after ingestion), so that reading it at ``t`` is one multiplication by a
    factor computed once per tick — the decay law is the same as the engine's, the work
    per contact per tick is not avoided. A contact's *truth mask* has one bit per rule
    (:data:`TIME_TAGS`); a rule fires at a tick when its bit rises.

    It is built from the same events as the engine, by its own arithmetic (no engine
    state is read), so the comparison of transitions is also a check of the engine's
    decay, recency and threshold logic.
    """

    def __init__(self, events: Sequence[Mapping[str, Any]]) -> None:
        index: dict[str, int] = {}
        ids: list[str] = []
        last: list[float] = []
        engagement: list[float | None] = []
        engagement_at: list[float] = []
        heat: list[float | None] = []
        heat_at: list[float] = []
        e_rate = math.log(2) / (ENGAGEMENT_HALF_LIFE_DAYS * DAY)
        h_rate = math.log(2) / (HEAT_HALF_LIFE_DAYS * DAY)
        e_points = ENGAGEMENT_POINTS
        h_points = HEAT_POINTS
        exp = math.exp
        now = -math.inf
        for event in events:
            contact = event["contact"]
            at = event["at"]
            if at > now:  # noqa: PLR1730 - as above
                now = at
            i = index.get(contact)
            if i is None:
                i = index[contact] = len(ids)
                ids.append(contact)
                last.append(at)
                engagement.append(None)
                engagement_at.append(at)
                heat.append(None)
                heat_at.append(at)
            elif at > last[i]:
                last[i] = at
            kind = event["type"]
            delta = e_points.get(kind)
            if delta is not None:
                old = engagement[i]
                engagement[i] = (
                    delta if old is None else old * exp(-e_rate * (at - engagement_at[i])) + delta
                )
                engagement_at[i] = at
            delta = h_points.get(kind)
            if delta is not None:
                old = heat[i]
                heat[i] = delta if old is None else old * exp(-h_rate * (at - heat_at[i])) + delta
                heat_at[i] = at
        self.ref = now
        self.ids = ids
        self.last = last
        # Values at the reference time: value(t) = value(ref) * 2 ** ((ref - t) / half_life).
        self.engagement = [
            None if v is None else v * exp(-e_rate * (now - t))
            for v, t in zip(engagement, engagement_at, strict=True)
        ]
        self.heat = [
            None if v is None else v * exp(-h_rate * (now - t))
            for v, t in zip(heat, heat_at, strict=True)
        ]
        self.masks = self._masks(now)

    def _masks(self, t: float) -> list[int]:
        """Every contact's truth mask at ``t`` (the state before the first tick)."""
        masks: list[int] = []
        for i in range(len(self.ids)):
            masks.append(self._mask(i, t))
        return masks

    def _mask(self, i: int, t: float) -> int:
        age = t - self.last[i]
        mask = _class_bit(age)
        ref = self.ref
        value = self.engagement[i]
        if value is not None:
            value *= 2.0 ** ((ref - t) / (ENGAGEMENT_HALF_LIFE_DAYS * DAY))
            mask |= _threshold_bits("engagement", value)
        value = self.heat[i]
        if value is not None:
            value *= 2.0 ** ((ref - t) / (HEAT_HALF_LIFE_DAYS * DAY))
            mask |= _threshold_bits("heat", value)
        return mask

    def tick(self, t: float) -> tuple[list[tuple[str, str]], int]:
        """Move to time ``t``: rescan every contact; returns (fired (contact, tag), changes).

        ``changes`` counts rule truth changes (a rule fired, or turned false and re-armed):
        the transitions an incremental engine has to process.
        This is the timed inner loop: everything is a local, the decay factors are
        computed once per tick, the thresholds and class windows are constants.
        """
        fired: list[tuple[str, str]] = []
        changes = 0
        ids = self.ids
        last = self.last
        engagement = self.engagement
        heat = self.heat
        masks = self.masks
        e_factor = 2.0 ** ((self.ref - t) / (ENGAGEMENT_HALF_LIFE_DAYS * DAY))
        h_factor = 2.0 ** ((self.ref - t) / (HEAT_HALF_LIFE_DAYS * DAY))
        (new_w, frequent_w, dormant_w) = (days * DAY for _, days in VALUATION_DAYS)
        b_new, b_frequent, b_dormant, b_expired = (_BIT[name] for name in TIME_CLASSES)
        b_engaged, b_lapsing, b_hot, b_cooled = (_BIT[tag] for tag, _, _, _ in TIME_THRESHOLDS)
        (_, _, _, k_engaged), (_, _, _, k_lapsing), (_, _, _, k_hot), (_, _, _, k_cooled) = (
            TIME_THRESHOLDS
        )
        tags = TIME_TAGS
        for i in range(len(ids)):
            age = t - last[i]
            if age < new_w:
                mask = b_new
            elif age < frequent_w:
                mask = b_frequent
            elif age < dormant_w:
                mask = b_dormant
            else:
                mask = b_expired
            value = engagement[i]
            if value is not None:
                value *= e_factor
                if value >= k_engaged:
                    mask |= b_engaged
                if value < k_lapsing:
                    mask |= b_lapsing
            value = heat[i]
            if value is not None:
                value *= h_factor
                if value >= k_hot:
                    mask |= b_hot
                if value < k_cooled:
                    mask |= b_cooled
            old = masks[i]
            if mask != old:
                masks[i] = mask
                changes += (mask ^ old).bit_count()
                rising = mask & ~old
                position = 0
                while rising:
                    if rising & 1:
                        fired.append((ids[i], tags[position]))
                    rising >>= 1
                    position += 1
        return fired, changes


def _class_bit(age: float) -> int:
    """The truth bit of the recency class for an age (half-open windows, as the engine)."""
    for name, days in VALUATION_DAYS:
        if age < days * DAY:
            return _BIT[name]
    return _BIT["expired"]


def _threshold_bits(score: str, value: float) -> int:
    mask = 0
    for tag, name, op, k in TIME_THRESHOLDS:
        if name != score:
            continue
        holds = value >= k if op == ">=" else value < k
        if holds:
            mask |= _BIT[tag]
    return mask
