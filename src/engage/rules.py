"""Loading rules: text or files in, a compiled :class:`Rules` out.

``engage.load("a.rules", "b.rules")`` and ``engage.compile(text, name="x.rules")`` run the
whole pipeline — parse, check, compile — and raise :class:`~engage.errors.RulesError`
with every problem found (file, line, column, the line and a caret) if there is any.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from engage.collector import gc_paused
from engage.dsl import ast
from engage.dsl.checker import CheckedProgram, check
from engage.dsl.compiler import compile_program
from engage.dsl.parser import parse
from engage.errors import Diagnostic, LimitExceededError, RulesError
from engage.program import Program

#: The largest rules file accepted (bytes).
MAX_RULES_FILE_BYTES = 5 * 1024 * 1024


class Rules:
    """A compiled set of rules files, ready to give to an :class:`~engage.Engine`."""

    def __init__(
        self, files: Sequence[ast.RulesFile], program: Program, checked: CheckedProgram
    ) -> None:
        self.files = tuple(files)
        self.program = program
        self.checked = checked

    def program_for_engine(self) -> Program:
        """The program an engine runs: shared, unless it has decaying scores or accounts.

        A decaying score's reference time moves with the engine's clock (see
        :mod:`engage.scoring.decay`), so each engine gets its own compiled copy then;
        so does a program with accounts or leads, whose generated ``account.X``
        readers look in the engine's own store (:mod:`engage.b2b`).
        """
        program = self.program
        if program.b2b is not None or any(s.decay is not None for s in program.scores):
            return compile_program(self.checked)
        return self.program

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        """Problems that do not stop the rules from running (possible loops, typos...)."""
        return tuple(d for d in self.program.warnings if d.severity == "warning")

    @property
    def rule_names(self) -> list[str]:
        """Rule names in firing order."""
        return [rule.name for rule in self.program.rules]

    @property
    def score_names(self) -> list[str]:
        return [score.name for score in self.program.scores]

    @property
    def segment_names(self) -> list[str]:
        return [segment.name for segment in self.program.segments if not segment.hidden]

    def __repr__(self) -> str:
        names = ", ".join(f.path for f in self.files)
        return f"<Rules {names}: {len(self.program.rules)} rules>"


def parse_all(sources: Sequence[tuple[str, str]]) -> list[ast.RulesFile]:
    """Parse several ``(name, text)`` sources, collecting every file's syntax errors."""
    parsed: list[ast.RulesFile] = []
    diagnostics: list[Diagnostic] = []
    for name, text in sources:
        try:
            parsed.append(parse(text, name))
        except RulesError as exc:
            diagnostics.extend(exc.diagnostics)
    if diagnostics:
        raise RulesError(diagnostics)
    return parsed


def compile_sources(sources: Sequence[tuple[str, str]]) -> Rules:
    """Parse, check and compile ``(name, text)`` sources together."""
    with gc_paused():
        files = parse_all(sources)
        checked = check(files)
        return Rules(files, compile_program(checked), checked)


def compile_rules(text: str, name: str = "<rules>") -> Rules:
    """Compile rules given as text; ``name`` is used in messages and anonymous rule names."""
    return compile_sources([(name, text)])


def read_rules_file(path: str | os.PathLike[str]) -> str:
    """Read a rules file as UTF-8, refusing files over the size limit."""
    size = os.path.getsize(path)
    if size > MAX_RULES_FILE_BYTES:
        raise LimitExceededError(
            f"{os.fspath(path)}: rules file of {size} bytes is over the "
            f"{MAX_RULES_FILE_BYTES}-byte limit"
        )
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def load(*paths: str | os.PathLike[str]) -> Rules:
    """Load and compile one or more rules files (names are shared across them)."""
    if not paths:
        raise ValueError("load() needs at least one rules file")
    return compile_sources([(os.fspath(p), read_rules_file(p)) for p in paths])
