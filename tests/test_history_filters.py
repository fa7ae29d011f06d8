"""``had``/``count`` with a parenthesised filter before their window.

``had email.click where (event.url contains "x") within 7 days`` once read the
parenthesised filter as the subject of ``X within D`` and asked "did you mean
'within'?". These pin that both forms parse into the node the author means, check
clean, and that the window counts only the events the filter keeps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import engage
from engage import Engine
from engage.dsl import ast
from engage.dsl.parser import parse_condition

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

HAD = 'had email.click where (event.url contains "x") within 7 days'
COUNT = 'count email.click where (event.url contains "x") within 7 days >= 2'


def test_had_with_a_parenthesised_filter_parses_as_written() -> None:
    node = parse_condition(HAD)
    assert isinstance(node, ast.Had)
    assert node.event_type == "email.click"
    assert isinstance(node.where, ast.TextMatch) and node.where.op == "contains"
    assert node.window.seconds == 7 * 86400


def test_count_with_a_parenthesised_filter_parses_as_written() -> None:
    node = parse_condition(COUNT)
    assert isinstance(node, ast.Compare) and node.op == ">="
    assert isinstance(node.left, ast.Count) and isinstance(node.left.where, ast.TextMatch)
    assert node.right == ast.Number(2, node.right.span)


def test_both_forms_check_clean_in_rules() -> None:
    rules = engage.compile(
        f'rule "had" when {HAD} then do seen\nrule "count" when {COUNT} then do many\n',
        name="t.rules",
    )
    assert rules.warnings == ()
    assert rules.rule_names == ["had", "count"]


def click(url: str, minutes: int) -> dict[str, object]:
    return {
        "contact": "c",
        "type": "email.click",
        "at": T0 + timedelta(minutes=minutes),
        "data": {"url": url},
    }


def test_the_window_counts_only_the_events_the_filter_keeps() -> None:
    engine = Engine(
        engage.compile(
            f'rule "had" when {HAD} then do seen\nrule "count" when {COUNT} then do many\n',
            name="t.rules",
        )
    )
    assert engine.ingest(click("/y", 0)) == []
    assert engine.ingest(click("/y", 1)) == []
    assert [a.action for a in engine.ingest(click("/x", 2))] == ["seen"]
    assert engine.ingest(click("/y", 3)) == []
    assert [a.action for a in engine.ingest(click("/x", 4))] == ["many"]
    assert engine.count(f"{HAD}") == 1
    assert engine.count('count email.click where (event.url contains "x") within 7 days >= 3') == 0
