"""The realistic workload's baseline: its rules written by hand as one Python loop.

:data:`engage.bench.rulesets.REALISTIC_RULES` is what a marketing team writes in the
rules language. :func:`realistic_loop` is what a competent programmer would write for
exactly those rules without a rules engine: one record with ``__slots__`` per contact
in a dict, the decaying score as (value, time of value), the caps as short deques of
(time, points), the 30-day visit window as a deque of times, and one heap of wake-ups
for what time alone does (a contact going dormant, a hot lead cooling down). It keeps
nothing it does not need: it does not evaluate conditions that cannot change, and it
settles what time does to a rule's memory (a window emptying, a re-arm) lazily, at the
contact's next event, where the outcome is the same.

It fires the same actions as the engine, in the same order for each contact, at the
same moments; the workload checks that before it reports a figure. So the ratio of the
two speeds compares like with like: what the engine's generality costs over the
hand-written loop for one realistic rules file.

Cost: O(1) amortised per event (the deques hold a few entries each), plus O(log n) per
wake-up on the heap.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from heapq import heappop, heappush
from typing import Any, Final

DAY: Final = 86_400.0

#: The rules' numbers, transcribed from ``REALISTIC_RULES`` (a programmer's constants).
HALF_LIFE: Final = 30 * DAY
HIGH: Final = 100.0
HOT_ENGAGEMENT: Final = 25.0
HOT_INTENT: Final = 15
ENGAGED: Final = 40.0
REARM_BELOW: Final = 12.0
VISIT_WINDOW: Final = 30 * DAY
RETURNING_VISITS: Final = 3
DORMANT_AFTER: Final = 45 * DAY
COOLDOWN: Final = 1 * DAY

#: Kinds of wake-up on the heap.
_DORMANT: Final = 0
_COOLED: Final = 1

#: An action as both sides report it: (time, contact, rule, verb, args, suppressed).
Firing = tuple[float, str, str, str, tuple[Any, ...], str | None]

_DEMO_NOTIFY: Final = ("sales", "Demo requested")
_DEMO_TASK: Final = ("Call back",)
_HOT_TAG: Final = ("hot",)
_HOT_NOTIFY: Final = ("sales", "Hot lead")
_RETURNING: Final = ("returning",)
_PRICING_NOTIFY: Final = ("sales", "Pricing page visit")
_OFFER: Final = ("engaged-offer",)
_MISS_YOU: Final = ("we-miss-you",)
_TRACK: Final = ("Undeliverable",)
_UNDELIVERABLE: Final = ("undeliverable",)


class ContactState:
    """Everything the loop keeps for one contact."""

    __slots__ = (
        "blog_cap",
        "click_cap",
        "demo_given",
        "disarmed",
        "docs_cap",
        "dormant_at",
        "engaged",
        "engagement",
        "engagement_at",
        "exit_at",
        "hard_bounced",
        "history",
        "hot",
        "intent",
        "open_cap",
        "pricing_cap",
        "pricing_fired",
        "tags",
        "visits",
    )

    def __init__(self, now: float) -> None:
        self.engagement: float | None = None  # value at engagement_at; None: never set
        self.engagement_at = now
        self.intent: int | None = None
        self.open_cap: deque[tuple[float, float]] | None = None
        self.click_cap: deque[tuple[float, float]] | None = None
        self.pricing_cap: deque[tuple[float, float]] | None = None
        self.blog_cap: deque[tuple[float, float]] | None = None
        self.docs_cap: deque[tuple[float, float]] | None = None
        self.demo_given = False
        self.visits: deque[float] | None = None
        self.hot = False  # member of hot_leads
        self.exit_at: float | None = None  # when it leaves hot_leads by decay
        self.engaged = False  # "engagement >= 40" at the last evaluation
        self.disarmed = False
        self.pricing_fired: float | None = None
        self.hard_bounced = False
        self.dormant_at = now + DORMANT_AFTER
        self.tags: set[str] | None = None
        self.history: list[tuple[float, str]] | None = None

    def engagement_now(self, now: float) -> float | None:
        value = self.engagement
        if value is None or self.engagement_at == now:
            return value
        return value * math.exp2((self.engagement_at - now) / HALF_LIFE)

    def tag(self, name: str) -> None:
        if self.tags is None:
            self.tags = set()
        self.tags.add(name)

    def untag(self, name: str) -> None:
        if self.tags is not None:
            self.tags.discard(name)


class RealisticResult:
    """What the loop computed: every action in order, and each contact's final state."""

    __slots__ = ("contacts", "firings")

    def __init__(self, firings: list[Firing], contacts: dict[str, ContactState]) -> None:
        self.firings = firings
        self.contacts = contacts


def _capped(
    window: deque[tuple[float, float]], now: float, span: float, limit: float, points: float
) -> float:
    """The points a line capped at ``limit`` per ``span`` may still give now; records them."""
    oldest = now - span
    while window and window[0][0] <= oldest:
        window.popleft()
    given = 0.0
    for _, part in window:
        given += part
    grant = min(points, limit - given)
    if grant <= 0:
        return 0.0
    window.append((now, grant))
    return grant


def _cools_at(value: float, at: float) -> float:
    """The first moment the engagement (``value`` at ``at``) reads below the hot level."""
    moment = at + HALF_LIFE * math.log2(value / HOT_ENGAGEMENT)
    # The closed form is exact to a few units in the last place: step to the first
    # float time whose value reads below.
    while value * math.exp2((at - moment) / HALF_LIFE) >= HOT_ENGAGEMENT:
        moment = math.nextafter(moment, math.inf)
    while True:
        earlier = math.nextafter(moment, -math.inf)
        if earlier <= at or value * math.exp2((at - earlier) / HALF_LIFE) >= HOT_ENGAGEMENT:
            return moment
        moment = earlier


def realistic_loop(events: Iterable[Mapping[str, Any]]) -> RealisticResult:
    """Run the realistic rules by hand over ``events`` (in time order).

    Returns every action (as :data:`Firing` tuples, in the order they happen) and each
    contact's final state. The semantics are the engine's (``docs/semantics.md``):
    wake-ups due at or before an event's time happen first; score lines apply in file
    order, each clamped; rules fire by priority, then in file order.
    """
    contacts: dict[str, ContactState] = {}
    firings: list[Firing] = []
    fire = firings.append
    wakeups: list[tuple[float, str, int]] = []
    exp2 = math.exp2
    get = contacts.get
    for event in events:
        now = event["at"]
        while wakeups and wakeups[0][0] <= now:
            _wake(contacts, wakeups, firings)
        cid = event["contact"]
        c = get(cid)
        if c is None:
            c = contacts[cid] = ContactState(now)
            heappush(wakeups, (c.dormant_at, cid, _DORMANT))
        else:
            c.dormant_at = now + DORMANT_AFTER
        kind = event["type"]
        data = event.get("data") or {}
        # The score lines: each gives its (capped) points; the engagement is clamped.
        points = 0.0
        gives = False
        intent = 0
        visit = pricing = False
        form = None
        hard = False
        if kind == "email.open":
            if c.open_cap is None:
                c.open_cap = deque()
            points = _capped(c.open_cap, now, DAY, 5.0, 1.0)
            gives = points > 0
        elif kind == "email.click":
            if c.click_cap is None:
                c.click_cap = deque()
            points = _capped(c.click_cap, now, DAY, 9.0, 3.0)
            gives = points > 0
            if data.get("link") == "product":
                intent = 1
        elif kind == "web.visit":
            visit = True
            url = data.get("url")
            if isinstance(url, str):
                pricing = "/pricing" in url
                if pricing:
                    if c.pricing_cap is None:
                        c.pricing_cap = deque()
                    points = _capped(c.pricing_cap, now, 7 * DAY, 10.0, 2.0)
                    gives = points > 0
                    intent = 5
                if "/blog" in url:
                    if c.blog_cap is None:
                        c.blog_cap = deque()
                    blog = _capped(c.blog_cap, now, DAY, 3.0, 1.0)
                    points += blog
                    gives = gives or blog > 0
                if "/docs" in url:
                    if c.docs_cap is None:
                        c.docs_cap = deque()
                    intent += int(_capped(c.docs_cap, now, 7 * DAY, 10.0, 2.0))
        elif kind == "form.submit":
            form = data.get("form")
            if form == "demo":
                points = 15.0
                gives = True
                if not c.demo_given:
                    c.demo_given = True
                    intent = 20
            elif form == "newsletter":
                points = 5.0
                gives = True
        elif kind == "email.bounce" and data.get("kind") == "hard":
            hard = c.hard_bounced = True
            points = -10.0
            gives = True
        before = None
        if gives:
            value = c.engagement
            if value is not None and c.engagement_at != now:
                value *= exp2((c.engagement_at - now) / HALF_LIFE)
            before = value
            value = (0.0 if value is None else value) + points
            if value < 0.0:
                value = 0.0
            elif value > HIGH:
                value = HIGH
            c.engagement = value
            c.engagement_at = now
        if intent:
            c.intent = intent if c.intent is None else c.intent + intent
        # The 30-day window of visits: how many were inside it just before this one.
        visits_before = -1
        if visit:
            window = c.visits
            if window is None:
                window = c.visits = deque()
            oldest = now - VISIT_WINDOW
            while window and window[0] <= oldest:
                window.popleft()
            visits_before = len(window)
            window.append(now)
        # The segment, brought up to date when one of its scores moved.
        entered = exited = False
        if gives or intent:
            value = c.engagement_now(now)
            member = (
                value is not None
                and value >= HOT_ENGAGEMENT
                and c.intent is not None
                and c.intent >= HOT_INTENT
            )
            if member != c.hot:
                c.hot = member
                entered = member
                exited = not member
            if member:
                assert c.engagement is not None
                exit_at = _cools_at(c.engagement, c.engagement_at)
                if exit_at != c.exit_at:
                    c.exit_at = exit_at
                    heappush(wakeups, (exit_at, cid, _COOLED))
            else:
                c.exit_at = None
        # The rules, by priority then file order.
        if form == "demo":
            fire((now, cid, "Demo request", "notify", _DEMO_NOTIFY, None))
            fire((now, cid, "Demo request", "create_task", _DEMO_TASK, None))
        if entered:
            c.tag("hot")
            fire((now, cid, "Hot lead", "tag", _HOT_TAG, None))
            fire((now, cid, "Hot lead", "notify", _HOT_NOTIFY, None))
        elif exited:
            c.untag("hot")
            fire((now, cid, "Cooled down", "untag", _HOT_TAG, None))
        if visits_before == RETURNING_VISITS - 1:
            c.tag("returning")
            fire((now, cid, "Returning visitor", "tag", _RETURNING, None))
        if pricing:
            last = c.pricing_fired
            if last is None or now - last >= COOLDOWN:
                c.pricing_fired = now
                fire((now, cid, "Pricing interest", "notify", _PRICING_NOTIFY, None))
        if gives:
            # What decay did since the last evaluation: the value only fell, so it was
            # lowest just before this event.
            if before is None or before < ENGAGED:
                c.engaged = False
            if c.disarmed and before is not None and before < REARM_BELOW:
                c.disarmed = False
            value = c.engagement
            assert value is not None
            if c.disarmed and value < REARM_BELOW:
                c.disarmed = False
            engaged = value >= ENGAGED
            if engaged and not c.engaged and not c.disarmed:
                c.disarmed = True
                fire(
                    (now, cid, "Engaged offer", "send_email", _OFFER,
                     "hard bounced" if c.hard_bounced else None)
                )  # fmt: skip
            c.engaged = engaged
        if hard:
            if c.history is None:
                c.history = []
            c.history.append((now, "Undeliverable"))
            fire((now, cid, "Undeliverable", "track", _TRACK, None))
            c.tag("undeliverable")
            fire((now, cid, "Undeliverable", "tag", _UNDELIVERABLE, None))
    return RealisticResult(firings, contacts)


def _wake(
    contacts: dict[str, ContactState],
    wakeups: list[tuple[float, str, int]],
    firings: list[Firing],
) -> None:
    """The earliest wake-up: a contact turning dormant, or a hot lead cooling down.

    Wake-ups are not removed when an event moves them; a stale one is recognised here
    (the contact's moment has moved on) and dropped or put back at the new moment.
    """
    moment, cid, kind = heappop(wakeups)
    c = contacts[cid]
    if kind == _DORMANT:
        if c.hard_bounced:
            return  # discarded: never dormant again
        if c.dormant_at != moment:
            heappush(wakeups, (c.dormant_at, cid, _DORMANT))
            return
        firings.append((moment, cid, "We miss you", "send_email", _MISS_YOU, None))
        return
    if c.hot and c.exit_at == moment:
        c.hot = False
        c.exit_at = None
        c.untag("hot")
        firings.append((moment, cid, "Cooled down", "untag", _HOT_TAG, None))
