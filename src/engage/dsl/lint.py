"""The checker's last stage: warnings about rules that run but probably do not mean it.

Nothing here stops a program from running. Three checks, each reading what the earlier
stages left: conditions that can never hold (``score > 5 and score < 3``), event types
that look like typos of known ones (``email.opne``), and rules whose actions can keep
re-triggering each other (see :mod:`engage.dsl.loops`). Each is linear in the size of
the program. (``consent.email is empty`` is no longer warned about: consent is true,
false or empty, and empty means the contact never answered.)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

from engage.dsl import ast
from engage.dsl.declarations import CheckedRule, CheckedSegment
from engage.dsl.expr_types import TypedRoot, constant_number
from engage.dsl.loops import rule_loops
from engage.dsl.report import Reporter
from engage.dsl.symbols import KNOWN_EVENT_TYPES
from engage.dsl.walk import walk
from engage.errors import did_you_mean

#: Rule names a loop warning spells out before it shortens the list with "...".
_LOOP_NAMES_SHOWN = 8


def lint_expressions(roots: Sequence[TypedRoot], reporter: Reporter) -> None:
    """Warnings about single conditions: always-true/false tests, impossible bounds."""
    for root in roots:
        if root.file is not None:
            reporter.use_file(root.file)
        if root.is_condition:
            _never_holds(root.expr, reporter)


def _never_holds(expr: ast.Expr, reporter: Reporter) -> None:
    """Warn about conjunctions of bounds on one name that no value satisfies."""
    for node in walk(expr):
        if isinstance(node, ast.And):
            bounds: dict[str, list[float]] = {}
            for item in node.items:
                for name, low, high in _bounds(item):
                    current = bounds.setdefault(name, [-math.inf, math.inf])
                    current[0] = max(current[0], low)
                    current[1] = min(current[1], high)
            for name, (low, high) in bounds.items():
                if low > high:
                    reporter.warn(
                        node.span,
                        f"this condition can never hold: no value of {name!r} "
                        f"satisfies all its bounds",
                    )
        if isinstance(node, ast.Between) and not node.negated:
            lowest = constant_number(node.low)
            highest = constant_number(node.high)
            if lowest is not None and highest is not None and lowest > highest:
                reporter.warn(
                    node.span,
                    "this condition can never hold: the low bound is above the high bound",
                )


_FLIP = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!="}


def _bounds(expr: ast.Expr) -> Iterator[tuple[str, float, float]]:
    """Closed bounds ``(name, low, high)`` that a simple comparison puts on a name."""
    if isinstance(expr, ast.Compare):
        op: str = expr.op
        left, right = expr.left, expr.right
        if isinstance(right, ast.Name) and not isinstance(left, ast.Name):
            op, left, right = _FLIP[op], right, left
        value = constant_number(right)
        if not isinstance(left, ast.Name) or value is None:
            return
        eps = 1e-12 * max(1.0, abs(value))
        if op == ">=":
            yield left.name, value, math.inf
        elif op == ">":
            yield left.name, value + eps, math.inf
        elif op == "<=":
            yield left.name, -math.inf, value
        elif op == "<":
            yield left.name, -math.inf, value - eps
        elif op == "==":
            yield left.name, value, value
    elif isinstance(expr, ast.Between) and not expr.negated:
        low, high = constant_number(expr.low), constant_number(expr.high)
        # Reversed bounds (low above high) get their own warning, once.
        if (
            isinstance(expr.operand, ast.Name)
            and low is not None
            and high is not None
            and low <= high
        ):
            yield expr.operand.name, low, high


def lint_event_types(files: Sequence[ast.RulesFile], reporter: Reporter) -> None:
    """Warn about event types that look like typos of a known one."""
    known = set(KNOWN_EVENT_TYPES)
    for rules_file in files:
        reporter.use_file(rules_file)
        for decl in rules_file.decls:
            for node, event_type in _event_type_uses(decl):
                if event_type in known:
                    continue
                guess = did_you_mean(event_type, known)
                if guess is not None:
                    reporter.warn(
                        node.span,
                        f"event type {event_type!r} is not one engage knows",
                        suggestion=guess,
                    )


def _event_type_uses(
    decl: ast.Decl,
) -> Iterator[tuple[ast.ScoreLine | ast.OnEvent | ast.Had | ast.Count | ast.EventStep, str]]:
    exprs: list[ast.Expr] = []
    match decl:
        case ast.ScoreBlock(lines=lines):
            for line in lines:
                yield line, line.event_type
                if line.where is not None:
                    exprs.append(line.where)
        case ast.RuleDecl(trigger=trigger, mode=mode):
            if isinstance(trigger, ast.OnEvent):
                yield trigger, trigger.event_type
            cond = trigger.condition if isinstance(trigger, ast.WhenTrigger) else trigger.where
            if cond is not None:
                exprs.append(cond)
            if mode.rearm is not None:
                exprs.append(mode.rearm)
            for action in decl.actions:
                match action:
                    case ast.SetAction(value=value):
                        exprs.append(value)
                    case ast.ScoreAction(amount=amount):
                        exprs.append(amount)
                    case ast.DoAction(args=args):
                        exprs.extend(args)
                    case _:
                        pass  # no expression inside
        case ast.SegmentDecl(condition=condition):
            exprs.append(condition)
        case ast.TestDecl(steps=steps):
            for step in steps:
                if isinstance(step, ast.EventStep):
                    yield step, step.event_type
        case ast.FieldsBlock() | ast.ValuationBlock() | ast.CampaignDecl() | ast.PolicyBlock():
            pass
    for expr in exprs:
        for node in walk(expr):
            if isinstance(node, ast.Had | ast.Count):
                yield node, node.event_type


def lint_loops(
    files: Sequence[ast.RulesFile],
    rules: Sequence[CheckedRule],
    segments: Sequence[CheckedSegment],
    reporter: Reporter,
) -> None:
    """Warn once per group of rules whose state actions can keep feeding each other.

    The warning shows a shortest cycle through the group's first rule, then names the
    group's other rules, so that every rule that takes part is named in one warning.
    """
    file_of = {rules_file.path: rules_file for rules_file in files}
    by_name = {rule.name: rule for rule in rules}
    conditions = {segment.name: segment.decl.condition for segment in segments}
    for loop in rule_loops([(rule.name, rule.decl) for rule in rules], conditions):
        cycle = loop.cycle
        first = by_name[cycle[0]]
        reporter.use_file(file_of[first.file])
        if len(loop.rules) == 1:
            message = f"rule {cycle[0]!r} can keep re-triggering itself"
        else:
            message = "these rules can trigger each other in a loop: " + " -> ".join(
                _shortened([repr(n) for n in [*cycle, cycle[0]]], keep_last=2)
            )
            others = [name for name in loop.rules if name not in set(cycle)]
            if others:
                message += "; also in it: " + ", ".join(
                    _shortened([repr(n) for n in others], keep_last=1)
                )
            if len(loop.rules) > 2:
                message += f" ({len(loop.rules)} rules)"
        reporter.warn(first.decl.span, message + " (a run stops such a loop after 32 rounds)")


def _shortened(names: list[str], keep_last: int) -> list[str]:
    """At most :data:`_LOOP_NAMES_SHOWN` names: the first ones, "...", the last ones."""
    if len(names) <= _LOOP_NAMES_SHOWN:
        return names
    return [*names[: _LOOP_NAMES_SHOWN - keep_last], "...", *names[-keep_last:]]
