"""The checker's second stage: every condition and value of a program, typed in its place.

Walks segments, rules, score blocks and flows in written order and gives each expression to
the :class:`~engage.dsl.expr_types.ExprTyper` with the context it is read in (a ``when``
condition reads the contact, an ``on`` rule's filter may read the event too, an action
value may read ``now``). Around the expressions it checks what only a declaration knows:
the score an ``on SCORE change`` names, a rule's mode and actions, a score line's cap.
One pass, linear in the size of the program; the types it records are what the code
generator reads.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TypeVar

from engage.dsl import ast
from engage.dsl.declarations import check_positive_duration
from engage.dsl.expr_types import (
    EVENT_CONTEXT,
    STATE_CONTEXT,
    Context,
    ExprTyper,
    TypeTable,
)
from engage.dsl.flow_checks import check_flow_header, check_flow_name, walk_steps
from engage.dsl.report import Reporter
from engage.dsl.symbols import BUILTINS, Symbols, ValueType
from engage.dsl.walk import walk
from engage.errors import Span, did_you_mean

Decl = TypeVar("Decl", ast.SegmentDecl, ast.RuleDecl, ast.ScoreBlock, ast.FlowDecl)


class TypePass:
    """Types the expressions of parsed files against the symbols of their declarations."""

    def __init__(self, symbols: Symbols, reporter: Reporter) -> None:
        self.symbols = symbols
        self.reporter = reporter
        self.types = TypeTable()
        self.typer = ExprTyper(symbols, reporter, self.types)

    def run(self, files: Sequence[ast.RulesFile]) -> None:
        """Segments, then rules, then score blocks (the order their problems are listed)."""
        for segment in self._each(files, ast.SegmentDecl):
            self.typer.condition(segment.condition, STATE_CONTEXT)
        for rule in self._each(files, ast.RuleDecl):
            self._rule(rule)
        # Every block, declared or refused for its name: the problems inside a refused
        # block are reported now, not after its name is fixed.
        for block in self._each(files, ast.ScoreBlock):
            self._score_block(block)
        for flow in self._each(files, ast.FlowDecl):
            self._flow(flow)

    def _each(self, files: Sequence[ast.RulesFile], kind: type[Decl]) -> Iterator[Decl]:
        """The declarations of one kind, in written order, each with its file in use."""
        for rules_file in files:
            self.reporter.use_file(rules_file)
            self.typer.file = rules_file
            for decl in rules_file.decls:
                if isinstance(decl, kind):
                    yield decl

    # -- score blocks -----------------------------------------------------------

    def _score_block(self, block: ast.ScoreBlock) -> None:
        report = self.reporter.report
        if block.decay is not None:
            check_positive_duration(self.reporter, block.decay.half_life)
        if block.clamp is not None and block.clamp.low > block.clamp.high:
            report(block.clamp.span, "clamp: the low bound is above the high bound")
        for line in block.lines:
            if not math.isfinite(line.points):
                report(line.span, "points must be a finite number")
            if line.where is not None:
                self.typer.condition(line.where, EVENT_CONTEXT)
            match line.cap:
                case ast.CapPerWindow(limit=limit, window=window, span=span):
                    check_positive_duration(self.reporter, window)
                    if limit <= 0:
                        report(span, "a cap must be a positive number of points")
                case ast.CapTotal(limit=limit, span=span):
                    if limit <= 0:
                        report(span, "a cap must be a positive number of points")
                case None:
                    pass

    #: Lead score blocks are typed as contact score blocks are.
    score_block = _score_block

    # -- rules ------------------------------------------------------------------

    def _rule(self, rule: ast.RuleDecl) -> None:
        typer, report = self.typer, self.reporter.report
        context: Context = EVENT_CONTEXT
        match rule.trigger:
            case ast.WhenTrigger(condition=condition):
                context = STATE_CONTEXT
                typer.condition(condition, STATE_CONTEXT)
            case ast.OnEvent(where=where):
                if where is not None:
                    typer.condition(where, EVENT_CONTEXT)
            case ast.OnScoreChange(score=score, where=where, span=span):
                if score not in self.symbols.scores:
                    report(
                        span,
                        f"unknown score {score!r} in `on {score} change`",
                        suggestion=did_you_mean(score, self.symbols.scores),
                    )
                if where is not None:
                    typer.condition(where, EVENT_CONTEXT)
            case ast.OnSegment(segment=segment, where=where, span=span):
                typer.segment_name(segment, span)
                if where is not None:
                    typer.condition(where, EVENT_CONTEXT)
            case ast.OnTagAdded(where=where):
                if where is not None:
                    typer.condition(where, EVENT_CONTEXT)
            case ast.OnFlow(flow=flow, where=where, span=span):
                check_flow_name(flow, span, self.symbols, self.reporter)
                if where is not None:
                    typer.condition(where, EVENT_CONTEXT)
        mode = rule.mode
        if (
            mode.kind == "each"
            and isinstance(rule.trigger, ast.WhenTrigger)
            and _changes_with_time(rule.trigger.condition, self.symbols)
        ):
            report(
                mode.span or rule.span,
                "`each time` cannot be used on a condition that changes by time alone "
                "(within, older than, had, count, valuation, a decaying score); "
                "leave the mode out to fire when it becomes true",
            )
        if mode.rearm is not None:
            typer.condition(mode.rearm, STATE_CONTEXT)
        if mode.cooldown is not None:
            check_positive_duration(self.reporter, mode.cooldown)
        if not rule.actions:
            report(rule.span, "a rule needs at least one action after `then`")
        for action in rule.actions:
            self._action(action, context)

    def _action(self, action: ast.ActionNode, context: Context) -> None:
        typer, report = self.typer, self.reporter.report
        match action:
            case ast.SetAction(field=field, value=value, span=span):
                target = self._assignable(field, span)
                value_type = typer.value(value, context)
                if target is not None and not _assignable_from(target, value_type):
                    report(value.span, f"cannot set {field!r} ({target}) to a {value_type} value")
            case ast.ClearAction(field=field, span=span):
                self._assignable(field, span)
            case ast.ScoreAction(amount=amount, score=score, span=span):
                if score not in self.symbols.scores:
                    report(
                        span,
                        f"unknown score {score!r}",
                        suggestion=did_you_mean(score, self.symbols.scores),
                    )
                amount_type = typer.value(amount, context)
                if amount_type not in ("number", "any"):
                    report(amount.span, f"points must be a number, not {amount_type}")
            case ast.UnsubscribeAction(channel=channel, span=span):
                typer.channel(channel, span)
            case ast.SendAction(channel=channel, span=span):
                typer.channel(channel, span)
            case ast.TaskAction(due=due):
                if due is not None:
                    check_positive_duration(self.reporter, due)
            case ast.DoAction(args=args):
                for arg in args:
                    typer.value(arg, context)
            case ast.FlowAction(flow=flow, span=span):
                check_flow_name(flow, span, self.symbols, self.reporter)
            case ast.TrackAction(status=status, channel=channel, span=span):
                typer.history_status(status, action.status_span or span, in_track=True)
                typer.channel(channel, span)
            case (
                ast.TagAction()
                | ast.GroupAction()
                | ast.StatusAction()
                | ast.ListAction()
                | ast.NotifyAction()
                | ast.WebhookAction()
                | ast.ExportAction()
                | ast.QualifyAction()
            ):
                pass  # nothing in them to type: names and texts only

    # -- flows ------------------------------------------------------------------

    def _flow(self, flow: ast.FlowDecl) -> None:
        """Header lines, then every step: durations, branch conditions (read when the
        contact reaches them), actions. The ``exit``, ``goal`` and ``wait until``
        conditions are typed as the hidden segments they became."""
        check_flow_header(flow, self.symbols, self.reporter)
        if not flow.steps:
            self.reporter.report(flow.name_span, f"flow {flow.name!r} has no steps")
        for _, step in walk_steps(flow.steps):
            match step:
                case ast.WaitStep(duration=duration):
                    check_positive_duration(self.reporter, duration)
                case ast.WaitUntilStep(at_most=at_most):
                    if at_most is not None:
                        check_positive_duration(self.reporter, at_most)
                case ast.IfStep(branches=branches):
                    for branch in branches:
                        self.typer.condition(branch.condition, STATE_CONTEXT)
                case ast.ActionStep(action=action):
                    self._action(action, STATE_CONTEXT)
                case ast.WaitClockStep() | ast.SplitStep():
                    pass

    def _assignable(self, name: str, span: Span) -> ValueType | None:
        if name in self.symbols.fields:
            return self.symbols.fields[name].type
        if name in self.symbols.scores:
            return "number"
        if name in BUILTINS:
            self.reporter.report(span, f"{name!r} is built in and cannot be set by a rule")
            return None
        self.reporter.report(
            span,
            f"unknown field {name!r}; declare it in a `fields` block",
            suggestion=did_you_mean(name, [*self.symbols.fields, *self.symbols.scores]),
        )
        return None


def _changes_with_time(expr: ast.Expr, symbols: Symbols) -> bool:
    for node in walk(expr):
        if isinstance(node, ast.Within | ast.Had | ast.Count | ast.HadStatus | ast.CountContacts):
            return True
        if isinstance(node, ast.Name) and (node.name == "valuation" or symbols.decaying(node.name)):
            return True
    return False


#: For the accounts and leads stage (:mod:`engage.dsl.entities`).
changes_with_time = _changes_with_time


def _assignable_from(target: ValueType, value: ValueType) -> bool:
    return value in (target, "any") or (target == "list" and value == "list")
