"""Finding rules whose actions can keep re-triggering each other (``engage check`` warns).

A run stops a cascade after 32 rounds (see ``docs/semantics.md``); this module finds, before
any run, the groups of rules that could get there. It builds a graph with an edge
``A -> B`` when an action of A changes something that can make B fire, and reports each
strongly connected group once, with all its rules (Tarjan's algorithm, linear in rules
and edges, so a file of thousands of rules is checked in milliseconds).

An edge exists only where a firing can follow, which keeps the warning for real loops:

* ``on TYPE`` rules for outside events fire only in an event's first round, and ``once``
  rules fire once per contact ever; neither can be re-triggered, so no edge enters them.
* ``on SCORE change`` and ``on tag added`` fire on that change alone; their ``where``
  filters a firing but does not cause one.
* ``on segment enter|exit`` rules are caused by what the segment's condition reads.
* A ``when`` rule that changes its own inputs is not a loop by itself: it fires on a
  false-to-true edge, so firing again needs another rule to make the condition false in
  between. Its self-edge is dropped unless it fires ``each time`` or re-arms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import attrs

from engage.dsl import ast
from engage.dsl.walk import walk


@attrs.frozen(slots=True)
class RuleLoop:
    """One group of rules that can feed each other."""

    #: A shortest cycle through the group's first rule, starting there.
    cycle: list[str]
    #: Every rule of the group, in firing order.
    rules: list[str]


def rule_loops(
    rules: Sequence[tuple[str, ast.RuleDecl]],
    segments: Mapping[str, ast.Expr],
) -> list[RuleLoop]:
    """Each group of rules that can feed each other, once.

    ``rules`` are ``(name, declaration)`` pairs in firing order; ``segments`` maps segment
    names to their conditions. Groups come in the order of their first rule.
    """
    order = {name: index for index, (name, _) in enumerate(rules)}
    graph = _trigger_graph(rules, segments, order)
    loops: list[RuleLoop] = []
    for group in _strongly_connected(graph):
        members = sorted(group, key=order.__getitem__)
        first = members[0]
        if len(group) == 1 and first not in graph[first]:
            continue
        loops.append(RuleLoop(_cycle_through(first, graph, group), members))
    loops.sort(key=lambda loop: order[loop.cycle[0]])
    return loops


def _trigger_graph(
    rules: Sequence[tuple[str, ast.RuleDecl]],
    segments: Mapping[str, ast.Expr],
    order: Mapping[str, int],
) -> dict[str, list[str]]:
    """``A -> [B, ...]``: the rules an action of A can make fire, in firing order."""
    segment_keys = _SegmentKeys(segments)
    readers: dict[str, list[str]] = {}
    for name, decl in rules:
        for key in _cause_keys(decl, segment_keys):
            readers.setdefault(key, []).append(name)
    graph: dict[str, list[str]] = {}
    for name, decl in rules:
        targets = {target for key in _written_keys(decl) for target in readers.get(key, ())}
        if name in targets and not _can_refire_itself(decl):
            targets.discard(name)
        graph[name] = sorted(targets, key=order.__getitem__)
    return graph


def _can_refire_itself(rule: ast.RuleDecl) -> bool:
    if isinstance(rule.trigger, ast.WhenTrigger):
        return rule.mode.kind in ("each", "rearm")
    return True


class _SegmentKeys:
    """What each segment's membership depends on, segments read by segments included."""

    def __init__(self, segments: Mapping[str, ast.Expr]) -> None:
        self._conditions = segments
        self._keys: dict[str, frozenset[str]] = {}

    def __call__(self, segment: str) -> frozenset[str]:
        if segment not in self._keys:
            # Segments are checked acyclic before this runs; the placeholder stops a
            # runaway recursion all the same.
            self._keys[segment] = frozenset()
            read = _read_keys([self._conditions.get(segment)], self)
            self._keys[segment] = frozenset(read | {f"segment:{segment}"})
        return self._keys[segment]


def _cause_keys(rule: ast.RuleDecl, segment_keys: _SegmentKeys) -> set[str]:
    """Changes of state that can make ``rule`` fire in a later round of a cascade."""
    trigger = rule.trigger
    if rule.mode.kind == "once":
        return set()
    match trigger:
        case ast.WhenTrigger(condition=condition):
            keys = _read_keys([condition, rule.mode.rearm], segment_keys)
        case ast.OnScoreChange(score=score):
            keys = {f"score:{score}"}
        case ast.OnTagAdded(tag=tag):
            keys = {f"tag:{tag}" if tag else "tags"}
        case ast.OnSegment(segment=segment):
            keys = set(segment_keys(segment))
        case _:
            keys = set()
    return keys


def _read_keys(exprs: Iterable[ast.Expr | None], segment_keys: _SegmentKeys) -> set[str]:
    keys: set[str] = set()
    for expr in exprs:
        if expr is None:
            continue
        for node in walk(expr):
            match node:
                case ast.Name(name=name):
                    keys.add(f"score:{name}")
                    keys.add(f"field:{name}")
                case ast.Tagged(tag=tag):
                    keys.add(f"tag:{tag}")
                case ast.InGroup(group=group):
                    keys.add(f"group:{group}")
                case ast.InSegment(segment=segment):
                    keys.update(segment_keys(segment))
                case ast.Subscribed(list_name=list_name):
                    keys.add(f"list:{list_name}")
                case _:
                    pass
    return keys


def _written_keys(rule: ast.RuleDecl) -> set[str]:
    keys: set[str] = set()
    for action in rule.actions:
        match action:
            case ast.TagAction(verb="tag", tag=tag):
                keys.update({f"tag:{tag}", "tags", "field:tags"})
            case ast.TagAction(tag=tag):
                keys.update({f"tag:{tag}", "field:tags"})
            case ast.GroupAction(group=group):
                keys.update({f"group:{group}", "field:groups"})
            case ast.SetAction(field=field) | ast.ClearAction(field=field):
                keys.update({f"field:{field}", f"score:{field}"})
            case ast.ScoreAction(score=score):
                keys.add(f"score:{score}")
            case ast.ListAction(list_name=list_name):
                keys.add(f"list:{list_name}")
            case _:
                pass
    return keys


def _strongly_connected(graph: Mapping[str, Sequence[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index_of: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index_of:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, edge = work.pop()
            if edge == 0:
                index_of[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = graph[node]
            while edge < len(targets):
                target = targets[edge]
                edge += 1
                if target not in index_of:
                    work.append((node, edge))
                    work.append((target, 0))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index_of[target])
            else:
                if low[node] == index_of[node]:
                    group: set[str] = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    groups.append(group)
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
    return groups


def _cycle_through(start: str, graph: Mapping[str, Sequence[str]], group: set[str]) -> list[str]:
    """A shortest cycle from ``start`` back to itself inside one strongly connected group.

    In a group of several rules a self-edge of ``start`` is passed over, so that the
    cycle shows how the rules feed each other.
    """
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for target in graph[node]:
                if target not in group or (target == node == start and len(group) > 1):
                    continue
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return path[::-1]
                if target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    return [start]
