"""The names a rules program knows, and the type of every expression.

The checker fills a :class:`Symbols` table from the declarations and then asks it for
the type of each expression; the code generator asks the same table again, so the two
never disagree about what ``city`` or ``event.url`` is.
"""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

import attrs

from engage.dsl import ast

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
    "contact.updated",
    "contact.deleted",
)

#: Events that are data, not activity: they do not move ``last_activity``.
NON_ACTIVITY_TYPES: Final = frozenset({"contact.updated", "contact.deleted"})


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
    """Fields, scores, segments and recency classes of one program."""

    fields: dict[str, FieldSymbol] = attrs.Factory(dict)
    scores: dict[str, ScoreSymbol] = attrs.Factory(dict)
    segments: dict[str, int] = attrs.Factory(dict)
    classes: tuple[tuple[str, float], ...] = DEFAULT_CLASSES

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

    def type_of(self, expr: ast.Expr) -> ValueType:
        """The static type of an expression; ``any`` where it cannot be known.

        Conditions (comparisons, predicates, ``and``/``or``/``not``) are ``bool``.
        Unknown names are ``any`` here: reporting them is the checker's job.
        """
        match expr:
            case ast.Number() | ast.Count():
                return "number"
            case ast.String():
                return "text"
            case ast.Bool():
                return "bool"
            case ast.TimeLit() | ast.Now():
                return "time"
            case ast.DurationLit():
                return "duration"
            case ast.ListLit():
                return "list"
            case ast.Name(name=name):
                return self.name_type(name) or "any"
            case ast.Consent():
                return "bool"
            case ast.EventAttr(path=path):
                if len(path) == 1:
                    return EVENT_ENVELOPE.get(path[0], "any")
                return "any"
            case ast.Neg(operand=operand):
                inner = self.type_of(operand)
                return inner if inner in ("number", "duration") else "any"
            case ast.Arith(op=op, left=left, right=right):
                return arith_type(op, self.type_of(left), self.type_of(right)) or "any"
            case _:
                return "bool"


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
