"""`engage check`'s loop warning: real loops are named once, harmless self-writes are not.

Each warned example is also run through the engine, which must report the rule cycle the
warning predicted; each example the warning leaves alone must settle without one. The
graph search itself is compared with a brute-force reachability under hypothesis.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

import engage
from engage import Engine
from engage.dsl.loops import _strongly_connected


def loop_warnings(text: str) -> list[str]:
    rules = engage.compile(text, name="t.rules")
    return [w.message for w in rules.warnings if "loop" in w.message]


def cycle_problems(text: str, *events: str) -> list[tuple[str, ...]]:
    engine = Engine(engage.compile(text, name="t.rules"))
    for number, event_type in enumerate(events):
        engine.ingest({"contact": "c", "type": event_type, "at": f"2026-01-05T10:00:{number:02d}Z"})
    return [problem.rules for problem in engine.problems if problem.kind == "rule cycle"]


WARNED = {
    "two rules undo each other": (
        """
score { on email.open +1 }
rule "ping" when score >= 1 and not tagged "A" then tag "A"
rule "pong" when tagged "A" then untag "A"
""",
        ["'ping' -> 'pong' -> 'ping'"],
    ),
    "a score change rule that changes its score": (
        """
score { on email.open +1 }
rule "grow" on score change then add 1 to score
""",
        ["rule 'grow' can keep re-triggering itself"],
    ),
    "an each-time rule that keeps its condition true": (
        """
score { on email.open +1 }
rule "pump" when score >= 1 then add 1 to score each time
""",
        ["rule 'pump' can keep re-triggering itself"],
    ),
    "segment enter and exit rules that push the contact across": (
        """
score { on email.open +5 }
segment hot = score >= 5
rule "cool" on segment enter hot then subtract 5 from score
rule "warm" on segment exit hot then add 5 to score
""",
        ["'cool' -> 'warm' -> 'cool'"],
    ),
}


@pytest.mark.parametrize("case", sorted(WARNED))
def test_real_loops_are_warned_once_and_the_engine_meets_them(case: str) -> None:
    text, fragments = WARNED[case]
    warnings = loop_warnings(text)
    assert len(warnings) == len(fragments)
    for warning, fragment in zip(warnings, fragments, strict=True):
        assert fragment in warning
        assert "32 rounds" in warning
    assert cycle_problems(text, "email.open")


SETTLES = {
    "a guard rule tags what it checks": """
fields { nps: number }
score { on email.open +1 }
rule "survey" when score >= 1 and not tagged "surveyed" then tag "surveyed"
""",
    "an edge rule raises the score it reads": """
score { on email.open +1 }
rule "bonus" when score >= 1 then add 3 to score
""",
    "an outside-event rule filters on the score it changes": """
score { on email.open +1 }
rule "top up" on email.open where score >= 1 then add 1 to score
""",
    "once rules cannot come back": """
score { on email.open +1 }
rule "ping" when score >= 1 and not tagged "A" then tag "A" once
rule "pong" when tagged "A" then untag "A" once
""",
    "a score change rule that changes another score": """
score { on email.open +1 }
score fit { on form.submit +1 }
rule "spill" on score change then add 1 to fit
""",
}


@pytest.mark.parametrize("case", sorted(SETTLES))
def test_rules_that_cannot_loop_get_no_warning_and_settle(case: str) -> None:
    text = SETTLES[case]
    assert loop_warnings(text) == []
    assert cycle_problems(text, "email.open", "email.open", "email.open") == []


def test_a_large_file_of_guarded_rules_checks_without_loop_warnings() -> None:
    lines = ["fields { nps: number }", "score { on email.open +1 }"]
    for number in range(500):
        lines.append(
            f'rule "NPS {number}" when nps between 5 and 7 and not tagged "s{number}" '
            f'then tag "s{number}", send email "nps-{number}"'
        )
    assert loop_warnings("\n".join(lines)) == []


def test_a_long_chain_closed_into_a_ring_is_one_warning() -> None:
    count = 300
    lines = ["score { on email.open +1 }"]
    for number in range(count):
        lines.append(
            f'rule "r{number}" when tagged "t{number}" '
            f'then untag "t{number}", tag "t{(number + 1) % count}"'
        )
    (warning,) = loop_warnings("\n".join(lines))
    assert warning.startswith(
        "these rules can trigger each other in a loop: 'r0' -> 'r1' -> 'r2' -> 'r3' -> "
        "'r4' -> 'r5' -> ... -> 'r299' -> 'r0' (300 rules)"
    )


@given(
    st.integers(min_value=1, max_value=9).flatmap(
        lambda n: st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n
        ).map(lambda edges: (n, edges))
    )
)
def test_strongly_connected_groups_match_brute_force_reachability(
    graph_spec: tuple[int, list[tuple[int, int]]],
) -> None:
    size, edges = graph_spec
    nodes = [f"n{i}" for i in range(size)]
    graph = {node: sorted({f"n{b}" for a, b in edges if f"n{a}" == node}) for node in nodes}
    reach = {node: {node} for node in nodes}
    for _ in nodes:
        for node, targets in graph.items():
            for target in targets:
                reach[node] |= reach[target]
    want = {frozenset(b for b in nodes if b in reach[a] and a in reach[b]) for a in nodes}
    got = _strongly_connected(graph)
    assert {frozenset(group) for group in got} == want
    assert sorted(itertools.chain.from_iterable(got)) == sorted(nodes)
