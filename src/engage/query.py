"""Queries over all contacts: ``count``, ``select``, ``top`` and ``explain``.

A query is a condition in the rules language (``score >= 5 and tagged "VIP"``), checked
against the program's names and compiled like a rule's condition. The planner looks for
one part of the condition an index can answer:

- a range on a score (``score >= 5``, ``fit between 10 and 20``) — the sorted score index;
- a recency class (``valuation is "new"``) or ``last_activity within D`` — the sorted
  index of last activity, minus the few discarded contacts;
- ``in segment NAME`` — the segment's member set, kept up to date by the engine.

When the whole condition is that one part, ``count`` is O(log n). Otherwise the part
gives the candidates and the compiled condition filters them; with no indexable part,
the contacts are scanned.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from engage.dsl import ast
from engage.dsl.checker import type_condition
from engage.dsl.codegen import CodeGenerator, literal_value
from engage.dsl.parser import parse_condition
from engage.errors import QueryError, RulesError
from engage.index.score_index import LAST_ACTIVITY, count_between, ids_between, top_entries
from engage.program import Program
from engage.state.contact import DISARMED, LAST_FIRED, ONCE_FIRED, score_of
from engage.state.writer import StateWriter
from engage.time.valuation import DISCARDED, EXPIRED, INACTIVE, class_ranges, make_valuation
from engage.time.windows import make_counter
from engage.timeutil import format_time
from engage.triggers.cascade import Cascade

if TYPE_CHECKING:
    from engage.engine.state import EngineState
    from engage.index.score_index import SortedIndexes

_MAX_QUERY_LENGTH = 10_000


class _Query:
    """A parsed, checked and compiled condition."""

    __slots__ = ("expr", "predicate", "text")

    def __init__(self, text: str, expr: ast.Expr, predicate: Callable[..., bool]) -> None:
        self.text = text
        self.expr = expr
        self.predicate = predicate


class QueryCache:
    """Compiled queries by text, for one program: the engine makes a new one whenever
    its program changes (a compiled query reads scores and fields by position)."""

    __slots__ = ("_compiled",)

    #: Past this many distinct texts the cache starts again (hosts that build query text
    #: from data would otherwise grow it without end).
    LIMIT = 256

    def __init__(self) -> None:
        self._compiled: dict[str, _Query] = {}

    def get(self, text: str) -> _Query | None:
        return self._compiled.get(text)

    def put(self, text: str, query: _Query) -> None:
        if len(self._compiled) >= self.LIMIT:
            self._compiled.clear()
        self._compiled[text] = query

    def __len__(self) -> int:
        return len(self._compiled)


@attrs.frozen
class QueryScope:
    """What a query reads: the program, the state and the engine's derived structures
    (segment members, the discarded set, sorted indexes), plus the cascade and writer
    that ``explain`` reads current values through. The engine builds one per call."""

    program: Program
    state: EngineState
    members: Sequence[set[str]]
    discarded: set[str]
    indexes: SortedIndexes
    cascade: Cascade
    writer: StateWriter
    cache: QueryCache

    @property
    def now(self) -> float:
        return self.state.clock_or_zero()


class _NoWindows:
    """Queries cannot create event windows: they read those the rules keep."""

    def __init__(self, atoms: Iterable[Any]) -> None:
        self.atoms = list(atoms)

    def history_atom(self, node: ast.Had | ast.Count) -> int:
        for atom in self.atoms:
            if atom.event_type == node.event_type and atom.window == node.window.seconds:
                return int(atom.id)
        raise QueryError(
            f"`{'had' if isinstance(node, ast.Had) else 'count'} {node.event_type}` in a "
            "query can only read an event window that a rule or segment already keeps"
        )


def compile_query(scope: QueryScope, text: str) -> _Query:
    """Parse, check and compile a query condition (cached per program)."""
    cache = scope.cache
    cached = cache.get(text)
    if cached is not None:
        return cached
    if not isinstance(text, str) or not text.strip():
        raise QueryError("a query needs a condition, such as 'score >= 5'")
    if len(text) > _MAX_QUERY_LENGTH or "\n" in text:
        raise QueryError("a query is one line of at most 10,000 characters")
    try:
        condition = parse_condition(text, "<query>")
    except RulesError as exc:
        raise QueryError(_located(exc)) from None
    program = scope.program
    problems, types = type_condition(condition, program.symbols, text)
    errors = [d for d in problems if d.severity == "error"]
    if errors:
        raise QueryError(_located(RulesError(errors)))
    readers = {s.index: s.decay.read for s in program.scores if s.decay is not None}
    generator = CodeGenerator(program.symbols, _NoWindows(program.history_atoms), readers, types)
    generator.bind("_valuation", make_valuation(program.classes))
    generator.bind("_count", make_counter(program.history_atoms))
    if program.b2b is not None:
        generator.bind("_entity", program.b2b.store.contact_reads)
    name = generator.add_condition(condition)
    predicate = generator.build()[name]
    query = _Query(text, condition, predicate)
    cache.put(text, query)
    return query


def _located(error: RulesError) -> str:
    """Error text with the column in the query (one line: no line number needed)."""
    return "\n".join(f"<query>:{d.span.column}: {d.message}" for d in error.diagnostics)


# -- planning -----------------------------------------------------------------------------


class _Range:
    """Candidates from a sorted index: ``which`` (score index or last activity)."""

    def __init__(
        self,
        which: int,
        low: Any,
        low_inclusive: bool,
        high: Any,
        high_inclusive: bool,
        exact: bool,
        exclude_discarded: bool = False,
    ) -> None:
        self.which = which
        self.low = low
        self.low_inclusive = low_inclusive
        self.high = high
        self.high_inclusive = high_inclusive
        self.exact = exact
        self.exclude_discarded = exclude_discarded


def _plan(scope: QueryScope, expr: ast.Expr) -> tuple[Any, bool]:
    """The best indexable part of ``expr`` and whether it is the whole condition."""
    items = expr.items if isinstance(expr, ast.And) else (expr,)
    for item in items:
        plan = _index_for(scope, item)
        if plan is not None:
            return plan, len(items) == 1
    return None, False


def _index_for(scope: QueryScope, node: ast.Expr) -> Any:
    program = scope.program
    now = scope.now
    match node:
        case ast.InSegment(segment=segment):
            return ("segment", program.segment_by_name[segment].index)
        case ast.Compare(op="==", left=ast.Name(name="valuation"), right=ast.String(value=v)):
            return _valuation_range(scope, v, now)
        case ast.Within(operand=ast.Name(name="last_activity"), window=window, older=older):
            limit = now - window.seconds
            if older:
                return _Range(LAST_ACTIVITY, None, True, limit, True, exact=True)
            return _Range(LAST_ACTIVITY, limit, False, None, True, exact=True)
        case _:
            pass
    bounds = _score_range(node)
    if bounds is None:
        return None
    name, low, low_inclusive, high, high_inclusive = bounds
    score = program.score_by_name.get(name)
    if score is None:
        return None
    if score.decay is None:
        return _Range(score.index, low, low_inclusive, high, high_inclusive, exact=True)
    # A decaying score is indexed by its scaled value: widen slightly, then filter.
    factor = score.decay.factor(now)
    scaled_low = None if low is None else low * factor * (1 - 1e-9) - 1e-12
    scaled_high = None if high is None else high * factor * (1 + 1e-9) + 1e-12
    if score.low != -math.inf or score.high != math.inf:
        return None  # a clamp makes the read value non-linear in the stored one
    return _Range(score.index, scaled_low, True, scaled_high, True, exact=False)


def _score_range(node: ast.Expr) -> tuple[str, Any, bool, Any, bool] | None:
    flip = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "=="}
    match node:
        case ast.Compare(op=written, left=left, right=right) if written != "!=":
            op: str = written
            if isinstance(right, ast.Name) and not isinstance(left, ast.Name):
                op, left, right = flip[op], right, left
            is_lit, value = literal_value(right)
            if (
                not isinstance(left, ast.Name)
                or not is_lit
                or not isinstance(value, int | float)
                or isinstance(value, bool)
            ):
                return None
            if op == ">=":
                return left.name, value, True, None, True
            if op == ">":
                return left.name, value, False, None, True
            if op == "<=":
                return left.name, None, True, value, True
            if op == "<":
                return left.name, None, True, value, False
            return left.name, value, True, value, True
        case ast.Between(operand=ast.Name(name=name), low=low, high=high, negated=False):
            (low_lit, low_value), (high_lit, high_value) = literal_value(low), literal_value(high)
            if low_lit and high_lit:
                return name, low_value, True, high_value, True
    return None


def _valuation_range(scope: QueryScope, cls: str, now: float) -> Any:
    program = scope.program
    if cls == DISCARDED:
        return ("discarded",)
    if cls == INACTIVE:
        return ("inactive",)
    ranges = class_ranges(program.classes)
    if cls not in ranges:
        return None
    low_age, high_age = ranges[cls]
    # age in [low_age, high_age)  <=>  last_activity in (now - high_age, now - low_age]
    low = None if high_age == math.inf else now - high_age
    high = None if low_age == -math.inf else now - low_age
    _ = EXPIRED
    return _Range(LAST_ACTIVITY, low, False, high, True, exact=True, exclude_discarded=True)


# -- answering ---------------------------------------------------------------------------


def _candidates(scope: QueryScope, plan: Any) -> Iterable[str]:
    contacts = scope.state.contacts
    if isinstance(plan, tuple):
        if plan[0] == "segment":
            return sorted(scope.members[plan[1]])
        if plan[0] == "discarded":
            return sorted(scope.discarded)
        return sorted(
            cid
            for cid, c in contacts.items()
            if c.last_activity is None and cid not in scope.discarded
        )
    index = scope.indexes.ensure(plan.which, contacts)
    ids: Iterable[str] = ids_between(
        index, plan.low, plan.low_inclusive, plan.high, plan.high_inclusive
    )
    if plan.exclude_discarded:
        discarded = scope.discarded
        ids = (cid for cid in ids if cid not in discarded)
    return ids


def count(scope: QueryScope, text: str) -> int:
    query = compile_query(scope, text)
    plan, whole = _plan(scope, query.expr)
    contacts = scope.state.contacts
    if plan is not None and whole:
        if isinstance(plan, tuple):
            if plan[0] == "segment":
                return len(scope.members[plan[1]])
            if plan[0] == "discarded":
                return len(scope.discarded)
        elif plan.exact:
            index = scope.indexes.ensure(plan.which, contacts)
            total = count_between(
                index, plan.low, plan.low_inclusive, plan.high, plan.high_inclusive
            )
            if plan.exclude_discarded:
                for cid in scope.discarded:
                    contact = contacts[cid]
                    key = contact.last_activity
                    if key is not None and _in_range(key, plan):
                        total -= 1
            return total
    return len(_matching(scope, query, plan))


def _in_range(key: Any, plan: _Range) -> bool:
    if plan.low is not None and (key < plan.low or (key == plan.low and not plan.low_inclusive)):
        return False
    return not (
        plan.high is not None
        and (key > plan.high or (key == plan.high and not plan.high_inclusive))
    )


def _matching(scope: QueryScope, query: _Query, plan: Any) -> list[str]:
    contacts = scope.state.contacts
    now = scope.now
    predicate = query.predicate
    ids = _candidates(scope, plan) if plan is not None else contacts.keys()
    return sorted(cid for cid in ids if predicate(contacts[cid], None, now))


def select(scope: QueryScope, text: str) -> list[str]:
    query = compile_query(scope, text)
    plan, _ = _plan(scope, query.expr)
    return _matching(scope, query, plan)


def top(scope: QueryScope, score: str, k: int = 10) -> list[tuple[str, Any]]:
    spec = scope.program.score_by_name.get(score)
    if spec is None:
        raise QueryError(
            f"unknown score {score!r}; scores: {', '.join(scope.program.score_by_name)}"
        )
    if k <= 0:
        return []
    index = scope.indexes.ensure(spec.index, scope.state.contacts)
    now = scope.now
    result = []
    for stored, contact_id in top_entries(index, k):
        value = stored if spec.decay is None else spec.decay.read(stored, now)
        result.append((contact_id, value))
    return result


def explain(scope: QueryScope, contact_id: str, rule_name: str) -> dict[str, Any]:
    program = scope.program
    rule = program.rule_by_name.get(rule_name)
    if rule is None:
        raise QueryError(f"unknown rule {rule_name!r}")
    contact = scope.state.contacts.get(contact_id)
    if contact is None:
        return {"rule": rule.name, "contact": contact_id, "exists": False}
    now = scope.now
    cascade = scope.cascade
    scope.writer.now = now
    reads = {
        label: cascade.display(contact, key, cascade.current(contact, key))
        for label, key in rule.read_names
        if key[0] not in ("history",)
    }
    answer: dict[str, Any] = {
        "rule": rule.name,
        "contact": contact_id,
        "kind": rule.kind,
        "condition": rule.cond_text,
        "mode": rule.mode,
        "reads": reads,
    }
    if rule.kind == "when":
        if rule.threshold is not None:
            holds = bool(rule.threshold[1](score_of(contact, rule.threshold[0])))
        else:
            assert rule.cond is not None
            holds = bool(rule.cond(contact, None, now))
        answer["holds"] = holds
    extra = contact.extra or {}
    if rule.name in extra.get(ONCE_FIRED, ()):
        answer["fired_once"] = True
    if rule.mode == "rearm":
        answer["armed"] = rule.name not in extra.get(DISARMED, ())
    last = extra.get(LAST_FIRED, {}).get(rule.name)
    if last is not None:
        answer["last_fired"] = format_time(last)
        if rule.cooldown is not None:
            answer["cooldown_until"] = format_time(last + rule.cooldown)
    answer["verdict"] = _verdict(rule, answer)
    return answer


def _verdict(rule: Any, answer: dict[str, Any]) -> str:
    if rule.kind != "when":
        return f"fires on `{rule.kind.replace('_', ' ')}` events whose filter holds"
    if not answer.get("holds"):
        return "does not fire: its condition does not hold now"
    if answer.get("fired_once"):
        return "fired already (`once`): it will not fire again for this contact"
    if answer.get("armed") is False:
        return "holds, but is disarmed until its re-arm condition holds"
    if rule.mode == "each":
        return "holds: fires each time one of its inputs changes"
    return "holds: it fired when it became true (edge), and fires again after it turns false"
