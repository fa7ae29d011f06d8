"""The checker's first stage: the names a program declares, and the order of its parts.

Reads every declaration of every file, fills the :class:`~engage.dsl.symbols.Symbols`
table (fields, scores, segments, recency classes) and names the rules, refusing names
declared twice or taken by the language. Later stages look names up in that table and
never declare one. :func:`order_segments` puts the segments in the order their updates
must run (a segment that reads another comes after it). Each function is linear in the
number of declarations.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Final

import attrs

from engage.dsl import ast
from engage.dsl.report import Reporter
from engage.dsl.symbols import BUILTIN_CLASSES, BUILTINS, FieldSymbol, ScoreSymbol, Symbols
from engage.dsl.walk import walk
from engage.errors import Span
from engage.history.statuses import StatusTable

#: A file position that orders rules: (file index, line, column).
Position = tuple[int, int, int]


@attrs.frozen(slots=True)
class CheckedRule:
    """A rule with its final name and its place in the firing order."""

    name: str
    decl: ast.RuleDecl
    file: str
    position: Position


@attrs.frozen(slots=True)
class CheckedSegment:
    name: str
    decl: ast.SegmentDecl
    file: str
    #: Segments this one reads (``in segment X``), for ordering their updates.
    reads: frozenset[str]


#: Words that start an expression of their own (``count email.open within 7 days``,
#: ``event.url``, ``consent.email``): the grammar reads them as that expression wherever
#: a name could stand, so a field or score of that name could be declared but never read.
OPERAND_KEYWORDS: Final = {
    "count": "`count EVENT within D`",
    "event": "`event.ATTRIBUTE`",
    "consent": "`consent.CHANNEL`",
    "subscribed": '`subscribed to "LIST"`',
}


def check_positive_duration(reporter: Reporter, duration: ast.DurationLit) -> None:
    """Windows, half-lives and cooldowns must be longer than zero (and finite)."""
    if not duration.seconds > 0 or not math.isfinite(duration.seconds):
        reporter.report(duration.span, "a duration must be longer than zero")


def declare(files: Sequence[ast.RulesFile], reporter: Reporter) -> Symbols:
    """The symbols of every file's fields, scores, segments and ``valuation`` block."""
    symbols = Symbols()
    valuation_seen = False
    statuses_seen = False
    for rules_file in files:
        reporter.use_file(rules_file)
        for decl in rules_file.decls:
            match decl:
                case ast.FieldsBlock(fields=fields):
                    for field in fields:
                        _declare_field(symbols, reporter, field)
                case ast.ScoreBlock():
                    _declare_score(symbols, reporter, decl)
                case ast.SegmentDecl(name=name, span=span):
                    if name in symbols.segments:
                        reporter.report(span, f"segment {name!r} is declared twice")
                    else:
                        symbols.segments[name] = len(symbols.segments)
                case ast.ValuationBlock():
                    if valuation_seen:
                        reporter.report(decl.span, "only one `valuation` block is allowed")
                    valuation_seen = True
                    symbols.classes = _recency_classes(reporter, decl)
                case ast.StatusesBlock():
                    if statuses_seen:
                        reporter.report(decl.span, "only one `statuses` block is allowed")
                    statuses_seen = True
                    symbols.statuses = _statuses(reporter, decl)
                case ast.RuleDecl():
                    pass  # named by name_rules
                case ast.CampaignDecl() | ast.PolicyBlock():
                    pass  # declared by campaign_check
    return symbols


def _statuses(reporter: Reporter, block: ast.StatusesBlock) -> StatusTable:
    """The declared statuses; a name declared twice (in any case) is refused."""
    seen: set[str] = set()
    kept: list[tuple[str, bool]] = []
    for status in block.statuses:
        key = status.name.casefold()
        if key in seen:
            reporter.report(status.span, f"status {status.name!r} is declared twice")
            continue
        if not status.name.strip():
            reporter.report(status.span, "a status needs a name")
            continue
        seen.add(key)
        kept.append((status.name, status.counts))
    if not block.statuses:
        reporter.report(block.span, "a `statuses` block needs at least one status")
    return StatusTable(kept, declared=True)


def _declare_field(symbols: Symbols, reporter: Reporter, field: ast.FieldDecl) -> None:
    name = field.name
    if name in symbols.fields:
        reporter.report(field.span, f"field {name!r} is declared twice")
    elif name in BUILTINS or name == "now":
        reporter.report(field.span, f"{name!r} is a built-in name and cannot be a field")
    elif name in OPERAND_KEYWORDS:
        reporter.report(field.span, _operand_keyword_message(name, "field"))
    elif name in symbols.scores:
        reporter.report(field.span, f"{name!r} is already a score")
    else:
        symbols.fields[name] = FieldSymbol(name, len(symbols.fields), field.type, field)


def _declare_score(symbols: Symbols, reporter: Reporter, block: ast.ScoreBlock) -> None:
    name = block.name
    if name in symbols.scores:
        reporter.report(block.span, f"score {name!r} is declared twice")
    elif name in BUILTINS or name == "now":
        reporter.report(block.span, f"{name!r} is a built-in name and cannot be a score")
    elif name in OPERAND_KEYWORDS:
        reporter.report(block.span, _operand_keyword_message(name, "score"))
    elif name in symbols.fields:
        reporter.report(block.span, f"{name!r} is already a field")
    else:
        symbols.scores[name] = ScoreSymbol(name, len(symbols.scores), block)


def _recency_classes(
    reporter: Reporter, block: ast.ValuationBlock
) -> tuple[tuple[str, float], ...]:
    classes: list[tuple[str, float]] = []
    previous = 0.0
    for cls in block.classes:
        if cls.name in BUILTIN_CLASSES:
            reporter.report(cls.span, f"{cls.name!r} is a built-in class; choose another name")
            continue
        if any(cls.name == name for name, _ in classes):
            reporter.report(cls.span, f"class {cls.name!r} is declared twice")
            continue
        if cls.window.seconds <= 0:
            check_positive_duration(reporter, cls.window)
            continue
        if cls.window.seconds <= previous:
            reporter.report(
                cls.window.span,
                "recency classes must be written from the shortest window to the longest",
            )
            continue
        previous = cls.window.seconds
        classes.append((cls.name, cls.window.seconds))
    if not block.classes:
        reporter.report(block.span, "a `valuation` block needs at least one class")
    return tuple(classes)


def _operand_keyword_message(name: str, kind: str) -> str:
    return (
        f"{name!r} cannot be a {kind} name: in a condition `{name}` starts "
        f"{OPERAND_KEYWORDS[name]}, so the {kind} could never be read; "
        f"choose another name, such as '{name}_total'"
    )


def name_rule(decl: ast.RuleDecl, rules_file: ast.RulesFile) -> str:
    """A rule's name: the one written, or ``FILE:LINE`` for an anonymous rule."""
    if decl.name is not None:
        return decl.name
    return f"{os.path.basename(rules_file.path)}:{decl.span.line}"


def name_rules(files: Sequence[ast.RulesFile], reporter: Reporter) -> tuple[CheckedRule, ...]:
    """Every rule with its name and position, in written order; names used twice refused."""
    rules: list[CheckedRule] = []
    names: dict[str, tuple[str, Span]] = {}
    for file_index, rules_file in enumerate(files):
        reporter.use_file(rules_file)
        for decl in rules_file.decls:
            if not isinstance(decl, ast.RuleDecl):
                continue
            name = name_rule(decl, rules_file)
            if name in names:
                first_file, first = names[name]
                where = f"line {first.line}"
                if first_file != rules_file.path:
                    where += f" of {first_file}"
                if decl.name is None:
                    message = (
                        f"two rules without a name start on line {decl.span.line}: "
                        f"an anonymous rule is named after its line ({name!r}); put "
                        'each rule on a line of its own, or name them with rule "NAME"'
                    )
                else:
                    message = f"rule {name!r} is declared twice (first at {where})"
                reporter.report(decl.name_span or decl.span, message)
            names.setdefault(name, (rules_file.path, decl.span))
            position = (file_index, decl.span.line, decl.span.column)
            rules.append(CheckedRule(name, decl, rules_file.path, position))
    return tuple(rules)


def order_segments(
    files: Sequence[ast.RulesFile], reporter: Reporter
) -> tuple[CheckedSegment, ...]:
    """Segments in dependency order; a cycle among segments is an error.

    A segment declared twice keeps its first declaration. A depth-first walk with an
    explicit stack: segments may read segments in chains of any length without reaching
    Python's recursion limit.
    """
    checked: dict[str, CheckedSegment] = {}
    file_of: dict[str, ast.RulesFile] = {}
    for rules_file in files:
        for decl in rules_file.decls:
            if isinstance(decl, ast.SegmentDecl) and decl.name not in checked:
                reads = frozenset(
                    node.segment for node in walk(decl.condition) if isinstance(node, ast.InSegment)
                )
                checked[decl.name] = CheckedSegment(decl.name, decl, rules_file.path, reads)
                file_of[decl.name] = rules_file
    ordered: list[CheckedSegment] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    for root, first in checked.items():
        if root in state:
            continue
        chain: list[str] = [root]
        stack: list[tuple[str, list[str]]] = [(root, sorted(first.reads))]
        state[root] = 1
        while stack:
            name, pending = stack[-1]
            if not pending:
                stack.pop()
                chain.pop()
                state[name] = 2
                ordered.append(checked[name])
                continue
            dep = pending.pop(0)
            if dep not in checked or state.get(dep) == 2:
                continue
            if state.get(dep) == 1:
                cycle = [*chain[chain.index(dep) :], dep]
                reporter.use_file(file_of[dep])
                reporter.report(
                    checked[dep].decl.span,
                    "segments depend on each other in a cycle: " + " -> ".join(cycle),
                )
                continue
            state[dep] = 1
            chain.append(dep)
            stack.append((dep, sorted(checked[dep].reads)))
    return tuple(ordered)
