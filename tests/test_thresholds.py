"""The threshold index finds exactly the rules whose truth can change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from engage.triggers.thresholds import ThresholdIndex

Predicate = Callable[[Any], bool]


def _ge(k: float) -> Predicate:
    return lambda v: v is not None and v >= k


def _lt(k: float) -> Predicate:
    return lambda v: v is not None and v < k


def _ne(k: float) -> Predicate:
    return lambda v: v != k


def _between(a: float, b: float) -> Predicate:
    return lambda v: v is not None and a <= v <= b


def _gt(k: float) -> Predicate:
    return lambda v: v is not None and v > k


def _empty(_: float) -> Predicate:
    return lambda v: v is None


KINDS = {
    "ge": (_ge, lambda k: [k]),
    "gt": (_gt, lambda k: [k]),
    "lt": (_lt, lambda k: [k]),
    "ne": (_ne, lambda k: [k]),
    "between": (lambda k: _between(k, k + 3), lambda k: [k, k + 3]),
    "empty": (_empty, lambda k: []),
}

rule_specs = st.lists(
    st.tuples(st.sampled_from(sorted(KINDS)), st.integers(-20, 20)), min_size=1, max_size=25
)
values = st.one_of(st.none(), st.integers(-30, 30), st.floats(-30, 30, allow_nan=False))


@given(rule_specs, values, values)
def test_candidates_cover_every_truth_change(
    specs: list[tuple[str, int]], old: Any, new: Any
) -> None:
    rules = []
    for number, (kind, k) in enumerate(specs):
        make, points = KINDS[kind]
        rules.append((f"r{number}", points(k), make(k)))
    index = ThresholdIndex(rules)
    index.check()
    predicates = {name: predicate for name, _, predicate in rules}
    found = index.candidates(old, new)
    assert len(found) == len(set(found)), "no duplicates"
    for name, predicate in predicates.items():
        if bool(predicate(old)) != bool(predicate(new)):
            assert name in found, f"{name} changes truth between {old} and {new} but was missed"
    if old is None or new is None:
        return
    # What the inline path relies on to skip a hand-over (see engine._fast_plans).
    low, high = min(old, new), max(old, new)
    if index.points_belong_above and not any(low < p <= high for p in index.points):
        assert all(bool(f(old)) == bool(f(new)) for f in predicates.values())
    if index.rises_only and new < old:
        assert not any(f(new) and not f(old) for f in predicates.values())


def test_candidates_are_few_for_a_small_move() -> None:
    rules = [(f"tier{k}", [k], _ge(k)) for k in range(1, 1001)]
    index = ThresholdIndex(rules)
    # Both ends are included: a rule whose breakpoint is the old value may change too.
    assert index.candidates(10, 11) == ["tier10", "tier11"]
    assert index.candidates(10.5, 10.7) == []
    assert index.candidates(None, 3) == ["tier1", "tier2", "tier3"]
    assert index.candidates(12, 9) == ["tier9", "tier10", "tier11", "tier12"]
    assert index.breakpoints[:3] == (1.0, 2.0, 3.0) or index.breakpoints[:3] == (1, 2, 3)


def test_rules_whose_empty_truth_differs_are_kept_apart() -> None:
    index = ThresholdIndex(
        [("ne", [3], _ne(3)), ("lt", [5], _lt(5)), ("ge", [5], _ge(5)), ("empty", [], _empty(0))]
    )
    # `score != 3` holds both on an empty score and below 3, so it needs no special care.
    assert set(index.none_special) == {"lt", "empty"}
    assert "empty" in index.candidates(None, 100)


def test_rises_only_tells_upward_rules_from_the_rest() -> None:
    def index(*entries: tuple[str, list[float], Predicate]) -> ThresholdIndex[str]:
        return ThresholdIndex(entries)

    assert index(("a", [5.0], _ge(5)), ("b", [7.0], _gt(7))).rises_only
    assert index(("both", [5.0, 7.0], lambda v: _ge(5)(v) and _ge(7)(v))).rises_only
    assert index().rises_only
    for falls in (
        ("lt", [3.0], _lt(3)),
        ("ne", [3.0], _ne(3)),
        ("between", [2.0, 4.0], _between(2, 4)),
        ("or", [2.0, 5.0], lambda v: _ge(5)(v) or v == 2),
    ):
        assert not index(("up", [1.0], _ge(1)), falls).rises_only, falls[0]


def test_points_taken_away_pass_upward_thresholds_without_a_hand_over() -> None:
    import engage

    rules = engage.compile(
        """
score { on email.open +2  on email.bounce -5 }
rule "warm" when score >= 5 then tag "warm"
rule "hot" when score > 8 then notify sales
""",
        name="t.rules",
    )
    kinds = ["email.open"] * 5 + ["email.bounce", "email.bounce"] + ["email.open"] * 6
    events = [
        {"contact": "c", "type": kind, "at": 1_767_225_600.0 + n} for n, kind in enumerate(kinds)
    ]
    fast = engage.Engine(rules)
    actions = fast.ingest_many(events)
    # 2,4,6 (warm) ,8,10 (hot); down to 5, 0 without firing; then 2..12: warm and hot again.
    assert [a.rule for a in actions] == ["warm", "hot", "warm", "hot"]
    one_by_one = engage.Engine(rules)
    slow = [action for event in events for action in one_by_one.ingest(dict(event))]
    assert [(a.rule, a.time) for a in slow] == [(a.rule, a.time) for a in actions]
    assert fast.contact("c").scores == one_by_one.contact("c").scores  # type: ignore[union-attr]


def test_points_belong_above_tells_closed_from_open_bounds() -> None:
    assert ThresholdIndex([("a", [5.0], _ge(5)), ("b", [3.0], _lt(3))]).points_belong_above
    assert not ThresholdIndex([("a", [5.0], _ge(5)), ("b", [8.0], _gt(8))]).points_belong_above
    assert not ThresholdIndex([("a", [2.0, 4.0], _between(2, 4))]).points_belong_above


def test_a_score_resting_on_a_closed_threshold_moves_up_without_a_hand_over() -> None:
    import engage

    rules = engage.compile(
        """
score { on email.open +2 }
rule "four" when score >= 4 then tag "four"
rule "six" when score >= 6 then tag "six"
""",
        name="t.rules",
    )
    events = [{"contact": "c", "type": "email.open", "at": 1_767_225_600.0 + n} for n in range(5)]
    engine = engage.Engine(rules)
    actions = engine.ingest_many(events)
    assert [a.rule for a in actions] == ["four", "six"]
    # 2 -> 4 and 4 -> 6 pass a threshold; 6 -> 8 and 8 -> 10 leave one they rest on.
    assert engine.path_counts() == {
        "inline": 5,
        "handed_over": 2,
        "plan": 0,
        "plan_handed_over": 0,
        "plan_fired": 0,
        "full": 0,
    }
    one_by_one = engage.Engine(rules)
    slow = [action for event in events for action in one_by_one.ingest(dict(event))]
    assert [(a.rule, a.time) for a in slow] == [(a.rule, a.time) for a in actions]
