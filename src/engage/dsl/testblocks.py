"""The checker's stage for ``test`` blocks (language reference, section 11).

Test blocks are read by ``engage test`` only; the compiler never sees them. They are
still checked with the rest of the file, so that a misspelt name in an expectation is
reported by ``engage check`` with its line, a caret and a did-you-mean, like any other:

- test names are unique across the files;
- ``at`` steps move the clock forward, never back;
- ``given contact`` names declared fields and scores, with constant values of their type;
- an event's ``with { ... }`` holds constants;
- conditions (``expect jhon: ...``, ``expect score of jhon < 7``) are typed as queries
  are, against the program's names; ``expect segment NAME`` names a declared segment.

The types recorded here go to a table of their own: nothing of a test block reaches the
compiled program. One pass, linear in the size of the test blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

from engage.dsl import ast
from engage.dsl.expr_types import STATE_CONTEXT, ExprTyper, TypeTable
from engage.dsl.lint import lint_expressions
from engage.dsl.report import Reporter
from engage.dsl.symbols import Symbols
from engage.errors import Span, did_you_mean

#: The value nodes a ``given`` or ``with`` may hold: written constants.
_CONSTANTS = (ast.Number, ast.String, ast.Bool, ast.TimeLit, ast.ListLit)

#: A field type and the constant nodes that fit it.
_FITS: dict[str, tuple[type, ...]] = {
    "number": (ast.Number,),
    "text": (ast.String,),
    "bool": (ast.Bool,),
    "time": (ast.TimeLit,),
    "list": (ast.ListLit,),
}


def tests_of(files: Sequence[ast.RulesFile]) -> list[tuple[ast.RulesFile, ast.TestDecl]]:
    """Every test block of the files, in written order, with its file."""
    return [
        (rules_file, decl)
        for rules_file in files
        for decl in rules_file.decls
        if isinstance(decl, ast.TestDecl)
    ]


def check_tests(files: Sequence[ast.RulesFile], symbols: Symbols, reporter: Reporter) -> None:
    """Report every problem of every test block into ``reporter``."""
    typer = ExprTyper(symbols, reporter, TypeTable())
    names: dict[str, int] = {}
    for rules_file, test in tests_of(files):
        reporter.use_file(rules_file)
        typer.file = rules_file
        if test.name in names:
            reporter.report(
                test.span,
                f"test {test.name!r} is declared twice (first at line {names[test.name]})",
            )
        names.setdefault(test.name, test.span.line)
        _TestChecker(symbols, reporter, typer).run(test)
    lint_expressions(typer.roots, reporter)


class _TestChecker:
    """The checks of one test block, in step order."""

    def __init__(self, symbols: Symbols, reporter: Reporter, typer: ExprTyper) -> None:
        self.symbols = symbols
        self.reporter = reporter
        self.typer = typer
        self.clock: ast.TimeLit | None = None

    def run(self, test: ast.TestDecl) -> None:
        for step in test.steps:
            match step:
                case ast.GivenStep(values=values):
                    for assignment in values:
                        self.given_value(assignment)
                case ast.EventStep(at=at, data=data):
                    self.move_clock(at)
                    for assignment in data:
                        self.constant(assignment.value)
                case ast.AdvanceStep(at=at):
                    self.move_clock(at)
                case ast.ExpectStep(at=at, expectation=expectation):
                    if at is not None:
                        self.move_clock(at)
                    self.expectation(expectation)

    def move_clock(self, at: ast.TimeLit) -> None:
        """``at`` steps never go back in time (the engine's clock cannot)."""
        if self.clock is not None and at.value < self.clock.value:
            self.reporter.report(
                at.span,
                f"`at` steps must move forward: {at.text} is before {self.clock.text} "
                f"(line {self.clock.span.line})",
            )
            return
        self.clock = at

    def given_value(self, assignment: ast.Assignment) -> None:
        name = assignment.name
        symbols = self.symbols
        if name in symbols.scores:
            expected = "number"
        elif name in symbols.fields:
            expected = symbols.fields[name].type
        else:
            known = [*symbols.fields, *symbols.scores]
            self.reporter.report(
                _name_span(assignment),
                f"unknown field or score {name!r}; `given contact` sets declared fields "
                "and scores (and `tags`)",
                suggestion=did_you_mean(name, known),
            )
            self.constant(assignment.value)
            return
        if self.constant(assignment.value) and not isinstance(assignment.value, _FITS[expected]):
            self.reporter.report(
                assignment.value.span, f"{name!r} is a {expected}: give it a {expected} value"
            )

    def constant(self, value: ast.Expr) -> bool:
        """True when ``value`` is a written constant; else reports it."""
        if isinstance(value, _CONSTANTS):
            return True
        self.reporter.report(
            value.span, "a test gives written values here (a number, a text, a time...)"
        )
        return False

    def expectation(self, expectation: ast.Expectation) -> None:
        match expectation:
            case ast.ExpectCondition(condition=condition):
                self.typer.condition(condition, STATE_CONTEXT)
            case ast.ExpectSegment(segment=segment, segment_span=span):
                if segment not in self.symbols.segments:
                    self.reporter.report(
                        span,
                        f"unknown segment {segment!r}",
                        suggestion=did_you_mean(segment, self.symbols.segments),
                    )
            case ast.ExpectAction():
                pass  # any action may be expected; one no rule has simply never comes


def _name_span(assignment: ast.Assignment) -> Span:
    """The span of the name of ``NAME = VALUE`` (its first word)."""
    span = assignment.span
    return Span(span.line, span.column, span.line, span.column + len(assignment.name))
