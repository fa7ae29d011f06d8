"""Rule sends held by quiet hours or ``over cap hold``, kept in the contact's state.

A held rule send is a plain record in ``extra["held"]`` (so snapshots, the event log's
replay and the per-contact step carry it): ``[release, priority, rule, verb, args,
options, event id, held at]``, in the order the sends were held. A wake-up at the
earliest release takes the due ones out (:func:`take_due`) for the gate to decide
again. Flow sends are not kept here: a flow waits at its step and asks again.
Costs: an append to hold; a pass over the contact's held sends (a handful) to find the
next release or the due ones.
"""

from __future__ import annotations

from typing import Any

from engage.actions import Action
from engage.state.contact import HELD, Contact
from engage.timeutil import format_time


def hold(contact: Contact, action: Action, release: float, priority: int) -> None:
    """Keep ``action`` (a rule send just held) until ``release``."""
    options = None if action.options is None else dict(action.options)
    record = [
        release,
        priority,
        action.rule,
        action.action,
        list(action.args),
        options,
        action.event,
        action.time,
    ]
    contact.more().setdefault(HELD, []).append(record)


def next_release(contact: Contact) -> float | None:
    """The earliest release of the contact's held sends, or None."""
    extra = contact.extra
    held = None if extra is None else extra.get(HELD)
    if not held:
        return None
    return float(min(record[0] for record in held))


def take_due(contact: Contact, now: float) -> list[list[Any]]:
    """Remove and return the held sends due at ``now``: by release time, then higher
    priority first, then the order they were held."""
    extra = contact.extra
    held = None if extra is None else extra.get(HELD)
    if not held:
        return []
    due = [(r[0], -r[1], i, r) for i, r in enumerate(held) if r[0] <= now]
    if not due:
        return []
    kept = [r for r in held if r[0] > now]
    if kept:
        held[:] = kept
    else:
        del extra[HELD]  # type: ignore[union-attr]
    due.sort(key=lambda item: item[:3])
    return [item[3] for item in due]


def released_action(record: list[Any], contact_id: str, now: float) -> Action:
    """A new action record for a held send tried again at ``now`` (no ``held_until``)."""
    _, _, rule, verb, args, options, event_id, held_at = record
    cause = {"rule": rule, "held_at": format_time(held_at), "released_at": format_time(now)}
    return Action(now, contact_id, rule, verb, list(args), event_id, options, cause)
