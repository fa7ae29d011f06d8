"""Why an action happened: the rule, what triggered it, and the values its condition read.

Every :class:`~engage.actions.Action` carries a :class:`Cause`. It is built when the
rule fires (firing is rare next to events, so the few allocations are cheap) and turned
into the ``why`` object of ``engage run --explain`` only when asked.
"""

from __future__ import annotations

from typing import Any

from engage.timeutil import format_time


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value


class Cause:
    """The cause of an action (shared by the actions of one firing).

    The arguments may be given by position: a crossing on the engine's fast path builds
    one per firing, and keyword arguments cost that call twice as much.
    """

    __slots__ = ("condition", "crossed", "event", "event_type", "reads", "rule", "timer")

    def __init__(
        self,
        rule: str,
        event: str | None = None,
        event_type: str | None = None,
        timer: float | None = None,
        condition: str = "",
        reads: dict[str, Any] | None = None,
        crossed: str | None = None,
    ) -> None:
        self.rule = rule
        self.event = event
        self.event_type = event_type
        self.timer = timer
        self.condition = condition
        self.reads = reads or {}
        self.crossed = crossed

    def to_dict(self) -> dict[str, Any]:
        why: dict[str, Any] = {"rule": self.rule}
        if self.event_type is not None:
            why["trigger"] = self.event_type
        if self.event is not None:
            why["event"] = self.event
        if self.timer is not None:
            why["timer"] = format_time(self.timer)
        if self.condition:
            why["condition"] = self.condition
        if self.reads:
            why["reads"] = {name: _plain(value) for name, value in self.reads.items()}
        if self.crossed:
            why["crossed"] = self.crossed
        why["summary"] = self.summary()
        return why

    def summary(self) -> str:
        """One line: ``score: 4 -> 7 crossed score >= 5``."""
        parts = []
        for name, value in self.reads.items():
            if isinstance(value, list) and len(value) == 2:
                parts.append(f"{name}: {_plain(value[0])} -> {_plain(value[1])}")
            else:
                parts.append(f"{name}: {_plain(value)}")
        text = ", ".join(parts)
        if self.crossed:
            text = f"{text} crossed {self.crossed}" if text else f"crossed {self.crossed}"
        elif self.condition:
            text = f"{text}; {self.condition} holds" if text else f"{self.condition} holds"
        trigger = self.event_type or ("timer" if self.timer is not None else "")
        return f"{trigger}: {text}" if trigger and text else (text or trigger)
