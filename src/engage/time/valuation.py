"""Recency classes (valuation): new, frequent, dormant... from the last activity.

A contact's class is a function of its last activity, its status and the clock:
``discarded`` if it is suspended, unsubscribed from everything or hard-bounced;
``inactive`` if it never had activity; otherwise the first class whose window is longer
than the time since the last activity (windows are half-open: exactly 15 days after the
last activity is no longer ``within 15 days``); ``expired`` beyond the last class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from engage.state.contact import HARD_BOUNCED, SUSPENDED, UNSUBSCRIBED, Contact

INACTIVE: Final = "inactive"
EXPIRED: Final = "expired"
DISCARDED: Final = "discarded"


def is_discarded(contact: Contact) -> bool:
    """Suspended, unsubscribed from everything, or hard-bounced."""
    if contact.status == SUSPENDED:
        return True
    extra = contact.extra
    if extra is None:
        return False
    if extra.get(HARD_BOUNCED):
        return True
    return any(
        scope == "all" and channel is None for scope, _, channel in extra.get(UNSUBSCRIBED, ())
    )


def class_of(
    classes: Sequence[tuple[str, float]],
    last_activity: float | None,
    discarded: bool,
    now: float,
    *,
    just_before: bool = False,
) -> str:
    """The recency class for these inputs at ``now``.

    With ``just_before``, the class an instant before ``now``: at a boundary moment
    that is still the earlier class (the windows are half-open).
    """
    if discarded:
        return DISCARDED
    if last_activity is None:
        return INACTIVE
    age = now - last_activity
    for name, window in classes:
        if age < window or (just_before and age == window):
            return name
    return EXPIRED


def next_boundary(ends: Sequence[float], last_activity: float | None, now: float) -> float | None:
    """The next moment after ``now`` at which the class leaves one of the windows
    ``ends`` (the class boundaries worth a wake-up; ascending) by time alone."""
    if last_activity is None:
        return None
    for window in ends:
        moment = last_activity + window
        if moment > now:
            return moment
    return None


class ClassMemo:
    """One contact's class at one moment, known while its rules are evaluated.

    A round of the cascade computes the contact's class to see whether it changed, and
    then every condition that reads ``valuation`` would compute it again (a time
    workload's wake-up evaluates four or more such rules). The cascade fills the memo
    when it has the class and empties it before any action can change the inputs, so a
    filled memo is always the class of the current state.
    """

    __slots__ = ("contact", "name", "now")

    def __init__(self) -> None:
        self.contact: Contact | None = None
        self.now = 0.0
        self.name = ""

    def fill(self, contact: Contact, now: float, name: str) -> None:
        self.contact = contact
        self.now = now
        self.name = name

    def clear(self) -> None:
        self.contact = None


def make_valuation(
    classes: Sequence[tuple[str, float]], memo: ClassMemo | None = None
) -> Callable[[Contact, float], str]:
    """The ``valuation`` reader that generated conditions call (reading ``memo`` first)."""
    frozen = tuple(classes)
    if memo is None:
        memo = ClassMemo()

    def valuation(contact: Contact, now: float) -> str:
        if contact is memo.contact and now == memo.now:
            return memo.name
        return class_of(frozen, contact.last_activity, is_discarded(contact), now)

    return valuation


def class_ranges(
    classes: Sequence[tuple[str, float]],
) -> dict[str, tuple[float, float]]:
    """For each time class, the ages ``[low, high)`` it covers (``expired`` included)."""
    ranges: dict[str, tuple[float, float]] = {}
    low = float("-inf")
    for name, window in classes:
        ranges[name] = (low, window)
        low = window
    ranges[EXPIRED] = (low, float("inf"))
    return ranges
