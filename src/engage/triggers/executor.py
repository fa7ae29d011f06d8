"""Running a fired rule's actions, in written order.

State actions change the contact through the :class:`~engage.state.writer.StateWriter`
(so their changes feed the next round of the cascade); outside actions are only
recorded here — the engine sends them to the outbox and to the registered handlers once
the event's cascade is over. A send is screened by the
:class:`~engage.policy.gate.SendGate` when its rule runs (suspension, consent,
unsubscribes, campaigns: the contact as it is then); under a policy it then waits in
:attr:`ActionExecutor.pending` until the cascade is over, and the gate applies caps and
quiet hours to the cascade's sends together (:meth:`ActionExecutor.settle`): two rules
sending at once to a contact with one slot left go in priority order. A send that may
not go out is still emitted, marked ``suppressed``, ``skipped`` or ``held_until``.
"""

from __future__ import annotations

import math
from typing import Any

from engage.actions import Action, Computed
from engage.explain import Cause
from engage.history.statuses import SENT_STATUS
from engage.policy.gate import SendGate
from engage.program import Program, RuleSpec
from engage.state.contact import Contact
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

    __slots__ = ("_log_status", "_sent_status", "gate", "pending", "program", "writer")

    def __init__(self, program: Program, writer: StateWriter) -> None:
        self.program = program
        self.writer = writer
        #: Decides sends (consent, unsubscribes, campaigns, the policy).
        self.gate = SendGate(program)
        statuses = program.statuses
        self._sent_status = SENT_STATUS if statuses is None else statuses.canonical(SENT_STATUS)
        #: ``log sends as`` of each campaign that says it.
        self._log_status = {
            name: (status if statuses is None else statuses.canonical(status))
            for name, spec in program.campaigns.items()
            if (status := spec.log_status) is not None
        }
        #: Screened sends of the cascade under way, waiting for the policy (:meth:`settle`).
        self.pending: list[Action] = []

    def settle(self, contact: Contact, now: float) -> None:
        """Apply the policy to the pending sends of ``contact`` together (the end of a
        cascade), in priority order. Cost: nothing without pending sends (never any
        without a policy); else :meth:`SendGate.apply_policy`."""
        if self.pending:
            sends = self.pending
            self.pending = []
            self.gate.apply_policy(contact, sends, now)
            for action in sends:
                self.went_out(contact, action)

    def went_out(self, contact: Contact, action: Action) -> None:
        """A send that goes out (not stopped) writes its history row: the status its
        campaign logs sends as (``log sends as``), else ``contacted``."""
        if action.stopped:
            return
        campaign = None if action.options is None else action.options.get("campaign")
        status = self._log_status.get(campaign, self._sent_status) if campaign else None
        self.writer.record_send(contact, action, status or self._sent_status)

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
                # Consent, unsubscribes, suspension, campaigns: against the contact as it
                # is now; caps and quiet hours when the cascade is over (settle).
                if self.gate.screen(contact, action) and self.gate.has_policy:
                    self.pending.append(action)
                else:
                    self.went_out(contact, action)
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
            for scope, name, channel in target:
                writer.unsubscribe(contact, scope, name, channel)
        elif verb == "subscribe_to_list":
            writer.subscribe_list(contact, target)
        elif verb == "unsubscribe_from_list":
            writer.unsubscribe_list(contact, target)
        elif verb == "track":
            status, campaign, offer, channel, mode = target
            writer.track(contact, status, campaign, offer, channel, mode)
        elif verb == "enter_flow":
            writer.enter_flow(contact, target)
        elif verb == "exit_flow":
            writer.exit_flow(contact, target)


def tuple_to_list(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
