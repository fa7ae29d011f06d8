"""The Lark parser for the rules language, built once, and words to describe its tokens.

The grammar itself is the top-level ``grammar/engage.lark`` (shipped in the wheel; see
:mod:`engage.grammar` for how it is found). It is LALR(1) with Lark's contextual lexer,
so a keyword is only a keyword where the parser can accept it; building the tables takes
a few tens of milliseconds, so the parser is built on first use and shared.
"""

from __future__ import annotations

import functools
import re
from typing import Final

import lark
from lark.lexer import PatternStr

from engage import grammar

#: How regex terminals are named in messages.
_TERMINAL_WORDS: Final[dict[str, str]] = {
    "NAME": "a name",
    "STRING": 'a text in double quotes ("...")',
    "NUMBER": "a number",
    "TIME": "a time (2026-01-01 or 2026-01-01T09:00:00Z)",
    "COMPARE": "a comparison (== != > >= < <=)",
    "$END": "the end of the file",
}

_KEYWORD_SHAPE: Final = re.compile(r"[a-z][a-z-]*\Z")


def grammar_text() -> str:
    """The text of the grammar file."""
    return grammar.grammar_text()


#: The grammar's start symbol for a whole rules file.
FILE_START: Final = "start"
#: The grammar's start symbol for one condition alone (a query).
CONDITION_START: Final = "lone_condition"


@functools.cache
def lark_parser() -> lark.Lark:
    """The shared LALR parser (positions kept for every node).

    It has two start symbols: ``parse(text)`` reads a file, ``parse(text,
    start=CONDITION_START)`` one condition.
    """
    return lark.Lark(
        grammar_text(),
        start=[FILE_START, CONDITION_START],
        parser="lalr",
        lexer="contextual",
        keep_all_tokens=True,  # the builder reads positions from them, then drops them
        maybe_placeholders=True,
        # Building the LALR tables takes about half a second; lark keeps them in the
        # temporary folder, keyed by a hash of the grammar and options and of lark's
        # version, so a second `engage check` starts at once. If the folder is not
        # writable, lark builds the tables each time and says nothing.
        cache=True,
    )


@functools.cache
def terminal_patterns() -> dict[str, str]:
    """Literal text of every terminal that is a fixed word or symbol (``WHEN`` -> ``when``)."""
    patterns: dict[str, str] = {}
    for terminal in lark_parser().terminals:
        if isinstance(terminal.pattern, PatternStr):
            patterns[terminal.name] = terminal.pattern.value
    return patterns


def keyword_of(terminal: str) -> str | None:
    """The keyword a terminal stands for (``when``), or None for symbols and patterns."""
    text = terminal_patterns().get(terminal)
    if text is not None and _KEYWORD_SHAPE.match(text):
        return text
    return None


def describe_terminal(terminal: str) -> str:
    """Words for what a terminal is, for "expected ..." messages."""
    if terminal in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[terminal]
    text = terminal_patterns().get(terminal)
    if text is not None:
        return f"`{text}`"
    return terminal.lower()


# -- the vocabulary, for highlighters ------------------------------------------------------

_RESERVED_GROUP: Final = re.compile(r"\(\?!\(\?:([a-z|]+)\)")


@functools.cache
def keywords() -> tuple[str, ...]:
    """Every keyword of the language (``and``, ``half-life``, ``webhook``...), sorted.

    Read from the grammar's literal terminals, so that editors and highlighters never
    keep a list of their own.
    """
    return tuple(sorted({k for k in map(keyword_of, terminal_patterns()) if k is not None}))


@functools.cache
def reserved_words() -> tuple[str, ...]:
    """The keywords that can never be names (those the ``NAME`` terminal refuses)."""
    for terminal in lark_parser().terminals:
        if terminal.name == "NAME":
            found = _RESERVED_GROUP.match(terminal.pattern.value)
            if found is None:
                raise ValueError("the NAME terminal no longer lists its reserved words")
            return tuple(sorted(found.group(1).split("|")))
    raise ValueError("the grammar has no NAME terminal")


@functools.cache
def words_of_rule(rule: str) -> tuple[str, ...]:
    """The keywords a one-word grammar rule accepts: ``unit`` -> ``day``, ``days``..."""
    patterns = terminal_patterns()
    words = {
        patterns[symbol.name]
        for found in lark_parser().rules
        if found.origin.name == rule
        for symbol in found.expansion
        if symbol.name in patterns
    }
    if not words:
        raise ValueError(f"the grammar has no one-word rule {rule!r}")
    return tuple(sorted(words))
