"""Running the ``test`` blocks of rules files (``engage test``; language reference §11).

Each test block runs against a fresh :class:`~engage.Engine` of the compiled rules, with
no limit on how far event times may be from the host's clock (tests use fixed dates).
Its steps run in written order:

- ``given contact ID { NAME = VALUE, tags "A" }`` is a ``contact.updated`` event at the
  test's clock (before the first ``at``, at the time of the first ``at`` step);
- ``at T event TYPE for ID [with { ... }]`` is one event at T;
- ``at T advance`` and the ``at T`` before an ``expect`` move the clock to T, firing the
  timers due by then;
- ``expect [no] ACTION for ID [at T]`` looks at every action the contact got since the
  test began (those stamped T, when ``at T`` is written); sends held back by consent or
  policy (written with ``suppressed``, ``skipped`` or ``held_until``) do not count as sent;
- ``expect ID: CONDITION`` and ``expect NAME of ID OP VALUE`` evaluate the condition on
  the contact now, exactly as a query (:meth:`Engine.select`) does;
- ``expect segment NAME has N`` counts the segment's members now.

A failed expectation does not stop its test: every one is checked and reported with
its place in the file, the line and a caret, and what happened instead (the actions
that did come, or the values the condition read). The cost of a test is the cost of its
events in the engine plus one query per value expectation (a scan of the test's few
contacts).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import IO, Any, Final

import attrs

from engage.actions import Action
from engage.dsl import ast
from engage.dsl.printer import condition_text
from engage.dsl.testblocks import tests_of
from engage.dsl.walk import walk
from engage.engine import Engine
from engage.errors import Diagnostic, EngageError, Span, source_lines
from engage.rules import Rules
from engage.timeutil import format_time, parse_time

#: The clock of a test that has no ``at`` step at all.
DEFAULT_TEST_TIME: Final = parse_time("2026-01-01T00:00:00Z")
#: How many actions or contacts a failure lists before "and N more".
_SHOWN: Final = 8


@attrs.frozen
class Failure:
    """One expectation that did not hold, and what happened instead."""

    file: str
    span: Span
    message: str
    instead: tuple[str, ...]
    source_line: str | None

    def format(self) -> str:
        """``FILE:LINE:COL: failed: MESSAGE``, the line, a caret, then what happened."""
        shown = Diagnostic(self.file, self.span, self.message, "error", None, self.source_line)
        text = shown.format().replace(": error: ", ": failed: ", 1)
        return "\n".join([text, *(f"    {line}" for line in self.instead)])


@attrs.frozen
class TestResult:
    """The outcome of one test block."""

    __test__ = False  # not a pytest test class, whatever imports it

    name: str
    file: str
    line: int
    failures: tuple[Failure, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def run_tests(rules: Rules) -> list[TestResult]:
    """Run every test block of the compiled files, in written order."""
    return [_TestRun(rules, rules_file, test).run() for rules_file, test in tests_of(rules.files)]


def write_results(results: Sequence[TestResult], out: IO[str]) -> bool:
    """Write one line per test, each failure under its test, then ``N passed, M failed``.

    Returns True when every test passed (and when there is none: nothing failed).
    """
    for result in results:
        if result.passed:
            out.write(f"ok    {result.name}\n")
            continue
        out.write(f"FAIL  {result.name}  ({result.file}:{result.line})\n")
        for failure in result.failures:
            out.write(failure.format() + "\n")
    failed = sum(1 for result in results if not result.passed)
    if not results:
        out.write("no test blocks found\n")
    out.write(f"{len(results) - failed} passed, {failed} failed\n")
    return failed == 0


class _TestRun:
    """One test block against its own fresh engine."""

    def __init__(self, rules: Rules, rules_file: ast.RulesFile, test: ast.TestDecl) -> None:
        self.test = test
        self.file = rules_file.path
        self.lines = source_lines(rules_file.source)
        self.engine = Engine(rules, max_future=None)
        self.actions: list[Action] = []
        self.failures: list[Failure] = []
        self.clock = next((t.value for t in _step_times(test.steps)), DEFAULT_TEST_TIME)

    def run(self) -> TestResult:
        for step in self.test.steps:
            try:
                self.step(step)
            except EngageError as exc:
                self.fail(step.span, f"the engine stopped this step: {exc}")
        return TestResult(self.test.name, self.file, self.test.span.line, tuple(self.failures))

    def step(self, step: ast.TestStep) -> None:
        match step:
            case ast.GivenStep(contact=contact, values=values, tags=tags):
                data: dict[str, Any] = {a.name: _constant(a.value) for a in values}
                if tags:
                    data["tags"] = list(tags)
                self.ingest(step, contact.id, "contact.updated", self.clock, data)
            case ast.EventStep(at=at, event_type=event_type, contact=contact, data=items):
                self.clock = at.value
                data = {a.name: _constant(a.value) for a in items}
                self.ingest(step, contact.id, event_type, at.value, data)
            case ast.AdvanceStep(at=at):
                self.advance(at.value)
            case ast.ExpectStep(at=at, expectation=expectation):
                if at is not None:
                    self.advance(at.value)
                self.expect(expectation)

    # -- driving the engine -------------------------------------------------------------

    def ingest(
        self, step: ast.TestStep, contact: str, kind: str, at: float, data: dict[str, Any]
    ) -> None:
        record: dict[str, Any] = {"contact": contact, "type": kind, "at": format_time(at)}
        if data:
            record["data"] = data
        refused = len(self.engine.rejected)
        self.actions.extend(self.engine.ingest_many([record]))
        self.actions.extend(self.engine.flush())
        for rejected in self.engine.rejected[refused:]:
            self.fail(step.span, f"the engine refused this event: {rejected.reason}")

    def advance(self, at: float) -> None:
        self.clock = max(self.clock, at)
        self.actions.extend(self.engine.advance(at))

    # -- expectations -------------------------------------------------------------------

    def expect(self, expectation: ast.Expectation) -> None:
        match expectation:
            case ast.ExpectAction():
                self.expect_action(expectation)
            case ast.ExpectCondition():
                self.expect_condition(expectation)
            case ast.ExpectSegment():
                self.expect_segment(expectation)

    def expect_action(self, expected: ast.ExpectAction) -> None:
        contact = expected.contact.id
        came = [a for a in self.actions if a.contact == contact]
        if expected.when is not None:
            came = [a for a in came if a.time == expected.when.value]
        matching = [a for a in came if _matches(expected.pattern, a)]
        what = f"{expected.pattern.text} for {contact}"
        if expected.when is not None:
            what += f" at {format_time(expected.when.value)}"
        if expected.negated and matching:
            self.fail(
                expected.span,
                f"expected no {what}, but it came",
                [_describe(a) for a in matching],
            )
        elif not expected.negated and not matching:
            moment = "" if expected.when is None else f" at {format_time(expected.when.value)}"
            if came:
                instead = [f"instead, {contact} got{moment}:", *_listed(map(_describe, came))]
            else:
                instead = [f"instead, {contact} got no action{moment}"]
            self.fail(expected.span, f"expected {what}; it did not come", instead)

    def expect_condition(self, expected: ast.ExpectCondition) -> None:
        contact = expected.contact.id
        written = self.text(expected.span)
        view = self.engine.contact(contact)
        if view is None:
            self.fail(
                expected.span,
                f"expected {written}",
                [f"instead, there is no contact {contact!r}: no step gave it an event"],
            )
            return
        if contact in self.engine.select(condition_text(expected.condition)):
            return
        nodes = _read_nodes(expected.condition) if expected.subject is None else [expected.subject]
        read = list(dict.fromkeys(r for r in (_read(view, node) for node in nodes) if r))
        instead = [f"{'instead,' if n == 0 else 'and'} {line}" for n, line in enumerate(read)]
        self.fail(expected.span, f"expected {written}", instead or ["instead, it does not hold"])

    def expect_segment(self, expected: ast.ExpectSegment) -> None:
        members = self.engine.select(f"in segment {expected.segment}")
        if len(members) == expected.size:
            return
        shown = ", ".join(_listed(members)) if members else "no contact"
        self.fail(
            expected.span,
            f"expected segment {expected.segment} to have {expected.size}",
            [f"instead, it has {len(members)}: {shown}"],
        )

    # -- reporting ----------------------------------------------------------------------

    def fail(self, span: Span, message: str, instead: Sequence[str] = ()) -> None:
        line = self.lines[span.line - 1] if 0 < span.line <= len(self.lines) else None
        self.failures.append(Failure(self.file, span, message, tuple(instead), line))

    def text(self, span: Span) -> str:
        """The source text a span covers, its lines joined by spaces."""
        if span.line == span.end_line:
            return self.lines[span.line - 1][span.column - 1 : span.end_column - 1]
        first = self.lines[span.line - 1][span.column - 1 :]
        middle = self.lines[span.line : span.end_line - 1]
        last = self.lines[span.end_line - 1][: span.end_column - 1]
        return " ".join(part.strip() for part in (first, *middle, last))


def _step_times(steps: Iterable[ast.TestStep]) -> Iterable[ast.TimeLit]:
    for step in steps:
        match step:
            case ast.EventStep(at=at) | ast.AdvanceStep(at=at):
                yield at
            case ast.ExpectStep(at=at) if at is not None:
                yield at
            case _:
                pass


def _constant(value: ast.Expr) -> Any:
    """The value of a written constant (the checker refused anything else)."""
    match value:
        case ast.TimeLit(value=moment):
            return format_time(moment)
        case ast.ListLit(items=items):
            return [_constant(item) for item in items]
        case ast.Number(value=number) | ast.Bool(value=number):
            return number
        case ast.String(value=text):
            return text
    raise TypeError(f"not a constant: {value!r}")  # pragma: no cover


def _matches(pattern: ast.ActionPattern, action: Action) -> bool:
    if action.action != pattern.verb or action.stopped:
        return False
    written = [str(arg) for arg in action.args[: len(pattern.args)]]
    return written == list(pattern.args)


def _describe(action: Action) -> str:
    """One action as a failure lists it: time, verb and arguments, rule."""
    args = " ".join(_shown(arg) for arg in action.args)
    text = f"{format_time(action.time)}  {action.action} {args}".rstrip()
    text += f"  (rule {action.rule!r})"
    if action.suppressed is not None:
        text += f", suppressed: {action.suppressed}"
    elif action.skipped is not None:
        text += f", skipped: {action.skipped}"
    elif action.held_until is not None:
        text += f", held until {format_time(action.held_until)}"
    return text


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return repr(round(value, 3))
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _listed(items: Iterable[str]) -> list[str]:
    """At most :data:`_SHOWN` items, then how many more."""
    found = list(items)
    if len(found) <= _SHOWN:
        return found
    return [*found[:_SHOWN], f"... and {len(found) - _SHOWN} more"]


def _read_nodes(condition: ast.Expr) -> list[ast.Expr]:
    """The parts of a condition whose value a failure shows: names, tags, segments."""
    return [
        node
        for node in walk(condition)
        if isinstance(node, ast.Name | ast.Tagged | ast.InGroup | ast.InSegment)
    ]


def _read(view: Any, node: ast.Expr) -> str:
    """What the contact has for one part of a condition (``score of jhon is 7.4``)."""
    contact = view.id
    match node:
        case ast.Name(name=name):
            return f"{name} of {contact} is {_value_of(view, name)}"
        case ast.Tagged():
            return f"{contact} has tags {_shown_list(view.tags)}"
        case ast.InGroup():
            return f"{contact} is in groups {_shown_list(view.groups)}"
        case ast.InSegment():
            return f"{contact} is in segments {_shown_list(view.segments)}"
    return ""


def _value_of(view: Any, name: str) -> str:
    scores: dict[str, Any] = view.scores
    fields: dict[str, Any] = view.fields
    if name in scores:
        value = scores[name]
    elif name in fields:
        value = fields[name]
    elif name in ("valuation", "status", "tags", "groups", "created", "last_activity"):
        value = getattr(view, name)
    else:
        return "not known"
    if value is None:
        return "empty"
    if hasattr(value, "isoformat"):
        return format_time(value.timestamp())
    return _shown(value) if not isinstance(value, list) else _shown_list(value)


def _shown_list(values: Sequence[Any]) -> str:
    return "[" + ", ".join(_shown(v) for v in values) + "]" if values else "none"
