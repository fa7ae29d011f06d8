"""Regressions the flow oracle (``test_oracle_flows.py``) found, each as a small case."""

from __future__ import annotations

from typing import Any

import engage

T0 = 1767607200  # 2026-01-05T10:00:00Z
HOUR = 3600
DAY = 86400

TWO_FLOWS = """
score {
    on email.open +1
}
on web.visit then tag "A"
segment s1 = score >= 1
segment s2 = tagged "A"
flow f1 {
    for segment s1
    wait 23 hours
    send email "one"
}
flow f2 {
    for segment s2
    wait 1 day
    send email "two"
}
"""


def _flow_actions(actions: list[Any]) -> list[tuple[float, str, str, list[str]]]:
    return [(a.time, a.rule, a.action, list(a.args)) for a in actions if a.rule.startswith("flow:")]


def _two_flows_entered_in_reverse() -> engage.Engine:
    """c1 enters f2 (written second) at T0, then f1 an hour later."""
    engine = engage.Engine(engage.compile(TWO_FLOWS, name="t.rules"), max_future=None)
    engine.ingest({"contact": "c1", "type": "web.visit", "at": T0, "id": "e1"})
    engine.ingest({"contact": "c1", "type": "email.open", "at": T0 + HOUR, "id": "e2"})
    return engine


def test_flows_due_at_one_moment_run_in_written_order() -> None:
    """Both waits end at T0 + 1 day: the driver's docstring says flows are taken in
    written order, so f1's send comes before f2's, whichever the contact entered first
    (the records were walked in entry order)."""
    engine = _two_flows_entered_in_reverse()
    sends = [a for a in _flow_actions(engine.advance(T0 + DAY)) if a[2] == "send_email"]
    assert sends == [
        (T0 + DAY, "flow:f1", "send_email", ["one"]),
        (T0 + DAY, "flow:f2", "send_email", ["two"]),
    ]


def test_deletion_leaves_flows_in_written_order() -> None:
    engine = _two_flows_entered_in_reverse()
    out = engine.ingest({"contact": "c1", "type": "contact.deleted", "at": T0 + 2 * HOUR})
    assert [(a.rule, a.options) for a in out if a.action == "exit_flow"] == [
        ("flow:f1", {"reason": "deleted"}),
        ("flow:f2", {"reason": "deleted"}),
    ]


def test_from_without_to_compiles() -> None:
    """``from T`` alone is in the grammar (``flow_window``) and in LANGUAGE.md §5."""
    text = (
        'segment s = tagged "A"\n'
        'flow f {\n    for segment s\n    from 2026-01-06\n    send email "w"\n}\n'
    )
    rules = engage.compile(text, name="t.rules")
    engine = engage.Engine(rules, max_future=None)
    engine.ingest({"contact": "c1", "type": "contact.updated", "at": T0, "data": {"tags": ["A"]}})
    out = _flow_actions(engine.advance(T0 + DAY))
    assert out[0] == (1767657600.0, "flow:f", "enter_flow", ["f"])
