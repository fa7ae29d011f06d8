"""Parse the text of a rules file into a :class:`~engage.dsl.ast.RulesFile`.

``parse`` either returns the syntax tree or raises :class:`~engage.errors.RulesSyntaxError`
carrying every problem it found: after an error it skips to the next line that starts
a declaration and parses on, so a file with three typos shows three messages. Messages
name what was found and what could come there, in the rule author's words, with a
did-you-mean for misspelt keywords. No other exception escapes, whatever the text
(oversized text raises :class:`~engage.errors.LimitExceededError`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

import attrs
from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from engage.dsl import ast
from engage.dsl.builder import TreeBuilder, tree_depth_exceeds
from engage.dsl.grammar import (
    CONDITION_START,
    FILE_START,
    describe_terminal,
    keyword_of,
    lark_parser,
)
from engage.errors import (
    Diagnostic,
    LimitExceededError,
    RulesSyntaxError,
    Span,
    did_you_mean,
    source_lines,
)

#: The largest rules text accepted (characters).
MAX_RULES_CHARS: Final = 5 * 1024 * 1024
#: How deeply conditions and expressions may nest (parse-tree levels).
MAX_NESTING: Final = 64
#: Errors reported for one file before giving up on the rest.
MAX_ERRORS: Final = 30

_ACTION_WORDS: Final = frozenset(
    [
        "tag",
        "untag",
        "add",
        "remove",
        "set",
        "clear",
        "subtract",
        "suspend",
        "reactivate",
        "unsubscribe",
        "subscribe",
        "track",
        "enter",
        "exit",
        "notify",
        "create",
        "send",
        "call",
        "do",
    ]
)
_RESUME_LINE: Final = re.compile(
    r"(fields|score|valuation|statuses|segment|rule|when|on|test|flow|campaign|policy)\b"
)
#: A `do` action whose last argument is a bare word that also opens a declaration.
_DO_ENDING_IN_BLOCK_WORD: Final = re.compile(r"\bdo\b.*\b(score|segment|valuation|fields)\s*$")
_BRACES: Final = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[{}]|\n')


def parse(text: str, path: str = "<rules>") -> ast.RulesFile:
    """Parse one rules file; ``path`` names it in messages and anonymous rule names.

    Raises:
        RulesSyntaxError: the text does not follow the grammar (every error found).
        LimitExceededError: the text is over :data:`MAX_RULES_CHARS`.
    """
    if len(text) > MAX_RULES_CHARS:
        raise LimitExceededError(
            f"{path}: rules text of {len(text):,} characters is over the "
            f"{MAX_RULES_CHARS:,}-character limit"
        )
    return _FileParser(text, path).run()


def parse_condition(text: str, path: str = "<query>") -> ast.Expr:
    """Parse one condition written alone (a query: ``score >= 5 and tagged "vip"``).

    Lines and columns in the syntax tree and in errors are the text's own. Costs one
    LALR parse of the text, no more than the same condition inside a rules file.

    Raises:
        RulesSyntaxError: the text is not one condition (with the first problem).
        LimitExceededError: the text is over :data:`MAX_RULES_CHARS`.
    """
    if len(text) > MAX_RULES_CHARS:
        raise LimitExceededError(
            f"{path}: condition of {len(text):,} characters is over the "
            f"{MAX_RULES_CHARS:,}-character limit"
        )
    return _FileParser(text, path).condition()


class _FileParser:
    """One parse of one file, with error recovery."""

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.lines = source_lines(text)
        self.diagnostics: list[Diagnostic] = []
        self.decls: list[ast.Decl] = []

    def run(self) -> ast.RulesFile:
        start = 1
        resume_points: list[int] | None = None
        while True:
            try:
                tree = lark_parser().parse(self._from_line(start), start=FILE_START)
            except UnexpectedInput as exc:
                self.diagnostics.append(self._syntax_error(exc))
                line = max(exc.line, start) if exc.line > 0 else len(self.lines)
                if resume_points is None:
                    resume_points = _resume_points(self.text)
                self._salvage(start, line, resume_points)
                later = [p for p in resume_points if p > line]
                if not later or len(self.diagnostics) >= MAX_ERRORS:
                    break
                start = later[0]
                continue
            self._build(tree)
            break
        if self.diagnostics:
            self.diagnostics.sort(key=lambda d: (d.span.line, d.span.column))
            raise RulesSyntaxError(self.diagnostics)
        return ast.RulesFile(self.path, self.text, tuple(self.decls))

    def condition(self) -> ast.Expr:
        """The text as one condition; no recovery (a condition is one statement)."""
        try:
            tree = lark_parser().parse(self.text, start=CONDITION_START)
        except UnexpectedInput as exc:
            found = self._syntax_error(exc)
            # The messages speak of a file; here the whole text is one condition.
            message = found.message.replace("the file ends", "the condition ends")
            message = message.replace("the end of the file", "the end of the condition")
            raise RulesSyntaxError([attrs.evolve(found, message=message)]) from None
        deep = tree_depth_exceeds(tree, MAX_NESTING)
        if deep is not None:
            self._error(deep, f"conditions nested more than {MAX_NESTING} levels deep")
            raise RulesSyntaxError(self.diagnostics)
        builder = TreeBuilder(self.path, self.text)
        expr = builder.build_condition(tree)
        for span, message, suggestion in builder.problems:
            self._error(span, message, suggestion)
        if self.diagnostics:
            raise RulesSyntaxError(self.diagnostics)
        return expr

    def _from_line(self, line: int) -> str:
        """The text from ``line`` on, padded so that line numbers stay right."""
        if line <= 1:
            return self.text
        return "\n" * (line - 1) + "\n".join(self.lines[line - 1 :])

    def _salvage(self, start: int, error_line: int, resume_points: list[int]) -> None:
        """Parse the declarations before the failing one, to report their problems too."""
        before = [p for p in resume_points if start < p <= error_line]
        if not before:
            return
        end = before[-1]
        chunk = "\n" * (start - 1) + "\n".join(self.lines[start - 1 : end - 1])
        try:
            tree = lark_parser().parse(chunk, start=FILE_START)
        except UnexpectedInput:
            return
        self._build(tree)

    def _build(self, tree: Tree[Token]) -> None:
        deep = tree_depth_exceeds(tree, MAX_NESTING)
        if deep is not None:
            self._error(deep, f"conditions nested more than {MAX_NESTING} levels deep")
            return
        builder = TreeBuilder(self.path, self.text)
        built = builder.build(tree)
        self.decls.extend(built.decls)
        for span, message, suggestion in builder.problems:
            self._error(span, message, suggestion)

    def _error(self, span: Span, message: str, suggestion: str | None = None) -> None:
        self.diagnostics.append(self._diagnostic(span, message, suggestion))

    def _diagnostic(self, span: Span, message: str, suggestion: str | None) -> Diagnostic:
        source_line = self.lines[span.line - 1] if 0 < span.line <= len(self.lines) else None
        return Diagnostic(self.path, span, message, "error", suggestion, source_line)

    # ------------------------------------------------------------ messages

    def _syntax_error(self, exc: UnexpectedInput) -> Diagnostic:
        if isinstance(exc, UnexpectedCharacters):
            return self._bad_character(exc)
        if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
            token = exc.token
            span = Span(
                token.line or exc.line,
                token.column or exc.column,
                token.end_line or exc.line,
                token.end_column or exc.column + 1,
            )
            message, suggestion = _unexpected_token(token, set(exc.expected))
            line_text = self.lines[span.line - 1] if 0 < span.line <= len(self.lines) else ""
            if str(token) == "=" and line_text[span.column - 2 : span.column - 1] == "=":
                message = "write one `=` here (`==` compares; `=` names or sets)"
            message += _block_word_hint(line_text[: span.column - 1])
            return self._diagnostic(span, message, suggestion)
        expected = set(exc.expected) if isinstance(exc, UnexpectedToken | UnexpectedEOF) else set()
        last = len(self.lines)
        if last > 1 and not self.lines[-1]:
            last -= 1  # the text ends with a newline: point after the last written line
        span = Span.point(last, len(self.lines[last - 1]) + 1)
        message = f"the file ends too early; expected {_expected_words(expected)}"
        return self._diagnostic(span, message + _block_word_hint(self.lines[last - 1]), None)

    def _bad_character(self, exc: UnexpectedCharacters) -> Diagnostic:
        span = Span.point(exc.line, exc.column)
        char = exc.char
        if char == '"':
            line_text = self.lines[exc.line - 1] if exc.line <= len(self.lines) else ""
            end = len(line_text) + 1
            span = Span(exc.line, exc.column, exc.line, max(end, exc.column + 1))
            message = 'unterminated text: the closing `"` is missing on this line'
        elif char in "'\u2018\u2019\u201c\u201d":
            message = f'texts are written between straight double quotes ("..."), not {char}'
        elif char == "=":
            message = "unexpected `=`; to compare, write `==`"
        else:
            shown = char if char.isprintable() and not char.isspace() else repr(char)
            message = f"unexpected character {shown!r}"
        return self._diagnostic(span, message, None)


def _block_word_hint(before: str) -> str:
    """A hint when a `do` argument was read as the start of a new declaration.

    Newlines do not end a rule, so in ``do crm.sync score`` the parser takes ``score``
    as the start of a ``score { ... }`` block and fails after it, far from the cause.
    """
    found = _DO_ENDING_IN_BLOCK_WORD.search(before)
    if found is None:
        return ""
    word = found.group(1)
    return (
        f" (a bare `{word}` here starts a new `{word}` declaration; to pass its value to "
        f"`do`, write `({word})`)"
    )


def _unexpected_token(token: Token, expected: set[str]) -> tuple[str, str | None]:
    """The message and did-you-mean for an unexpected token."""
    value = str(token)
    shown = f"`{value}`" if len(value) <= 40 else f"`{value[:37]}...`"
    keywords = sorted(k for k in (keyword_of(t) for t in expected) if k is not None)
    if value == "=" and "COMPARE" in expected:
        return ("unexpected `=`; to compare, write `==`", None)
    if value == "==" and "EQUAL" in expected:
        return ("write `=` here (`==` compares; `=` names or sets)", None)
    if "THEN" in expected and value in _ACTION_WORDS:
        return (f"missing `then` before the actions (found {shown})", None)
    if value == "}" and "RBRACE" not in expected:
        return ("unexpected `}`: no block is open here", None)
    if token.type in ("NAME", "UNIT") or keyword_of(token.type) is not None:
        suggestion = did_you_mean(value, keywords)
        if suggestion is not None:
            return (f"unexpected {shown}", suggestion)
    return (f"unexpected {shown}; expected {_expected_words(expected)}", None)


_DECLARATION_START: Final = frozenset(
    {
        "FIELDS",
        "SCORE",
        "VALUATION",
        "SEGMENT",
        "RULE",
        "WHEN",
        "TEST",
        "CAMPAIGN",
        "POLICY",
        "FLOW",
    }
)
_VALUE_START: Final = frozenset({"NUMBER", "STRING", "TIME", "LPAR", "LSQB", "MINUS", "COUNT"})


def _expected_words(expected: Iterable[str]) -> str:
    """Describe a set of expected terminals in words, grouping the big families."""
    names = set(expected)
    words: list[str] = []
    if names >= _DECLARATION_START:
        names -= _DECLARATION_START | {"ON"}
        words.append(
            "a declaration (`fields`, `score`, `valuation`, `segment`, `rule`, `when`, `on`, "
            "`test`, `flow`, `campaign`, `policy`)"
        )
    if {"NAME", "NUMBER", "STRING"} <= names and "TAGGED" in names:
        names -= _VALUE_START | {"NAME", "TAGGED", "IN", "HAD", "NOT", "TRUE", "FALSE", "NOW"}
        words.append("a condition")
    elif _VALUE_START - {"COUNT"} <= names:
        names -= _VALUE_START | {"NAME", "TRUE", "FALSE", "NOW"}
        words.append("a value")
    described = sorted({describe_terminal(n) for n in names if n != "$END"})
    words.extend(described[:10])
    if len(described) > 10:
        words.append("...")
    if "$END" in names:
        words.append("the end of the file")
    if not words:
        return "something else"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _resume_points(text: str) -> list[int]:
    """Lines where parsing can start again after an error.

    A line that starts (at column 1) with a declaration keyword; for ``on``, which also
    starts lines inside ``score`` blocks, only outside braces.
    """
    points: list[int] = []
    depth = 0
    line = 1
    line_starts = {1: 0}
    for match in _BRACES.finditer(text):
        token = match.group()
        if token == "\n":
            line += 1
            line_starts[line] = match.end()
        elif token == "{":
            depth += 1
        elif token == "}":
            depth = max(0, depth - 1)
        elif token.startswith("#") or token.startswith('"'):
            continue
        start = line_starts.get(line)
        if start is None or token != "\n":
            continue
        head = _RESUME_LINE.match(text, start)
        if head is None:
            continue
        if head.group(1) != "on":
            depth = 0
            points.append(line)
        elif depth == 0:
            points.append(line)
    return points
