"""Turn Lark's parse tree into the typed syntax tree of :mod:`engage.dsl.ast`.

The grammar accepts a little more than the language (any word as a field type, any
dotted name, any combination of firing modes) so that the builder can reject those with
a precise message and a did-you-mean instead of a bare "unexpected token". Problems are
collected, not raised, so one pass reports all of them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, Final, TypeAlias, cast

from lark import Token, Tree

from engage.dsl import ast
from engage.errors import Span, did_you_mean
from engage.time.zones import parse_clock
from engage.timeutil import DURATION_UNITS, MAX_TIME, MIN_TIME, parse_time

#: The longest text literal accepted in a rules file (characters).
MAX_STRING_LENGTH: Final = 10_000
#: The most digits a number literal may have.
MAX_NUMBER_DIGITS: Final = 30

FIELD_TYPES: Final = ("text", "number", "time", "bool", "list")

_ESCAPE: Final = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_SIMPLE_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}

#: A problem found while building: where, what, and an optional did-you-mean.
Problem = tuple[Span, str, str | None]


#: Where a node is in the text: the span from its first to its last token (None when
#: the node covers no text, like an absent list of firing modes).
Meta: TypeAlias = Span | None

_NO_SPAN: Final = Span(0, 0, 0, 0)

#: Tokens that carry a value; the parser keeps every token (for positions) and the
#: builder drops the others (keywords and punctuation) before calling a method.
_VALUE_TOKENS: Final = frozenset(
    {
        "NAME",
        "STRING",
        "NUMBER",
        "TIME",
        "CLOCK",
        "COMPARE",
        "PLUS",
        "MINUS",
        "STAR",
        "SLASH",
        "ONCE",
        "CONTINUE",
    }
)
#: Rules whose value is the keyword itself (``days``, ``contains``, ``email``...).
_KEYWORD_RULES: Final = frozenset(
    {
        "unit",
        "text_op",
        "channel",
        "scope",
        "segment_edge",
        "flow_edge",
        "reenter_only",
        "cap_channel",
        "over_mode",
        "link_scope",
        "link_channel",
        "track_mode",
        "entity",
        "rollup_kind",
    }
)


#: What a Lark tree node holds: subtrees, tokens, and None for absent optional parts.
_Children: TypeAlias = list[Tree[Token] | Token | None]


def span_of(meta: Meta) -> Span:
    return _NO_SPAN if meta is None else meta


def token_span(token: Token) -> Span:
    return Span(token.line or 0, token.column or 0, token.end_line or 0, token.end_column or 0)


class TreeBuilder:
    """Builds :mod:`engage.dsl.ast` nodes from a Lark tree and notes problems.

    Each grammar rule (or alias) has a method of the same name taking the node's
    position and its already built children. The walk is a plain post-order recursion
    over a tree whose depth the parser has already bounded; it costs about half of
    Lark's generic ``Transformer``, which matters for ``engage check`` on big files.
    """

    def __init__(self, path: str, source: str) -> None:
        self.path = path
        self.source = source
        self.problems: list[Problem] = []
        self._methods: dict[str, Callable[[Meta, list[Any]], Any]] = {}

    def build(self, tree: Tree[Token]) -> ast.RulesFile:
        """The syntax tree of a whole file."""
        return cast(ast.RulesFile, self._visit(tree)[0])

    def build_condition(self, tree: Tree[Token]) -> ast.Expr:
        """The syntax tree of one condition parsed from the ``lone_condition`` start."""
        return cast(ast.Expr, self._visit(tree)[0])

    def _visit(self, tree: Tree[Token]) -> tuple[Any, Meta]:
        children: list[Any] = []
        first: Span | Token | None = None
        last: Span | Token | None = None
        keep_all = tree.data in _KEYWORD_RULES
        # Absent optional parts (``[...]``) are None children.
        for child in cast(_Children, tree.children):
            if child is None:
                children.append(None)
                continue
            if isinstance(child, Tree):
                value, where = self._visit(child)
                children.append(value)
                if where is None:
                    continue
                if first is None:
                    first = where
                last = where
            else:
                if keep_all or child.type in _VALUE_TOKENS:
                    children.append(child)
                if first is None:
                    first = child
                last = child
        meta = None
        if first is not None and last is not None:
            # Spans and tokens both carry these four positions; a token's may be None.
            meta = Span(
                first.line or 0, first.column or 0, last.end_line or 0, last.end_column or 0
            )
        method = self._methods.get(tree.data)
        if method is None:
            method = self._methods[tree.data] = getattr(self, str(tree.data))
        return method(meta, children), meta

    def atom(self, meta: Meta, children: list[Any]) -> Any:
        """A parenthesised condition: the parentheses leave no node."""
        return children[0]

    do_arg = atom
    lone_condition = atom

    def report(self, span: Span, message: str, suggestion: str | None = None) -> None:
        self.problems.append((span, message, suggestion))

    # ------------------------------------------------------------ literals

    def number_value(self, token: Token) -> int | float:
        text = str(token)
        if len(text) > MAX_NUMBER_DIGITS:
            self.report(token_span(token), f"number with more than {MAX_NUMBER_DIGITS} digits")
            return 0
        value: int | float = float(text) if "." in text else int(text)
        if isinstance(value, float) and not math.isfinite(value):
            self.report(token_span(token), "number too large")
            return 0
        return value

    def string_value(self, token: Token) -> str:
        raw = str(token)[1:-1]
        if len(raw) > MAX_STRING_LENGTH:
            self.report(token_span(token), f"text longer than {MAX_STRING_LENGTH:,} characters")
            return raw[:MAX_STRING_LENGTH]

        def unescape(match: re.Match[str]) -> str:
            code = match.group(1)
            if code in _SIMPLE_ESCAPES:
                return _SIMPLE_ESCAPES[code]
            if code.startswith("u") and len(code) == 5:
                return chr(int(code[1:], 16))
            column = (token.column or 0) + match.start() + 1
            self.report(
                Span(token.line or 0, column, token.line or 0, column + 2),
                f"unknown escape '\\{code}' in text; use \\\\ for a backslash",
            )
            return code

        return _ESCAPE.sub(unescape, raw) if "\\" in raw else raw

    def number(self, meta: Meta, children: list[Token]) -> ast.Number:
        return ast.Number(self.number_value(children[0]), span_of(meta))

    def string(self, meta: Meta, children: list[Token]) -> ast.String:
        return ast.String(self.string_value(children[0]), span_of(meta))

    def true(self, meta: Meta, children: list[Any]) -> ast.Bool:
        return ast.Bool(True, span_of(meta))

    def false(self, meta: Meta, children: list[Any]) -> ast.Bool:
        return ast.Bool(False, span_of(meta))

    def now(self, meta: Meta, children: list[Any]) -> ast.Now:
        return ast.Now(span_of(meta))

    def time(self, meta: Meta, children: list[Token]) -> ast.TimeLit:
        text = str(children[0])
        try:
            value = parse_time(text)
        except ValueError:
            self.report(span_of(meta), f"not a valid time: {text!r}")
            value = 0.0
        if not MIN_TIME <= value <= MAX_TIME:
            self.report(span_of(meta), f"time out of range: {text!r}")
            value = 0.0
        return ast.TimeLit(value, text, span_of(meta))

    def duration(self, meta: Meta, children: list[Any]) -> ast.DurationLit:
        amount = self.number_value(children[0])
        unit = cast(str, children[1])
        seconds = float(amount) * DURATION_UNITS[unit]
        if seconds > MAX_TIME - MIN_TIME:
            self.report(span_of(meta), "duration too long")
            seconds = 0.0
        return ast.DurationLit(seconds, f"{children[0]} {unit}", span_of(meta))

    def _keyword(self, meta: Meta, children: list[Token]) -> str:
        return str(children[0])

    unit = text_op = channel = scope = segment_edge = flow_edge = _keyword

    def reenter_only(self, meta: Meta, children: list[Token]) -> str:
        return str(children[-1])  # `only converted`: the word after `only`

    cap_channel = over_mode = entity = rollup_kind = _keyword

    def list_lit(self, meta: Meta, children: list[Any]) -> ast.ListLit:
        return ast.ListLit(tuple(c for c in children if c is not None), span_of(meta))

    def signed_number(self, meta: Meta, children: list[Token]) -> int | float:
        value = self.number_value(children[-1])
        return -value if len(children) == 2 else value

    # ------------------------------------------------------------ names

    def dotted(self, meta: Meta, children: list[Token]) -> ast.Expr:
        parts = [str(c) for c in children]
        span = span_of(meta)
        head = parts[0]
        if len(parts) == 1:
            if head == "event":
                self.report(span, "write `event.ATTRIBUTE` (for example `event.url`)")
            elif head == "consent":
                self.report(span, "write `consent.CHANNEL` (for example `consent.email`)")
            return ast.Name(head, span)
        if head == "event":
            return ast.EventAttr(tuple(parts[1:]), span)
        if head in ("account", "lead"):
            if len(parts) != 2:
                self.report(span, f"write `{head}.NAME` (for example `{head}.tier`)")
            return ast.EntityAttr(cast(Any, head), parts[1], span)
        if head == "consent":
            if len(parts) != 2:
                self.report(span, "write `consent.CHANNEL` (for example `consent.email`)")
            return ast.Consent(parts[1], span)
        text = ".".join(parts)
        hint = did_you_mean(head, ("event", "consent", "account", "lead"))
        self.report(
            span,
            f"unknown name {text!r}: only `event.ATTRIBUTE` and `consent.CHANNEL` "
            "(and `account.NAME`, `lead.NAME`) are written with dots",
            hint and f"{hint}.{'.'.join(parts[1:])}",
        )
        return ast.Name(text, span)

    def event_type(self, meta: Meta, children: list[Token]) -> str:
        return ".".join(str(c) for c in children)

    do_name = event_type

    def team(self, meta: Meta, children: list[Token]) -> str:
        token = children[0]
        return self.string_value(token) if token.type == "STRING" else str(token)

    # ------------------------------------------------------------ conditions

    def where(self, meta: Meta, children: list[Any]) -> ast.Expr:
        return cast(ast.Expr, children[0])

    filter = where  # the filter of `had`/`count` (see the grammar)

    def or_cond(self, meta: Meta, children: list[Any]) -> ast.Or:
        items: list[ast.Expr] = []
        for child in children:
            items.extend(child.items if isinstance(child, ast.Or) else (child,))
        return ast.Or(tuple(items), span_of(meta))

    def and_cond(self, meta: Meta, children: list[Any]) -> ast.And:
        items: list[ast.Expr] = []
        for child in children:
            items.extend(child.items if isinstance(child, ast.And) else (child,))
        return ast.And(tuple(items), span_of(meta))

    def not_(self, meta: Meta, children: list[Any]) -> ast.Not:
        return ast.Not(children[0], span_of(meta))

    def compare(self, meta: Meta, children: list[Any]) -> ast.Compare:
        left, op, right = children
        return ast.Compare(cast(ast.CompareOp, str(op)), left, right, span_of(meta))

    def is_equal(self, meta: Meta, children: list[Any]) -> ast.Compare:
        return ast.Compare("==", children[0], children[1], span_of(meta))

    def is_not_equal(self, meta: Meta, children: list[Any]) -> ast.Compare:
        return ast.Compare("!=", children[0], children[1], span_of(meta))

    def is_empty(self, meta: Meta, children: list[Any]) -> ast.IsEmpty:
        return ast.IsEmpty(children[0], False, span_of(meta))

    def is_not_empty(self, meta: Meta, children: list[Any]) -> ast.IsEmpty:
        return ast.IsEmpty(children[0], True, span_of(meta))

    def between(self, meta: Meta, children: list[Any]) -> ast.Between:
        return ast.Between(children[0], children[1], children[2], False, span_of(meta))

    def not_between(self, meta: Meta, children: list[Any]) -> ast.Between:
        return ast.Between(children[0], children[1], children[2], True, span_of(meta))

    def in_list(self, meta: Meta, children: list[Any]) -> ast.InList:
        return ast.InList(children[0], children[1], False, span_of(meta))

    def not_in_list(self, meta: Meta, children: list[Any]) -> ast.InList:
        return ast.InList(children[0], children[1], True, span_of(meta))

    def text_match(self, meta: Meta, children: list[Any]) -> ast.TextMatch:
        operand, op, pattern = children
        return ast.TextMatch(op, operand, pattern, False, span_of(meta))

    def not_text_match(self, meta: Meta, children: list[Any]) -> ast.TextMatch:
        operand, op, pattern = children
        return ast.TextMatch(op, operand, pattern, True, span_of(meta))

    def within(self, meta: Meta, children: list[Any]) -> ast.Within:
        return ast.Within(children[0], children[1], False, span_of(meta))

    def older_than(self, meta: Meta, children: list[Any]) -> ast.Within:
        return ast.Within(children[0], children[1], True, span_of(meta))

    def tagged(self, meta: Meta, children: list[Token]) -> ast.Tagged:
        return ast.Tagged(self.string_value(children[0]), span_of(meta))

    def in_group(self, meta: Meta, children: list[Token]) -> ast.InGroup:
        return ast.InGroup(self.string_value(children[0]), span_of(meta))

    def subscribed(self, meta: Meta, children: list[Token]) -> ast.Subscribed:
        return ast.Subscribed(self.string_value(children[0]), span_of(meta))

    def in_segment(self, meta: Meta, children: list[Token]) -> ast.InSegment:
        return ast.InSegment(str(children[0]), span_of(meta))

    def had(self, meta: Meta, children: list[Any]) -> ast.Had:
        return ast.Had(children[0], children[1], children[2], span_of(meta))

    def count(self, meta: Meta, children: list[Any]) -> ast.Count | ast.CountContacts:
        event_type, where, window = children
        if event_type == "contacts" and where is None:
            # `count contacts within D`: history rows that count as contact, not events
            # of a type named "contacts" (event types are dotted names).
            return ast.CountContacts(window, span_of(meta))
        return ast.Count(event_type, where, window, span_of(meta))

    def had_status(self, meta: Meta, children: list[Any]) -> ast.HadStatus:
        status, campaign, window = children
        return ast.HadStatus(
            self.string_value(status), campaign, window, span_of(meta), token_span(status)
        )

    def status_campaign(self, meta: Meta, children: list[Token]) -> str:
        return self.string_value(children[0])

    def status_for(self, meta: Meta, children: list[Token]) -> ast.StatusFor:
        return ast.StatusFor(self.string_value(children[0]), span_of(meta))

    def status_name(self, meta: Meta, children: list[Any]) -> ast.Name:
        return ast.Name("status", span_of(meta))

    def arith(self, meta: Meta, children: list[Any]) -> ast.Arith:
        left, op, right = children
        return ast.Arith(cast(ast.ArithOp, str(op)), left, right, span_of(meta))

    def neg(self, meta: Meta, children: list[Any]) -> ast.Expr:
        operand = children[-1]
        if isinstance(operand, ast.Number):
            return ast.Number(-operand.value, span_of(meta))
        return ast.Neg(operand, span_of(meta))

    # ------------------------------------------------------------ declarations

    def field_decl(self, meta: Meta, children: list[Token]) -> ast.FieldDecl:
        name, kind = children
        type_name = str(kind)
        if type_name not in FIELD_TYPES:
            self.report(
                token_span(kind),
                f"unknown field type {type_name!r}; the types are " + ", ".join(FIELD_TYPES),
                did_you_mean(type_name, FIELD_TYPES),
            )
            type_name = "text"
        return ast.FieldDecl(str(name), cast(ast.FieldType, type_name), span_of(meta))

    def fields_block(self, meta: Meta, children: list[Any]) -> ast.FieldsBlock:
        return ast.FieldsBlock(tuple(children), span_of(meta))

    def points(self, meta: Meta, children: list[Token]) -> int | float:
        value = self.number_value(children[-1])
        return -value if children[0].type == "MINUS" else value

    def cap_per(self, meta: Meta, children: list[Any]) -> ast.CapPerWindow:
        return ast.CapPerWindow(self.number_value(children[0]), children[1], span_of(meta))

    def cap_total(self, meta: Meta, children: list[Any]) -> ast.CapTotal:
        return ast.CapTotal(self.number_value(children[0]), span_of(meta))

    def score_line(self, meta: Meta, children: list[Any]) -> ast.ScoreLine:
        event_type, points, where, cap, once = children
        return ast.ScoreLine(event_type, points, where, cap, once is not None, span_of(meta))

    def decay(self, meta: Meta, children: list[Any]) -> ast.Decay:
        return ast.Decay(children[-1], span_of(meta))

    def clamp(self, meta: Meta, children: list[Any]) -> ast.Clamp:
        low, high = children
        if low > high:
            self.report(span_of(meta), f"clamp range is empty: {low} is above {high}")
        return ast.Clamp(low, high, span_of(meta))

    def score_block(self, meta: Meta, children: list[Any]) -> ast.ScoreBlock:
        name_token, *items = children
        lines: list[ast.ScoreLine] = []
        decay: ast.Decay | None = None
        clamp: ast.Clamp | None = None
        for item in items:
            if isinstance(item, ast.ScoreLine):
                lines.append(item)
            elif isinstance(item, ast.Decay):
                if decay is not None:
                    self.report(item.span, "a score block has at most one `decay` line")
                decay = item
            else:
                if clamp is not None:
                    self.report(item.span, "a score block has at most one `clamp` line")
                clamp = item
        name = str(name_token) if name_token is not None else "score"
        return ast.ScoreBlock(name, tuple(lines), decay, clamp, span_of(meta))

    def valuation_class(self, meta: Meta, children: list[Any]) -> ast.ValuationClass:
        return ast.ValuationClass(str(children[0]), children[1], span_of(meta))

    def valuation_block(self, meta: Meta, children: list[Any]) -> ast.ValuationBlock:
        return ast.ValuationBlock(tuple(children), span_of(meta))

    def counts_as_contact(self, meta: Meta, children: list[Any]) -> bool:
        return True

    def status_decl(self, meta: Meta, children: list[Any]) -> ast.StatusDecl:
        token, counts = children
        name = self.string_value(token) if token.type == "STRING" else str(token)
        return ast.StatusDecl(name, bool(counts), span_of(meta))

    def statuses_block(self, meta: Meta, children: list[Any]) -> ast.StatusesBlock:
        return ast.StatusesBlock(tuple(children), span_of(meta))

    def entity_fields(self, meta: Meta, children: list[Any]) -> ast.EntityFieldsBlock:
        entity, *fields = children
        return ast.EntityFieldsBlock(cast(Any, entity), tuple(fields), span_of(meta))

    def rollup_of(self, meta: Meta, children: list[Any]) -> tuple[str, str, None, Span]:
        kind, score = children
        return (str(kind), str(score), None, token_span(score))

    def rollup_count(self, meta: Meta, children: list[Any]) -> tuple[str, None, Any, None]:
        return ("count", None, children[0], None)

    def account_score(self, meta: Meta, children: list[Any]) -> ast.AccountScoreDecl:
        name, (kind, score, where, score_span) = children
        return ast.AccountScoreDecl(str(name), kind, score, where, span_of(meta), score_span)

    def lead_score(self, meta: Meta, children: list[Any]) -> ast.LeadScoreDecl:
        block = self.score_block(meta, children)
        return ast.LeadScoreDecl(block, span_of(meta))

    def segment_decl(self, meta: Meta, children: list[Any]) -> ast.SegmentDecl:
        return ast.SegmentDecl(str(children[0]), children[1], span_of(meta))

    # ------------------------------------------------------------ triggers and modes

    def when_trigger(self, meta: Meta, children: list[Any]) -> ast.WhenTrigger:
        return ast.WhenTrigger(children[0], span_of(meta))

    def on_event(self, meta: Meta, children: list[Any]) -> ast.OnEvent:
        return ast.OnEvent(children[0], children[1], span_of(meta))

    def on_score_change(self, meta: Meta, children: list[Any]) -> ast.OnScoreChange:
        return ast.OnScoreChange(str(children[0]), children[1], span_of(meta))

    def on_segment(self, meta: Meta, children: list[Any]) -> ast.OnSegment:
        kind, name, where = children
        return ast.OnSegment(kind, str(name), where, span_of(meta))

    def on_tag_added(self, meta: Meta, children: list[Any]) -> ast.OnTagAdded:
        tag, where = children
        return ast.OnTagAdded(None if tag is None else self.string_value(tag), where, span_of(meta))

    def on_flow(self, meta: Meta, children: list[Any]) -> ast.OnFlow:
        kind, name, where = children
        return ast.OnFlow(kind, str(name), where, span_of(meta))

    def mode_once(self, meta: Meta, children: list[Any]) -> tuple[str, Any, Span]:
        return ("once", None, span_of(meta))

    def mode_each(self, meta: Meta, children: list[Any]) -> tuple[str, Any, Span]:
        return ("each", None, span_of(meta))

    def mode_rearm(self, meta: Meta, children: list[Any]) -> tuple[str, Any, Span]:
        return ("rearm", children[-1], span_of(meta))

    def mode_cooldown(self, meta: Meta, children: list[Any]) -> tuple[str, Any, Span]:
        return ("cooldown", children[-1], span_of(meta))

    def mode(self, meta: Meta, children: list[Any]) -> tuple[str, Any, Span]:
        return cast(tuple[str, Any, Span], children[0])

    def modes(self, meta: Meta, children: list[tuple[str, Any, Span]]) -> ast.Mode:
        kind: ast.ModeKind = "edge"
        rearm: ast.Expr | None = None
        cooldown: ast.DurationLit | None = None
        seen_base: str | None = None
        for word, value, span in children:
            if word == "cooldown":
                if cooldown is not None:
                    self.report(span, "`at most once per` is written once per rule")
                cooldown = value
                continue
            if seen_base is not None:
                self.report(
                    span,
                    f"a rule has one firing mode; `{_MODE_WORDS[word]}` conflicts with "
                    f"`{_MODE_WORDS[seen_base]}` (only `at most once per` combines)",
                )
                continue
            seen_base = word
            kind = cast(ast.ModeKind, word)
            rearm = value if word == "rearm" else None
        mode_span = span_of(meta) if children else None
        return ast.Mode(kind, rearm, cooldown, mode_span)

    # ------------------------------------------------------------ actions

    def actions(self, meta: Meta, children: list[Any]) -> tuple[ast.ActionNode, ...]:
        return tuple(children)

    def tag_action(self, meta: Meta, children: list[Token]) -> ast.TagAction:
        return ast.TagAction("tag", self.string_value(children[0]), span_of(meta))

    def untag_action(self, meta: Meta, children: list[Token]) -> ast.TagAction:
        return ast.TagAction("untag", self.string_value(children[0]), span_of(meta))

    def add_group_action(self, meta: Meta, children: list[Token]) -> ast.GroupAction:
        return ast.GroupAction("add_to_group", self.string_value(children[0]), span_of(meta))

    def remove_group_action(self, meta: Meta, children: list[Token]) -> ast.GroupAction:
        group = self.string_value(children[0])
        return ast.GroupAction("remove_from_group", group, span_of(meta))

    def set_action(self, meta: Meta, children: list[Any]) -> ast.SetAction:
        return ast.SetAction(str(children[0]), children[1], span_of(meta))

    def clear_action(self, meta: Meta, children: list[Token]) -> ast.ClearAction:
        return ast.ClearAction(str(children[0]), span_of(meta))

    def add_score_action(self, meta: Meta, children: list[Any]) -> ast.ScoreAction:
        return ast.ScoreAction("add_score", children[0], str(children[1]), span_of(meta))

    def subtract_score_action(self, meta: Meta, children: list[Any]) -> ast.ScoreAction:
        amount, score = children
        return ast.ScoreAction("subtract_score", amount, str(score), span_of(meta))

    def suspend_action(self, meta: Meta, children: list[Any]) -> ast.StatusAction:
        return ast.StatusAction("suspend", span_of(meta))

    def reactivate_action(self, meta: Meta, children: list[Any]) -> ast.StatusAction:
        return ast.StatusAction("reactivate", span_of(meta))

    def unsubscribe_scope(self, meta: Meta, children: list[Any]) -> tuple[str, str, bool]:
        scope, name, and_category = children
        if and_category is not None and scope != "campaign":
            self.report(
                span_of(meta), '`and category` follows a campaign: `from campaign "C" and category`'
            )
            and_category = None
        return (scope, self.string_value(name), and_category is not None)

    def and_category(self, meta: Meta, children: list[Any]) -> bool:
        return True

    def transactional(self, meta: Meta, children: list[Any]) -> bool:
        return True

    def subscribe_list_action(self, meta: Meta, children: list[Token]) -> ast.ListAction:
        name = self.string_value(children[0])
        return ast.ListAction("subscribe_to_list", name, span_of(meta))

    def unsubscribe_list_action(self, meta: Meta, children: list[Token]) -> ast.ListAction:
        name = self.string_value(children[0])
        return ast.ListAction("unsubscribe_from_list", name, span_of(meta))

    def unsubscribe_channel(self, meta: Meta, children: list[Token]) -> str:
        return str(children[0])

    def unsubscribe_action(self, meta: Meta, children: list[Any]) -> ast.UnsubscribeAction:
        scope, channel = children
        if scope is None:
            return ast.UnsubscribeAction("all", None, channel, span_of(meta))
        return ast.UnsubscribeAction(scope[0], scope[1], channel, span_of(meta), scope[2])

    def track_campaign(self, meta: Meta, children: list[Token]) -> str:
        return self.string_value(children[0])

    track_offer = send_campaign = track_campaign

    def track_channel(self, meta: Meta, children: list[Token]) -> str:
        return str(children[0])

    def track_mode(self, meta: Meta, children: list[Token]) -> str:
        return str(children[-1])

    def track_action(self, meta: Meta, children: list[Any]) -> ast.TrackAction:
        status, campaign, offer, channel, mode = children
        return ast.TrackAction(
            self.string_value(status),
            campaign,
            offer,
            span_of(meta),
            channel,
            mode or "both",
            token_span(status),
        )

    def enter_flow_action(self, meta: Meta, children: list[Token]) -> ast.FlowAction:
        return ast.FlowAction("enter_flow", str(children[0]), span_of(meta))

    def exit_flow_action(self, meta: Meta, children: list[Token]) -> ast.FlowAction:
        return ast.FlowAction("exit_flow", str(children[0]), span_of(meta))

    def notify_action(self, meta: Meta, children: list[Any]) -> ast.NotifyAction:
        team, message = children
        text = None if message is None else self.string_value(message)
        return ast.NotifyAction(team, text, span_of(meta))

    def task_team(self, meta: Meta, children: list[Any]) -> str:
        return cast(str, children[0])

    def task_due(self, meta: Meta, children: list[Any]) -> ast.DurationLit:
        return cast(ast.DurationLit, children[0])

    def task_action(self, meta: Meta, children: list[Any]) -> ast.TaskAction:
        title, team, due = children
        return ast.TaskAction(self.string_value(title), team, due, span_of(meta))

    def send_action(self, meta: Meta, children: list[Any]) -> ast.SendAction:
        channel, template, campaign, transactional = children
        return ast.SendAction(
            channel, self.string_value(template), campaign, span_of(meta), transactional is True
        )

    def webhook_action(self, meta: Meta, children: list[Token]) -> ast.WebhookAction:
        return ast.WebhookAction(self.string_value(children[0]), span_of(meta))

    def export_action(self, meta: Meta, children: list[Token]) -> ast.ExportAction:
        return ast.ExportAction("pdf", self.string_value(children[0]), span_of(meta))

    def do_action(self, meta: Meta, children: list[Any]) -> ast.DoAction:
        name, *args = children
        return ast.DoAction(name, tuple(args), span_of(meta))

    def qualify_action(self, meta: Meta, children: list[Any]) -> ast.QualifyAction:
        return ast.QualifyAction(span_of(meta))

    # ------------------------------------------------------------ rules and file

    def rule_name(self, meta: Meta, children: list[Token]) -> tuple[str, Span]:
        token = children[0]
        text = self.string_value(token) if token.type == "STRING" else str(token)
        if not text.strip():
            self.report(token_span(token), "a rule name cannot be empty")
        return (text, token_span(token))

    def priority(self, meta: Meta, children: list[Any]) -> int:
        value = children[0]
        if not isinstance(value, int) or abs(value) > 1_000_000:
            self.report(span_of(meta), "priority is a whole number between -1000000 and 1000000")
            return 0
        return value

    def rule_decl(self, meta: Meta, children: list[Any]) -> ast.RuleDecl:
        (name, name_span), priority, trigger, actions, mode = children
        return ast.RuleDecl(name, priority or 0, trigger, actions, mode, span_of(meta), name_span)

    def anonymous_rule(self, meta: Meta, children: list[Any]) -> ast.RuleDecl:
        trigger, actions, mode = children
        return ast.RuleDecl(None, 0, trigger, actions, mode, span_of(meta))

    # ------------------------------------------------------------ flows (section 5)

    def _header(self, meta: Meta, key: str, value: Any) -> tuple[str, str, Any, Span]:
        return ("header", key, value, span_of(meta))

    def flow_segments(self, meta: Meta, children: list[Token]) -> tuple[str, str, Any, Span]:
        names = tuple(str(c) for c in children)
        return self._header(meta, "segments", (names, tuple(token_span(c) for c in children)))

    def flow_from(self, meta: Meta, children: list[Any]) -> tuple[str, str, Any, Span]:
        start, end = children[0], children[-1]  # an absent `to TIME` leaves placeholders
        times = (self.time_token(start), None if end is None else self.time_token(end))
        return self._header(meta, "window", times)

    def flow_to(self, meta: Meta, children: list[Any]) -> tuple[str, str, Any, Span]:
        return self._header(meta, "window", (None, self.time_token(children[0])))

    def flow_timezone(self, meta: Meta, children: list[Token]) -> tuple[str, str, Any, Span]:
        token = children[0]
        zone = ast.String(self.string_value(token), token_span(token))
        return self._header(meta, "timezone", zone)

    def flow_category(self, meta: Meta, children: list[Token]) -> tuple[str, str, Any, Span]:
        return self._header(meta, "category", self.string_value(children[0]))

    def flow_reenter(self, meta: Meta, children: list[Any]) -> tuple[str, str, Any, Span]:
        after, only = children
        return self._header(meta, "reenter", ast.ReEnter(after, only, span_of(meta)))

    def flow_exit(self, meta: Meta, children: list[Any]) -> tuple[str, str, Any, Span]:
        return self._header(meta, "exit", children[0])

    def flow_goal(self, meta: Meta, children: list[Any]) -> tuple[str, str, Any, Span]:
        condition, keep_going = children
        goal = ast.FlowGoal(condition, keep_going is not None, span_of(meta))
        return self._header(meta, "goal", goal)

    def wait_step(self, meta: Meta, children: list[Any]) -> ast.WaitStep:
        return ast.WaitStep(children[0], span_of(meta))

    def wait_at_most(self, meta: Meta, children: list[Any]) -> ast.DurationLit:
        return cast(ast.DurationLit, children[0])

    def wait_until_step(self, meta: Meta, children: list[Any]) -> ast.WaitUntilStep:
        condition, at_most = children
        return ast.WaitUntilStep(condition, at_most, span_of(meta))

    def on_weekdays(self, meta: Meta, children: list[Any]) -> bool:
        return True

    def wait_clock_step(self, meta: Meta, children: list[Any]) -> ast.WaitClockStep:
        token, weekdays = children
        text = str(token)
        try:
            minutes = parse_clock(text)
        except ValueError as exc:
            self.report(token_span(token), str(exc))
            minutes = 0
        return ast.WaitClockStep(minutes, text, bool(weekdays), span_of(meta))

    def flow_steps(self, meta: Meta, children: list[Any]) -> tuple[ast.FlowStep, ...]:
        return tuple(self._step(child) for child in children)

    def _step(self, child: Any) -> ast.FlowStep:
        """A built step; an action becomes an :class:`ast.ActionStep`."""
        if isinstance(child, ast.FlowStepTypes):
            return child
        return ast.ActionStep(child, child.span)

    def else_if(self, meta: Meta, children: list[Any]) -> ast.Branch:
        condition, steps = children
        return ast.Branch(condition, steps, span_of(meta))

    def else_block(self, meta: Meta, children: list[Any]) -> tuple[ast.FlowStep, ...]:
        return cast(tuple[ast.FlowStep, ...], children[0])

    def if_step(self, meta: Meta, children: list[Any]) -> ast.IfStep:
        condition, steps, *rest = children
        otherwise = rest.pop() if rest and not isinstance(rest[-1], ast.Branch) else None
        first = ast.Branch(condition, steps, span_of(meta))
        branches = (first, *(b for b in rest if isinstance(b, ast.Branch)))
        return ast.IfStep(branches, otherwise or (), span_of(meta))

    def split_step(self, meta: Meta, children: list[Any]) -> ast.SplitStep:
        number, first, second = children
        percent = self.number_value(number)
        if not 0 <= percent <= 100:
            self.report(token_span(number), "a split is a percentage from 0 to 100")
            percent = 0
        return ast.SplitStep(float(percent), first, second, span_of(meta))

    def flow_decl(self, meta: Meta, children: list[Any]) -> ast.FlowDecl:
        name, *items = children
        headers: dict[str, Any] = {}
        steps: list[ast.FlowStep] = []
        for item in items:
            if isinstance(item, tuple) and item and item[0] == "header":
                _, key, value, span = item
                if steps:
                    self.report(span, "flow header lines come before the first step")
                elif key in headers:
                    self.report(span, f"a flow has one `{_HEADER_WORDS[key]}` line")
                else:
                    headers[key] = value
            else:
                steps.append(self._step(item))
        start, end = headers.get("window", (None, None))
        goal = headers.get("goal")
        segments, segment_spans = headers.get("segments", ((), ()))
        return ast.FlowDecl(
            str(name),
            segments,
            start,
            end,
            headers.get("timezone"),
            headers.get("category"),
            headers.get("reenter"),
            headers.get("exit"),
            goal,
            tuple(steps),
            span_of(meta),
            token_span(name),
            segment_spans,
        )

    # ------------------------------------------------------------ campaigns and policies

    def campaign_segments(self, meta: Meta, children: list[Token]) -> tuple[str, Any]:
        return ("segments", tuple((str(c), token_span(c)) for c in children))

    def campaign_category(self, meta: Meta, children: list[Token]) -> tuple[str, Any]:
        return ("category", self.string_value(children[0]))

    def campaign_priority(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        return ("priority", self.priority(meta, children))

    def campaign_log(self, meta: Meta, children: list[Token]) -> tuple[str, Any]:
        status = self.string_value(children[0])
        if not status.strip():
            self.report(span_of(meta), "a history status cannot be empty")
        return ("log", status)

    def campaign_list(self, meta: Meta, children: list[Token]) -> tuple[str, Any]:
        name = self.string_value(children[0])
        if not name.strip():
            self.report(span_of(meta), "a list name cannot be empty")
        return ("list", name)

    def link_scope(self, meta: Meta, children: list[Token]) -> tuple[bool, bool]:
        words = {str(c) for c in children}
        if "all" in words:
            return (False, False)
        return ("campaign" in words, "category" in words)

    def link_channel(self, meta: Meta, children: list[Token]) -> bool:
        return str(children[0]) == "channel"

    def campaign_link(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        (campaign, category), *rest = children  # an absent `, CHANNEL` gives Nones
        channel_only = next((item for item in rest if item is not None), None)
        only = True if channel_only is None else bool(channel_only)
        return ("link", ast.UnsubscribeLink(campaign, category, only, span_of(meta)))

    def campaign_decl(self, meta: Meta, children: list[Any]) -> ast.CampaignDecl:
        name_token, *items = children
        name = self.string_value(name_token)
        if not name.strip():
            self.report(token_span(name_token), "a campaign name cannot be empty")
        found: dict[str, Any] = {}
        for word, value in items:
            if word in found:
                shown = {"segments": "for segment", "log": "log sends as", "list": "requires list"}
                self.report(
                    span_of(meta),
                    f"campaign {name!r}: `{shown.get(word, word)}` is written once per campaign",
                )
                continue
            found[word] = value
        segments = found.get("segments", ())
        link = found.get("link")
        return ast.CampaignDecl(
            name,
            tuple(segment for segment, _ in segments),
            found.get("category"),
            found.get("priority"),
            found.get("log"),
            found.get("list"),
            link,
            span_of(meta),
            token_span(name_token),
            tuple(span for _, span in segments),
        )

    def policy_timezone(self, meta: Meta, children: list[Token]) -> tuple[str, Any]:
        return ("timezone", (self.string_value(children[0]), token_span(children[0])))

    def policy_cap(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        scope, limit, window = children
        cap = ast.PolicyCap(scope, None, self.number_value(limit), window, span_of(meta))
        return ("cap", cap)

    def policy_category_cap(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        category, limit, window = children
        name = self.string_value(category)
        cap = ast.PolicyCap("category", name, self.number_value(limit), window, span_of(meta))
        return ("cap", cap)

    def policy_contacts_cap(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        limit, window = children
        cap = ast.PolicyCap("contacts", None, self.number_value(limit), window, span_of(meta))
        return ("cap", cap)

    def policy_category_priority(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        category, value = children
        priority = self.priority(meta, [value])
        return (
            "category_priority",
            ast.CategoryPriority(self.string_value(category), priority, span_of(meta)),
        )

    def policy_quiet(self, meta: Meta, children: list[Token]) -> tuple[str, Any]:
        start, end = children
        quiet = ast.QuietHours(
            str(start), str(end), span_of(meta), token_span(start), token_span(end)
        )
        return ("quiet", quiet)

    def policy_over_cap(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        return ("over_cap", children[0])

    def policy_consent(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        return ("consent", (children[0], span_of(meta)))

    def policy_block(self, meta: Meta, children: list[Any]) -> ast.PolicyBlock:
        single: dict[str, Any] = {}
        caps: list[ast.PolicyCap] = []
        consent: list[tuple[str, Span]] = []
        priorities: list[ast.CategoryPriority] = []
        shown = {"timezone": "timezone", "quiet": "quiet hours", "over_cap": "over cap"}
        for word, value in children:
            if word == "cap":
                caps.append(value)
            elif word == "consent":
                consent.append(value)
            elif word == "category_priority":
                priorities.append(value)
            elif word in single:
                where = value.span if hasattr(value, "span") else span_of(meta)
                if word == "timezone":
                    where = value[1]
                self.report(where, f"`{shown[word]}` is written once per policy")
            else:
                single[word] = value
        timezone = single.get("timezone")
        return ast.PolicyBlock(
            None if timezone is None else timezone[0],
            tuple(caps),
            single.get("quiet"),
            single.get("over_cap"),
            tuple(channel for channel, _ in consent),
            tuple(priorities),
            span_of(meta),
            None if timezone is None else timezone[1],
            tuple(span for _, span in consent),
        )

    # ------------------------------------------------------------ tests (section 11)

    def time_token(self, token: Token) -> ast.TimeLit:
        """A ``TIME`` token of a test step as a time literal."""
        return self.time(token_span(token), [token])

    def written(self, span: Span) -> str:
        """The source text of a one-line span (an expectation's action, for messages)."""
        lines = self.source.split("\n")
        if span.line <= 0 or span.line > len(lines) or span.end_line != span.line:
            return ""
        return lines[span.line - 1][span.column - 1 : span.end_column - 1]

    def contact_id(self, meta: Meta, children: list[Token]) -> ast.ContactRef:
        token = children[0]
        text = self.string_value(token) if token.type == "STRING" else str(token)
        if not text:
            self.report(token_span(token), "a contact id cannot be empty")
        return ast.ContactRef(text, span_of(meta))

    def given_value(self, meta: Meta, children: list[Any]) -> ast.Assignment:
        return ast.Assignment(str(children[0]), children[1], span_of(meta))

    data_item = given_value

    def given_tags(self, meta: Meta, children: list[Token]) -> tuple[str, ...]:
        return tuple(self.string_value(token) for token in children)

    def given_step(self, meta: Meta, children: list[Any]) -> ast.GivenStep:
        contact, *items = children
        values = tuple(i for i in items if isinstance(i, ast.Assignment))
        tags = tuple(tag for i in items if isinstance(i, tuple) for tag in i)
        return ast.GivenStep(contact, values, tags, span_of(meta))

    def event_data(self, meta: Meta, children: list[Any]) -> tuple[ast.Assignment, ...]:
        return tuple(c for c in children if c is not None)

    def event_step(self, meta: Meta, children: list[Any]) -> ast.EventStep:
        time, event_type, contact, data = children
        return ast.EventStep(self.time_token(time), event_type, contact, data or (), span_of(meta))

    def advance_step(self, meta: Meta, children: list[Token]) -> ast.AdvanceStep:
        return ast.AdvanceStep(self.time_token(children[0]), span_of(meta))

    def expect_step(self, meta: Meta, children: list[Any]) -> ast.ExpectStep:
        # An absent `[STEP_AT TIME]` leaves two None children; a present one its TIME.
        time, expectation = children[-2], children[-1]
        at = None if time is None else self.time_token(time)
        return ast.ExpectStep(at, expectation, span_of(meta))

    def expect_time(self, meta: Meta, children: list[Token]) -> ast.TimeLit:
        return self.time_token(children[0])

    def expect_action(self, meta: Meta, children: list[Any]) -> ast.ExpectAction:
        pattern, contact, when = children
        return ast.ExpectAction(pattern, False, contact, when, span_of(meta))

    def expect_no_action(self, meta: Meta, children: list[Any]) -> ast.ExpectAction:
        pattern, contact, when = children
        return ast.ExpectAction(pattern, True, contact, when, span_of(meta))

    def expect_value(self, meta: Meta, children: list[Any]) -> ast.ExpectCondition:
        name_token, contact, make_condition = children
        subject = ast.Name(str(name_token), token_span(name_token))
        return ast.ExpectCondition(contact, make_condition(subject), subject, span_of(meta))

    def value_compare(self, meta: Meta, children: list[Any]) -> Callable[[ast.Name], ast.Expr]:
        op, right = children
        return lambda subject: ast.Compare(
            cast(ast.CompareOp, str(op)), subject, right, _joined(subject.span, meta)
        )

    def value_is(self, meta: Meta, children: list[Any]) -> Callable[[ast.Name], ast.Expr]:
        return lambda subject: ast.Compare("==", subject, children[0], _joined(subject.span, meta))

    def value_is_not(self, meta: Meta, children: list[Any]) -> Callable[[ast.Name], ast.Expr]:
        return lambda subject: ast.Compare("!=", subject, children[0], _joined(subject.span, meta))

    def value_empty(self, meta: Meta, children: list[Any]) -> Callable[[ast.Name], ast.Expr]:
        return lambda subject: ast.IsEmpty(subject, False, _joined(subject.span, meta))

    def value_not_empty(self, meta: Meta, children: list[Any]) -> Callable[[ast.Name], ast.Expr]:
        return lambda subject: ast.IsEmpty(subject, True, _joined(subject.span, meta))

    def value_test(self, meta: Meta, children: list[Any]) -> Any:
        return children[0]

    def expect_condition(self, meta: Meta, children: list[Any]) -> ast.ExpectCondition:
        contact, condition = children
        return ast.ExpectCondition(contact, condition, None, span_of(meta))

    def expect_segment(self, meta: Meta, children: list[Token]) -> ast.ExpectSegment:
        name, size = children
        value = self.number_value(size)
        if not isinstance(value, int):
            self.report(token_span(size), "a segment size is a whole number")
            value = 0
        return ast.ExpectSegment(str(name), value, token_span(name), span_of(meta))

    def pattern_team(self, meta: Meta, children: list[Token]) -> str:
        return self.team(meta, children)

    pattern_do_name = event_type

    def _pattern(self, meta: Meta, verb: str, *args: Token | str | None) -> ast.ActionPattern:
        written: list[str] = []
        for arg in args:
            if arg is None:
                break  # the parts after an omitted one are omitted too
            if isinstance(arg, Token) and arg.type == "STRING":
                written.append(self.string_value(arg))
            else:
                written.append(str(arg))
        span = span_of(meta)
        return ast.ActionPattern(verb, tuple(written), self.written(span), span)

    def pattern_tag(self, meta: Meta, children: list[Token]) -> ast.ActionPattern:
        return self._pattern(meta, "tag", children[0])

    def pattern_untag(self, meta: Meta, children: list[Token]) -> ast.ActionPattern:
        return self._pattern(meta, "untag", children[0])

    def pattern_add_group(self, meta: Meta, children: list[Token]) -> ast.ActionPattern:
        return self._pattern(meta, "add_to_group", children[0])

    def pattern_remove_group(self, meta: Meta, children: list[Token]) -> ast.ActionPattern:
        return self._pattern(meta, "remove_from_group", children[0])

    def pattern_suspend(self, meta: Meta, children: list[Any]) -> ast.ActionPattern:
        return self._pattern(meta, "suspend")

    def pattern_reactivate(self, meta: Meta, children: list[Any]) -> ast.ActionPattern:
        return self._pattern(meta, "reactivate")

    def pattern_unsubscribe(self, meta: Meta, children: list[Any]) -> ast.ActionPattern:
        return self._pattern(meta, "unsubscribe")

    def pattern_track(self, meta: Meta, children: list[Token | None]) -> ast.ActionPattern:
        return self._pattern(meta, "track", children[0])

    def pattern_enter_flow(self, meta: Meta, children: list[Token]) -> ast.ActionPattern:
        return self._pattern(meta, "enter_flow", children[0])

    def pattern_exit_flow(self, meta: Meta, children: list[Token]) -> ast.ActionPattern:
        return self._pattern(meta, "exit_flow", children[0])

    def pattern_notify(self, meta: Meta, children: list[Any]) -> ast.ActionPattern:
        team, message = children
        return self._pattern(meta, "notify", team, message)

    def pattern_task(self, meta: Meta, children: list[Token | None]) -> ast.ActionPattern:
        return self._pattern(meta, "create_task", children[0])

    def pattern_send(self, meta: Meta, children: list[Any]) -> ast.ActionPattern:
        channel, template = children
        return self._pattern(meta, f"send_{channel}", template)

    def pattern_webhook(self, meta: Meta, children: list[Token | None]) -> ast.ActionPattern:
        return self._pattern(meta, "call_webhook", children[0])

    def pattern_do(self, meta: Meta, children: list[Any]) -> ast.ActionPattern:
        return self._pattern(meta, children[0])

    def test_decl(self, meta: Meta, children: list[Any]) -> ast.TestDecl:
        name, *steps = children
        text = self.string_value(name)
        if not text.strip():
            self.report(token_span(name), "a test name cannot be empty")
        return ast.TestDecl(text, tuple(steps), span_of(meta))

    def start(self, meta: Meta, children: list[Any]) -> ast.RulesFile:
        return ast.RulesFile(self.path, self.source, tuple(children))


def _joined(first: Span, meta: Meta) -> Span:
    """The span from ``first`` to the end of ``meta`` (a value expectation's condition)."""
    last = span_of(meta)
    return Span(first.line, first.column, last.end_line, last.end_column)


_MODE_WORDS: Final = {"once": "once", "each": "each time", "rearm": "re-arm when"}
_HEADER_WORDS: Final = {
    "segments": "for segment",
    "window": "from ... to",
    "timezone": "timezone",
    "category": "category",
    "reenter": "re-enter after",
    "exit": "exit when",
    "goal": "goal",
}


def tree_depth_exceeds(tree: Tree[Token], limit: int) -> Span | None:
    """Where the tree goes deeper than ``limit`` levels (found without recursion)."""
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return _first_token(node)
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))
    return None


def _first_token(tree: Tree[Token]) -> Span:
    node: Any = tree
    while isinstance(node, Tree):
        node = next((c for c in node.children if c is not None), None)
    return token_span(node) if isinstance(node, Token) else _NO_SPAN
