"""A compiled flow: its header, and its steps as a flat list of instructions.

The compiler (:mod:`engage.dsl.flow_compiler`) turns a flow's nested steps into a list
that only ever jumps forward: ``if`` and ``split`` become a test that jumps past the
block it does not take, and each block ends with a jump past the others. A contact's
place in a flow is then one number (the instruction it is at), which is what makes its
state a few dozen bytes (:mod:`engage.flows.record`) and a step a few microseconds.
"""

from __future__ import annotations

from typing import Any, Final

from engage.actions import ActionSpec

#: Instruction codes.
WAIT: Final = 1  # wait `seconds`
WAIT_UNTIL: Final = 2  # wait until the hidden segment `bit` holds, at most `seconds`
WAIT_CLOCK: Final = 3  # wait until the wall clock shows `minutes` (on weekdays)
BRANCH: Final = 4  # go on if `cond` holds, else jump to `target`
SPLIT: Final = 5  # go on for `percent` of entries, else jump to `target`
JUMP: Final = 6  # jump to `target`
ACTION: Final = 7  # run `rule`'s one action
END: Final = 8  # the flow is finished

#: Instruction codes by name, for ``engage check --plan`` and messages.
OP_NAMES: Final = {
    WAIT: "wait",
    WAIT_UNTIL: "wait until",
    WAIT_CLOCK: "wait until clock",
    BRANCH: "if",
    SPLIT: "split",
    JUMP: "jump",
    ACTION: "action",
    END: "end",
}


class Instruction:
    """One instruction of a flow. ``path`` names its step stably (see
    :mod:`engage.dsl.flow_checks`); ``text`` is the step as written, for reports."""

    __slots__ = (
        "bit",
        "cond",
        "minutes",
        "op",
        "path",
        "percent",
        "rule",
        "seconds",
        "target",
        "text",
        "weekdays",
    )

    def __init__(self, op: int, path: str, text: str) -> None:
        self.op = op
        self.path = path
        self.text = text
        self.seconds: float | None = None
        self.bit = 0
        self.minutes = 0
        self.weekdays = False
        self.cond: Any = None
        self.target = 0
        self.percent = 0.0
        #: For ACTION: a one-action rule named ``flow:NAME`` (what the executor runs).
        self.rule: Any = None

    @property
    def action(self) -> ActionSpec | None:
        return None if self.rule is None else self.rule.actions[0]

    def __repr__(self) -> str:
        return f"<{OP_NAMES[self.op]} {self.path} {self.text!r}>"


class FlowSpec:
    """One flow, ready to run.

    Attributes:
        name: the flow's name; ``rule`` is the name its actions carry (``flow:NAME``).
        segment_mask: the bits (``Contact.segs``) of the segments it enters from.
        start, end: the window ``[start, end)`` in epoch seconds, or None.
        zone: the flow's time zone name, or None (then the contact's, else UTC).
        exit_bit, goal_bit: the bits of the hidden segments of ``exit when`` / ``goal``.
        goal_continue: ``goal ... continue``: converting does not take the contact out.
        reenter_after: ``re-enter after D`` in seconds, or None (never re-enter).
        reenter_only: ``converted``, ``dismissed`` or None.
        order: the flow's place in written order (ties of priority keep it).
        retired: an old version kept only for the contacts still inside it.
        text: the flow's text as written (what tells versions apart, comments and
            blanks aside; see :mod:`engage.flows.versions`).
    """

    __slots__ = (
        "category",
        "end",
        "exit_bit",
        "goal_bit",
        "goal_continue",
        "instructions",
        "name",
        "order",
        "reenter_after",
        "reenter_only",
        "retired",
        "rule",
        "segment_mask",
        "segment_names",
        "start",
        "text",
        "zone",
    )

    def __init__(self, name: str, order: int) -> None:
        self.name = name
        self.rule = f"flow:{name}"
        self.order = order
        self.segment_mask = 0
        self.segment_names: tuple[str, ...] = ()
        self.start: float | None = None
        self.end: float | None = None
        self.zone: str | None = None
        self.category: str | None = None
        self.exit_bit = 0
        self.goal_bit = 0
        self.goal_continue = False
        self.reenter_after: float | None = None
        self.reenter_only: str | None = None
        self.instructions: tuple[Instruction, ...] = ()
        self.retired = False
        self.text = ""

    def step_paths(self) -> list[str]:
        """The paths of the steps a contact can wait at, in order (for reports)."""
        return [i.path for i in self.instructions if i.op in (WAIT, WAIT_UNTIL, WAIT_CLOCK, ACTION)]

    def describe(self) -> list[str]:
        """The flow's instructions, one line each (``engage check --plan``): index, step
        path, what it does, and where it jumps."""
        lines = [f"flow {self.name}: {len(self.instructions)} instructions"]
        for index, step in enumerate(self.instructions):
            text = step.text or OP_NAMES[step.op]
            if step.op in (BRANCH, SPLIT):
                text = f"{OP_NAMES[step.op]} {step.text if step.op == BRANCH else ''}".strip()
                text += f" (else go to {step.target})"
                if step.op == SPLIT:
                    text = f"split {step.percent:g}% (else go to {step.target})"
            elif step.op == JUMP:
                text = f"go to {step.target}"
            lines.append(f"  {index:>3}  {step.path:<12} {text}")
        return lines

    def __repr__(self) -> str:
        return f"<FlowSpec {self.name!r} {len(self.instructions)} instructions>"
