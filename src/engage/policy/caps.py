"""The policy's caps: how many marketing sends went out in a rolling window.

Each contact keeps the marketing sends that went out as ``[time, channel, category]``
entries (``extra["sent"]``, oldest first), only while a program's policy has caps, and
only as far back as the longest cap window (older entries are pruned when a send is
decided). A cap ``N per D`` counts the entries of its scope with ``now - time < D`` (the
half-open windows of ``within``): the Nth send in 7 days goes, the next is over the cap,
and exactly 7 days after the first there is room again. Transactional sends are never
recorded. Cost per decided send: one pass over the contact's recent sends (at most the
sum of the caps' limits under ``drop``).
"""

from __future__ import annotations

from typing import Any

from engage.policy.specs import CapSpec, PolicySpec
from engage.state.contact import SENT, Contact


def _matches(cap: CapSpec, entry: list[Any]) -> bool:
    scope = cap.scope
    if scope == "any":
        return True
    if scope == "category":
        return bool(entry[2] == cap.category)
    return bool(entry[1] == scope)


def _applies(cap: CapSpec, channel: str, category: str | None) -> bool:
    scope = cap.scope
    if scope == "any":
        return True
    if scope == "category":
        return category is not None and category == cap.category
    return scope == channel


def over_cap(
    contact: Contact, policy: PolicySpec, now: float, channel: str, category: str | None
) -> tuple[CapSpec, float] | None:
    """The first cap (in written order) a send now would go over, and the earliest
    moment every cap it is over has room again; None when it is under all of them."""
    extra = contact.extra
    log = None if extra is None else extra.get(SENT)
    if not log:
        return None
    first: CapSpec | None = None
    room = now
    for cap in policy.caps:
        if not _applies(cap, channel, category):
            continue
        start = now - cap.window
        times = [entry[0] for entry in log if entry[0] > start and _matches(cap, entry)]
        if len(times) < cap.limit:
            continue
        if first is None:
            first = cap
        # The oldest sends leave the window one by one; room once count < limit.
        room = max(room, times[len(times) - cap.limit] + cap.window)
    return None if first is None else (first, room)


def record(
    contact: Contact, policy: PolicySpec, now: float, channel: str, category: str | None
) -> None:
    """Count a marketing send that went out now (and forget what no window reaches)."""
    log: list[list[Any]] = contact.more().setdefault(SENT, [])
    horizon = now - policy.longest_window
    if log and log[0][0] <= horizon:
        log[:] = [entry for entry in log if entry[0] > horizon]
    log.append([now, channel, category])


def sends_in_window(contact: Contact, window: float, now: float) -> int:
    """How many counted sends went out in ``(now - window, now]`` (for reports, tests)."""
    extra = contact.extra
    log = None if extra is None else extra.get(SENT)
    return 0 if not log else sum(1 for entry in log if entry[0] > now - window)
