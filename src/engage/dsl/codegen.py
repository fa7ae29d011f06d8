"""Turning conditions and value expressions into Python functions.

Each condition becomes the source of one small function ``f(c, ev, now)`` over a contact,
an event (or None) and the clock; all functions of a program are compiled together, once,
with :func:`compile`. Nothing is walked per event. As in Jinja's code generator, user text
never becomes code: literals enter the source only through ``repr()`` of numbers and
strings, and everything else (compiled patterns, constant sets, helpers) is passed in
through the module's globals. The generated source is registered with ``linecache`` so a
traceback through it shows the generated line.
"""

from __future__ import annotations

import itertools
import linecache
import re
from collections.abc import Callable
from typing import Any, Protocol

from engage.dsl import ast, runtime
from engage.dsl.expr_types import EVENT_CONTEXT, ExprTyper, TypeTable
from engage.dsl.patterns import compile_pattern
from engage.dsl.report import Reporter
from engage.dsl.symbols import Symbols, ValueType
from engage.history import conditions as history_conditions

_ORDER_HELPERS = {"<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge"}
_ARITH_HELPERS = {"+": "_add", "-": "_sub", "*": "_mul", "/": "_div"}
_TYPED_INLINE: frozenset[ValueType] = frozenset({"number", "time", "duration"})
_TEXT_HELPERS = {
    "contains": "_contains",
    "startswith": "_startswith",
    "endswith": "_endswith",
    "matches": "_matches",
}

_program_ids = itertools.count(1)

#: What varies between functions of one shape: Python literals as ``repr()`` writes them
#: (strings, numbers), the ``_K`` constants of the module, and walrus temporaries.
_LITERAL = re.compile(
    r"""'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|(?<![\w.])(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?|_K\d+)\b"""
)
_TEMP = re.compile(r"\b_t\d+\b")
_ARGUMENT = "_a"
#: Reads that many time conditions share: the recency class, a decayed score.
_SHARED_READ = re.compile(
    r"""'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|"""
    r"(?P<read>_valuation\(c, now\)|_decay\d+\(c\.(?:first_score|more_scores\[\d+\]), now\))"
)
#: Marks a literal's place in a shape until it is numbered (never in generated source).
_PLACE = "\x00"
_SHAPE_FUNCTION = "_rule_condition"


def _parametrize(body: str) -> tuple[str, list[str]]:
    """``body`` with each literal replaced by a placeholder, and the literals in order.

    :func:`_numbered` turns the placeholders into numbered arguments.
    Temporaries are renumbered from 1 in each body, so equal shapes compare equal.
    """
    arguments: list[str] = []

    def take(found: re.Match[str]) -> str:
        arguments.append(found.group())
        return _PLACE

    temps: dict[str, str] = {}
    body = _TEMP.sub(lambda f: temps.setdefault(f.group(), f"_t{len(temps) + 1}"), body)
    return _LITERAL.sub(take, body), arguments


def _numbered(shape: str) -> str:
    pieces = shape.split(_PLACE)
    return pieces[0] + "".join(
        f"{_ARGUMENT}{number}{piece}" for number, piece in enumerate(pieces[1:])
    )


def _stored_score(index: int) -> str:
    """The expression for score ``index``'s stored value on contact ``c`` (the first
    score has a slot of its own: see :class:`engage.state.contact.Contact`)."""
    return "c.first_score" if index == 0 else f"c.more_scores[{index - 1}]"


class Hooks(Protocol):
    """What the code generator asks of the compiler for stateful atoms."""

    def history_atom(self, node: ast.Had | ast.Count) -> int:
        """The id of the event window that ``had``/``count`` reads."""
        ...


def literal_value(expr: ast.Expr) -> tuple[bool, Any]:
    """``(True, value)`` for a literal (including a negated number), else ``(False, None)``."""
    match expr:
        case ast.Number(value=value) | ast.String(value=value) | ast.Bool(value=value):
            return True, value
        case ast.TimeLit(value=value):
            return True, float(value)
        case ast.DurationLit(seconds=seconds):
            return True, float(seconds)
        case ast.Neg(operand=ast.Number(value=value)):
            return True, -value
        case _:
            return False, None


class CodeGenerator:
    """Collects generated functions for one program and compiles them together."""

    def __init__(
        self,
        symbols: Symbols,
        hooks: Hooks,
        decay_readers: dict[int, Any],
        types: TypeTable | None = None,
    ) -> None:
        """``types`` are the checker's types of the expressions to generate; without
        them (a lone condition the checker did not see), each expression is typed when
        it is first read, silently: its problems are the caller's to check."""
        self.symbols = symbols
        self.hooks = hooks
        self.types = types if types is not None else TypeTable()
        self._types_checked = types is not None
        #: Queued functions: (name, parameters, body source).
        self._functions: list[tuple[str, str, str]] = []
        self._temps = itertools.count(1)
        self.namespace: dict[str, Any] = {
            "_eq": runtime.eq,
            "_ne": runtime.ne,
            "_lt": runtime.lt,
            "_le": runtime.le,
            "_gt": runtime.gt,
            "_ge": runtime.ge,
            "_between": runtime.between,
            "_in_list": runtime.in_list,
            "_contains": runtime.contains,
            "_startswith": runtime.startswith,
            "_endswith": runtime.endswith,
            "_matches": runtime.matches,
            "_add": runtime.add,
            "_sub": runtime.sub,
            "_mul": runtime.mul,
            "_div": runtime.div,
            "_neg": runtime.neg,
            "_empty": runtime.empty,
            "_within": runtime.within,
            "_older": runtime.older_than,
            "_consent": runtime.consent,
            "_subscribed": runtime.subscribed,
            "_evattr": runtime.event_attr,
            "_NOF": (None,) * max(1, len(symbols.fields)),
            "_status_for": history_conditions.status_for,
            "_had_status": history_conditions.had_status,
            "_count_contacts": history_conditions.count_contacts,
            "_COUNTING": symbols.statuses.counting,
        }
        for index, reader in decay_readers.items():
            self.namespace[f"_decay{index}"] = reader
        self._constants = itertools.count(1)
        #: While set, ``account.X`` / ``lead.X`` read the account or lead that ``c``
        #: stands for (rules fired per account or lead), not the contact's account.
        self.entity_context = False

    # -- building ---------------------------------------------------------------

    def constant(self, value: object) -> str:
        """A global name bound to ``value`` in the generated module."""
        name = f"_K{next(self._constants)}"
        self.namespace[name] = value
        return name

    def bind(self, name: str, value: object) -> None:
        """Make a helper the program provides (``_valuation``, ``_count``) visible."""
        self.namespace[name] = value

    def add_condition(self, expr: ast.Expr) -> str:
        """Queue ``def f(c, ev, now): return <condition>``; return the function's name."""
        return self._add(self.condition(expr))

    def add_value(self, expr: ast.Expr) -> str:
        """Queue ``def f(c, ev, now): return <value>``; return the function's name."""
        return self._add(self.value(expr))

    def add_mask(self, conditions: list[tuple[ast.Expr, int]]) -> str:
        """Queue ``def f(c, ev, now)`` returning the sum of the bits whose condition
        holds: many rules' truth in one call (see ``Program.wake_truth``).

        Rules about time read the same few things (the recency class, a decayed
        score): each distinct read is made once, up front, and named. The reads have
        no side effects, so making one that a condition would have skipped is harmless.
        """
        parts = [f"({bit} if ({self.condition(expr)}) else 0)" for expr, bit in conditions]
        body = " | ".join(parts) or "0"
        reads: dict[str, str] = {}

        def name_read(found: re.Match[str]) -> str:
            if found.group("read") is None:
                return found.group()  # a string literal: user text stays as it is
            return reads.setdefault(found.group(), f"_r{len(reads) + 1}")

        body = _SHARED_READ.sub(name_read, body)
        if not reads:
            return self._add(body)
        prelude = ", ".join(f"({name} := {text})" for text, name in reads.items())
        # A non-empty tuple is true: ``(reads...) and mask`` is the mask.
        return self._add(f"({prelude},) and ({body})")

    def add_score_predicate(self, expr: ast.Expr, score: str) -> str:
        """Queue ``def f(v): ...``: a condition on one score, with ``v`` its value."""
        name = f"_p{len(self._functions) + 1}"
        self._functions.append((name, "v", self.condition(expr, score_variable=score)))
        return name

    def _add(self, body: str) -> str:
        name = f"_f{len(self._functions) + 1}"
        self._functions.append((name, "c, ev, now", body))
        return name

    def build(self) -> dict[str, Callable[..., Any]]:
        """Compile every queued function; returns them by name.

        Rules of one file tend to share a handful of shapes (``score >= K``,
        ``tagged T and fit >= K``...) that differ in their literals only. Each shape is
        compiled once, as a factory whose parameters are the literals, and each function
        is that factory called with its own: compiling is most of the cost of a program
        with many rules, and this makes it grow with the shapes, not the rules.
        """
        shapes: dict[tuple[str, str], int] = {}
        calls: list[str] = []
        for name, parameters, body in self._functions:
            shape, arguments = _parametrize(body)
            number = shapes.setdefault((parameters, shape), len(shapes))
            calls.append(f"{name} = _shape{number}({''.join(a + ', ' for a in arguments)})")
        factories = []
        for (parameters, shape), number in shapes.items():
            names = "".join(f"{_ARGUMENT}{i}, " for i in range(shape.count(_PLACE)))
            factories.append(
                f"def _shape{number}({names}):\n"
                f"    def {_SHAPE_FUNCTION}({parameters}):\n"
                f"        return {_numbered(shape)}\n"
                f"    return {_SHAPE_FUNCTION}\n"
            )
        source = "\n".join(factories) + "\n" + "\n".join(calls) + "\n"
        filename = f"<engage-rules-{next(_program_ids)}>"
        lines = source.splitlines(keepends=True)
        linecache.cache[filename] = (len(source), None, lines, filename)
        code = compile(source, filename, "exec")
        exec(code, self.namespace)  # the source is ours: literals enter only via repr()
        return {name: self.namespace[name] for name, _, _ in self._functions}

    @property
    def source(self) -> str:
        """Every queued function, written out in full (for reading, not compiled)."""
        return "\n".join(
            f"def {name}({parameters}):\n    return {body}\n"
            for name, parameters, body in self._functions
        )

    # -- expressions ----------------------------------------------------------

    def _type(self, expr: ast.Expr) -> ValueType:
        """The type the checker recorded for ``expr`` (O(1))."""
        kind = self.types.get(expr)
        if kind is None and not self._types_checked:
            ExprTyper(self.symbols, Reporter(), self.types).condition(expr, EVENT_CONTEXT)
            kind = self.types.get(expr)
        if kind is None:
            raise KeyError(f"the checker recorded no type for this {type(expr).__name__}")
        return kind

    def value(self, expr: ast.Expr, score_variable: str | None = None) -> str:
        """Python source computing the value of ``expr``."""
        sv = score_variable
        match expr:
            case ast.Number(value=value):
                return repr(value)
            case ast.String(value=value):
                return repr(value)
            case ast.Bool(value=value):
                return "True" if value else "False"
            case ast.TimeLit(value=value):
                return repr(float(value))
            case ast.DurationLit(seconds=seconds):
                return repr(float(seconds))
            case ast.ListLit(items=items):
                parts = [self.value(item, sv) for item in items]
                return "(" + "".join(part + ", " for part in parts) + ")"
            case ast.Now():
                return "now"
            case ast.Name(name=name):
                return self._name(name, sv)
            case ast.Consent(channel=channel):
                return f"_consent(c, {channel!r})"
            case ast.EventAttr(path=path):
                return f"_evattr(ev, {tuple(path)!r})"
            case ast.EntityAttr(entity=entity, name=name):
                if self.entity_context:
                    return f"_ent(c, {name!r}, now)"
                return f"_entity(c, {entity!r}, {name!r}, now)"
            case ast.Arith(op=op, left=left, right=right):
                helper = _ARITH_HELPERS[op]
                return f"{helper}({self.value(left, sv)}, {self.value(right, sv)})"
            case ast.Neg(operand=ast.Number(value=value)):
                return repr(-value)
            case ast.Neg(operand=operand):
                return f"_neg({self.value(operand, sv)})"
            case ast.Count():
                return f"_count(c, {self.hooks.history_atom(expr)}, now)"
            case ast.StatusFor(campaign=campaign):
                return f"_status_for(c, {campaign!r})"
            case ast.CountContacts(window=window):
                return f"_count_contacts(c, {float(window.seconds)!r}, now, _COUNTING)"
            case _:
                return self.condition(expr, sv)

    def _name(self, name: str, score_variable: str | None) -> str:
        sym = self.symbols
        if name == score_variable:
            return "v"
        if name in sym.scores:
            index = sym.scores[name].index
            if sym.decaying(name):
                return f"_decay{index}({_stored_score(index)}, now)"
            return _stored_score(index)
        if name in sym.fields:
            return f"(c.fields or _NOF)[{sym.fields[name].index}]"
        if name == "valuation":
            return "_valuation(c, now)"
        if name == "tags":
            return "tuple(c.tags)"  # a contact with many tags keeps them in a dict
        if name in ("last_activity", "created", "status", "groups"):
            return f"c.{name}"
        raise KeyError(name)  # the checker refuses unknown names before this point

    # -- conditions -------------------------------------------------------------

    def condition(self, expr: ast.Expr, score_variable: str | None = None) -> str:
        """Python source evaluating ``expr`` as a condition (a real bool)."""
        sv = score_variable
        match expr:
            case ast.Compare(op=op, left=left, right=right):
                return self._compare(op, left, right, sv)
            case ast.IsEmpty(operand=operand, negated=negated):
                code = self._is_empty(operand, sv)
                return f"(not {code})" if negated else code
            case ast.Between(operand=operand, low=low, high=high, negated=negated):
                code = (
                    f"_between({self.value(operand, sv)}, {self.value(low, sv)}, "
                    f"{self.value(high, sv)})"
                )
                return f"(not {code})" if negated else code
            case ast.InList(operand=operand, items=items, negated=negated):
                code = self._in_list(operand, items, sv)
                return f"(not {code})" if negated else code
            case ast.TextMatch(op=op, operand=operand, pattern=pattern, negated=negated):
                if op == "matches":
                    if not isinstance(pattern, ast.String):
                        raise TypeError("matches needs a literal pattern")
                    pattern_code = self.constant(compile_pattern(pattern.value))
                else:
                    pattern_code = self.value(pattern, sv)
                code = f"{_TEXT_HELPERS[op]}({self.value(operand, sv)}, {pattern_code})"
                return f"(not {code})" if negated else code
            case ast.Tagged(tag=tag):
                return f"({tag!r} in c.tags)"
            case ast.InGroup(group=group):
                return f"({group!r} in c.groups)"
            case ast.InSegment(segment=segment):
                return f"(c.segs & {1 << self.symbols.segments[segment]} != 0)"
            case ast.Subscribed(list_name=list_name):
                return f"_subscribed(c, {list_name!r})"
            case ast.Within(operand=operand, window=window, older=older):
                helper = "_older" if older else "_within"
                return f"{helper}({self.value(operand, sv)}, {float(window.seconds)!r}, now)"
            case ast.Had():
                return f"(_count(c, {self.hooks.history_atom(expr)}, now) > 0)"
            case ast.HadStatus(status=status, campaign=campaign, window=window):
                canonical = self.symbols.statuses.canonical(status)
                return (
                    f"_had_status(c, {canonical!r}, {campaign!r}, {float(window.seconds)!r}, now)"
                )
            case ast.And(items=items):
                return "(" + " and ".join(self.condition(i, sv) for i in items) + ")"
            case ast.Or(items=items):
                return "(" + " or ".join(self.condition(i, sv) for i in items) + ")"
            case ast.Not(operand=ast.Consent(channel=channel)):
                # `not consent.email` is a refusal; an empty consent (never answered) is
                # neither true nor refused (LANGUAGE.md section 6).
                return f"(_consent(c, {channel!r}) is False)"
            case ast.Not(operand=operand):
                return f"(not {self.condition(operand, sv)})"
            case ast.Bool(value=value):
                return "True" if value else "False"
            case _:
                return f"({self.value(expr, sv)} is True)"

    def _compare(self, op: str, left: ast.Expr, right: ast.Expr, sv: str | None) -> str:
        left_is_lit, _left_value = literal_value(left)
        right_is_lit, right_value = literal_value(right)
        if left_is_lit and not right_is_lit:
            flipped = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!="}
            return self._compare(flipped[op], right, left, sv)
        subject = self.value(left, sv)
        subject_type = self._type(left)
        if right_is_lit and subject_type != "any" and not runtime.empty(right_value):
            literal = repr(right_value)
            if op == "==":
                return f"({subject} == {literal})"
            if op == "!=":
                return f"({subject} != {literal})"
            if subject_type in _TYPED_INLINE and isinstance(right_value, int | float):
                temp = f"_t{next(self._temps)}"
                return f"(({temp} := {subject}) is not None and {temp} {op} {literal})"
        other = self.value(right, sv)
        if op == "==":
            return f"_eq({subject}, {other})"
        if op == "!=":
            return f"_ne({subject}, {other})"
        return f"{_ORDER_HELPERS[op]}({subject}, {other})"

    def _is_empty(self, operand: ast.Expr, sv: str | None) -> str:
        code = self.value(operand, sv)
        if self._type(operand) in ("number", "time", "duration", "bool"):
            return f"({code} is None)"
        return f"_empty({code})"

    def _in_list(self, operand: ast.Expr, items: ast.ListLit, sv: str | None) -> str:
        subject = self.value(operand, sv)
        values = [literal_value(item) for item in items.items]
        simple = (
            self._type(operand) in ("number", "text")
            and all(is_lit for is_lit, _ in values)
            and not any(runtime.empty(v) or isinstance(v, bool) for _, v in values)
        )
        if simple:
            return f"({subject} in {self.constant(frozenset(v for _, v in values))})"
        return f"_in_list({subject}, {self.value(items, sv)})"
