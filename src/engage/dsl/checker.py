"""Checking a parsed program: the stages, in order, and what they hand the compiler.

1. :mod:`~engage.dsl.declarations` — the names declared (fields, scores, segments,
   recency classes, rules), each refused if declared twice or taken; then
   :mod:`~engage.dsl.campaign_check` — the campaigns and the policy, and the campaign
   names rules use.
2. :mod:`~engage.dsl.type_pass` (with :mod:`~engage.dsl.expr_types`) — every condition
   and value typed in its context, the type of each node recorded in a
   :class:`~engage.dsl.expr_types.TypeTable` that the code generator reads.
3. :func:`~engage.dsl.declarations.order_segments` — segments in update order.
4. :mod:`~engage.dsl.lint` — warnings: conditions that never hold, typos of event
   types, rules that can loop.
5. :mod:`~engage.dsl.testblocks` — the ``test`` blocks, which ``engage test`` runs and
   the compiler never reads (their types go to a table of their own).

No stage stops at the first problem: every :class:`Diagnostic` (errors and warnings) is
collected so that ``engage check`` can show them all at once. Errors make :func:`check`
raise :class:`RulesCheckError`; warnings ride along on the result. The whole check is
linear in the size of the program.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from engage.dsl import ast
from engage.dsl.campaign_check import check_campaigns
from engage.dsl.declarations import (
    CheckedRule,
    CheckedSegment,
    declare,
    name_rules,
    order_segments,
)
from engage.dsl.entities import EntityChecker, EntityDecls
from engage.dsl.expr_types import STATE_CONTEXT, ExprTyper, TypeTable
from engage.dsl.flow_checks import declare_flows, with_flow_segments
from engage.dsl.lint import lint_event_types, lint_expressions, lint_loops
from engage.dsl.report import Reporter
from engage.dsl.symbols import FieldSymbol, ScoreSymbol, Symbols
from engage.dsl.testblocks import check_tests
from engage.dsl.type_pass import TypePass
from engage.errors import Diagnostic, RulesCheckError

__all__ = [
    "CheckedProgram",
    "CheckedRule",
    "CheckedSegment",
    "check",
    "check_condition",
    "type_condition",
]


@attrs.frozen(slots=True)
class CheckedProgram:
    """Everything the compiler needs, already known to be consistent."""

    files: tuple[ast.RulesFile, ...]
    symbols: Symbols
    scores: tuple[ScoreSymbol, ...]
    fields: tuple[FieldSymbol, ...]
    segments: tuple[CheckedSegment, ...]  # in dependency order
    rules: tuple[CheckedRule, ...]  # in written order
    warnings: tuple[Diagnostic, ...]
    #: The type of every expression node of ``files``.
    types: TypeTable = attrs.field(factory=TypeTable)
    #: Accounts and leads: their declarations and the rules fired per account or lead
    #: (these are not in ``rules``).
    entities: EntityDecls = attrs.field(factory=EntityDecls)


def check(files: Sequence[ast.RulesFile]) -> CheckedProgram:
    """Check parsed files together (names are shared across files).

    Raises:
        RulesCheckError: with every error and warning found, if there is an error.
    """
    files = with_flow_segments(files)
    reporter = Reporter()
    symbols = declare(files, reporter)
    declare_flows(files, symbols, reporter)
    check_campaigns(files, symbols, reporter)
    entities = EntityChecker(symbols, reporter)
    entities.declare(files)
    rules = name_rules(files, reporter)
    typing = TypePass(symbols, reporter)
    typing.run(files)
    entities.check_bodies(files, typing)
    segments = order_segments(files, reporter)
    lint_expressions(typing.typer.roots, reporter)
    lint_event_types(files, reporter)
    lint_loops(files, rules, segments, reporter)
    check_tests(files, symbols, reporter)
    contact_rules, entity_decls = entities.classify(files, rules)
    diagnostics = reporter.without_repeats()
    if any(d.severity == "error" for d in diagnostics):
        raise RulesCheckError(diagnostics)
    return CheckedProgram(
        files=files,
        symbols=symbols,
        scores=tuple(symbols.scores.values()),
        fields=tuple(symbols.fields.values()),
        segments=segments,
        rules=contact_rules,
        warnings=tuple(diagnostics),
        types=typing.types,
        entities=entity_decls,
    )


def type_condition(
    expr: ast.Expr, symbols: Symbols, source: str, name: str = "<query>"
) -> tuple[list[Diagnostic], TypeTable]:
    """Check a lone condition (a query) against a program's names.

    Returns its problems and the types of its nodes (for
    :class:`~engage.dsl.codegen.CodeGenerator`). Linear in the size of the condition.
    """
    reporter = Reporter()
    reporter.use_source(name, source)
    types = TypeTable()
    typer = ExprTyper(symbols, reporter, types)
    typer.condition(expr, STATE_CONTEXT)
    lint_expressions(typer.roots, reporter)
    return reporter.without_repeats(), types


def check_condition(
    expr: ast.Expr, symbols: Symbols, source: str, name: str = "<query>"
) -> list[Diagnostic]:
    """Check a lone condition (a query) against a program's names; returns the problems."""
    return type_condition(expr, symbols, source, name)[0]
