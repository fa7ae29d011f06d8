"""Rewrite a rules file in the canonical layout (``engage fmt``), comments kept.

The layout, one choice for each thing a rule author could write several ways:

- declarations are separated by one blank line; two one-line declarations (segments,
  short anonymous rules) may stay together when they were together;
- inside blocks, 4 spaces; the lines of a ``score`` block are aligned in columns (event
  type, points, then the rest), and so are the classes of a ``valuation`` block; one
  blank line between items is kept where there was one;
- a ``test`` block has one step per line, indented; a step is never broken;
- a named rule is written ``rule NAME [priority N]`` / ``    TRIGGER`` /
  ``    then ACTIONS [MODES]``; an anonymous rule stays on one line when it fits in
  :data:`LINE_LIMIT` columns, else it takes the same two-line shape;
- actions go on one line, comma-separated, when they fit; else one per line, aligned
  under the first;
- a condition that does not fit is broken before its top-level ``or`` (or ``and``);
- texts, numbers and names are written as they were (``10`` stays ``10``, not ``+10``).

Comments, which the grammar ignores, are found by a scan of the text and put back: a
comment on a line of its own goes before the line holding the code that followed it; a
comment after code stays after that code, at its column when the code still fits
before it. Only whitespace, line breaks and the optional commas between fields change,
so the file means the same: the parse of the output equals the parse of the input, spans
aside (anonymous rules are named ``FILE:LINE``, so moving them renames them).

Formatting costs one parse plus a walk of the tree: linear in the size of the file.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterator
from typing import Final, Literal, TypeAlias

import attrs
from lark import Token, Tree

from engage.dsl.grammar import FILE_START, lark_parser
from engage.dsl.parser import parse

#: The width the layout aims to stay within (columns).
LINE_LIMIT: Final = 100
#: One level of indentation.
INDENT: Final = 4

_COMMENT_OR_STRING: Final = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*')
#: Tokens written without a space after them, and without one before them.
_NO_SPACE_AFTER: Final = frozenset({"LPAR", "LSQB", "DOT"})
_NO_SPACE_BEFORE: Final = frozenset({"RPAR", "RSQB", "COMMA", "DOT", "COLON", "PERCENT"})
#: Nodes whose tokens are written together: ``+3``, ``-1``, ``-x``.
_TIGHT: Final = frozenset({"points", "signed_number", "neg"})

#: How blank lines before a line are decided.
#: ``decl``: the first line of a declaration; ``keep``: one blank line if the text had
#: one; ``first``: the first item of a block (none before it, comments aside);
#: ``none``: never (the continuation lines of a rule); ``close``: a block's ``}``.
Policy: TypeAlias = Literal["decl", "keep", "first", "none", "close"]

_Node: TypeAlias = Tree[Token] | Token


def format_rules(text: str, path: str = "<rules>") -> str:
    """The text of a rules file in the canonical layout.

    Raises:
        RulesSyntaxError: the text does not parse (a file with errors is not rewritten).
        LimitExceededError: the text is over the parser's size limit.
    """
    parse(text, path)  # every syntax problem, with the parser's own messages
    tree = lark_parser().parse(text, start=FILE_START)
    layout = _Layout()
    for decl in tree.children:
        assert isinstance(decl, Tree)
        layout.declaration(decl)
    return _Printer(text, layout.lines, _tokens(tree)).render()


# -- one line of code ----------------------------------------------------------------------


@attrs.define
class _Line:
    """One output line of code and where its first token was in the text."""

    indent: int
    text: str
    start: int  # offset of its first token in the source
    policy: Policy
    decl: int  # which declaration it belongs to
    trailing: list[_Comment] = attrs.Factory(list)
    leading: list[_Comment] = attrs.Factory(list)


@attrs.frozen
class _Comment:
    text: str
    start: int  # offset of the `#`
    line: int  # 1-based source line
    column: int  # 0-based source column
    after_code: bool  # code before it on its line


@attrs.frozen
class _Piece:
    """Rendered text with the types of its first and last tokens (for spacing)."""

    text: str
    first: str
    last: str


def _inline(node: _Node) -> _Piece:
    """A subtree written on one line with canonical spacing."""
    if isinstance(node, Token):
        return _Piece(str(node), node.type, node.type)
    pieces = [_inline(child) for child in node.children if child is not None]
    if node.data == "list_lit" and len(pieces) >= 2 and pieces[-2].last == "COMMA":
        del pieces[-2]  # `[a, b,]` -> `[a, b]`
    if not pieces:
        return _Piece("", "", "")
    text = pieces[0].text
    for before, after in itertools.pairwise(pieces):
        tight = (
            node.data in _TIGHT or before.last in _NO_SPACE_AFTER or after.first in _NO_SPACE_BEFORE
        )
        text += after.text if tight else " " + after.text
    return _Piece(text, pieces[0].first, pieces[-1].last)


def _text(node: _Node) -> str:
    return _inline(node).text


def _start(node: _Node) -> int:
    """Offset of the first token of a subtree."""
    return next(_leaves(node)).start_pos or 0


def _leaves(node: _Node) -> Iterator[Token]:
    if isinstance(node, Token):
        yield node
        return
    for child in node.children:
        if child is not None:
            yield from _leaves(child)


def _tokens(tree: Tree[Token]) -> list[Token]:
    return list(_leaves(tree))


def _present(tree: Tree[Token]) -> list[_Node]:
    return [child for child in tree.children if child is not None]


# -- the layout of each declaration --------------------------------------------------------


class _Layout:
    """Turns the declarations of a parse tree into lines of code."""

    def __init__(self) -> None:
        self.lines: list[_Line] = []
        self.decl = -1

    def add(self, indent: int, text: str, start: int, policy: Policy) -> None:
        self.lines.append(_Line(indent, text, start, policy, self.decl))

    def declaration(self, tree: Tree[Token]) -> None:
        self.decl += 1
        kind = tree.data
        if kind == "fields_block":
            self.fields(tree)
        elif kind == "score_block":
            self.score(tree)
        elif kind == "valuation_block":
            self.valuation(tree)
        elif kind == "statuses_block":
            self.statuses(tree)
        elif kind == "segment_decl":
            name, cond = tree.children[1], tree.children[3]
            assert name is not None and cond is not None
            self.condition_lines(0, f"segment {_text(name)} =", cond, _start(tree), "decl")
        elif kind in ("rule_decl", "anonymous_rule"):
            self.rule(tree)
        elif kind == "test_decl":
            self.test(tree)
        elif kind == "flow_decl":
            self.flow(tree)
        elif kind == "campaign_decl":
            self.block(f"campaign {_text(_child(tree, 1))}", tree, self.items(tree))
        elif kind == "policy_block":
            self.block("policy", tree, self.items(tree))
        elif kind == "entity_fields":
            self.fields(tree, f"{_text(_child(tree, 0))} fields")
        elif kind == "lead_score":
            self.score(tree, f"lead score {tree.children[2]}")
        elif kind == "account_score":
            name, rollup = tree.children[2], tree.children[4]
            assert name is not None and rollup is not None
            head = f"account score {_text(name)} = "
            if isinstance(rollup, Tree) and rollup.data == "rollup_count" and rollup.children[-1]:
                where = rollup.children[-1]
                assert isinstance(where, Tree)
                head += " ".join(_text(c) for c in _present(rollup)[:-1]) + " where"
                self.condition_lines(0, head, _present(where)[1], _start(tree), "decl")
            else:
                self.add(0, head + _text(rollup), _start(tree), "decl")
        else:
            raise ValueError(f"the formatter does not know the declaration {kind!r}")

    def block(self, head: str, tree: Tree[Token], items: list[tuple[str, int]]) -> None:
        """``head {``, the items (text, start) indented, then ``}``."""
        self.add(0, head + " {", _start(tree), "decl")
        for number, (text, start) in enumerate(items):
            self.add(INDENT, text, start, "first" if number == 0 else "keep")
        close = tree.children[-1]
        assert isinstance(close, Token)
        self.add(0, "}", close.start_pos or 0, "close")

    @staticmethod
    def items(tree: Tree[Token]) -> list[tuple[str, int]]:
        """The lines of a ``campaign`` or ``policy`` block: one item a line, as written."""
        return [
            (_text(child), _start(child)) for child in _present(tree) if isinstance(child, Tree)
        ]

    def fields(self, tree: Tree[Token], head: str = "fields") -> None:
        items = [
            (_text(child), _start(child))
            for child in _present(tree)
            if isinstance(child, Tree) and child.data == "field_decl"
        ]
        self.block(head, tree, items)

    def score(self, tree: Tree[Token], head: str | None = None) -> None:
        if head is None:
            name = tree.children[1]
            head = "score" if name is None else f"score {name}"
        body = [c for c in _present(tree) if isinstance(c, Tree)]
        lines = [c for c in body if c.data == "score_line"]
        type_width = max((len(_text(_child(c, 1))) for c in lines), default=0)
        points_width = max((len(_text(_child(c, 2))) for c in lines), default=0)
        items: list[tuple[str, int]] = []
        for item in body:
            if item.data != "score_line":
                items.append((_text(item), _start(item)))
                continue
            event_type = _text(_child(item, 1)).ljust(type_width)
            points = _text(_child(item, 2))
            rest = " ".join(_text(c) for c in item.children[3:] if c is not None)
            if rest:
                points = points.ljust(points_width) + "  " + rest
            items.append((f"on {event_type}  {points}".rstrip(), _start(item)))
        self.block(head, tree, items)

    def valuation(self, tree: Tree[Token]) -> None:
        classes = [c for c in _present(tree) if isinstance(c, Tree)]
        width = max((len(_text(_child(c, 0))) for c in classes), default=0)
        items = [
            (
                _text(_child(c, 0)).ljust(width)
                + "  "
                + " ".join(_text(x) for x in _present(c)[1:]),
                _start(c),
            )
            for c in classes
        ]
        self.block("valuation", tree, items)

    def statuses(self, tree: Tree[Token]) -> None:
        """``statuses {``, one status a line (``counts as contact`` after a column), ``}``."""
        entries = [c for c in _present(tree) if isinstance(c, Tree)]
        width = max((len(_text(_child(c, 0))) for c in entries), default=0)
        items = []
        for entry in entries:
            name = _text(_child(entry, 0))
            rest = " ".join(_text(x) for x in _present(entry)[1:])
            items.append(((name.ljust(width) + "  " + rest).rstrip(), _start(entry)))
        self.block("statuses", tree, items)

    def test(self, tree: Tree[Token]) -> None:
        """``test "NAME" {``, one step per line, ``}``."""
        name = _child(tree, 1)
        steps = [c for c in _present(tree) if isinstance(c, Tree)]
        self.block(f"test {_text(name)}", tree, [(_text(s), _start(s)) for s in steps])

    def flow(self, tree: Tree[Token]) -> None:
        """``flow NAME {``, one header line or step per line, blocks of ``if`` and
        ``split`` indented one level more, ``}``."""
        self.add(0, f"flow {_text(_child(tree, 1))} {{", _start(tree), "decl")
        self.flow_items([c for c in _present(tree) if isinstance(c, Tree)], INDENT)
        close = tree.children[-1]
        assert isinstance(close, Token)
        self.add(0, "}", close.start_pos or 0, "close")

    def flow_items(self, items: list[Tree[Token]], indent: int) -> None:
        for number, item in enumerate(items):
            policy: Policy = "first" if number == 0 else "keep"
            if item.data in ("if_step", "split_step"):
                self.flow_blocks(item, indent, policy)
            elif item.data == "flow_exit":
                parts = _present(item)
                self.condition_lines(indent, "exit when", parts[2], _start(item), policy)
            else:
                self.add(indent, _text(item), _start(item), policy)

    def flow_blocks(self, tree: Tree[Token], indent: int, policy: Policy) -> None:
        """``if C {`` / ``} else if C {`` / ``} else {`` / ``}``, or the same for
        ``split N% {`` / ``} else {`` / ``}``: each head with the text before its block."""
        head: list[str] = []
        start = _start(tree)
        for node in _flat_blocks(tree):
            if isinstance(node, Tree) and node.data == "flow_steps":
                self.add(indent, " ".join(head) + " {", start, policy)
                self.flow_items([c for c in _present(node) if isinstance(c, Tree)], indent + INDENT)
                head, policy = [], "close"
            elif isinstance(node, Token) and node.type == "RBRACE":
                head, start = ["}"], node.start_pos or 0
            elif isinstance(node, Token) and node.type in _NO_SPACE_BEFORE and head:
                head[-1] += str(node)  # `split 50%`
            elif not (isinstance(node, Token) and node.type == "LBRACE"):
                head.append(_text(node))
        self.add(indent, "}", start, "close")

    def rule(self, tree: Tree[Token]) -> None:
        children = tree.children
        if tree.data == "rule_decl":
            head = " ".join(_text(c) for c in children[:3] if c is not None)
            self.add(0, head, _start(tree), "decl")
            trigger, then, actions, modes = children[3:7]
            indent = INDENT
            policy: Policy = "none"
        else:
            trigger, then, actions, modes = children[:4]
            indent = 0
            policy = "decl"
        assert isinstance(trigger, Tree) and isinstance(then, Token)
        assert isinstance(actions, Tree) and isinstance(modes, Tree)
        action_texts = [_text(a) for a in _present(actions) if isinstance(a, Tree)]
        modes_text = _text(modes)
        tail = "then " + ", ".join(action_texts) + (" " + modes_text if modes_text else "")
        if tree.data == "anonymous_rule":
            one_line = f"{_text(trigger)} {tail}"
            if len(one_line) <= LINE_LIMIT:
                self.add(0, one_line, _start(tree), "decl")
                return
        self.trigger(indent, trigger, policy)
        self.then(INDENT, then, actions, modes)

    def trigger(self, indent: int, trigger: Tree[Token], policy: Policy) -> None:
        """A trigger; its condition (``when C``, ``... where C``) is broken if too long."""
        parts = _present(trigger)
        cond_holder = parts[-1]
        if trigger.data == "when_trigger":
            head, cond = _text(parts[0]), parts[1]
        elif isinstance(cond_holder, Tree) and cond_holder.data == "where":
            where = _present(cond_holder)
            head = " ".join(_text(p) for p in parts[:-1]) + " where"
            cond = where[1]
        else:
            self.add(indent, _text(trigger), _start(trigger), policy)
            return
        self.condition_lines(indent, head, cond, _start(trigger), policy)

    def condition_lines(
        self, indent: int, head: str, cond: _Node, start: int, policy: Policy
    ) -> None:
        """``head COND`` on one line, or broken before the top-level ``or``/``and``."""
        self.broken_condition(indent, indent + INDENT, f"{head} ", cond, start, policy)

    def broken_condition(
        self, indent: int, more: int, head: str, cond: _Node, start: int, policy: Policy
    ) -> None:
        """``head COND`` at ``indent``; if too long, its ``or``/``and`` lines at ``more``.

        An operand still too long is broken in turn, its own lines one level deeper.
        """
        text = head + _text(cond)
        if indent + len(text) <= LINE_LIMIT or not (
            isinstance(cond, Tree) and cond.data in ("or_cond", "and_cond")
        ):
            self.add(indent, text, start, policy)
            return
        parts = _present(cond)
        self.broken_condition(indent, more + INDENT, head, parts[0], start, policy)
        for operator, operand in zip(parts[1::2], parts[2::2], strict=True):
            assert isinstance(operator, Token)
            self.broken_condition(
                more, more + INDENT, f"{operator} ", operand, operator.start_pos or 0, "none"
            )

    def then(self, indent: int, then: Token, actions: Tree[Token], modes: Tree[Token]) -> None:
        """``then A, B [MODES]`` on one line, or one action per line under the first."""
        found = [a for a in _present(actions) if isinstance(a, Tree)]
        texts = [_text(a) for a in found]
        modes_text = _text(modes)
        line = "then " + ", ".join(texts) + (" " + modes_text if modes_text else "")
        if indent + len(line) <= LINE_LIMIT:
            self.add(indent, line, then.start_pos or 0, "none")
            return
        under = indent + len("then ")
        for number, (action, written) in enumerate(zip(found, texts, strict=True)):
            text = written if number == len(found) - 1 else written + ","
            if number == 0:
                self.add(indent, "then " + text, then.start_pos or 0, "none")
            else:
                self.add(under, text, _start(action), "none")
        if not modes_text:
            return
        if self.lines[-1].indent + len(self.lines[-1].text) + 1 + len(modes_text) <= LINE_LIMIT:
            self.lines[-1].text += " " + modes_text
        else:
            self.add(indent, modes_text, _start(modes), "none")


def _flat_blocks(tree: Tree[Token]) -> Iterator[_Node]:
    """The children of an ``if`` or ``split`` step with its ``else if`` and ``else``
    parts opened up: words, conditions, braces and blocks of steps, in order."""
    for child in _present(tree):
        if isinstance(child, Tree) and child.data in ("else_if", "else_block"):
            yield from _present(child)
        else:
            yield child


def _child(tree: Tree[Token], index: int) -> _Node:
    child = tree.children[index]
    assert child is not None
    return child


# -- putting comments and blank lines back -------------------------------------------------


class _Printer:
    """Places comments and blank lines around the lines of code, and writes the text."""

    def __init__(self, source: str, lines: list[_Line], tokens: list[Token]) -> None:
        self.source = source
        self.lines = lines
        self.token_starts = [t.start_pos or 0 for t in tokens]
        self.token_lines = [t.line or 0 for t in tokens]
        self.line_starts = [line.start for line in lines]
        self.blank = {
            number
            for number, text in enumerate(source.split("\n"), start=1)
            if not text.strip(" \t\f\r\ufeff")
        }
        self.decl_sizes: dict[int, int] = {}
        for line in lines:
            self.decl_sizes[line.decl] = self.decl_sizes.get(line.decl, 0) + 1
        self.end_comments: list[_Comment] = []
        self.out: list[str] = []
        self.last_source_line = 0

    def render(self) -> str:
        for comment in _comments(self.source):
            self.place(comment)
        for index, line in enumerate(self.lines):
            self.write_line(index, line)
        for comment in self.end_comments:
            self.write_blank(self.has_blank_before(comment.line))
            self.out.append(comment.text)
            self.last_source_line = comment.line
        return "\n".join(self.out) + "\n" if self.out else ""

    def place(self, comment: _Comment) -> None:
        if comment.after_code:
            index = bisect.bisect_right(self.line_starts, comment.start) - 1
            if index >= 0:
                line = self.lines[index]
                if line.trailing:
                    # Two comments end up after one line (its code was on several lines):
                    # the earlier one goes on a line of its own, before it.
                    line.leading.extend(line.trailing)
                    line.trailing.clear()
                line.trailing.append(comment)
                return
        following = bisect.bisect_right(self.token_starts, comment.start)
        if following == len(self.token_starts):
            self.end_comments.append(comment)
            return
        index = bisect.bisect_right(self.line_starts, self.token_starts[following]) - 1
        self.lines[max(index, 0)].leading.append(comment)

    def write_line(self, index: int, line: _Line) -> None:
        first_line, last_line = self.source_lines(index)
        entries: list[_Comment | None] = [*sorted(line.leading, key=lambda c: c.start), None]
        for number, entry in enumerate(entries):
            policy = line.policy if number == 0 else self.inner_policy(line.policy)
            if entry is None and number > 0 and line.policy == "close":
                policy = "none"
            here = first_line if entry is None else entry.line
            self.write_blank(self.wants_blank(policy, line, here))
            if entry is None:
                self.out.append(self.with_trailing(line))
                self.last_source_line = last_line
            else:
                indent = line.indent + (INDENT if line.policy == "close" else 0)
                self.out.append(" " * indent + entry.text)
                self.last_source_line = entry.line

    @staticmethod
    def inner_policy(policy: Policy) -> Policy:
        """The policy of what follows a line's first leading comment."""
        return "none" if policy == "none" else "keep"

    def wants_blank(self, policy: Policy, line: _Line, source_line: int) -> bool:
        if not self.out or policy in ("none", "close", "first"):
            return False
        if policy == "decl":
            before = line.decl - 1
            if self.decl_sizes.get(before, 0) > 1 or self.decl_sizes[line.decl] > 1:
                return True
        return self.has_blank_before(source_line)

    def has_blank_before(self, source_line: int) -> bool:
        return any(n in self.blank for n in range(self.last_source_line + 1, source_line))

    def write_blank(self, wanted: bool) -> None:
        if wanted and self.out:
            self.out.append("")

    def with_trailing(self, line: _Line) -> str:
        code = " " * line.indent + line.text
        if not line.trailing:
            return code
        comment = line.trailing[0]
        if comment.column >= len(code) + 2:
            return code.ljust(comment.column) + comment.text
        return code + "  " + comment.text

    def source_lines(self, index: int) -> tuple[int, int]:
        """The first and last source lines of the tokens a line of code holds."""
        first = bisect.bisect_left(self.token_starts, self.lines[index].start)
        if index + 1 < len(self.lines):
            end = bisect.bisect_left(self.token_starts, self.lines[index + 1].start)
        else:
            end = len(self.token_starts)
        return self.token_lines[first], self.token_lines[max(end - 1, first)]


def _comments(text: str) -> Iterator[_Comment]:
    """Every comment of the text, in order (a `#` inside a text is not one)."""
    line = 1
    counted_to = 0
    for match in _COMMENT_OR_STRING.finditer(text):
        found = match.group()
        if not found.startswith("#"):
            continue
        start = match.start()
        line += text.count("\n", counted_to, start)
        counted_to = start
        line_start = text.rfind("\n", 0, start) + 1
        before = text[line_start:start]
        yield _Comment(
            found.rstrip(),
            start,
            line,
            start - line_start,
            bool(before.strip(" \t\f\r\ufeff")),
        )
