"""Checking a parsed program: names, types, duplicates, and conditions that cannot hold.

The checker reads every declaration of every file, builds the :class:`Symbols` table,
then walks each condition and action. It never stops at the first problem: it collects
every :class:`Diagnostic` (errors and warnings) so that ``engage check`` can show them all
at once. Errors make :func:`check` raise :class:`RulesCheckError`; warnings ride along on
the result.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from typing import Final

import attrs

from engage.dsl import ast
from engage.dsl.loops import rule_loops
from engage.dsl.patterns import PatternError, check_pattern
from engage.dsl.symbols import (
    BUILTIN_CLASSES,
    BUILTINS,
    CHANNELS,
    KNOWN_EVENT_TYPES,
    STATUSES,
    FieldSymbol,
    ScoreSymbol,
    Symbols,
    ValueType,
    arith_type,
    comparable,
)
from engage.dsl.walk import walk
from engage.errors import (
    NO_SPAN,
    Diagnostic,
    RulesCheckError,
    Span,
    did_you_mean,
    source_lines,
)

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


#: Rule names a loop warning spells out before it shortens the cycle with "...".
_LOOP_NAMES_SHOWN = 8

_EVENT_CONTEXT = "event"  # conditions that may read event.* attributes
_STATE_CONTEXT = "state"  # conditions on the contact's state alone


class _Checker:
    def __init__(self, files: Sequence[ast.RulesFile]) -> None:
        self.files = tuple(files)
        self.symbols = Symbols()
        self.diagnostics: list[Diagnostic] = []
        self._file = "<rules>"
        self._source_lines: list[str] = []
        self._lines_of: ast.RulesFile | None = None
        self.event_types: set[str] = set()
        #: ``now`` is allowed in action values (``set last_seen = now``), not in conditions.
        self._allow_now = False

    # -- reporting ------------------------------------------------------------

    def _use_file(self, rules_file: ast.RulesFile) -> None:
        if self._lines_of is rules_file:
            return
        self._lines_of = rules_file
        self._file = rules_file.path
        self._source_lines = source_lines(rules_file.source)

    def report(
        self,
        span: Span | None,
        message: str,
        *,
        suggestion: str | None = None,
        severity: str = "error",
    ) -> None:
        span = span or NO_SPAN
        line = None
        if 0 < span.line <= len(self._source_lines):
            line = self._source_lines[span.line - 1]
        text = message
        if suggestion:
            text += f" (did you mean {suggestion!r}?)"
        self.diagnostics.append(
            Diagnostic(
                file=self._file,
                span=span,
                message=text,
                severity="warning" if severity == "warning" else "error",
                suggestion=suggestion,
                source_line=line,
            )
        )

    # -- declarations ---------------------------------------------------------

    def run(self) -> CheckedProgram:
        self._declare()
        segments = self._check_segments()
        rules = self._check_rules()
        self._check_scores()
        self._check_event_types()
        self._warn_cycles(rules, segments)
        self.diagnostics = _without_repeats(self.diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"]
        if errors:
            raise RulesCheckError(self.diagnostics)
        return CheckedProgram(
            files=self.files,
            symbols=self.symbols,
            scores=tuple(self.symbols.scores.values()),
            fields=tuple(self.symbols.fields.values()),
            segments=segments,
            rules=rules,
            warnings=tuple(self.diagnostics),
        )

    def _declare(self) -> None:
        valuation_seen = False
        for rules_file in self.files:
            self._use_file(rules_file)
            for decl in rules_file.decls:
                match decl:
                    case ast.FieldsBlock(fields=fields):
                        for field in fields:
                            self._declare_field(field)
                    case ast.ScoreBlock():
                        self._declare_score(decl)
                    case ast.SegmentDecl(name=name, span=span):
                        if name in self.symbols.segments:
                            self.report(span, f"segment {name!r} is declared twice")
                        else:
                            self.symbols.segments[name] = len(self.symbols.segments)
                    case ast.ValuationBlock():
                        if valuation_seen:
                            self.report(decl.span, "only one `valuation` block is allowed")
                        valuation_seen = True
                        self._declare_valuation(decl)
                    case _:
                        pass

    def _declare_field(self, field: ast.FieldDecl) -> None:
        name = field.name
        if name in self.symbols.fields:
            self.report(field.span, f"field {name!r} is declared twice")
        elif name in BUILTINS or name == "now":
            self.report(field.span, f"{name!r} is a built-in name and cannot be a field")
        elif name in OPERAND_KEYWORDS:
            self.report(field.span, _operand_keyword_message(name, "field"))
        elif name in self.symbols.scores:
            self.report(field.span, f"{name!r} is already a score")
        else:
            self.symbols.fields[name] = FieldSymbol(
                name, len(self.symbols.fields), field.type, field
            )

    def _declare_score(self, block: ast.ScoreBlock) -> None:
        name = block.name
        if name in self.symbols.scores:
            self.report(block.span, f"score {name!r} is declared twice")
            return
        if name in BUILTINS or name == "now":
            self.report(block.span, f"{name!r} is a built-in name and cannot be a score")
            return
        if name in OPERAND_KEYWORDS:
            self.report(block.span, _operand_keyword_message(name, "score"))
            return
        if name in self.symbols.fields:
            self.report(block.span, f"{name!r} is already a field")
            return
        self.symbols.scores[name] = ScoreSymbol(name, len(self.symbols.scores), block)

    def _declare_valuation(self, block: ast.ValuationBlock) -> None:
        classes: list[tuple[str, float]] = []
        previous = 0.0
        for cls in block.classes:
            if cls.name in BUILTIN_CLASSES:
                self.report(cls.span, f"{cls.name!r} is a built-in class; choose another name")
                continue
            if any(cls.name == name for name, _ in classes):
                self.report(cls.span, f"class {cls.name!r} is declared twice")
                continue
            if cls.window.seconds <= 0:
                self._positive_duration(cls.window)
                continue
            if cls.window.seconds <= previous:
                self.report(
                    cls.window.span,
                    "recency classes must be written from the shortest window to the longest",
                )
                continue
            previous = cls.window.seconds
            classes.append((cls.name, cls.window.seconds))
        if not block.classes:
            self.report(block.span, "a `valuation` block needs at least one class")
        self.symbols.classes = tuple(classes)

    def _check_scores(self) -> None:
        # Every block, declared or refused for its name: the problems inside a refused
        # block are reported now, not after its name is fixed.
        blocks = [
            (rules_file, decl)
            for rules_file in self.files
            for decl in rules_file.decls
            if isinstance(decl, ast.ScoreBlock)
        ]
        for rules_file, block in blocks:
            self._use_file(rules_file)
            if block.decay is not None:
                self._positive_duration(block.decay.half_life)
            if block.clamp is not None and block.clamp.low > block.clamp.high:
                self.report(block.clamp.span, "clamp: the low bound is above the high bound")
            for line in block.lines:
                self.event_types.add(line.event_type)
                if not math.isfinite(line.points):
                    self.report(line.span, "points must be a finite number")
                if line.where is not None:
                    self._condition(line.where, _EVENT_CONTEXT, line.event_type)
                match line.cap:
                    case ast.CapPerWindow(limit=limit, window=window, span=span):
                        self._positive_duration(window)
                        if limit <= 0:
                            self.report(span, "a cap must be a positive number of points")
                    case ast.CapTotal(limit=limit, span=span):
                        if limit <= 0:
                            self.report(span, "a cap must be a positive number of points")
                    case None:
                        pass

    def _file_of(self, node: object) -> ast.RulesFile:
        for rules_file in self.files:
            if any(decl is node for decl in rules_file.decls):
                return rules_file
        return self.files[0]

    def _check_segments(self) -> tuple[CheckedSegment, ...]:
        checked: dict[str, CheckedSegment] = {}
        for rules_file in self.files:
            self._use_file(rules_file)
            for decl in rules_file.decls:
                if isinstance(decl, ast.SegmentDecl):
                    self._condition(decl.condition, _STATE_CONTEXT, None)
                    if decl.name in checked:
                        continue  # declared twice: reported, its condition checked too
                    reads = frozenset(
                        node.segment
                        for node in walk(decl.condition)
                        if isinstance(node, ast.InSegment)
                    )
                    checked[decl.name] = CheckedSegment(decl.name, decl, rules_file.path, reads)
        return self._order_segments(checked)

    def _order_segments(self, checked: dict[str, CheckedSegment]) -> tuple[CheckedSegment, ...]:
        """Segments in dependency order; a cycle among segments is an error.

        A depth-first walk with an explicit stack: segments may read segments in chains
        of any length without reaching Python's recursion limit.
        """
        ordered: list[CheckedSegment] = []
        state: dict[str, int] = {}  # 1 visiting, 2 done
        for root, first in checked.items():
            if root in state:
                continue
            chain: list[str] = []
            stack: list[tuple[str, list[str]]] = [(root, sorted(first.reads))]
            state[root] = 1
            chain.append(root)
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
                    segment = checked[dep]
                    self._use_file(self._file_of(segment.decl))
                    self.report(
                        segment.decl.span,
                        "segments depend on each other in a cycle: " + " -> ".join(cycle),
                    )
                    continue
                state[dep] = 1
                chain.append(dep)
                stack.append((dep, sorted(checked[dep].reads)))
        return tuple(ordered)

    # -- rules ----------------------------------------------------------------

    def _check_rules(self) -> tuple[CheckedRule, ...]:
        rules: list[CheckedRule] = []
        names: dict[str, tuple[str, Span]] = {}
        for file_index, rules_file in enumerate(self.files):
            self._use_file(rules_file)
            base = os.path.basename(rules_file.path)
            for decl in rules_file.decls:
                if not isinstance(decl, ast.RuleDecl):
                    continue
                name = decl.name if decl.name is not None else f"{base}:{decl.span.line}"
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
                    self.report(decl.name_span or decl.span, message)
                names.setdefault(name, (rules_file.path, decl.span))
                self._check_rule(decl)
                position = (file_index, decl.span.line, decl.span.column)
                rules.append(CheckedRule(name, decl, rules_file.path, position))
        return tuple(rules)

    def _check_rule(self, rule: ast.RuleDecl) -> None:
        context = _EVENT_CONTEXT
        event_type: str | None = None
        match rule.trigger:
            case ast.WhenTrigger(condition=condition):
                context = _STATE_CONTEXT
                self._condition(condition, _STATE_CONTEXT, None)
            case ast.OnEvent(event_type=event_type, where=where):
                self.event_types.add(event_type)
                if where is not None:
                    self._condition(where, _EVENT_CONTEXT, event_type)
            case ast.OnScoreChange(score=score, where=where, span=span):
                if score not in self.symbols.scores:
                    self.report(
                        span,
                        f"unknown score {score!r} in `on {score} change`",
                        suggestion=did_you_mean(score, self.symbols.scores),
                    )
                if where is not None:
                    self._condition(where, _EVENT_CONTEXT, None)
            case ast.OnSegment(segment=segment, where=where, span=span):
                self._segment_name(segment, span)
                if where is not None:
                    self._condition(where, _EVENT_CONTEXT, None)
            case ast.OnTagAdded(where=where):
                if where is not None:
                    self._condition(where, _EVENT_CONTEXT, None)
        mode = rule.mode
        if (
            mode.kind == "each"
            and isinstance(rule.trigger, ast.WhenTrigger)
            and _changes_with_time(rule.trigger.condition, self.symbols)
        ):
            self.report(
                mode.span or rule.span,
                "`each time` cannot be used on a condition that changes by time alone "
                "(within, older than, had, count, valuation, a decaying score); "
                "leave the mode out to fire when it becomes true",
            )
        if mode.rearm is not None:
            self._condition(mode.rearm, _STATE_CONTEXT, None)
        if mode.cooldown is not None:
            self._positive_duration(mode.cooldown)
        if not rule.actions:
            self.report(rule.span, "a rule needs at least one action after `then`")
        self._allow_now = True
        try:
            for action in rule.actions:
                self._action(action, context, event_type)
        finally:
            self._allow_now = False

    def _action(self, action: ast.ActionNode, context: str, event_type: str | None) -> None:
        match action:
            case ast.SetAction(field=field, value=value, span=span):
                target = self._assignable(field, span)
                value_type = self._expr(value, context, event_type)
                if target is not None and not _assignable_from(target, value_type):
                    self.report(
                        value.span,
                        f"cannot set {field!r} ({target}) to a {value_type} value",
                    )
            case ast.ClearAction(field=field, span=span):
                self._assignable(field, span)
            case ast.ScoreAction(amount=amount, score=score, span=span):
                if score not in self.symbols.scores:
                    self.report(
                        span,
                        f"unknown score {score!r}",
                        suggestion=did_you_mean(score, self.symbols.scores),
                    )
                amount_type = self._expr(amount, context, event_type)
                if amount_type not in ("number", "any"):
                    self.report(amount.span, f"points must be a number, not {amount_type}")
            case ast.UnsubscribeAction(channel=channel, span=span):
                self._channel(channel, span)
            case ast.SendAction(channel=channel, span=span):
                self._channel(channel, span)
            case ast.TaskAction(due=due):
                if due is not None:
                    self._positive_duration(due)
            case ast.DoAction(args=args):
                for arg in args:
                    self._expr(arg, context, event_type)
            case _:
                pass

    def _assignable(self, name: str, span: Span) -> ValueType | None:
        if name in self.symbols.fields:
            return self.symbols.fields[name].type
        if name in self.symbols.scores:
            return "number"
        if name in BUILTINS:
            self.report(span, f"{name!r} is built in and cannot be set by a rule")
            return None
        self.report(
            span,
            f"unknown field {name!r}; declare it in a `fields` block",
            suggestion=did_you_mean(name, [*self.symbols.fields, *self.symbols.scores]),
        )
        return None

    def _channel(self, channel: str | None, span: Span) -> None:
        if channel is not None and channel not in CHANNELS:
            self.report(
                span,
                f"unknown channel {channel!r}",
                suggestion=did_you_mean(channel, CHANNELS),
            )

    def _segment_name(self, name: str, span: Span) -> None:
        if name not in self.symbols.segments:
            self.report(
                span,
                f"unknown segment {name!r}",
                suggestion=did_you_mean(name, self.symbols.segments),
            )

    def _positive_duration(self, duration: ast.DurationLit) -> None:
        if not duration.seconds > 0 or not math.isfinite(duration.seconds):
            self.report(duration.span, "a duration must be longer than zero")

    # -- conditions and expressions -------------------------------------------

    def _condition(self, expr: ast.Expr, context: str, event_type: str | None) -> None:
        if self._condition_part(expr, context, event_type):
            self._never_holds(expr)

    def _expr(self, expr: ast.Expr, context: str, event_type: str | None) -> ValueType:
        """Check one expression and return its type (``any`` after an error)."""
        sym = self.symbols
        match expr:
            case ast.Name(name=name, span=span):
                if sym.name_type(name) is None and name != "now":
                    known = sym.known_names()
                    extra = ""
                    if name in sym.segments:
                        extra = f"; to test membership write `in segment {name}`"
                    elif name == "score":
                        extra = "; declare the default score with a `score { ... }` block"
                    self.report(
                        span,
                        f"unknown name {name!r}{extra}",
                        suggestion=None if extra else did_you_mean(name, known),
                    )
                    return "any"
                if sym.decaying(name) and not self._allow_now:
                    # An action reads the value at the moment it runs (`set n = score`);
                    # a condition may only compare it with numbers (see
                    # _decaying_meets_numbers), whose crossing moments the engine computes.
                    self.report(
                        span,
                        f"{name!r} decays over time: compare it directly with a number "
                        f"(`{name} >= 5`)",
                    )
                return sym.type_of(expr)
            case ast.Consent(channel=channel, span=span):
                self._channel(channel, span)
                return "bool"
            case ast.EventAttr(span=span):
                if context != _EVENT_CONTEXT:
                    self.report(
                        span,
                        "event attributes can only be read in `on` rules, score lines "
                        "and `had`/`count` filters",
                    )
                    return "any"
                return sym.type_of(expr)
            case ast.Now(span=span):
                if self._allow_now:
                    return "time"
                self.report(
                    span,
                    "`now` can only be used through `X within D` or `X older than D`",
                )
                return "time"
            case ast.Number() | ast.String() | ast.Bool() | ast.TimeLit():
                return sym.type_of(expr)
            case ast.DurationLit():
                self._positive_duration(expr)
                return "duration"
            case ast.ListLit(items=items):
                for item in items:
                    self._expr(item, context, event_type)
                return "list"
            case ast.Neg(operand=operand, span=span):
                inner = self._expr(operand, context, event_type)
                if inner not in ("number", "duration", "any"):
                    self.report(span, f"cannot negate a {inner}")
                return sym.type_of(expr)
            case ast.Arith(op=op, left=left, right=right, span=span):
                lt = self._expr(left, context, event_type)
                rt = self._expr(right, context, event_type)
                if arith_type(op, lt, rt) is None:
                    self.report(span, f"cannot compute {lt} {op} {rt}")
                    return "any"
                return sym.type_of(expr)
            case ast.Count(where=where, window=window, event_type=counted):
                self._history(where, window, counted)
                return "number"
            case ast.Had(where=where, window=window, event_type=counted):
                self._history(where, window, counted)
                return "bool"
            case ast.Compare(op=op, left=left, right=right, span=span):
                self._compare(op, left, right, span, context, event_type)
                return "bool"
            case ast.IsEmpty(operand=operand, negated=negated, span=span):
                self._operand(operand, context, event_type)
                if isinstance(operand, ast.Consent):
                    self.report(
                        span,
                        f"consent.{operand.channel} is never empty: it is the consent in "
                        "force, true unless the contact refused; this condition is always "
                        + ("true" if negated else "false"),
                        severity="warning",
                    )
                return "bool"
            case ast.Between(operand=operand, low=low, high=high, span=span):
                ot = self._operand(operand, context, event_type)
                self._decaying_meets_numbers(operand, (low, high), span)
                for bound in (low, high):
                    bt = self._expr(bound, context, event_type)
                    if not comparable(ot, bt):
                        self.report(bound.span, f"cannot compare a {ot} with a {bt}")
                if ot in ("bool", "list"):
                    self.report(span, f"`between` needs numbers, times or text, not a {ot}")
                return "bool"
            case ast.InList(operand=operand, items=items, span=span):
                ot = self._operand(operand, context, event_type)
                self._decaying_meets_numbers(operand, items.items, span)
                for item in items.items:
                    it = self._expr(item, context, event_type)
                    if not comparable(ot, it):
                        self.report(item.span, f"cannot compare a {ot} with a {it}")
                    self._known_value(operand, item)
                return "bool"
            case ast.TextMatch(op=op, operand=operand, pattern=pattern, span=span):
                ot = self._operand(operand, context, event_type)
                pt = self._expr(pattern, context, event_type)
                if ot not in ("text", "any") and not (ot == "list" and op == "contains"):
                    self.report(span, f"`{op}` needs text, not a {ot}")
                if pt not in ("text", "any"):
                    self.report(pattern.span, f"the pattern of `{op}` must be text")
                if op == "matches" and isinstance(pattern, ast.String):
                    try:
                        check_pattern(pattern.value)
                    except PatternError as exc:
                        self.report(pattern.span, str(exc))
                return "bool"
            case ast.Tagged() | ast.InGroup():
                return "bool"
            case ast.InSegment(segment=segment, span=span):
                self._segment_name(segment, span)
                return "bool"
            case ast.Within(operand=operand, window=window, span=span):
                self._positive_duration(window)
                ot = self._operand(operand, context, event_type)
                if ot not in ("time", "any"):
                    self.report(span, f"`within`/`older than` need a time, not a {ot}")
                return "bool"
            case ast.And(items=items) | ast.Or(items=items):
                for item in items:
                    self._condition_part(item, context, event_type)
                return "bool"
            case ast.Not(operand=operand):
                self._condition_part(operand, context, event_type)
                return "bool"

    def _condition_part(self, expr: ast.Expr, context: str, event_type: str | None) -> bool:
        """Check a condition (or an operand of and/or/not); False when it is not one."""
        kind = self._expr(expr, context, event_type)
        if kind in ("bool", "any"):
            return True
        hint = ""
        if isinstance(expr, ast.Name):
            hint = f"; did you mean `{expr.name} is not empty`?"
        self.report(expr.span, f"a condition must be true or false, not a {kind}{hint}")
        return False

    def _operand(self, expr: ast.Expr, context: str, event_type: str | None) -> ValueType:
        """Check the subject of a predicate; a decaying score is allowed bare here."""
        if isinstance(expr, ast.Name) and self.symbols.decaying(expr.name):
            return "number"
        return self._expr(expr, context, event_type)

    def _compare(
        self,
        op: str,
        left: ast.Expr,
        right: ast.Expr,
        span: Span,
        context: str,
        event_type: str | None,
    ) -> None:
        lt = self._operand(left, context, event_type)
        rt = self._operand(right, context, event_type)
        if not self._decaying_meets_numbers(left, (right,), span):
            self._decaying_meets_numbers(right, (left,), span)
        if not comparable(lt, rt):
            self.report(span, f"cannot compare a {lt} with a {rt}")
            return
        if op not in ("==", "!=") and "list" in (lt, rt):
            self.report(span, f"`{op}` does not order lists")
        if op not in ("==", "!=") and "bool" in (lt, rt):
            self.report(span, f"`{op}` does not order true/false values")
        self._known_value(left, right)
        self._known_value(right, left)

    def _history(self, where: ast.Expr | None, window: ast.DurationLit, counted: str) -> None:
        """``had``/``count``: the window, and the filter as a condition on the event.

        The filter is a condition even inside an action value, so ``now`` is refused
        there as in any condition.
        """
        self.event_types.add(counted)
        self._positive_duration(window)
        if where is not None:
            allow_now, self._allow_now = self._allow_now, False
            try:
                self._condition(where, _EVENT_CONTEXT, counted)
            finally:
                self._allow_now = allow_now

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
        if all(_constant(other) is not None for other in others):
            return False
        self.report(span, f"{subject.name!r} decays over time: compare it with a number")
        return True

    def _known_value(self, side: ast.Expr, other: ast.Expr) -> None:
        """``valuation is "dormnt"`` and ``status == "x"`` name values we know."""
        if not isinstance(side, ast.Name) or not isinstance(other, ast.String):
            return
        if side.name == "valuation":
            known = self.symbols.class_names()
        elif side.name == "status":
            known = list(STATUSES)
        else:
            return
        if other.value not in known:
            self.report(
                other.span,
                f"{side.name} is never {other.value!r}; it is one of "
                + ", ".join(repr(k) for k in known),
                suggestion=did_you_mean(other.value, known),
            )

    # -- cheap proofs that a condition cannot hold --------------------------

    def _never_holds(self, expr: ast.Expr) -> None:
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
                        self.report(
                            node.span,
                            f"this condition can never hold: no value of {name!r} "
                            f"satisfies all its bounds",
                            severity="warning",
                        )
            if isinstance(node, ast.Between):
                lowest = _constant(node.low)
                highest = _constant(node.high)
                if (
                    lowest is not None
                    and highest is not None
                    and lowest > highest
                    and not node.negated
                ):
                    self.report(
                        node.span,
                        "this condition can never hold: the low bound is above the high bound",
                        severity="warning",
                    )

    # -- event types and cycles ---------------------------------------------

    def _check_event_types(self) -> None:
        """Warn about event types that look like typos of a known one."""
        known = set(KNOWN_EVENT_TYPES)
        for rules_file in self.files:
            self._use_file(rules_file)
            for decl in rules_file.decls:
                for node, event_type in _event_type_uses(decl):
                    if event_type in known:
                        continue
                    guess = did_you_mean(event_type, known)
                    if guess is not None:
                        self.report(
                            node.span,
                            f"event type {event_type!r} is not one engage knows",
                            suggestion=guess,
                            severity="warning",
                        )

    def _warn_cycles(
        self, rules: Sequence[CheckedRule], segments: Sequence[CheckedSegment]
    ) -> None:
        """Warn once per group of rules whose state actions can keep feeding each other."""
        by_name = {rule.name: rule for rule in rules}
        conditions = {segment.name: segment.decl.condition for segment in segments}
        for cycle in rule_loops([(rule.name, rule.decl) for rule in rules], conditions):
            first = by_name[cycle[0]]
            self._use_file(self._file_of(first.decl))
            if len(cycle) == 1:
                message = f"rule {cycle[0]!r} can keep re-triggering itself"
            else:
                shown = [repr(n) for n in [*cycle, cycle[0]]]
                if len(shown) > _LOOP_NAMES_SHOWN:
                    shown[_LOOP_NAMES_SHOWN - 2 : -2] = ["..."]
                message = (
                    "these rules can trigger each other in a loop: "
                    + " -> ".join(shown)
                    + (f" ({len(cycle)} rules)" if len(cycle) > 2 else "")
                )
            self.report(
                first.decl.span,
                message + " (a run stops such a loop after 32 rounds)",
                severity="warning",
            )


#: Words that start an expression of their own (``count email.open within 7 days``,
#: ``event.url``, ``consent.email``): the grammar reads them as that expression wherever
#: a name could stand, so a field or score of that name could be declared but never read.
OPERAND_KEYWORDS: Final = {
    "count": "`count EVENT within D`",
    "event": "`event.ATTRIBUTE`",
    "consent": "`consent.CHANNEL`",
}


def _operand_keyword_message(name: str, kind: str) -> str:
    return (
        f"{name!r} cannot be a {kind} name: in a condition `{name}` starts "
        f"{OPERAND_KEYWORDS[name]}, so the {kind} could never be read; "
        f"choose another name, such as '{name}_total'"
    )


def _without_repeats(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics in order, each said once.

    A node can be reached by two checks (a ``had`` filter is checked as part of its
    condition and again on its own; both sides of ``score >= score``), and the same
    message at the same place twice reads as two mistakes.
    """
    seen: set[tuple[str, int, int, str]] = set()
    kept: list[Diagnostic] = []
    for diagnostic in diagnostics:
        key = (diagnostic.file, diagnostic.span.line, diagnostic.span.column, diagnostic.message)
        if key not in seen:
            seen.add(key)
            kept.append(diagnostic)
    return kept


def _changes_with_time(expr: ast.Expr, symbols: Symbols) -> bool:
    for node in walk(expr):
        if isinstance(node, ast.Within | ast.Had | ast.Count):
            return True
        if isinstance(node, ast.Name) and (node.name == "valuation" or symbols.decaying(node.name)):
            return True
    return False


def _assignable_from(target: ValueType, value: ValueType) -> bool:
    return value in (target, "any") or (target == "list" and value == "list")


def _constant(expr: ast.Expr) -> float | None:
    if isinstance(expr, ast.Number):
        return float(expr.value)
    if isinstance(expr, ast.Neg) and isinstance(expr.operand, ast.Number):
        return -float(expr.operand.value)
    return None


_FLIP = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!="}


def _bounds(expr: ast.Expr) -> Iterator[tuple[str, float, float]]:
    """Closed bounds ``(name, low, high)`` that a simple comparison puts on a name."""
    if isinstance(expr, ast.Compare):
        op: str = expr.op
        left, right = expr.left, expr.right
        if isinstance(right, ast.Name) and not isinstance(left, ast.Name):
            op, left, right = _FLIP[op], right, left
        value = _constant(right)
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
        low, high = _constant(expr.low), _constant(expr.high)
        operand = expr.operand
        # Reversed bounds (low above high) get their own warning, once.
        if isinstance(operand, ast.Name) and _ordered_bounds(low, high):
            assert low is not None and high is not None
            yield operand.name, low, high


def _ordered_bounds(low: float | None, high: float | None) -> bool:
    return low is not None and high is not None and low <= high


def _event_type_uses(
    decl: ast.Decl,
) -> Iterator[tuple[ast.ScoreLine | ast.OnEvent | ast.Had | ast.Count, str]]:
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
            cond = getattr(trigger, "condition", None) or getattr(trigger, "where", None)
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
                        pass
        case ast.SegmentDecl(condition=condition):
            exprs.append(condition)
        case _:
            pass
    for expr in exprs:
        for node in walk(expr):
            if isinstance(node, ast.Had | ast.Count):
                yield node, node.event_type


def check_condition(
    expr: ast.Expr, symbols: Symbols, source: str, name: str = "<query>"
) -> list[Diagnostic]:
    """Check a lone condition (a query) against a program's names; returns the problems."""
    checker = _Checker(())
    checker.symbols = symbols
    checker._file = name
    checker._source_lines = source_lines(source)
    checker._condition(expr, _STATE_CONTEXT, None)
    return checker.diagnostics


def check(files: Sequence[ast.RulesFile]) -> CheckedProgram:
    """Check parsed files together (names are shared across files).

    Raises:
        RulesCheckError: with every error and warning found, if there is an error.
    """
    return _Checker(files).run()
