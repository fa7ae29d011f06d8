"""Actions: what rules do, as compiled specs and as the records the engine emits.

An :class:`ActionSpec` is one action of a rule after compilation: its verb (the name used
in the output stream), its constant arguments and the functions that compute the others.
An :class:`Action` is one action that happened: the record written to the output stream,
returned by ``ingest``, passed to handlers. Every action remembers its cause, so that
``engage run --explain`` can say why it happened.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from engage.timeutil import epoch_to_datetime, format_time

#: Verbs that change the engine's state at once; the others go to the outside world.
STATE_VERBS: Final = frozenset(
    {
        "tag",
        "untag",
        "add_to_group",
        "remove_from_group",
        "set",
        "clear",
        "add_score",
        "subtract_score",
        "suspend",
        "reactivate",
        "unsubscribe",
        "subscribe_to_list",
        "unsubscribe_from_list",
        "track",
        "enter_flow",
        "exit_flow",
        "flow_goal",
        "qualify_lead",
    }
)

#: Verbs of the built-in outside actions (``do NAME`` uses NAME as its verb).
OUTSIDE_VERBS: Final = frozenset(
    {
        "notify",
        "create_task",
        "send_email",
        "send_sms",
        "send_push",
        "call_webhook",
        "export_pdf",
    }
)

ValueFn = Callable[[Any, Any, float], Any]


class ActionSpec:
    """One compiled action of a rule.

    ``args`` holds constants and value functions in written order; ``target`` is what a
    state action changes (a tag, a group, a field or score index...).
    """

    __slots__ = ("args", "kind", "options", "state", "static_args", "target", "verb")

    def __init__(
        self,
        verb: str,
        args: tuple[Any, ...] = (),
        *,
        target: Any = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.verb = verb
        self.args = args
        self.target = target
        self.options = options
        self.state = verb in STATE_VERBS
        #: ``send``, ``task`` or ``other``: how the executor finishes an outside action.
        self.kind = (
            "send" if verb.startswith("send_") else "task" if verb == "create_task" else "other"
        )
        #: The arguments as actions show them, when none is computed at run time: one
        #: list shared by every action of this spec (actions are read-only records).
        self.static_args: list[Any] | None = (
            None if any(arg.__class__ is Computed for arg in args) else _listed(args)
        )

    def __repr__(self) -> str:
        return f"ActionSpec({self.verb!r}, {self.args!r})"


def _listed(args: tuple[Any, ...]) -> list[Any]:
    """Arguments as actions show them: tuples (list values) become lists."""
    return [list(arg) if isinstance(arg, tuple) else arg for arg in args]


class Computed:
    """An argument computed when the action runs (``set city = event.city``)."""

    __slots__ = ("fn", "text")

    def __init__(self, fn: ValueFn, text: str) -> None:
        self.fn = fn
        self.text = text

    def __repr__(self) -> str:
        return f"Computed({self.text!r})"


class Action:
    """One action that happened: the record of the output stream.

    Attributes:
        time: when it happened, in epoch seconds (``at`` gives it as a datetime).
        contact: the contact's id.
        rule: the rule's name (``FILE:LINE`` for anonymous rules).
        action: the verb (``notify``, ``tag``, ``send_email``, or a ``do`` name).
        args: the evaluated arguments, in written order.
        options: named options (``due``, ``for``, ``from_campaign``...) or None.
        event: the id of the event that caused it, or None.
        suppressed: why a send was not sent (consent, suspension, a cap...), or None.
        skipped: why a cross-campaign send of a flow was passed over (the contact does
            not qualify for the campaign), or None.
        held_until: the moment a held send (a cap under ``over cap hold``, quiet hours)
            is next tried, or None.
        step: the stable name of the flow step that made the action, or None.
        version: the version of the flow the contact runs, where it matters, or None.
        account: the account an account rule fired for, or None.
        lead: the lead a lead rule fired for, or None.
        status: ``"ok"``, or ``"failed"`` when a handler raised (see ``error``).
    """

    __slots__ = (
        "action",
        "args",
        "cause",
        "contact",
        "error",
        "event",
        "held_until",
        "options",
        "rule",
        "skipped",
        "status",
        "step",
        "suppressed",
        "time",
        "version",
    )

    def __init__(
        self,
        time: float,
        contact: str,
        rule: str,
        action: str,
        args: list[Any],
        event: str | None,
        options: dict[str, Any] | None = None,
        cause: Any = None,
    ) -> None:
        self.time = time
        self.contact = contact
        self.rule = rule
        self.action = action
        self.args = args
        self.event = event
        self.options = options
        self.cause = cause
        self.suppressed: str | None = None
        self.skipped: str | None = None
        self.held_until: float | None = None
        self.step: str | None = None
        self.version: int | None = None
        self.status = "ok"
        self.error: str | None = None

    #: The account or lead a rule fired for (rules on ``account.X`` / ``lead.X``): None
    #: here, set on :class:`EntityAction` (so that contact actions, millions of them,
    #: carry no slots for it).
    account: str | None = None
    lead: str | None = None

    @property
    def stopped(self) -> bool:
        """A send that did not go out (suppressed, skipped or held): no handler sees it."""
        return (
            self.suppressed is not None or self.skipped is not None or (self.held_until is not None)
        )

    @property
    def at(self) -> datetime:
        """When the action happened, as an aware UTC datetime."""
        return epoch_to_datetime(self.time)

    @property
    def why(self) -> dict[str, Any] | None:
        """The cause: rule, event or timer, and the values the condition read."""
        cause = self.cause
        if cause is None:
            return None
        return cause.to_dict() if hasattr(cause, "to_dict") else dict(cause)

    def to_dict(self, explain: bool = False) -> dict[str, Any]:
        """The JSON object of the output stream (``why`` added when ``explain``)."""
        record: dict[str, Any] = {
            "at": format_time(self.time),
            "contact": self.contact,
            "rule": self.rule,
            "action": self.action,
            "args": self.args,
        }
        if self.options:
            record["options"] = self.options
        if self.event is not None:
            record["event"] = self.event
        if self.suppressed is not None:
            record["suppressed"] = self.suppressed
        if self.skipped is not None:
            record["skipped"] = self.skipped
        if self.held_until is not None:
            record["held_until"] = format_time(self.held_until)
        if self.step is not None:
            record["step"] = self.step
        if self.version is not None:
            record["version"] = self.version
        if self.account is not None:
            record["account"] = self.account
        if self.lead is not None:
            record["lead"] = self.lead
        if self.status != "ok":
            record["status"] = self.status
            record["error"] = self.error
        if explain:
            record["why"] = self.why
        return record

    def __repr__(self) -> str:
        return (
            f"Action({format_time(self.time)} {self.contact!r} {self.rule!r} "
            f"{self.action} {self.args!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Action):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


class EntityAction(Action):
    """An action of a rule fired per account or per lead: it names the account or the
    lead (``"account"`` / ``"lead"`` in its JSON object)."""

    __slots__ = ("account", "lead")

    def __init__(self, *args: Any, account: str | None = None, lead: str | None = None) -> None:
        super().__init__(*args)
        self.account = account
        self.lead = lead
