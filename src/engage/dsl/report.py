"""Collecting diagnostics while the checker's stages run.

Every stage (declarations, types, lint) reports into one :class:`Reporter`: it knows the
file being read, so a stage only says *where* (a span) and *what* (a message), and the
reporter adds the file name and the source line a caret is drawn under. Nothing stops
at the first problem: ``engage check`` shows them all at once.
"""

from __future__ import annotations

from typing import Literal

from engage.dsl import ast
from engage.errors import NO_SPAN, Diagnostic, Span, source_lines


class Reporter:
    """The diagnostics found so far, and the file they are found in."""

    __slots__ = ("_file", "_lines", "_lines_of", "diagnostics")

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self._file = "<rules>"
        self._lines: list[str] = []
        self._lines_of: ast.RulesFile | None = None

    def use_file(self, rules_file: ast.RulesFile) -> None:
        """Report what follows against ``rules_file`` (its lines are split once)."""
        if self._lines_of is rules_file:
            return
        self._lines_of = rules_file
        self._file = rules_file.path
        self._lines = source_lines(rules_file.source)

    def use_source(self, name: str, source: str) -> None:
        """Report against a text that is not a parsed file (a query)."""
        self._lines_of = None
        self._file = name
        self._lines = source_lines(source)

    def report(
        self,
        span: Span | None,
        message: str,
        *,
        suggestion: str | None = None,
        severity: Literal["error", "warning"] = "error",
    ) -> None:
        """Record one problem at ``span`` of the current file.

        A suggestion is appended to the message as ``(did you mean 'x'?)`` and kept
        apart on the diagnostic for tools.
        """
        span = span or NO_SPAN
        line = None
        if 0 < span.line <= len(self._lines):
            line = self._lines[span.line - 1]
        text = message
        if suggestion:
            text += f" (did you mean {suggestion!r}?)"
        self.diagnostics.append(
            Diagnostic(
                file=self._file,
                span=span,
                message=text,
                severity=severity,
                suggestion=suggestion,
                source_line=line,
            )
        )

    def warn(self, span: Span | None, message: str, *, suggestion: str | None = None) -> None:
        """Record a problem that does not stop the rules from running."""
        self.report(span, message, suggestion=suggestion, severity="warning")

    def without_repeats(self) -> list[Diagnostic]:
        """The diagnostics in order, each said once.

        A node can be reached by two checks (a ``had`` filter is a condition of its own
        and part of the condition around it; both sides of ``score >= score``), and the
        same message at the same place twice reads as two mistakes.
        """
        seen: set[tuple[str, int, int, str]] = set()
        kept: list[Diagnostic] = []
        for diagnostic in self.diagnostics:
            span = diagnostic.span
            key = (diagnostic.file, span.line, span.column, diagnostic.message)
            if key not in seen:
                seen.add(key)
                kept.append(diagnostic)
        return kept
