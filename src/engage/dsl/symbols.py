"""The names a rules program knows, their types, and the rules that combine types.

The checker's declarations stage fills a :class:`Symbols` table; its type pass
(:mod:`engage.dsl.expr_types`) looks names up here and records the type of every
expression node for the code generator.
"""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

import attrs

from engage.dsl import ast
from engage.history.statuses import DEFAULT_TABLE, StatusTable

ValueType: TypeAlias = Literal["number", "text", "time", "duration", "bool", "list", "any"]

#: Built-in contact attributes readable by bare name, with their types.
BUILTINS: Final[dict[str, ValueType]] = {
    "last_activity": "time",
    "created": "time",
    "status": "text",
    "tags": "list",
    "groups": "list",
    "valuation": "text",
}

#: The values ``status`` can take.
STATUSES: Final = ("active", "suspended")

#: Built-in recency classes that exist whatever the ``valuation`` block says.
BUILTIN_CLASSES: Final = ("inactive", "expired", "discarded")

#: The recency classes used when no ``valuation`` block is written (emBlue's defaults).
DEFAULT_CLASSES: Final[tuple[tuple[str, float], ...]] = (
    ("new", 15 * 86400.0),
    ("frequent", 45 * 86400.0),
    ("dormant", 120 * 86400.0),
)

#: Channels that consent, sends and unsubscribes know.
CHANNELS: Final = ("email", "sms", "push")

#: Envelope attributes of an event; every other ``event.X`` reads ``data.X``.
EVENT_ENVELOPE: Final[dict[str, ValueType]] = {
    "type": "text",
    "id": "text",
    "contact": "text",
    "at": "time",
}

#: Event types engage gives meaning to, used for did-you-mean on typos.
KNOWN_EVENT_TYPES: Final = (
    "email.sent",
    "email.delivered",
    "email.open",
    "email.click",
    "email.bounce",
    "email.reply",
    "sms.sent",
    "sms.click",
    "push.sent",
    "push.open",
    "web.visit",
    "form.submit",
    "stage.reached",
    "event.attended",
    "purchase",
    "import",
    "unsubscribe",
    "subscription",
    "contact.updated",
    "contact.deleted",
    "history.track",
)

#: Events that are data, not activity: they do not move ``last_activity``.
NON_ACTIVITY_TYPES: Final = frozenset({"contact.updated", "contact.deleted", "history.track"})


@attrs.frozen(slots=True)
class FieldSymbol:
    name: str
    index: int
    type: ValueType
    decl: ast.FieldDecl


@attrs.frozen(slots=True)
class ScoreSymbol:
    name: str
    index: int
    decl: ast.ScoreBlock

    @property
    def half_life(self) -> float | None:
        return self.decl.decay.half_life.seconds if self.decl.decay else None


@attrs.define(slots=True)
class Symbols:
    """Fields, scores, segments, recency classes and flows of one program."""

    fields: dict[str, FieldSymbol] = attrs.Factory(dict)
    scores: dict[str, ScoreSymbol] = attrs.Factory(dict)
    segments: dict[str, int] = attrs.Factory(dict)
    classes: tuple[tuple[str, float], ...] = DEFAULT_CLASSES
    #: Flow names, in written order.
    flows: dict[str, int] = attrs.Factory(dict)
    #: Declared campaigns by name, and the program's policy block (LANGUAGE.md 5, 6).
    campaigns: dict[str, ast.CampaignDecl] = attrs.Factory(dict)
    policy: ast.PolicyBlock | None = None
    #: Contact-history statuses (the defaults unless a ``statuses`` block is written).
    statuses: StatusTable = DEFAULT_TABLE
    #: ``account.X`` and ``lead.X`` names (fields and scores) with their types, by
    #: entity; empty when the program declares no accounts or leads.
    entity_names: dict[str, dict[str, ValueType]] = attrs.Factory(
        lambda: {"account": {}, "lead": {}}
    )

    def known_names(self) -> list[str]:
        """Every bare name a condition may use, for did-you-mean."""
        return [*self.fields, *self.scores, *BUILTINS, "now"]

    def class_names(self) -> list[str]:
        return [name for name, _ in self.classes] + list(BUILTIN_CLASSES)

    def name_type(self, name: str) -> ValueType | None:
        if name in self.scores:
            return "number"
        if name in self.fields:
            return self.fields[name].type
        return BUILTINS.get(name)

    def decaying(self, name: str) -> bool:
        score = self.scores.get(name)
        return score is not None and score.half_life is not None


def arith_type(op: str, left: ValueType, right: ValueType) -> ValueType | None:
    """The result type of ``left op right``, or None when the operation makes no sense."""
    if left == "any" or right == "any":
        return "any"
    table: dict[tuple[str, str, str], ValueType] = {
        ("+", "number", "number"): "number",
        ("-", "number", "number"): "number",
        ("*", "number", "number"): "number",
        ("/", "number", "number"): "number",
        ("-", "time", "time"): "duration",
        ("+", "time", "duration"): "time",
        ("+", "duration", "time"): "time",
        ("-", "time", "duration"): "time",
        ("+", "duration", "duration"): "duration",
        ("-", "duration", "duration"): "duration",
        ("*", "number", "duration"): "duration",
        ("*", "duration", "number"): "duration",
        ("/", "duration", "number"): "duration",
        ("/", "duration", "duration"): "number",
        ("+", "text", "text"): "text",
    }
    return table.get((op, left, right))


def comparable(left: ValueType, right: ValueType) -> bool:
    """Whether two types may be compared with ``==`` or an ordering."""
    return left == "any" or right in ("any", left)
