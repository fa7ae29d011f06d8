"""Flows, compiled: from a checked ``flow`` declaration to a :class:`FlowSpec`.

Nested steps become a flat list of instructions that only jump forward (see
:mod:`engage.flows.spec`); branch conditions become generated predicates like every
other condition; ``exit when``, ``goal`` and ``wait until`` read the bits of the hidden
segments the checker made of them (:mod:`engage.dsl.flow_checks`); each action step
becomes a one-action rule named ``flow:NAME`` that the rules' own executor runs.
Compiling is linear in the number of steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from engage.actions import ActionSpec
from engage.dsl import ast
from engage.dsl.flow_checks import hidden_segment
from engage.flows.spec import (
    ACTION,
    BRANCH,
    END,
    JUMP,
    SPLIT,
    WAIT,
    WAIT_CLOCK,
    WAIT_UNTIL,
    FlowSpec,
    Instruction,
)
from engage.program import RuleSpec
from engage.time.zones import DEFAULT_ZONE, zone


class FlowCompiler:
    """Compiles the flows of one program, with the program compiler's hooks.

    Args:
        segments: segment indexes by name (hidden ones included).
        action: compiles one action node of a file into an :class:`ActionSpec`.
        condition: registers a condition with the code generator; returns its name.
        later: binds a generated function to an attribute once the module is built.
        text: the source text of a node of a file, blanks collapsed.
        raw: the source text of a node of a file as written.
    """

    def __init__(
        self,
        segments: dict[str, int],
        action: Callable[[ast.ActionNode, str], ActionSpec],
        condition: Callable[[ast.Expr], str],
        later: Callable[[Any, str, str], None],
        text: Callable[[str, Any], str],
        raw: Callable[[str, Any], str],
    ) -> None:
        self._segments = segments
        self._action = action
        self._condition = condition
        self._later = later
        self._text = text
        self._raw = raw

    def compile(self, decls: Sequence[tuple[ast.FlowDecl, str]]) -> tuple[FlowSpec, ...]:
        """Every flow of ``decls`` (declaration, file), in written order."""
        return tuple(self._flow(decl, file, order) for order, (decl, file) in enumerate(decls))

    def _bit(self, flow: str, role: str) -> int:
        return 1 << self._segments[hidden_segment(flow, role)]

    def _flow(self, decl: ast.FlowDecl, file: str, order: int) -> FlowSpec:
        spec = FlowSpec(decl.name, order)
        spec.text = self._raw(file, decl)
        spec.segment_names = decl.segments
        for name in decl.segments:
            spec.segment_mask |= 1 << self._segments[name]
        spec.zone = None if decl.timezone is None else decl.timezone.value
        spec.start = None if decl.start is None else _local_time(decl.start, spec.zone)
        spec.end = None if decl.end is None else _local_time(decl.end, spec.zone)
        spec.category = decl.category
        if decl.reenter is not None:
            spec.reenter_after = float(decl.reenter.after.seconds)
            spec.reenter_only = decl.reenter.only
        if decl.exit is not None:
            spec.exit_bit = self._bit(decl.name, "exit")
        if decl.goal is not None:
            spec.goal_bit = self._bit(decl.name, "goal")
            spec.goal_continue = decl.goal.keep_going
        out: list[Instruction] = []
        self._block(spec, decl.steps, "", file, out)
        out.append(Instruction(END, "end", "end"))
        spec.instructions = tuple(out)
        return spec

    def _block(
        self,
        flow: FlowSpec,
        steps: Sequence[ast.FlowStep],
        prefix: str,
        file: str,
        out: list[Instruction],
    ) -> None:
        for number, step in enumerate(steps, 1):
            path = f"{prefix}{number}"
            text = " ".join(self._text(file, step).split())
            match step:
                case ast.WaitStep(duration=duration):
                    wait = Instruction(WAIT, path, text)
                    wait.seconds = float(duration.seconds)
                    out.append(wait)
                case ast.WaitUntilStep(at_most=at_most):
                    until = Instruction(WAIT_UNTIL, path, text)
                    until.bit = self._bit(flow.name, f"until:{path}")
                    until.seconds = None if at_most is None else float(at_most.seconds)
                    out.append(until)
                case ast.WaitClockStep(minutes=minutes, weekdays=weekdays):
                    clock = Instruction(WAIT_CLOCK, path, text)
                    clock.minutes = minutes
                    clock.weekdays = weekdays
                    out.append(clock)
                case ast.IfStep(branches=branches, otherwise=otherwise):
                    self._if(flow, path, branches, otherwise, file, out)
                case ast.SplitStep(percent=percent, first=first, second=second):
                    split = Instruction(SPLIT, path, f"split {percent:g}%")
                    split.percent = percent
                    out.append(split)
                    self._block(flow, first, f"{path}.a.", file, out)
                    jump = Instruction(JUMP, path, "")
                    out.append(jump)
                    split.target = len(out)
                    self._block(flow, second, f"{path}.b.", file, out)
                    jump.target = len(out)
                case ast.ActionStep(action=action):
                    step_rule = RuleSpec(flow.rule, "flow_step")
                    compiled = self._action(action, file)
                    if compiled.kind == "send" and flow.category is not None:
                        # The flow's category: its sends' caps, priority and unsubscribes.
                        compiled.options = {**(compiled.options or {}), "category": flow.category}
                    step_rule.actions = (compiled,)
                    step_rule.cond_text = text
                    instruction = Instruction(ACTION, path, text)
                    instruction.rule = step_rule
                    out.append(instruction)

    def _if(
        self,
        flow: FlowSpec,
        path: str,
        branches: Sequence[ast.Branch],
        otherwise: Sequence[ast.FlowStep],
        file: str,
        out: list[Instruction],
    ) -> None:
        jumps: list[Instruction] = []
        for index, branch in enumerate(branches, 1):
            test = Instruction(BRANCH, path, " ".join(self._text(file, branch.condition).split()))
            self._later(test, "cond", self._condition(branch.condition))
            out.append(test)
            self._block(flow, branch.steps, f"{path}.{index}.", file, out)
            jump = Instruction(JUMP, path, "")
            out.append(jump)
            jumps.append(jump)
            test.target = len(out)
        self._block(flow, otherwise, f"{path}.else.", file, out)
        for jump in jumps:
            jump.target = len(out)


def _local_time(written: ast.TimeLit, zone_name: str | None) -> float:
    """A flow's ``from`` / ``to``: a time written without a zone is read in the flow's
    time zone (UTC when it has none); one with a zone or ``Z`` is taken as written."""
    moment = datetime.fromisoformat(written.text)
    if moment.tzinfo is not None:
        return written.value
    return moment.replace(tzinfo=zone(zone_name or DEFAULT_ZONE)).timestamp()
