"""The one exception tree of engage, and the diagnostics that rule errors carry.

Every error a user can cause derives from :class:`EngageError`, and also from the
fitting built-in (``ValueError``, ``RuntimeError``...) so that host code that already
catches the built-in keeps working. Errors in rules files carry :class:`Diagnostic`
records: file, line, column, message and an optional did-you-mean, printed the way
compilers print them (``FILE:LINE:COL: error: MESSAGE``, the line, a caret).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Literal

import attrs

Severity = Literal["error", "warning"]


@attrs.frozen(slots=True)
class Span:
    """A region of a rules file: 1-based line and column of its start and end."""

    line: int
    column: int
    end_line: int = 0
    end_column: int = 0

    @classmethod
    def point(cls, line: int, column: int) -> Span:
        return cls(line, column, line, column + 1)


NO_SPAN = Span(0, 0, 0, 0)


@attrs.frozen(slots=True)
class Diagnostic:
    """One problem found in a rules file, with everything needed to show it."""

    file: str
    span: Span
    message: str
    severity: Severity = "error"
    suggestion: str | None = None
    source_line: str | None = None

    def format(self) -> str:
        """``FILE:LINE:COL: error: MESSAGE``, then the offending line and a caret."""
        head = f"{self.file}:{self.span.line}:{self.span.column}: {self.severity}: {self.message}"
        if self.suggestion and "did you mean" not in self.message:
            head += f" (did you mean {self.suggestion!r}?)"
        if self.source_line is None or self.span.line <= 0:
            return head
        text = self.source_line.rstrip("\n").expandtabs(1)
        width = 1
        if self.span.end_line == self.span.line and self.span.end_column > self.span.column:
            width = self.span.end_column - self.span.column
        caret = " " * (max(self.span.column, 1) - 1) + "^" * max(1, min(width, 80))
        return f"{head}\n    {text}\n    {caret}"


def source_lines(text: str) -> list[str]:
    """The lines of a rules text as the parser counts them: split at ``\n`` only.

    ``str.splitlines`` also breaks at form feeds, vertical tabs and Unicode line
    separators, which the grammar takes as blanks; a message would then show the wrong
    line under its caret. A ``\r`` before the ``\n`` (Windows files) is dropped.
    """
    return [line.removesuffix("\r") for line in text.split("\n")]


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """The closest known name to a misspelt one, if any is close enough to help."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


class EngageError(Exception):
    """Root of every error engage raises on purpose."""


class RulesError(EngageError, ValueError):
    """A rules file cannot be used; :attr:`diagnostics` says every reason found."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        super().__init__("\n".join(d.format() for d in self.diagnostics))

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")


class RulesSyntaxError(RulesError):
    """The text does not follow the grammar of the rules language."""


class RulesCheckError(RulesError):
    """The text parses, but names, types or rules do not fit together."""


class LimitExceededError(EngageError, ValueError):
    """An input is larger or deeper than engage accepts (see the limits docs)."""


class EventError(EngageError, ValueError):
    """An event record that cannot be accepted; the message is the reason."""


class CascadeError(EngageError, RuntimeError):
    """State actions kept firing rules past the cascade depth limit: a rule cycle."""

    def __init__(self, contact: str, rules: Sequence[str], depth: int) -> None:
        self.contact = contact
        self.rules = tuple(rules)
        self.depth = depth
        names = ", ".join(repr(r) for r in self.rules)
        super().__init__(
            f"rule cycle for contact {contact!r}: still firing after {depth} rounds "
            f"of cascading state actions; rules in the cycle: {names}"
        )


class QueryError(EngageError, ValueError):
    """A query condition given to ``count``/``select``/``top`` cannot be used."""


class SnapshotError(EngageError, ValueError):
    """A snapshot or event log cannot be read: wrong format, version or checksum."""
