"""Running a fired rule's actions, in written order.

State actions change the contact through the :class:`~engage.state.writer.StateWriter`
(so their changes feed the next round of the cascade); outside actions are only
recorded here — the engine sends them to the outbox and to the registered handlers once
the event's cascade is over. A send to a contact that may not receive it is still
emitted, marked ``suppressed`` with the reason.
"""

from __future__ import annotations

import math
from typing import Any

from engage.actions import Action, Computed
from engage.dsl import runtime
from engage.explain import Cause
from engage.history.statuses import SENT_STATUS
from engage.program import Program, RuleSpec
from engage.state.contact import HARD_BOUNCED, SUSPENDED, UNSUBSCRIBED, Contact
from engage.state.writer import StateWriter
from engage.timeutil import format_time


class ActionError(ValueError):
    """A state action that cannot apply (a value of the wrong type for its field)."""


def check_field_value(type_name: str, value: Any) -> Any:
    """The value to store in a field of ``type_name``, or ActionError."""
    if value is None:
        return None
    if type_name == "text" and isinstance(value, str):
        return value
    if (
        type_name == "number"
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    ):
        return value
    if type_name == "time" and isinstance(value, float) and math.isfinite(value):
        return value
    if type_name == "bool" and isinstance(value, bool):
        return value
    if type_name == "list" and isinstance(value, list | tuple):
        return tuple(value)
    raise ActionError(f"{value!r} is not a {type_name}")


class ActionExecutor:
    """Turns a firing into :class:`Action` records, applying the state actions."""

    __slots__ = ("_sent_status", "program", "writer")

    def __init__(self, program: Program, writer: StateWriter) -> None:
        self.program = program
        self.writer = writer
        statuses = program.statuses
        self._sent_status = SENT_STATUS if statuses is None else statuses.canonical(SENT_STATUS)

    def run(
        self,
        rule: RuleSpec,
        contact: Contact,
        event: Any,
        now: float,
        event_id: str | None,
        cause: Cause,
    ) -> list[Action]:
        out = []
        for spec in rule.actions:
            args = spec.static_args
            if args is None:
                args = [
                    tuple_to_list(arg.fn(contact, event, now) if arg.__class__ is Computed else arg)
                    for arg in spec.args
                ]
            options = spec.options
            action = Action(now, contact.id, rule.name, spec.verb, args, event_id, options, cause)
            if spec.state:
                try:
                    self._apply(spec.verb, spec.target, args, contact, action, now)
                except ActionError as exc:
                    action.status = "failed"
                    action.error = str(exc)
            elif spec.kind == "send":
                action.suppressed = suppression(contact, spec.target, options)
                if not action.stopped:
                    # Every send that goes out writes a history row. The lead's send
                    # gate replaces this call at merge (with the campaign's
                    # `log sends as` status).
                    self.writer.record_send(contact, action, self._sent_status)
            elif spec.kind == "task" and spec.target is not None:
                action.options = {**(options or {}), "due": format_time(now + spec.target)}
            out.append(action)
        return out

    def _apply(
        self, verb: str, target: Any, args: list[Any], contact: Contact, action: Action, now: float
    ) -> None:
        writer = self.writer
        if verb == "tag":
            writer.add_tag(contact, target)
        elif verb == "untag":
            writer.remove_tag(contact, target)
        elif verb == "add_to_group":
            writer.add_group(contact, target)
        elif verb == "remove_from_group":
            writer.remove_group(contact, target)
        elif verb in ("set", "clear"):
            value = args[1] if verb == "set" else None
            kind, index = target
            if kind == "score":
                if value is not None and (
                    not isinstance(value, int | float)
                    or isinstance(value, bool)
                    or not math.isfinite(value)
                ):
                    raise ActionError(f"{value!r} is not a number")
                writer.set_score(contact, index, value)
            else:
                field = self.program.fields[index]
                writer.set_field(contact, index, check_field_value(field.type, value))
        elif verb in ("add_score", "subtract_score"):
            amount = args[1]
            if (
                amount is None
                or not isinstance(amount, int | float)
                or isinstance(amount, bool)
                or not math.isfinite(amount)
            ):
                raise ActionError(f"{amount!r} is not a number of points")
            writer.add_points(contact, target, amount if verb == "add_score" else -amount)
        elif verb == "suspend":
            writer.suspend(contact)
        elif verb == "reactivate":
            writer.reactivate(contact)
        elif verb == "unsubscribe":
            scope, name, channel = target
            writer.unsubscribe(contact, scope, name, channel)
        elif verb == "track":
            status, campaign, offer, channel, mode = target
            writer.track(contact, status, campaign, offer, channel, mode)
        elif verb == "enter_flow":
            writer.enter_flow(contact, target)
        elif verb == "exit_flow":
            writer.exit_flow(contact, target)


def tuple_to_list(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def suppression(contact: Contact, channel: str, options: dict[str, Any] | None) -> str | None:
    """Why a send on ``channel`` may not go to this contact, or None."""
    if contact.status == SUSPENDED:
        return "suspended"
    if runtime.consent(contact, channel) is False:
        return f"no consent for {channel}"
    extra = contact.extra
    if extra is None:
        return None
    if channel == "email" and extra.get(HARD_BOUNCED):
        return "hard bounced"
    campaign = None if options is None else options.get("campaign")
    for scope, name, on_channel in extra.get(UNSUBSCRIBED, ()):
        if on_channel is not None and on_channel != channel:
            continue
        if scope == "all":
            return "unsubscribed" if on_channel is None else f"unsubscribed from {channel}"
        if scope == "campaign" and campaign is not None and name == campaign:
            return f"unsubscribed from campaign {campaign}"
    return None
