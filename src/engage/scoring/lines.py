"""Score lines: points per event, with filters, caps and ``once``.

All ``where`` filters of an event's lines are evaluated first, on the state the event
found (after its own data was applied), so that one line's points never change whether
another line applies. Caps give the part of the points that fits: a line worth +3 with 2
left under its cap gives 2. For negative lines the cap bounds the magnitude.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engage.program import ScoreLineSpec
from engage.state.contact import LINE_STATE, Contact
from engage.state.writer import StateWriter


def apply_lines(
    writer: StateWriter,
    contact: Contact,
    lines: Sequence[ScoreLineSpec],
    event: Any,
    now: float,
) -> None:
    """Apply an event's score lines to a contact, in file order."""
    passing = [line for line in lines if line.where is None or line.where(contact, event, now)]
    for line in passing:
        if line.plain:
            writer.add_points(contact, line.score, line.points)
            continue
        points = allowed_points(contact, line, now)
        if points:
            writer.add_points(contact, line.score, points)


def allowed_points(contact: Contact, line: ScoreLineSpec, now: float) -> float:
    """The points this line may give now, after ``once`` and caps; records them (the
    event plans of :mod:`engage.dsl.plans` call it for the lines that are not plain)."""
    states: dict[str, Any] = contact.more().setdefault(LINE_STATE, {})
    state: dict[str, Any] = states.setdefault(line.id, {})
    if line.once and state.get("once"):
        return 0
    points = line.points
    sign = -1 if points < 0 else 1
    magnitude = abs(points)
    if line.cap_total is not None:
        given = state.get("total", 0)
        magnitude = max(0, min(magnitude, line.cap_total - given))
    if line.cap_window is not None and line.cap_window_limit is not None:
        window: list[list[float]] = state.setdefault("window", [])
        limit = now - line.cap_window
        while window and window[0][0] <= limit:
            window.pop(0)
        given_recently = sum(entry[1] for entry in window)
        magnitude = max(0, min(magnitude, line.cap_window_limit - given_recently))
        if magnitude:
            window.append([now, magnitude])
    if line.cap_total is not None and magnitude:
        state["total"] = state.get("total", 0) + magnitude
    if line.once:
        state["once"] = True
    if magnitude == int(magnitude):
        magnitude = int(magnitude)
    return sign * magnitude
