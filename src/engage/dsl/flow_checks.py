"""Flows in the checker: step paths, the segments a flow's conditions become, and the
checks of its header lines.

A flow's ``exit when``, ``goal`` and ``wait until COND`` must be noticed the moment
they come true, also while the contact waits and also when time alone makes them true
(a window closing, a decaying score). Segments already are exactly that: conditions
kept up to date over events and over time, with the contact woken when time can move
them. So each of these conditions becomes a *hidden segment*, named so that no rules
file can write or see it (:func:`hidden_segment`), and the flow reads its bit. The
segments are added before the declarations stage, so they are typed, ordered and
compiled like any other, and their problems are reported at the flow's own text.

Step paths name each step stably for output records and reports: top-level steps are
numbered from 1; inside ``if`` the branches are numbered (``else`` for the last block),
inside ``split`` the blocks are ``a`` and ``b``: ``"5"``, ``"5.1.2"``, ``"5.else.1"``,
``"7.a.1"``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import attrs

from engage.dsl import ast
from engage.dsl.report import Reporter
from engage.dsl.symbols import Symbols
from engage.errors import Span, did_you_mean
from engage.program import HIDDEN_SEGMENT_PREFIX
from engage.time.zones import is_zone


def hidden_segment(flow: str, role: str) -> str:
    """The name of a flow condition's segment: ``role`` is ``exit``, ``goal`` or
    ``until:PATH``. It holds a colon, which a written name never does."""
    return f"{HIDDEN_SEGMENT_PREFIX}{flow}:{role}"


def walk_steps(
    steps: Sequence[ast.FlowStep], prefix: str = ""
) -> Iterator[tuple[str, ast.FlowStep]]:
    """Every step of a block with its path, depth first in written order."""
    for number, step in enumerate(steps, 1):
        path = f"{prefix}{number}"
        yield path, step
        match step:
            case ast.IfStep(branches=branches, otherwise=otherwise):
                for index, branch in enumerate(branches, 1):
                    yield from walk_steps(branch.steps, f"{path}.{index}.")
                yield from walk_steps(otherwise, f"{path}.else.")
            case ast.SplitStep(first=first, second=second):
                yield from walk_steps(first, f"{path}.a.")
                yield from walk_steps(second, f"{path}.b.")
            case _:
                pass


def flow_conditions(flow: ast.FlowDecl) -> Iterator[tuple[str, ast.Expr]]:
    """The conditions of ``flow`` that become hidden segments, by role."""
    if flow.exit is not None:
        yield "exit", flow.exit
    if flow.goal is not None:
        yield "goal", flow.goal.condition
    for path, step in walk_steps(flow.steps):
        if isinstance(step, ast.WaitUntilStep):
            yield f"until:{path}", step.condition


def with_flow_segments(files: Sequence[ast.RulesFile]) -> tuple[ast.RulesFile, ...]:
    """The files with each flow's conditions added as hidden segment declarations
    (after the file's own declarations, so segment indexes written by users come first)."""
    result = []
    for rules_file in files:
        added = [
            ast.SegmentDecl(hidden_segment(decl.name, role), condition, condition.span)
            for decl in rules_file.decls
            if isinstance(decl, ast.FlowDecl)
            for role, condition in flow_conditions(decl)
        ]
        result.append(
            attrs.evolve(rules_file, decls=rules_file.decls + tuple(added)) if added else rules_file
        )
    return tuple(result)


def declare_flows(files: Sequence[ast.RulesFile], symbols: Symbols, reporter: Reporter) -> None:
    """Flow names, each declared once, in written order."""
    for rules_file in files:
        reporter.use_file(rules_file)
        for decl in rules_file.decls:
            if isinstance(decl, ast.FlowDecl):
                if decl.name in symbols.flows:
                    reporter.report(decl.name_span, f"flow {decl.name!r} is declared twice")
                else:
                    symbols.flows[decl.name] = len(symbols.flows)


def check_flow_header(flow: ast.FlowDecl, symbols: Symbols, reporter: Reporter) -> None:
    """The header lines: segments (required and known), zone, window, re-entry."""
    report = reporter.report
    if not flow.segments:
        report(
            flow.name_span,
            f"flow {flow.name!r} has no `for segment` line: a flow never targets everyone "
            "(write `for segment NAME` as its first line)",
        )
    seen: set[str] = set()
    visible = [name for name in symbols.segments if not name.startswith(HIDDEN_SEGMENT_PREFIX)]
    spans = flow.segment_spans or (flow.name_span,) * len(flow.segments)
    for name, span in zip(flow.segments, spans, strict=True):
        if name in seen:
            report(span, f"segment {name!r} is listed twice in flow {flow.name!r}")
        seen.add(name)
        if name not in symbols.segments:
            report(
                span,
                f"unknown segment {name!r} in flow {flow.name!r}",
                suggestion=did_you_mean(name, visible),
            )
    if flow.timezone is not None and not is_zone(flow.timezone.value):
        report(flow.timezone.span, f"unknown time zone {flow.timezone.value!r}")
    if flow.start is not None and flow.end is not None and flow.start.value >= flow.end.value:
        report(flow.end.span, "a flow's `to` comes after its `from`")
    if flow.reenter is not None and not flow.reenter.after.seconds > 0:
        report(flow.reenter.after.span, "a duration must be longer than zero")


def check_flow_name(name: str, span: Span, symbols: Symbols, reporter: Reporter) -> None:
    """``enter flow X``, ``exit flow X``, ``on flow enter X``: a declared flow."""
    if name not in symbols.flows:
        reporter.report(
            span, f"unknown flow {name!r}", suggestion=did_you_mean(name, symbols.flows)
        )
