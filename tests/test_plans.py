"""Event plans (engage.dsl.plans): the same actions, causes and state as the full path.

A plan applies an event type's effects in generated code and hands over to the cascade
only when a rule or segment could move; these tests run random rules and streams with
plans and with every event forced onto the full path, and compare everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings

import engage
from engage.engine.plans import PlanPath
from oracle import run_engine
from strategies import operations, rules_text

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

SETTINGS = settings(
    max_examples=max(100, settings.default.max_examples),
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


def _observe(engine: engage.Engine, ops: list[tuple[str, Any]], batch: bool) -> Any:
    whys: list[Any] = []
    actions = run_engine(engine, ops, batch=batch, whys=whys)
    wakes = sorted((c.id, c.wake) for c in engine.state.contacts.values())
    problems = [(p.kind, p.contact) for p in engine.problems]
    return actions, whys, list(engine.dump()), wakes, problems, engine.next_timer()


def _same_with_and_without_plans(text: str, ops: list[tuple[str, Any]]) -> None:
    rules = engage.compile(text, name="t.rules")
    for batch in (False, True):
        planned = engage.Engine(rules)
        with_plans = _observe(planned, ops, batch)
        with patch.object(PlanPath, "plan_for", lambda self, event: None):
            full = engage.Engine(rules)
            without = _observe(full, ops, batch)
            assert full.path_counts()["plan"] == 0
        assert with_plans == without


@SETTINGS
@given(rules_text(), operations())
def test_plans_match_the_full_path(text: str, ops: list[tuple[str, Any]]) -> None:
    _same_with_and_without_plans(text, ops)


@SETTINGS
@given(rules_text(time=True), operations(time=True))
def test_plans_match_the_full_path_over_time(text: str, ops: list[tuple[str, Any]]) -> None:
    _same_with_and_without_plans(text, ops)


#: Rules whose firings a plan makes itself (plain threshold rules of two scores, a plain
#: window rule, a plain rule on the class, ``on`` rules with a cooldown and ``once``, a
#: ``score change`` rule),
#: next to units it hands over for (a segment and its enter rule).
PLAIN_RULES = """
score {
    on email.open    +1
    on email.click   +3
    on web.visit     +2
    on form.submit   +5
}
score fit {
    on form.submit   +4
}
valuation {
    new       within 1 day
    frequent  within 5 days
}
segment mixed = score >= 12 and fit >= 4
rule "warm" when score >= 4 then tag "warm", notify sales "warm"
rule "hot" priority 5 when score >= 9 then notify sales "hot"
rule "busy" when count web.visit within 2 days >= 2 then tag "busy", do crm.sync
rule "fresh" when valuation is "new" and fit >= 4 then notify sales "fresh"
rule "clicker" on email.click where event.n >= 2 then notify sales "clicked"
    at most once per 1 day
rule "first form" on form.submit then notify sales "form"
    once
rule "opened" priority 3 on email.open then tag "opened"
rule "in" on segment enter mixed then tag "in"
rule "synced" on score change where score >= 6 then do crm.sync
"""


@SETTINGS
@given(operations(time=True))
def test_plans_that_fire_rules_match_the_full_path(ops: list[tuple[str, Any]]) -> None:
    _same_with_and_without_plans(PLAIN_RULES, ops)


def test_a_plan_fires_plain_rules_itself() -> None:
    engine = engage.Engine(engage.compile(PLAIN_RULES, name="t.rules"))
    day = 86400.0
    events = [
        {"contact": "c1", "type": "email.open", "at": 0.0},
        {"contact": "c1", "type": "email.click", "at": 60.0, "data": {"n": 3}},
        {"contact": "c1", "type": "web.visit", "at": day},
        {"contact": "c1", "type": "web.visit", "at": day + 60},
        {"contact": "c1", "type": "web.visit", "at": day + 120},
    ]
    actions = engine.ingest_many(events)
    assert [(a.rule, a.action) for a in actions] == [
        ("opened", "tag"),
        ("warm", "tag"),
        ("warm", "notify"),
        ("clicker", "notify"),
        ("synced", "crm.sync"),
        ("busy", "tag"),
        ("busy", "crm.sync"),
        ("synced", "crm.sync"),
        ("hot", "notify"),
        ("synced", "crm.sync"),
    ]
    counts = engine.path_counts()
    assert counts["plan_fired"] == 4
    assert counts["plan_handed_over"] == 0


def test_every_event_type_of_the_example_runs_through_its_plan() -> None:
    rules = engage.load(EXAMPLES / "engagement.rules")
    lines = (EXAMPLES / "events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines if line.strip()]
    engine = engage.Engine(rules)
    engine.ingest_many(events)
    counts = engine.path_counts()
    seen: set[str] = set()
    built_in = 0
    hard_bounces = 0
    for event in events:
        kind = event["type"]
        if kind in ("contact.updated", "contact.deleted", "unsubscribe"):
            built_in += 1
        elif kind == "email.bounce" and (event.get("data") or {}).get("kind") == "hard":
            hard_bounces += 1
        seen.add(event["contact"])
    created = len(seen)
    assert counts["full"] <= built_in + hard_bounces + created
    assert counts["plan"] + counts["full"] == len(events)
    assert counts["plan"] >= len(events) - built_in - hard_bounces - created
    planned_types = {kind for kind in (e["type"] for e in events)} - {
        "contact.updated",
        "unsubscribe",
    }
    source = engine.plan_source
    for kind in planned_types:
        if kind in engine.program.plans or kind == "email.bounce":
            assert f"# event type {kind!r}" in source
    assert "# other event types" in source


def test_check_prints_the_plans() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "engage",
            "check",
            "--plan",
            "-q",
            str(EXAMPLES / "engagement.rules"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "def _plan1(c, ev, now, moment):" in done.stdout
    assert "# event type 'email.open'" in done.stdout
    compile(done.stdout, "<plans>", "exec")
