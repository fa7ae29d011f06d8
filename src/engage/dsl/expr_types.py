"""Typing expressions: the type of every node, recorded once, and the errors found on the way.

:class:`ExprTyper` visits a condition or a value bottom-up. For each node it checks what
the node asks of its parts (``between`` needs comparable bounds, ``matches`` a valid
pattern, a name must be declared) and records the node's type in a :class:`TypeTable`.
The code generator reads that table instead of working types out again, so the checker
and the generated code cannot disagree about what ``city`` or ``event.url`` is.

A node's type is ``any`` where it cannot be known (``event.url`` reads data the rules
do not declare) and after an error, so that one mistake is reported once, not again by
every node above it. Typing is linear in the number of nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

import attrs

from engage.dsl import ast
from engage.dsl.declarations import check_positive_duration
from engage.dsl.patterns import PatternError, check_pattern
from engage.dsl.report import Reporter
from engage.dsl.symbols import (
    CHANNELS,
    EVENT_ENVELOPE,
    STATUSES,
    Symbols,
    ValueType,
    arith_type,
    comparable,
)
from engage.dsl.visitor import ExprVisitor
from engage.errors import Span, did_you_mean

Context = Literal["event", "state"]
#: Conditions that may read ``event.*`` attributes: ``on`` rules, score lines, filters.
EVENT_CONTEXT: Final[Context] = "event"
#: Conditions on the contact's state alone: ``when``, segments, re-arm, queries.
STATE_CONTEXT: Final[Context] = "state"


class TypeTable:
    """The static type of every expression node the type pass visited.

    Keyed by node identity: nodes compare by value, and two equal nodes may stand in
    different places; the table lives as long as the syntax trees it describes.
    """

    __slots__ = ("_types",)

    def __init__(self) -> None:
        self._types: dict[int, ValueType] = {}

    def record(self, node: ast.Expr, kind: ValueType) -> None:
        self._types[id(node)] = kind

    def get(self, node: ast.Expr) -> ValueType | None:
        """The type of ``node``, or None if the type pass never saw it. O(1)."""
        return self._types.get(id(node))

    def __getitem__(self, node: ast.Expr) -> ValueType:
        kind = self._types.get(id(node))
        if kind is None:
            raise KeyError(f"no type was recorded for this {type(node).__name__} node")
        return kind

    def __len__(self) -> int:
        return len(self._types)


@attrs.frozen(slots=True)
class TypedRoot:
    """An expression the type pass was given whole, for the lint stage to read again."""

    file: ast.RulesFile | None
    expr: ast.Expr
    #: A condition that is true or false (the ``can never hold`` checks apply).
    is_condition: bool


class ExprTyper(ExprVisitor[ValueType]):
    """Checks expressions against a program's symbols and records their types."""

    def __init__(self, symbols: Symbols, reporter: Reporter, types: TypeTable) -> None:
        self.symbols = symbols
        self.reporter = reporter
        self.types = types
        #: Every expression given whole, in order (the lint stage walks them again).
        self.roots: list[TypedRoot] = []
        #: The file being typed (None for a query).
        self.file: ast.RulesFile | None = None
        self._context: Context = STATE_CONTEXT
        #: ``now`` is allowed in action values (``set last_seen = now``), not in conditions.
        self._allow_now = False

    # -- entry points -----------------------------------------------------------

    def condition(self, expr: ast.Expr, context: Context) -> None:
        """Check ``expr`` as a condition read in ``context``."""
        saved = self._context, self._allow_now
        self._context, self._allow_now = context, False
        try:
            holds = self._condition_part(expr)
        finally:
            self._context, self._allow_now = saved
        self.roots.append(TypedRoot(self.file, expr, holds))

    def value(self, expr: ast.Expr, context: Context) -> ValueType:
        """Check ``expr`` as an action's value (``now`` allowed); returns its type."""
        saved = self._context, self._allow_now
        self._context, self._allow_now = context, True
        try:
            kind = self.expr(expr)
        finally:
            self._context, self._allow_now = saved
        self.roots.append(TypedRoot(self.file, expr, False))
        return kind

    def expr(self, node: ast.Expr) -> ValueType:
        """Check one expression, record its type and return it (``any`` after an error)."""
        kind = self.visit(node)
        self.types.record(node, kind)
        return kind

    # -- values -----------------------------------------------------------------

    def visit_name(self, node: ast.Name) -> ValueType:
        sym = self.symbols
        name = node.name
        kind = sym.name_type(name)
        if kind is None and name == "now":
            return "any"  # the parser reads `now` as Now; a tree built by hand may not
        if kind is None:
            extra = ""
            if name in sym.segments:
                extra = f"; to test membership write `in segment {name}`"
            elif name == "score":
                extra = "; declare the default score with a `score { ... }` block"
            self.reporter.report(
                node.span,
                f"unknown name {name!r}{extra}",
                suggestion=None if extra else did_you_mean(name, sym.known_names()),
            )
            return "any"
        if sym.decaying(name) and not self._allow_now:
            # An action reads the value at the moment it runs (`set n = score`); a
            # condition may only compare it with numbers (see _decaying_meets_numbers),
            # whose crossing moments the engine computes.
            self.reporter.report(
                node.span,
                f"{name!r} decays over time: compare it directly with a number (`{name} >= 5`)",
            )
        return kind

    def visit_consent(self, node: ast.Consent) -> ValueType:
        self.channel(node.channel, node.span)
        return "bool"

    def visit_event_attr(self, node: ast.EventAttr) -> ValueType:
        if self._context != EVENT_CONTEXT:
            self.reporter.report(
                node.span,
                "event attributes can only be read in `on` rules, score lines "
                "and `had`/`count` filters",
            )
            return "any"
        if len(node.path) == 1:
            return EVENT_ENVELOPE.get(node.path[0], "any")
        return "any"

    def visit_entity_attr(self, node: ast.EntityAttr) -> ValueType:
        names = self.symbols.entity_names[node.entity]
        kind = names.get(node.name)
        if kind is None:
            declared = "score" if node.entity == "lead" else "fields"
            hint = did_you_mean(node.name, names)
            self.reporter.report(
                node.span,
                f"unknown {node.entity} name {node.name!r}; declare it in `{node.entity} "
                f"{declared}`" + ("" if node.entity == "lead" else " or as an account score"),
                suggestion=hint and f"{node.entity}.{hint}",
            )
            return "any"
        return kind

    def visit_now(self, node: ast.Now) -> ValueType:
        if not self._allow_now:
            self.reporter.report(
                node.span, "`now` can only be used through `X within D` or `X older than D`"
            )
        return "time"

    def visit_number(self, node: ast.Number) -> ValueType:
        return "number"

    def visit_string(self, node: ast.String) -> ValueType:
        return "text"

    def visit_bool(self, node: ast.Bool) -> ValueType:
        return "bool"

    def visit_time_lit(self, node: ast.TimeLit) -> ValueType:
        return "time"

    def visit_duration_lit(self, node: ast.DurationLit) -> ValueType:
        check_positive_duration(self.reporter, node)
        return "duration"

    def visit_list_lit(self, node: ast.ListLit) -> ValueType:
        for item in node.items:
            self.expr(item)
        return "list"

    def visit_neg(self, node: ast.Neg) -> ValueType:
        inner = self.expr(node.operand)
        if inner not in ("number", "duration", "any"):
            self.reporter.report(node.span, f"cannot negate a {inner}")
            return "any"
        return inner

    def visit_arith(self, node: ast.Arith) -> ValueType:
        lt = self.expr(node.left)
        rt = self.expr(node.right)
        kind = arith_type(node.op, lt, rt)
        if kind is None:
            self.reporter.report(node.span, f"cannot compute {lt} {node.op} {rt}")
            return "any"
        return kind

    def visit_count(self, node: ast.Count) -> ValueType:
        self._history(node)
        return "number"

    def visit_status_for(self, node: ast.StatusFor) -> ValueType:
        return "text"

    def visit_count_contacts(self, node: ast.CountContacts) -> ValueType:
        check_positive_duration(self.reporter, node.window)
        self.types.record(node.window, "duration")
        return "number"

    # -- conditions -------------------------------------------------------------

    def visit_had(self, node: ast.Had) -> ValueType:
        self._history(node)
        return "bool"

    def visit_had_status(self, node: ast.HadStatus) -> ValueType:
        self.history_status(node.status, node.status_span or node.span)
        check_positive_duration(self.reporter, node.window)
        self.types.record(node.window, "duration")
        return "bool"

    def visit_compare(self, node: ast.Compare) -> ValueType:
        left, right, span = node.left, node.right, node.span
        lt = self._operand(left)
        rt = self._operand(right)
        if not self._decaying_meets_numbers(left, (right,), span):
            self._decaying_meets_numbers(right, (left,), span)
        if not comparable(lt, rt):
            self.reporter.report(span, f"cannot compare a {lt} with a {rt}")
            return "bool"
        if node.op not in ("==", "!=") and "list" in (lt, rt):
            self.reporter.report(span, f"`{node.op}` does not order lists")
        if node.op not in ("==", "!=") and "bool" in (lt, rt):
            self.reporter.report(span, f"`{node.op}` does not order true/false values")
        self._known_value(left, right)
        self._known_value(right, left)
        return "bool"

    def visit_is_empty(self, node: ast.IsEmpty) -> ValueType:
        self._operand(node.operand)
        return "bool"

    def visit_between(self, node: ast.Between) -> ValueType:
        ot = self._operand(node.operand)
        self._decaying_meets_numbers(node.operand, (node.low, node.high), node.span)
        for bound in (node.low, node.high):
            bt = self.expr(bound)
            if not comparable(ot, bt):
                self.reporter.report(bound.span, f"cannot compare a {ot} with a {bt}")
        if ot in ("bool", "list"):
            self.reporter.report(node.span, f"`between` needs numbers, times or text, not a {ot}")
        return "bool"

    def visit_in_list(self, node: ast.InList) -> ValueType:
        ot = self._operand(node.operand)
        self._decaying_meets_numbers(node.operand, node.items.items, node.span)
        for item in node.items.items:
            it = self.expr(item)
            if not comparable(ot, it):
                self.reporter.report(item.span, f"cannot compare a {ot} with a {it}")
            self._known_value(node.operand, item)
        self.types.record(node.items, "list")
        return "bool"

    def visit_text_match(self, node: ast.TextMatch) -> ValueType:
        op, pattern = node.op, node.pattern
        ot = self._operand(node.operand)
        pt = self.expr(pattern)
        if ot not in ("text", "any") and not (ot == "list" and op == "contains"):
            self.reporter.report(node.span, f"`{op}` needs text, not a {ot}")
        if pt not in ("text", "any"):
            self.reporter.report(pattern.span, f"the pattern of `{op}` must be text")
        if op == "matches" and isinstance(pattern, ast.String):
            try:
                check_pattern(pattern.value)
            except PatternError as exc:
                self.reporter.report(pattern.span, str(exc))
        return "bool"

    def visit_tagged(self, node: ast.Tagged) -> ValueType:
        return "bool"

    def visit_in_group(self, node: ast.InGroup) -> ValueType:
        return "bool"

    def visit_subscribed(self, node: ast.Subscribed) -> ValueType:
        return "bool"

    def visit_in_segment(self, node: ast.InSegment) -> ValueType:
        self.segment_name(node.segment, node.span)
        return "bool"

    def visit_within(self, node: ast.Within) -> ValueType:
        check_positive_duration(self.reporter, node.window)
        self.types.record(node.window, "duration")
        ot = self._operand(node.operand)
        if ot not in ("time", "any"):
            self.reporter.report(node.span, f"`within`/`older than` need a time, not a {ot}")
        return "bool"

    def visit_and(self, node: ast.And) -> ValueType:
        for item in node.items:
            self._condition_part(item)
        return "bool"

    def visit_or(self, node: ast.Or) -> ValueType:
        for item in node.items:
            self._condition_part(item)
        return "bool"

    def visit_not(self, node: ast.Not) -> ValueType:
        self._condition_part(node.operand)
        return "bool"

    # -- shared checks ----------------------------------------------------------

    def _condition_part(self, expr: ast.Expr) -> bool:
        """Check a condition (or an operand of and/or/not); False when it is not one."""
        kind = self.expr(expr)
        if kind in ("bool", "any"):
            return True
        hint = ""
        if isinstance(expr, ast.Name):
            hint = f"; did you mean `{expr.name} is not empty`?"
        self.reporter.report(expr.span, f"a condition must be true or false, not a {kind}{hint}")
        return False

    def _operand(self, expr: ast.Expr) -> ValueType:
        """Check the subject of a predicate; a decaying score is allowed bare here."""
        if isinstance(expr, ast.Name) and self.symbols.decaying(expr.name):
            self.types.record(expr, "number")
            return "number"
        return self.expr(expr)

    def _history(self, node: ast.Had | ast.Count) -> None:
        """``had``/``count``: the window, and the filter as a condition on the event.

        The filter is a condition even inside an action value, so ``now`` is refused
        there as in any condition.
        """
        check_positive_duration(self.reporter, node.window)
        self.types.record(node.window, "duration")
        if node.where is not None:
            self.condition(node.where, EVENT_CONTEXT)

    def _decaying_meets_numbers(
        self, subject: ast.Expr, others: Sequence[ast.Expr], span: Span
    ) -> bool:
        """A decaying score is compared with written numbers only; True if it reported.

        Its value moves with the clock, and the engine works out the moment it crosses a
        constant; against another value (``between 0 and fit``, ``> -fit``) there is no
        such moment to compute.
        """
        if not (isinstance(subject, ast.Name) and self.symbols.decaying(subject.name)):
            return False
        if all(constant_number(other) is not None for other in others):
            return False
        self.reporter.report(span, f"{subject.name!r} decays over time: compare it with a number")
        return True

    def history_status(self, status: str, span: Span, *, in_track: bool = False) -> None:
        """A contact-history status named by ``track`` or a condition must be declared
        (or be a default when no ``statuses`` block is written).

        A ``track`` of an undeclared status in a program without a ``statuses`` block is
        a warning, not an error: rules written before statuses existed keep loading,
        and the status is kept as written (it does not count as contact).
        """
        table = self.symbols.statuses
        if table.resolve(status) is not None:
            return
        known = list(table.names)
        message = f"unknown status {status!r}; the statuses are " + ", ".join(
            repr(k) for k in known
        )
        suggestion = did_you_mean(status, known)
        if in_track and not table.declared:
            self.reporter.warn(
                span, message + " (declare it in a `statuses` block)", suggestion=suggestion
            )
        else:
            self.reporter.report(span, message, suggestion=suggestion)

    def _known_value(self, side: ast.Expr, other: ast.Expr) -> None:
        """``valuation is "dormnt"`` and ``status == "x"`` name values we know."""
        if isinstance(side, ast.StatusFor) and isinstance(other, ast.String):
            if other.value:
                self.history_status(other.value, other.span)
            return
        if not isinstance(side, ast.Name) or not isinstance(other, ast.String):
            return
        if side.name == "valuation":
            known = self.symbols.class_names()
        elif side.name == "status":
            known = list(STATUSES)
        else:
            return
        if other.value not in known:
            self.reporter.report(
                other.span,
                f"{side.name} is never {other.value!r}; it is one of "
                + ", ".join(repr(k) for k in known),
                suggestion=did_you_mean(other.value, known),
            )

    def channel(self, channel: str | None, span: Span) -> None:
        """``consent.sms``, ``send sms``, ``unsubscribe ... channel email``: a known channel."""
        if channel is not None and channel not in CHANNELS:
            self.reporter.report(
                span, f"unknown channel {channel!r}", suggestion=did_you_mean(channel, CHANNELS)
            )

    def segment_name(self, name: str, span: Span) -> None:
        """``in segment X``, ``on segment enter X``: a declared segment."""
        if name not in self.symbols.segments:
            self.reporter.report(
                span,
                f"unknown segment {name!r}",
                suggestion=did_you_mean(name, self.symbols.segments),
            )


def constant_number(expr: ast.Expr) -> float | None:
    """The value of a written number (``5``, ``-5``), or None for anything else."""
    if isinstance(expr, ast.Number):
        return float(expr.value)
    if isinstance(expr, ast.Neg) and isinstance(expr.operand, ast.Number):
        return -float(expr.operand.value)
    return None
