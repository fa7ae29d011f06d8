"""A naive reference evaluator of the rules language: the correctness oracle.

It reads rules with the project's parser (``engage.dsl.parser.parse``) and nothing else
of the engine: conditions are evaluated by a plain walk over the syntax tree, every rule,
segment and recency class is recomputed from scratch for every contact at every round,
and moments at which time alone may change something are found by listing, for every
contact, every candidate moment (recency boundaries, ``within`` ends, window expiries,
decay crossings of every constant of the rules) and stepping through them in time order.
Slow on purpose: it follows ``docs/semantics.md`` literally, so that the engine's
incremental machinery can be checked against it.

The subset covered is the one ``tests/strategies.py`` generates: fields, scores (lines
with ``where``, caps, ``once``, clamp, decay), valuation, segments, ``when`` / ``on TYPE``
/ ``on segment enter|exit`` / ``on SCORE change`` / ``on tag added`` rules, the modes edge,
``each time``, ``once``, ``re-arm when`` and ``at most once per D``, every comparison and text
operator with its negation (``not between``, ``not contains``, ``matches``...), and the actions
tag, untag, groups, set and clear (of a field or a score), add/subtract score, suspend,
reactivate, unsubscribe, track, send, notify, create task and ``do``.

Engine-made ``score change`` and ``tag added`` events come from net changes: the scores and
tags at the start of each round are compared with those at the start of the previous one
(for the first round, with those before the event's own data), as section 4 of the
semantics says; several tags added in one step raise their events in the order they were
first touched.

Re-arm conditions are evaluated at every round and at every time moment. The semantics
say "whenever its inputs change"; the two readings agree as long as the re-arm condition
cannot hold while the rule's own condition holds (so a rule is never disarmed while its
re-arm condition already holds), which is how the generators write them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import attrs

from engage.dsl import ast
from engage.dsl.parser import parse
from engage.timeutil import coerce_time, format_time

DEFAULT_CLASSES = (("new", 15 * 86400.0), ("frequent", 45 * 86400.0), ("dormant", 120 * 86400.0))
NON_ACTIVITY = ("contact.updated", "contact.deleted")
#: Rounds after which the oracle gives up on an event (the engine's limit is 32).
ORACLE_MAX_ROUNDS = 25


class CycleError(Exception):
    """The cascade did not settle: a rule cycle, which the comparisons leave out."""


class UnsupportedError(Exception):
    """The rules use something this oracle does not model."""


# ---------------------------------------------------------------------------------------
# Values


def is_empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, list | tuple) and not value)


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def equal(left: Any, right: Any) -> bool:
    if is_empty(left) or is_empty(right):
        return is_empty(left) and is_empty(right)
    if kind(left) != kind(right):
        return False
    return bool(left == right)


def compare(op: str, left: Any, right: Any) -> bool:
    if op == "==":
        return equal(left, right)
    if op == "!=":
        return not equal(left, right)
    if is_empty(left) or is_empty(right) or kind(left) != kind(right):
        return False
    if kind(left) not in ("number", "text"):
        return False
    if op == ">":
        return bool(left > right)
    if op == ">=":
        return bool(left >= right)
    if op == "<":
        return bool(left < right)
    return bool(left <= right)


def holds(value: Any) -> bool:
    """A value used as a condition: only ``true`` holds."""
    return value is True


def tidy(value: Any) -> Any:
    """Integer-valued floats as ints (as the engine stores set scores)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


# ---------------------------------------------------------------------------------------
# Contacts


class Contact:
    def __init__(self, contact_id: str, created: float) -> None:
        self.id = contact_id
        self.created = created
        self.scores: dict[str, tuple[float, float]] = {}  # name -> (value, as of)
        self.fields: dict[str, Any] = {}
        self.tags: list[str] = []
        self.groups: list[str] = []
        self.status = "active"
        self.hard_bounced = False
        self.last_activity: float | None = None
        self.segments: set[str] = set()
        self.truth: dict[str, bool] = {}
        #: ``each time`` rules: the values their condition read at its last evaluation.
        self.inputs: dict[str, tuple[Any, ...]] = {}
        self.once_fired: set[str] = set()
        self.disarmed: set[str] = set()
        self.last_fired: dict[str, float] = {}
        self.line_state: dict[int, dict[str, Any]] = {}
        self.windows: dict[Any, list[float]] = {}  # had/count node -> event times
        #: ``(scope, name, channel)`` of each unsubscribe, in order.
        self.unsubscribed: list[tuple[str, str | None, str | None]] = []
        self.history: list[dict[str, Any]] = []
        #: Tags touched (added or removed) since the last round started, in order.
        self.touched_tags: dict[str, None] = {}

    def add_tag(self, tag: str) -> None:
        if tag not in self.tags:
            self.touched_tags.setdefault(tag)
            self.tags.append(tag)

    def remove_tag(self, tag: str) -> None:
        if tag in self.tags:
            self.touched_tags.setdefault(tag)
            self.tags.remove(tag)

    def discarded(self) -> bool:
        """Suspended, hard-bounced or unsubscribed from everything on every channel."""
        return (
            self.status == "suspended"
            or self.hard_bounced
            or any(scope == "all" and channel is None for scope, _, channel in self.unsubscribed)
        )

    def track(
        self,
        status: str,
        now: float,
        campaign: str | None,
        offer: str | None,
        channel: str | None,
        mode: str,
    ) -> None:
        """The latest row of the treatment gets the status (unless it has it), else a
        new row; ``only update`` / ``only create`` narrow it (docs/history.md)."""
        if mode != "create":
            for row in reversed(self.history):
                if all(
                    want is None or row[part] == want
                    for part, want in (
                        ("campaign", campaign),
                        ("offer", offer),
                        ("channel", channel),
                    )
                ):
                    if row["log"][-1][0] != status:
                        row["log"].append((status, max(now, row["log"][-1][1])))
                    return
            if mode == "update":
                return
        self.history.append(
            {
                "campaign": campaign,
                "offer": offer,
                "channel": channel,
                "template": None,
                "log": [(status, now)],
            }
        )

    def suppression(self, channel: str, campaign: str | None) -> str | None:
        """Why a send may not go to this contact (docs/semantics.md, 6b), or None."""
        if self.status == "suspended":
            return "suspended"
        if channel == "email" and self.hard_bounced:
            return "hard bounced"
        for scope, name, on_channel in self.unsubscribed:
            if on_channel is not None and on_channel != channel:
                continue
            if scope == "all":
                return "unsubscribed" if on_channel is None else f"unsubscribed from {channel}"
            if scope == "campaign" and campaign is not None and name == campaign:
                return f"unsubscribed from campaign {campaign}"
        return None


class Rule:
    def __init__(self, decl: ast.RuleDecl, position: int, file_name: str) -> None:
        self.decl = decl
        self.name = decl.name if decl.name is not None else f"{file_name}:{decl.span.line}"
        self.rank = (-decl.priority, position)
        self.trigger = decl.trigger
        self.mode = decl.mode


class Oracle:
    """Feed it the same operations as an engine; read ``actions`` and ``dump()``."""

    def __init__(self, text: str, name: str = "t.rules") -> None:
        base = name.rsplit("/", 1)[-1]
        tree = parse(text, name)
        self.fields: dict[str, str] = {}
        self.scores: dict[str, ast.ScoreBlock] = {}
        self.segments: list[ast.SegmentDecl] = []
        self.rules: list[Rule] = []
        self.classes: tuple[tuple[str, float], ...] = DEFAULT_CLASSES
        for decl in tree.decls:
            if isinstance(decl, ast.FieldsBlock):
                for field in decl.fields:
                    self.fields[field.name] = field.type
            elif isinstance(decl, ast.ScoreBlock):
                self.scores[decl.name] = decl
            elif isinstance(decl, ast.ValuationBlock):
                self.classes = tuple((c.name, c.window.seconds) for c in decl.classes)
            elif isinstance(decl, ast.SegmentDecl):
                self.segments.append(decl)
            elif isinstance(decl, ast.RuleDecl):
                self.rules.append(Rule(decl, len(self.rules), base))
            else:  # pragma: no cover - the generators write nothing else
                raise UnsupportedError(type(decl).__name__)
        self.lines: list[tuple[int, str, ast.ScoreLine]] = []
        for block in self.scores.values():
            for line in block.lines:
                self.lines.append((len(self.lines), block.name, line))
        self.windowed: list[ast.Had | ast.Count] = []
        self.withins: list[ast.Within] = []
        self.constants: set[float] = set()
        #: Whether a decayed value read one of the rules' constants (to a few ulps) at
        #: a moment an operation stopped the clock: see :meth:`note_ties`.
        self.tie = False
        for expr in self._all_conditions():
            self._collect(expr)
        self.contacts: dict[str, Contact] = {}
        self.now = -math.inf
        self.seen_ids: set[str] = set()
        #: Contacts deleted while active (they come back suspended).
        self.deleted_active: set[str] = set()
        self.actions: list[dict[str, Any]] = []
        self.cycles = 0

    # -- reading the rules -------------------------------------------------------------

    def _all_conditions(self) -> Iterable[ast.Expr]:
        for _, _, line in self.lines:
            if line.where is not None:
                yield line.where
        for segment in self.segments:
            yield segment.condition
        for rule in self.rules:
            trigger = rule.trigger
            if isinstance(trigger, ast.WhenTrigger):
                yield trigger.condition
            elif getattr(trigger, "where", None) is not None:
                yield trigger.where  # type: ignore[union-attr]
            if rule.mode.rearm is not None:
                yield rule.mode.rearm

    def _collect(self, expr: Any) -> None:
        if isinstance(expr, ast.Had | ast.Count):
            if expr not in self.windowed:
                self.windowed.append(expr)
        elif isinstance(expr, ast.Within):
            self.withins.append(expr)
        elif isinstance(expr, ast.Number):
            self.constants.add(float(expr.value))
        elif isinstance(expr, ast.Neg) and isinstance(expr.operand, ast.Number):
            self.constants.add(-float(expr.operand.value))
        if hasattr(expr, "__attrs_attrs__"):
            for attribute in expr.__attrs_attrs__:
                child = getattr(expr, attribute.name)
                if isinstance(child, tuple):
                    for item in child:
                        self._collect(item)
                elif hasattr(child, "__attrs_attrs__"):
                    self._collect(child)

    # -- scores ------------------------------------------------------------------------

    def _bounds(self, name: str) -> tuple[float, float]:
        clamp = self.scores[name].clamp
        return (-math.inf, math.inf) if clamp is None else (clamp.low, clamp.high)

    def raw_score(self, c: Contact, name: str, at: float) -> float | None:
        if name not in c.scores:
            return None
        value, since = c.scores[name]
        decay = self.scores[name].decay
        if decay is None or at == since:
            return value
        return value * 2.0 ** (-(at - since) / decay.half_life.seconds)

    def read_score(self, c: Contact, name: str, at: float | None = None) -> Any:
        raw = self.raw_score(c, name, self.now if at is None else at)
        if raw is None:
            return None
        low, high = self._bounds(name)
        return min(max(raw, low), high)

    def set_score(self, c: Contact, name: str, value: Any) -> None:
        if value is None:
            c.scores.pop(name, None)
            return
        low, high = self._bounds(name)
        c.scores[name] = (tidy(min(max(value, low), high)), self.now)

    def add_points(self, c: Contact, name: str, points: float) -> None:
        current = self.read_score(c, name)
        self.set_score(c, name, (0 if current is None else current) + points)

    # -- conditions --------------------------------------------------------------------

    def valuation(self, c: Contact) -> str:
        if c.discarded():
            return "discarded"
        if c.last_activity is None:
            return "inactive"
        age = self.now - c.last_activity
        for name, window in self.classes:
            if age < window:
                return name
        return "expired"

    def count(self, c: Contact, node: ast.Had | ast.Count) -> int:
        limit = self.now - node.window.seconds
        return sum(1 for t in c.windows.get(node, ()) if t > limit)

    def ev(self, expr: Any, c: Contact, event: dict[str, Any] | None) -> Any:
        e = self.ev
        if isinstance(expr, ast.Number | ast.String | ast.Bool):
            return expr.value
        if isinstance(expr, ast.TimeLit):
            return expr.value
        if isinstance(expr, ast.DurationLit):
            return expr.seconds
        if isinstance(expr, ast.Now):
            return self.now
        if isinstance(expr, ast.Name):
            name = expr.name
            if name in self.scores:
                return self.read_score(c, name)
            if name in self.fields:
                return c.fields.get(name)
            if name == "last_activity":
                return c.last_activity
            if name == "created":
                return c.created
            if name == "status":
                return c.status
            if name == "valuation":
                return self.valuation(c)
            if name == "tags":
                return list(c.tags)
            if name == "groups":
                return list(c.groups)
            raise UnsupportedError(name)
        if isinstance(expr, ast.EventAttr):
            if event is None:
                return None
            if expr.path == ("type",):
                return event["type"]
            value: Any = event.get("data") or {}
            for part in expr.path:
                value = value.get(part) if isinstance(value, dict) else None
            return value
        if isinstance(expr, ast.Arith):
            left, right = e(expr.left, c, event), e(expr.right, c, event)
            if is_empty(left) or is_empty(right):
                return None
            if kind(left) != "number" or kind(right) != "number":
                return None
            if expr.op == "+":
                return left + right
            if expr.op == "-":
                return left - right
            if expr.op == "*":
                return left * right
            return None if right == 0 else left / right
        if isinstance(expr, ast.Neg):
            value = e(expr.operand, c, event)
            return None if is_empty(value) else -value
        if isinstance(expr, ast.Count):
            return self.count(c, expr)
        if isinstance(expr, ast.Had):
            return self.count(c, expr) > 0
        if isinstance(expr, ast.Compare):
            return compare(expr.op, e(expr.left, c, event), e(expr.right, c, event))
        if isinstance(expr, ast.IsEmpty):
            return is_empty(e(expr.operand, c, event)) != expr.negated
        if isinstance(expr, ast.Between):
            value = e(expr.operand, c, event)
            inside = compare(">=", value, e(expr.low, c, event)) and compare(
                "<=", value, e(expr.high, c, event)
            )
            return inside != expr.negated
        if isinstance(expr, ast.InList):
            value = e(expr.operand, c, event)
            found = any(equal(value, e(item, c, event)) for item in expr.items.items)
            return found != expr.negated
        if isinstance(expr, ast.TextMatch):
            value, pattern = e(expr.operand, c, event), e(expr.pattern, c, event)
            return self.text_match(expr.op, value, pattern) != expr.negated
        if isinstance(expr, ast.Tagged):
            return expr.tag in c.tags
        if isinstance(expr, ast.InGroup):
            return expr.group in c.groups
        if isinstance(expr, ast.InSegment):
            return expr.segment in c.segments
        if isinstance(expr, ast.Within):
            value = e(expr.operand, c, event)
            if is_empty(value) or kind(value) != "number":
                return False
            age = self.now - value
            return age >= expr.window.seconds if expr.older else age < expr.window.seconds
        if isinstance(expr, ast.And):
            return all(holds(e(item, c, event)) for item in expr.items)
        if isinstance(expr, ast.Or):
            return any(holds(e(item, c, event)) for item in expr.items)
        if isinstance(expr, ast.Not):
            return not holds(e(expr.operand, c, event))
        raise UnsupportedError(type(expr).__name__)

    @staticmethod
    def text_match(op: str, value: Any, pattern: Any) -> bool:
        """The operator without its negation: false on an empty value or pattern."""
        if is_empty(value) or is_empty(pattern) or not isinstance(pattern, str):
            return False
        if isinstance(value, list | tuple):
            return op == "contains" and pattern in value
        if not isinstance(value, str):
            return False
        if op == "contains":
            return pattern in value
        if op == "startswith":
            return value.startswith(pattern)
        if op == "endswith":
            return value.endswith(pattern)
        return re.search(pattern, value) is not None

    def inputs_of(self, expr: Any, c: Contact) -> tuple[Any, ...]:
        """The current value of everything ``expr`` reads, in reading order."""
        found: list[Any] = []

        def visit(node: Any) -> None:
            if isinstance(node, ast.Name | ast.Tagged | ast.InGroup | ast.InSegment):
                found.append((node, self.ev(node, c, None)))
            elif isinstance(node, tuple):
                for item in node:
                    visit(item)
            elif attrs.has(type(node)):
                for field in attrs.fields(type(node)):
                    visit(getattr(node, field.name))

        visit(expr)
        return tuple(found)

    def cond(self, expr: Any, c: Contact, event: dict[str, Any] | None = None) -> bool:
        return expr is None or holds(self.ev(expr, c, event))

    # -- firing modes ------------------------------------------------------------------

    def may_fire(self, rule: Rule, c: Contact) -> bool:
        """The mode's say, once the trigger has a rising edge; records the marks."""
        mode = rule.mode
        if mode.kind == "once" and rule.name in c.once_fired:
            return False
        if mode.kind == "rearm" and rule.name in c.disarmed:
            return False
        if mode.cooldown is not None:
            last = c.last_fired.get(rule.name)
            if last is not None and self.now - last < mode.cooldown.seconds:
                return False
            c.last_fired[rule.name] = self.now
        if mode.kind == "once":
            c.once_fired.add(rule.name)
        elif mode.kind == "rearm":
            c.disarmed.add(rule.name)
        return True

    # -- actions -----------------------------------------------------------------------

    def run_actions(self, rule: Rule, c: Contact, event: Any, event_id: str | None) -> None:
        for action in rule.decl.actions:
            record: dict[str, Any] = {
                "at": format_time(self.now),
                "contact": c.id,
                "rule": rule.name,
            }
            if isinstance(action, ast.TagAction):
                verb, args = action.verb, [action.tag]
                if action.verb == "tag":
                    c.add_tag(action.tag)
                else:
                    c.remove_tag(action.tag)
            elif isinstance(action, ast.GroupAction):
                verb, args = action.verb, [action.group]
                if verb == "add_to_group" and action.group not in c.groups:
                    c.groups.append(action.group)
                elif verb == "remove_from_group" and action.group in c.groups:
                    c.groups.remove(action.group)
            elif isinstance(action, ast.SetAction):
                value = self.ev(action.value, c, event)
                verb, args = "set", [action.field, value]
                if action.field in self.fields:
                    self._set_field(c, action.field, value)
                elif value is None or kind(value) == "number":
                    self.set_score(c, action.field, value)
                # else: not a number, the action fails and changes nothing (6b)
            elif isinstance(action, ast.ClearAction):
                verb, args = "clear", [action.field]
                if action.field in self.fields:
                    c.fields.pop(action.field, None)
                else:
                    self.set_score(c, action.field, None)
            elif isinstance(action, ast.StatusAction):
                verb, args = action.verb, []
                c.status = "suspended" if action.verb == "suspend" else "active"
            elif isinstance(action, ast.UnsubscribeAction):
                verb, args = "unsubscribe", []
                entry = (action.scope, action.scope_name, action.channel)
                if entry not in c.unsubscribed:
                    c.unsubscribed.append(entry)
            elif isinstance(action, ast.TrackAction):
                verb, args = "track", [action.status]
                c.track(
                    _canonical_status(action.status),
                    self.now,
                    action.campaign,
                    action.offer,
                    action.channel,
                    action.mode,
                )
            elif isinstance(action, ast.SendAction):
                verb, args = f"send_{action.channel}", [action.template]
                reason = c.suppression(action.channel, action.campaign)
                if reason is not None:
                    record["suppressed"] = reason
                else:  # every send that goes out writes a history row (docs/history.md)
                    c.history.append(
                        {
                            "campaign": action.campaign,
                            "offer": None,
                            "channel": action.channel,
                            "template": action.template,
                            "log": [("contacted", self.now)],
                        }
                    )
            elif isinstance(action, ast.ScoreAction):
                amount = self.ev(action.amount, c, event)
                verb, args = action.verb, [action.score, amount]
                sign = 1 if action.verb == "add_score" else -1
                self.add_points(c, action.score, sign * amount)
            elif isinstance(action, ast.NotifyAction):
                verb = "notify"
                args = [action.team] + ([action.message] if action.message is not None else [])
            elif isinstance(action, ast.TaskAction):
                verb, args = "create_task", [action.title]
            elif isinstance(action, ast.DoAction):
                verb, args = action.name, [self.ev(a, c, event) for a in action.args]
            else:
                raise UnsupportedError(type(action).__name__)
            record["action"] = verb
            record["args"] = args
            if event_id is not None:
                record["event"] = event_id
            self.actions.append(record)

    def _set_field(self, c: Contact, name: str, value: Any) -> None:
        if value is None:
            c.fields.pop(name, None)
        else:
            c.fields[name] = value

    # -- the rounds --------------------------------------------------------------------

    def base(self, c: Contact) -> tuple[dict[str, Any], set[str]]:
        """The scores and tags that the next round's net changes are measured from."""
        c.touched_tags = {}
        return {name: self.read_score(c, name) for name in self.scores}, set(c.tags)

    def made_events(
        self, c: Contact, base: tuple[dict[str, Any], set[str]]
    ) -> list[dict[str, Any]]:
        """The engine-made ``score change`` and ``tag added`` events of the net changes
        since ``base``."""
        scores, tags = base
        made: list[dict[str, Any]] = []
        for name in self.scores:
            old, new = scores[name], self.read_score(c, name)
            if old != new or (old is None) != (new is None):
                delta = None if old is None or new is None else new - old
                data = {"score": name, "old": old, "new": new, "delta": delta}
                made.append({"type": "score.change", "data": data})
        for tag in c.touched_tags:
            if tag in c.tags and tag not in tags:
                made.append({"type": "tag.added", "data": {"tag": tag}})
        return made

    def cascade(
        self,
        c: Contact,
        event: dict[str, Any] | None,
        event_id: str | None,
        base: tuple[dict[str, Any], set[str]] | None = None,
    ) -> None:
        """Rounds until nothing fires (docs/semantics.md section 4), from scratch.

        ``base``: the scores and tags before the event's own data (default: as now)."""
        first = True
        rounds = 0
        if base is None:
            base = self.base(c)
        while True:
            engine_made = self.made_events(c, base)
            base = self.base(c)
            fired: list[tuple[tuple[int, int], Rule, Any]] = []
            # Derived state: segments, in file (= dependency) order.
            changes: list[tuple[str, str]] = []
            for segment in self.segments:
                member = self.cond(segment.condition, c)
                if member != (segment.name in c.segments):
                    if member:
                        c.segments.add(segment.name)
                        changes.append(("enter", segment.name))
                    else:
                        c.segments.discard(segment.name)
                        changes.append(("exit", segment.name))
            # Re-arm conditions first.
            for rule in self.rules:
                rearm = rule.mode.rearm
                if rearm is not None and rule.name in c.disarmed and self.cond(rearm, c):
                    c.disarmed.discard(rule.name)
            for rule in self.rules:
                trigger = rule.trigger
                if isinstance(trigger, ast.WhenTrigger):
                    now_true = self.cond(trigger.condition, c)
                    before = c.truth.get(rule.name, False)
                    c.truth[rule.name] = now_true
                    if rule.mode.kind == "each":
                        # Fires at every evaluation where it holds after one of its
                        # inputs changed (a contact's first evaluation included).
                        inputs = self.inputs_of(trigger.condition, c)
                        before = c.inputs.get(rule.name) == inputs
                        c.inputs[rule.name] = inputs
                    if now_true and not before and self.may_fire(rule, c):
                        fired.append((rule.rank, rule, None))
                elif isinstance(trigger, ast.OnSegment):
                    for edge, name in changes:
                        if edge != trigger.kind or name != trigger.segment:
                            continue
                        made = {
                            "type": f"segment.{edge}",
                            "data": {"segment": name},
                        }
                        if self.cond(trigger.where, c, made) and self.may_fire(rule, c):
                            fired.append((rule.rank, rule, made))
                elif isinstance(trigger, ast.OnScoreChange | ast.OnTagAdded):
                    for context in engine_made:
                        data = context["data"]
                        if isinstance(trigger, ast.OnScoreChange):
                            if data.get("score") != trigger.score:
                                continue
                        elif context["type"] != "tag.added" or trigger.tag not in (
                            None,
                            data["tag"],
                        ):
                            continue
                        if self.cond(trigger.where, c, context) and self.may_fire(rule, c):
                            fired.append((rule.rank, rule, context))
                elif isinstance(trigger, ast.OnEvent):
                    if (
                        first
                        and event is not None
                        and trigger.event_type == event["type"]
                        and self.cond(trigger.where, c, event)
                        and self.may_fire(rule, c)
                    ):
                        fired.append((rule.rank, rule, event))
                else:
                    raise UnsupportedError(type(trigger).__name__)
            if not fired:
                return
            fired.sort(key=lambda item: item[0])
            for _, rule, context in fired:
                self.run_actions(rule, c, context, event_id)
            rounds += 1
            if rounds > ORACLE_MAX_ROUNDS:
                self.cycles += 1
                raise CycleError(c.id)
            first = False

    # -- events ------------------------------------------------------------------------

    def ingest(self, record: dict[str, Any]) -> None:
        moment = coerce_time(record["at"])
        event_id = record.get("id")
        if event_id is not None:
            event_id = str(event_id)
            if event_id in self.seen_ids:
                return
            self.seen_ids.add(event_id)
        if moment > self.now:
            self.advance(moment)
        kind_ = record["type"]
        data = record.get("data") or {}
        cid = record["contact"]
        c = self.contacts.get(cid)
        event = {"type": kind_, "data": data}
        if kind_ == "contact.deleted":
            gone = self.contacts.pop(cid, None)
            if gone is not None and gone.status == "active":
                self.deleted_active.add(cid)
            return
        if c is None:
            c = self.contacts[cid] = Contact(cid, moment)
            if cid in self.deleted_active:  # deleted while active: back suspended
                c.status = "suspended"
        base = self.base(c)
        if kind_ == "contact.updated":
            for name, value in data.items():
                if name in self.fields:
                    self._set_field(c, name, value)
                elif name in self.scores:
                    self.set_score(c, name, value)
                elif name == "tags":
                    for tag in value:
                        c.add_tag(tag)
                else:
                    raise UnsupportedError(name)
        elif kind_ == "email.bounce" and data.get("kind") == "hard":
            c.hard_bounced = True
        if kind_ not in NON_ACTIVITY and (c.last_activity is None or c.last_activity < moment):
            c.last_activity = moment
        for node in self.windowed:
            if node.event_type == kind_ and self.cond(node.where, c, event):
                c.windows.setdefault(node, []).append(moment)
        self._score_lines(c, event)
        self.cascade(c, event, event_id, base)

    def _score_lines(self, c: Contact, event: dict[str, Any]) -> None:
        passing = [
            (number, score, line)
            for number, score, line in self.lines
            if line.event_type == event["type"] and self.cond(line.where, c, event)
        ]
        for number, score, line in passing:
            state = c.line_state.setdefault(number, {})
            if line.once and state.get("once"):
                continue
            magnitude = abs(line.points)
            if isinstance(line.cap, ast.CapTotal):
                magnitude = max(0, min(magnitude, line.cap.limit - state.get("total", 0)))
                state["total"] = state.get("total", 0) + magnitude
            elif isinstance(line.cap, ast.CapPerWindow):
                given = state.setdefault("given", [])
                recent = sum(
                    points for at, points in given if at > self.now - line.cap.window.seconds
                )
                magnitude = max(0, min(magnitude, line.cap.limit - recent))
                if magnitude:
                    given.append((self.now, magnitude))
            if line.once:
                state["once"] = True
            if magnitude:
                self.add_points(c, score, magnitude if line.points > 0 else -magnitude)

    # -- time --------------------------------------------------------------------------

    def candidates(self, c: Contact) -> set[float]:
        """Every moment after the clock at which time alone might change something."""
        moments = self._clock_moments(c)
        for name, block in self.scores.items():
            if block.decay is not None and name in c.scores:
                for constant in self.constants:
                    moment = self._crossing(c, name, constant)
                    if moment is not None:
                        moments.add(moment)
        return {m for m in moments if m > self.now}

    def _clock_moments(self, c: Contact) -> set[float]:
        """The candidate moments that are not decay crossings: class boundaries,
        ``within`` ends and window expiries (some may be at or before the clock)."""
        moments: set[float] = set()
        if c.last_activity is not None:
            moments.update(c.last_activity + window for _, window in self.classes)
        for node in self.withins:
            value = self.ev(node.operand, c, None)
            if kind(value) == "number":
                moments.add(value + node.window.seconds)
        for node, times in c.windows.items():
            moments.update(t + node.window.seconds for t in times)
        return moments

    def _crossing(self, c: Contact, name: str, target: float) -> float | None:
        """The first float moment after the clock at which the raw value, on its way to
        0, reaches ``target`` (from strictly beyond it) or passes it (from on it), by
        bisection: slow and plain."""
        raw = self.raw_score(c, name, self.now)
        if raw is None or raw == 0 or target == 0 or (raw > 0) != (target > 0):
            return None
        if abs(target) > abs(raw):
            return None
        reach = raw != target

        def past(moment: float) -> bool:
            value = self.raw_score(c, name, moment)
            assert value is not None
            if raw > 0:
                return value <= target if reach else value < target
            return value >= target if reach else value > target

        half_life = self.scores[name].decay.half_life.seconds  # type: ignore[union-attr]
        low = self.now
        high = self.now + half_life
        while not past(high):
            low, high = high, high + 2 * (high - self.now)
        while True:
            middle = (low + high) / 2
            if middle in (low, high):
                return high
            if past(middle):
                high = middle
            else:
                low = middle

    def note_ties(self, moment: float) -> None:
        """Mark the run when a decayed score reads a constant of the rules at the clock.

        The engine keeps a decaying score as a value scaled to a reference time, the
        oracle as a value and the moment it was set: the same law, rounded differently.
        When an operation stops the clock at the very moment a value meets a constant
        (3 halving to 1.5 for ``score <= 1.5``, an event exactly one half-life later),
        the two may read it a float's width apart and disagree on which side of the
        boundary that moment is. That is rounding, not the logic under test: such runs
        are set aside (``assume``).
        """
        for c in self.contacts.values():
            self._note_contact_ties(c, max(moment, self.now))

    def _note_contact_ties(self, c: Contact, moment: float) -> None:
        for name, block in self.scores.items():
            if block.decay is None:
                continue
            value = self.raw_score(c, name, moment)
            if value is None:
                continue
            for constant in self.constants:
                if math.isclose(value, constant, rel_tol=1e-12, abs_tol=1e-12):
                    self.tie = True

    def advance(self, when: float | str | datetime) -> None:
        """Move the clock to ``when``, evaluating every contact at every moment due."""
        target = coerce_time(when)
        if target <= self.now:
            return
        while True:
            due: dict[str, set[float]] = {
                cid: {m for m in self.candidates(c) if m <= target}
                for cid, c in self.contacts.items()
            }
            moments = [m for ms in due.values() for m in ms]
            if not moments:
                break
            moment = min(moments)
            self.now = moment
            for cid in sorted(due):
                if moment in due[cid]:
                    c = self.contacts[cid]
                    if moment in self._clock_moments(c):
                        # Another timer (a class boundary, a window) stops the clock
                        # here: the same rounding question as an operation's moment.
                        self._note_contact_ties(c, moment)
                    self.cascade(c, None, None)
        self.now = target

    # -- output ------------------------------------------------------------------------

    def dump(self) -> list[dict[str, Any]]:
        out = []
        for cid in sorted(self.contacts):
            c = self.contacts[cid]
            scores = {}
            for name in self.scores:
                value = self.read_score(c, name)
                if value is not None:
                    scores[name] = value
            record: dict[str, Any] = {
                "contact": cid,
                "created": format_time(c.created),
                "fields": {n: c.fields[n] for n in self.fields if c.fields.get(n) is not None},
                "groups": list(c.groups),
                "last_activity": None if c.last_activity is None else format_time(c.last_activity),
                "scores": scores,
                "segments": [s.name for s in self.segments if s.name in c.segments],
                "status": c.status,
                "tags": list(c.tags),
                "valuation": self.valuation(c),
            }
            if c.hard_bounced:
                record["hard_bounced"] = True
            if c.unsubscribed:
                record["unsubscribed"] = [
                    {k: v for k, v in (("scope", s), ("name", n), ("channel", ch)) if v is not None}
                    for s, n, ch in c.unsubscribed
                ]
            if c.history:
                record["history"] = [_history_row(row) for row in c.history]
            out.append(dict(sorted(record.items())))
        return out


def run_oracle(text: str, ops: list[tuple[str, Any]]) -> Oracle:
    """Apply ``("event", record)`` / ``("advance", moment)`` operations to a new oracle."""
    oracle = Oracle(text)
    for kind_, value in ops:
        # At the moment the operation stops the clock, before and after it applies.
        oracle.note_ties(coerce_time(value["at"] if kind_ == "event" else value))
        if kind_ == "event":
            oracle.ingest(value)
        else:
            oracle.advance(value)
        oracle.note_ties(oracle.now)
    return oracle


# ---------------------------------------------------------------------------------------
# Driving an engine the same way, and comparing


ACTION_KEYS = ("at", "contact", "rule", "action", "args", "event", "suppressed")


def action_records(actions: Iterable[Any]) -> list[dict[str, Any]]:
    """The compared part of engine actions (``options`` and ``why`` left out)."""
    out = []
    for action in actions:
        record = action.to_dict()
        out.append({key: record[key] for key in ACTION_KEYS if key in record})
    return out


def run_engine(
    engine: Any,
    ops: list[tuple[str, Any]],
    *,
    batch: bool,
    whys: list[Any] | None = None,
) -> list[dict[str, Any]]:
    """Apply operations to an engine, one by one or with ``ingest_many`` between clock
    moves; returns the compared part of every action (and adds their ``why`` to
    ``whys``, when given)."""
    actions: list[Any] = []
    pending: list[dict[str, Any]] = []
    for kind_, value in ops:
        if kind_ == "event":
            if batch:
                pending.append(dict(value))
            else:
                actions.extend(engine.ingest(dict(value)))
            continue
        if pending:
            actions.extend(engine.ingest_many(pending))
            pending = []
        actions.extend(engine.advance(value))
    if pending:
        actions.extend(engine.ingest_many(pending))
    if whys is not None:
        whys.extend(action.why for action in actions)
    return action_records(actions)


def _close(left: Any, right: Any) -> bool:
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_close(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_close, left, right))
    if kind(left) == "number" and kind(right) == "number":
        return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-6)
    return bool(left == right)


#: How far apart two action times may be and still be the same moment: the engine and the
#: oracle compute a decay crossing each in its own arithmetic (see ``note_ties``), some
#: float widths of time apart (a quarter microsecond each at today's epoch seconds), and
#: a score that is added to and decays again and again carries the difference along.
#: A fault of logic moves an action by a clock step or more, not by this.
MOMENT_TOLERANCE = 1e-4


def assert_same_actions(
    got: list[dict[str, Any]],
    expected: list[dict[str, Any]],
    what: str,
    *,
    decaying: bool = False,
) -> None:
    """Equal action records; their times equal to :data:`MOMENT_TOLERANCE` (100 µs).

    With ``decaying`` scores, actions of one contact within one second are compared as
    a set: a value that reads a constant exactly in one arithmetic and not in the other
    splits "reaches" from "passes" (docs/semantics.md, 5b) in one only, which reorders
    rules firing a float's width apart. Order across seconds is still checked.
    """
    if got == expected:
        return
    assert len(got) == len(expected), f"actions differ ({what}): {len(got)} != {len(expected)}"
    if decaying:

        def key(record: dict[str, Any]) -> tuple[Any, ...]:
            second = round(coerce_time(record["at"]))
            return (second, record["contact"], repr(sorted(record.items())))

        got, expected = sorted(got, key=key), sorted(expected, key=key)
    for index, (mine, theirs) in enumerate(zip(got, expected, strict=True)):
        rest_mine = {k: v for k, v in mine.items() if k != "at"}
        rest_theirs = {k: v for k, v in theirs.items() if k != "at"}
        apart = abs(coerce_time(mine["at"]) - coerce_time(theirs["at"]))
        assert rest_mine == rest_theirs and apart <= MOMENT_TOLERANCE, (
            f"actions differ ({what}) at {index}: {mine} != {theirs}"
        )


def assert_same_dump(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Equal dumps, scores compared to 1e-6 (decayed values are rounded floats)."""
    assert [d["contact"] for d in got] == [d["contact"] for d in expected]
    for mine, theirs in zip(got, expected, strict=True):
        assert _close(mine, theirs), f"engine {mine}\n!= oracle {theirs}"


#: The default statuses, which rules files without a `statuses` block get (names are
#: matched without case and stored as declared).
_DEFAULT_STATUSES = ("proposed", "contacted", "undeliverable", "control")


def _canonical_status(status: str) -> str:
    for name in _DEFAULT_STATUSES:
        if name.casefold() == status.casefold():
            return name
    return status


def _history_row(row: dict[str, Any]) -> dict[str, Any]:
    """A history row as the dump writes it."""
    out: dict[str, Any] = {
        part: row[part] for part in ("campaign", "offer", "channel", "template") if row[part]
    }
    out["status"] = row["log"][-1][0]
    out["at"] = format_time(row["log"][-1][1])
    out["log"] = [[status, format_time(at)] for status, at in row["log"]]
    return out
