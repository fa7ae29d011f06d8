"""Canonical printing of conditions: one text per meaning of the written source.

Where a condition must be *identified* across programs — an event window kept in a
snapshot is matched to the window of the new program by its type, filter and length —
the identity is this text, not ``repr()`` of syntax-tree objects: a renamed node class
or a moved field must not silently drop saved state. The text is the language's own
syntax with every compound part in parentheses, numbers as Python writes them and
durations in seconds, so that layout, comments and redundant parentheses do not count
and the same condition always prints the same.

Cost: linear in the size of the condition; called at compile time only.
"""

from __future__ import annotations

from engage.dsl import ast
from engage.timeutil import format_time

_TEXT_OPS = {
    "contains": "contains",
    "startswith": "startswith",
    "endswith": "endswith",
    "matches": "matches",
}


def quote(text: str) -> str:
    """A string literal as the lexer reads it back."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def number(value: float) -> str:
    """A number literal: whole numbers without a fraction (``5``, not ``5.0``)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return repr(int(value))
    return repr(value)


def duration(node: ast.DurationLit) -> str:
    return f"{number(node.seconds)} seconds"


def condition_text(node: ast.Expr) -> str:
    """The canonical text of a condition or value expression.

    Raises:
        TypeError: a node this printer does not know (a new node kind must be added
            here, not guessed at).
    """
    match node:
        case ast.Number(value=value):
            return number(value)
        case ast.String(value=value):
            return quote(value)
        case ast.Bool(value=value):
            return "true" if value else "false"
        case ast.TimeLit(value=value):
            return format_time(value)
        case ast.DurationLit():
            return duration(node)
        case ast.ListLit(items=items):
            return "[" + ", ".join(condition_text(item) for item in items) + "]"
        case ast.Now():
            return "now"
        case ast.Name(name=name):
            return name
        case ast.Consent(channel=channel):
            return f"consent.{channel}"
        case ast.EventAttr(path=path):
            return ".".join(("event", *path))
        case ast.EntityAttr(entity=entity, name=name):
            return f"{entity}.{name}"
        case ast.Arith(op=op, left=left, right=right):
            return f"({condition_text(left)} {op} {condition_text(right)})"
        case ast.Neg(operand=operand):
            return f"(-{condition_text(operand)})"
        case ast.Count(event_type=event_type, where=where, window=window):
            return f"(count {event_type}{_filter(where)} within {duration(window)})"
        case ast.Compare(op=op, left=left, right=right):
            return f"({condition_text(left)} {op} {condition_text(right)})"
        case ast.IsEmpty(operand=operand, negated=negated):
            return f"({condition_text(operand)} is {'not ' if negated else ''}empty)"
        case ast.Between(operand=operand, low=low, high=high, negated=negated):
            return (
                f"({condition_text(operand)} {'not ' if negated else ''}between "
                f"{condition_text(low)} and {condition_text(high)})"
            )
        case ast.InList(operand=operand, items=items, negated=negated):
            return (
                f"({condition_text(operand)} {'not ' if negated else ''}in {condition_text(items)})"
            )
        case ast.TextMatch(op=op, operand=operand, pattern=pattern, negated=negated):
            return (
                f"({condition_text(operand)} {'not ' if negated else ''}{_TEXT_OPS[op]} "
                f"{condition_text(pattern)})"
            )
        case ast.Tagged(tag=tag):
            return f"(tagged {quote(tag)})"
        case ast.InGroup(group=group):
            return f"(in group {quote(group)})"
        case ast.InSegment(segment=segment):
            return f"(in segment {segment})"
        case ast.Subscribed(list_name=list_name):
            return f"(subscribed to {quote(list_name)})"
        case ast.Within(operand=operand, window=window, older=older):
            word = "older than" if older else "within"
            return f"({condition_text(operand)} {word} {duration(window)})"
        case ast.Had(event_type=event_type, where=where, window=window):
            return f"(had {event_type}{_filter(where)} within {duration(window)})"
        case ast.HadStatus(status=status, campaign=campaign, window=window):
            scope = "" if campaign is None else f" for campaign {quote(campaign)}"
            return f"(had status {quote(status)}{scope} within {duration(window)})"
        case ast.StatusFor(campaign=campaign):
            return f"(status for campaign {quote(campaign)})"
        case ast.CountContacts(window=window):
            return f"(count contacts within {duration(window)})"
        case ast.And(items=items):
            return "(" + " and ".join(condition_text(item) for item in items) + ")"
        case ast.Or(items=items):
            return "(" + " or ".join(condition_text(item) for item in items) + ")"
        case ast.Not(operand=operand):
            return f"(not {condition_text(operand)})"
    raise TypeError(f"no canonical text for a {type(node).__name__} node")


def _filter(where: ast.Expr | None) -> str:
    return "" if where is None else f" where {condition_text(where)}"


def window_signature(event_type: str, where: ast.Expr | None, seconds: float) -> str:
    """What identifies an event window across programs: its type, filter and length."""
    return f"{event_type}|{'' if where is None else condition_text(where)}|{number(seconds)}"
