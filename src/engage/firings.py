"""What one firing of a rule is, for everything that counts firings.

A rule that fires writes its actions one after another, with the same contact, rule,
time and event (``then notify sales, tag "Hot"`` is one firing, two actions). A firing
is counted at the first of them. ``engage diff`` and ``engage report`` both count this
way, so their numbers agree.
"""

from __future__ import annotations

from typing import Any

from engage.actions import Action


class FiringTracker:
    """Tells, for a stream of actions in output order, which ones start a firing.

    O(1) per action; it remembers only the previous firing.
    """

    __slots__ = ("_previous",)

    def __init__(self) -> None:
        self._previous: tuple[Any, ...] = ()

    def starts(self, action: Action, rule: str | None = None) -> bool:
        """True when ``action`` is the first action of a new firing.

        ``rule`` replaces the action's rule name (``engage diff`` compares renamed
        rules under one name).
        """
        firing = (action.contact, action.rule if rule is None else rule, action.time, action.event)
        if firing == self._previous:
            return False
        self._previous = firing
        return True
