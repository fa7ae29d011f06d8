"""The engine end to end: the seed example, conditions, firing modes, order, cascades,
scores, contact events, duplicates, the fast path and explanations.

Every test compiles a small rules text, feeds events through the public API and checks
the actions and the state the contract (docs/semantics.md) promises.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import engage
from engage import Action, Engine

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def make(text: str) -> Engine:
    return Engine(engage.compile(text, name="t.rules"))


def at(hours: float = 0.0, days: float = 0.0) -> str:
    moment = T0 + timedelta(hours=hours, days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def ev(
    contact: str,
    type_: str,
    when: str,
    event_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    record: dict[str, Any] = {"contact": contact, "type": type_, "at": when}
    if event_id is not None:
        record["id"] = event_id
    if data is not None:
        record["data"] = data
    return record


def update(contact: str, when: str, **data: Any) -> dict[str, Any]:
    return ev(contact, "contact.updated", when, data=data)


def rules_of(actions: list[Action]) -> list[str]:
    return [a.rule for a in actions]


def dicts(actions: list[Action]) -> list[dict[str, Any]]:
    return [a.to_dict() for a in actions]


# -- the seed example ---------------------------------------------------------------------

SEED = """
score {
    on stage.reached     +3
    on email.open        +1
    on email.bounce      -5
}

rule "Hot lead" priority 10
    when score >= 5
    then notify sales, create task "Follow up" due in 2 days, tag "Caliente"
"""


def test_seed_contact_at_4_reaching_a_stage_fires_hot_lead_once() -> None:
    engine = make(SEED)
    assert engine.ingest(ev("jhon", "contact.updated", at(-1), "u1", {"score": 4})) == []
    assert engine.contact("jhon").scores == {"score": 4}  # type: ignore[union-attr]
    actions = engine.ingest(ev("jhon", "stage.reached", at(), "e-17", {"stage": "demo"}))
    assert dicts(actions) == [
        {
            "at": "2026-01-05T10:00:00Z",
            "contact": "jhon",
            "rule": "Hot lead",
            "action": "notify",
            "args": ["sales"],
            "event": "e-17",
        },
        {
            "at": "2026-01-05T10:00:00Z",
            "contact": "jhon",
            "rule": "Hot lead",
            "action": "create_task",
            "args": ["Follow up"],
            "options": {"due_in": "2 days", "due": "2026-01-07T10:00:00Z"},
            "event": "e-17",
        },
        {
            "at": "2026-01-05T10:00:00Z",
            "contact": "jhon",
            "rule": "Hot lead",
            "action": "tag",
            "args": ["Caliente"],
            "event": "e-17",
        },
    ]
    assert actions[0].at == T0
    assert actions[0].suppressed is None
    view = engine.contact("jhon")
    assert view is not None
    assert view.scores == {"score": 7}
    assert view.tags == ["Caliente"]
    # Only the outside actions go to the outbox.
    assert [a.action for a in engine.drain_outbox()] == ["notify", "create_task"]


def test_seed_no_second_firing_until_the_score_drops_below_and_crosses_again() -> None:
    engine = make(SEED)
    engine.ingest(update("jhon", at(-1), score=4))
    assert len(engine.ingest(ev("jhon", "stage.reached", at(0), "e1"))) == 3
    # Further points while above the threshold: nothing.
    assert engine.ingest(ev("jhon", "stage.reached", at(1), "e2")) == []
    assert engine.ingest(ev("jhon", "email.open", at(2), "e3")) == []
    assert engine.contact("jhon").scores == {"score": 11}  # type: ignore[union-attr]
    # Drop below 5 (11 - 5 - 5 = 1): the rule re-arms, still nothing fires.
    assert engine.ingest(ev("jhon", "email.bounce", at(3), "e4")) == []
    assert engine.ingest(ev("jhon", "email.bounce", at(4), "e5")) == []
    assert engine.contact("jhon").scores == {"score": 1}  # type: ignore[union-attr]
    # Cross again: fires again, with the new event id and time.
    assert engine.ingest(ev("jhon", "stage.reached", at(5), "e6")) == []  # 4
    again = engine.ingest(ev("jhon", "stage.reached", at(6), "e7"))  # 7
    assert [(a.action, a.event, a.to_dict()["at"]) for a in again] == [
        ("notify", "e7", "2026-01-05T16:00:00Z"),
        ("create_task", "e7", "2026-01-05T16:00:00Z"),
        ("tag", "e7", "2026-01-05T16:00:00Z"),
    ]


def test_seed_why_names_the_rule_and_the_values_read() -> None:
    engine = make(SEED)
    engine.ingest(update("jhon", at(-1), score=4))
    actions = engine.ingest(ev("jhon", "stage.reached", at(), "e-17"))
    why = actions[0].why
    assert why is not None
    assert why["rule"] == "Hot lead"
    assert why["event"] == "e-17"
    assert why["reads"] == {"score": [4, 7]}
    assert why["crossed"] == "score >= 5"
    record = actions[2].to_dict(explain=True)
    assert record["why"]["rule"] == "Hot lead"
    assert "4 -> 7" in record["why"]["summary"]
    assert "why" not in actions[2].to_dict()


def test_seed_example_file_loads_and_runs() -> None:
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "engagement.rules"
    engine = Engine(engage.load(path))
    engine.ingest(update("jhon", at(-1), score=4))
    actions = engine.ingest(ev("jhon", "stage.reached", at(), "e-17"))
    hot = [a for a in actions if a.rule == "Hot lead"]
    assert [a.action for a in hot] == ["notify", "create_task", "tag"]
    assert "Caliente" in engine.contact("jhon").tags  # type: ignore[union-attr]


# -- comparisons, edge-triggered ----------------------------------------------------------

FIELDS = """
fields {
    city: text
    nps: number
    interests: list
    vip: bool
    renewal: time
}
"""


def edge_hits(condition: str, updates: list[dict[str, Any]]) -> list[bool]:
    """For each update in turn, whether the rule ``when CONDITION`` fired on it."""
    engine = make(FIELDS + f'rule "r" when {condition} then do hit\n')
    hits = []
    for number, data in enumerate(updates):
        actions = engine.ingest(update("c", at(number), **data))
        hits.append([a.rule for a in actions] == ["r"])
    return hits


@pytest.mark.parametrize(
    ("condition", "values", "expected"),
    [
        # A first evaluation counts as coming from false; empty is false for orderings.
        ("nps >= 5", [None, 4, 5, 6, 4, 5], [False, False, True, False, False, True]),
        ("nps > 5", [5, 6, 7, 5, 6], [False, True, False, False, True]),
        ("nps < 5", [None, 5, 4, 3, 5, 4], [False, False, True, False, False, True]),
        ("nps <= 5", [6, 5, 4, 6, 5], [False, True, False, False, True]),
        ("nps == 5", [None, 5, 5, 4, 5], [False, True, False, False, True]),
        # `!=` is exactly `not ==`: holds for an empty value.
        ("nps != 3", [None, 4, 3, 4], [True, False, False, True]),
        ("nps is empty", [None, 1, None], [True, False, True]),
        ("nps is not empty", [None, 1, 2, None, 0], [False, True, False, False, True]),
        ("nps between 3 and 5", [2, 3, 5, 6, 5], [False, True, False, False, True]),
    ],
)
def test_number_comparisons_are_edge_triggered(
    condition: str, values: list[Any], expected: list[bool]
) -> None:
    assert edge_hits(condition, [{"nps": v} for v in values]) == expected


@pytest.mark.parametrize(
    ("condition", "values", "expected"),
    [
        # `==` holds when both sides are empty: "" and a missing value are empty.
        ('city == ""', [None, "Cali", "", None], [True, False, True, False]),
        ('city == "Cali"', [None, "Cali", "Bogotá", "Cali"], [False, True, False, True]),
        ('city != "Cali"', [None, "Cali", ""], [True, False, True]),
        ("city is empty", ["", "x", None], [True, False, True]),
        (
            'city in ["Cali", "Bogotá"]',
            ["Lima", "Bogotá", "Cali", "Lima"],
            [False, True, False, False],
        ),
        ('city not in ["Cali"]', [None, "Cali", "Lima"], [True, False, True]),
        ('city contains "ali"', ["Cali", "CALI", "Lima", "Calima"], [True, False, False, True]),
        ('city startswith "Bo"', ["Bogotá", "bogotá", "Boston"], [True, False, True]),
        ('city endswith "tá"', ["Bogotá", "Bogota", "Bogotá"], [True, False, True]),
        ('city matches "^C[a-z]+i$"', ["Cali", "cali", "Cari", ""], [True, False, True, False]),
        ('city matches "(?i)^cali$"', ["CALI", "Lima", "cAlI"], [True, False, True]),
    ],
)
def test_text_conditions(condition: str, values: list[Any], expected: list[bool]) -> None:
    assert edge_hits(condition, [{"city": v} for v in values]) == expected


def test_text_operator_on_empty_value_is_false() -> None:
    updates: list[dict[str, Any]] = [{"nps": 1}, {"city": ""}, {"city": "a"}, {"city": None}]
    assert edge_hits('city contains "a"', updates) == [False, False, True, False]
    assert edge_hits('city endswith "a"', updates) == [False, False, True, False]
    assert edge_hits('city matches "a"', updates) == [False, False, True, False]


def test_matches_on_empty_text_is_false() -> None:
    updates: list[dict[str, Any]] = [{"nps": 1}, {"city": ""}, {"city": "a"}, {"city": None}]
    assert edge_hits('city matches ".*"', updates) == [False, False, True, False]


def test_contains_on_a_list_is_membership() -> None:
    values = [["golf"], ["golf", "tennis"], [], ["tennis"]]
    got = edge_hits('interests contains "tennis"', [{"interests": v} for v in values])
    assert got == [False, True, False, True]
    got = edge_hits("interests is empty", [{"interests": v} for v in [["a"], [], ["b"]]])
    assert got == [False, True, False]


def test_bool_field_as_condition_only_true_holds() -> None:
    values = [None, False, True, False, True]
    assert edge_hits("vip", [{"vip": v} for v in values]) == [False, False, True, False, True]


def test_arithmetic_and_precedence() -> None:
    # (nps + 1) * 2 >= 10  <=>  nps >= 4; empty arithmetic is empty, hence false.
    got = edge_hits("(nps + 1) * 2 >= 10", [{"nps": v} for v in [None, 3, 4, 1, 9]])
    assert got == [False, False, True, False, True]
    got = edge_hits("nps + 1 * 2 >= 10", [{"nps": v} for v in [7, 8]])
    assert got == [False, True]
    # Division by zero is empty: not >= anything, and `is empty` holds.
    got = edge_hits("10 / nps is empty", [{"nps": v} for v in [2, 0, 5]])
    assert got == [False, True, False]


def test_and_or_not() -> None:
    condition = '(nps >= 5 and city == "Cali") or not vip'
    updates: list[dict[str, Any]] = [
        {"vip": True},  # false
        {"nps": 5},  # false
        {"city": "Cali"},  # true
        {"city": "Lima"},  # false
        {"vip": False},  # true
    ]
    assert edge_hits(condition, updates) == [False, False, True, False, True]


def test_tagged_and_in_group() -> None:
    engine = make('rule "r" when tagged "VIP" and in group "G" then do hit\n')
    assert engine.ingest(update("c", at(0), tags=["VIP"])) == []
    assert rules_of(engine.ingest(update("c", at(1), groups=["G"]))) == ["r"]
    assert engine.ingest(update("c", at(2), tags=["Other"])) == []


def test_time_field_comparison() -> None:
    got = edge_hits(
        "renewal < 2026-03-01",
        [{"renewal": "2026-04-01T00:00:00Z"}, {"renewal": "2026-02-01T00:00:00Z"}],
    )
    assert got == [False, True]


# -- firing modes ---------------------------------------------------------------------------


def test_on_event_where_fires_each_time() -> None:
    engine = make('rule "pricing" on web.visit where event.url contains "/pricing" then do hit\n')
    urls = ["/pricing", "/home", "/pricing", "/pricing/enterprise"]
    hits = [
        rules_of(engine.ingest(ev("c", "web.visit", at(n), data={"url": u})))
        for n, u in enumerate(urls)
    ]
    assert hits == [["pricing"], [], ["pricing"], ["pricing"]]


def test_on_event_mismatched_type_in_event_data_is_false() -> None:
    engine = make('rule "r" on web.visit where event.n >= 5 then do hit\n')
    assert engine.ingest(ev("c", "web.visit", at(0), data={"n": "lots"})) == []
    assert rules_of(engine.ingest(ev("c", "web.visit", at(1), data={"n": 5}))) == ["r"]


def test_on_score_change_fires_with_event_values() -> None:
    engine = make(
        """
score { on email.open +2 }
score fit { on form.submit +5 }
rule "sync" on score change where score >= 3 then do crm.sync event.old event.new
rule "fitc" on fit change then do fitted event.delta
"""
    )
    assert engine.ingest(ev("c", "email.open", at(0))) == []  # 2: where false
    actions = engine.ingest(ev("c", "email.open", at(1)))  # 4
    assert dicts(actions) == [
        {
            "at": at(1),
            "contact": "c",
            "rule": "sync",
            "action": "crm.sync",
            "args": [2, 4],
        }
    ]
    # A change of another score does not raise `score change` for `score`.
    assert rules_of(engine.ingest(ev("c", "form.submit", at(2)))) == ["fitc"]
    assert dicts(engine.ingest(ev("c", "form.submit", at(3)))) == [
        {"at": at(3), "contact": "c", "rule": "fitc", "action": "fitted", "args": [5]}
    ]


def test_once_fires_only_the_first_time_ever() -> None:
    engine = make(FIELDS + 'rule "r" when nps >= 5 then do hit once\n')
    hits = [
        rules_of(engine.ingest(update("c", at(n), nps=v))) for n, v in enumerate([5, 1, 6, 1, 7])
    ]
    assert hits == [["r"], [], [], [], []]


def test_rearm_when_is_hysteresis() -> None:
    engine = make(FIELDS + 'rule "r" when nps >= 50 then do hit re-arm when nps < 40\n')
    values = [55, 45, 55, 39, 45, 50, 20, 60]
    hits = [bool(engine.ingest(update("c", at(n), nps=v))) for n, v in enumerate(values)]
    # fires at 55; 45 is not below 40, so 55 again does nothing; 39 re-arms; 50 fires.
    assert hits == [True, False, False, False, False, True, False, True]


def test_each_time_fires_at_every_input_change_while_true() -> None:
    engine = make(
        """
score { on email.open +1 }
rule "r" when score >= 2 then do hit each time
"""
    )
    hits = [bool(engine.ingest(ev("c", "email.open", at(n)))) for n in range(4)]
    assert hits == [False, True, True, True]


# -- order within one moment -----------------------------------------------------------------


def test_priority_then_file_order_then_written_order() -> None:
    engine = make(
        """
score { on email.open +5 }
rule "a" when score >= 5 then do a1, do a2
rule "b" priority 5 when score >= 5 then do b1
rule "c" when score >= 5 then do c1, do c2
rule "d" priority 5 when score >= 5 then do d1
rule "e" priority -1 when score >= 5 then do e1
"""
    )
    actions = engine.ingest(ev("x", "email.open", at(0)))
    assert [a.action for a in actions] == ["b1", "d1", "a1", "a2", "c1", "c2", "e1"]


def test_order_is_by_time_across_contacts_and_deterministic() -> None:
    text = """
score { on email.open +5 }
rule "r" when score >= 5 then do hit
"""
    events = [
        ev("b", "email.open", at(1)),
        ev("a", "email.open", at(2)),
        ev("c", "email.open", at(3)),
    ]
    first = dicts(make(text).ingest_many(events))
    second = dicts(make(text).ingest_many(events))
    assert first == second
    assert [d["contact"] for d in first] == ["b", "a", "c"]


def test_anonymous_rule_name_is_file_and_line() -> None:
    engine = Engine(
        engage.compile("\nscore { on x +1 }\nwhen score >= 1 then do hit\n", name="dir/y.rules")
    )
    (action,) = engine.ingest(ev("c", "x", at(0)))
    assert action.rule == "y.rules:3"


# -- cascades -------------------------------------------------------------------------------


def test_state_action_cascades_to_further_rules() -> None:
    engine = make(
        """
score { on email.open +5 }
rule "hot" when score >= 5 then tag "Hot"
rule "hot tagged" when tagged "Hot" then add to group "Pipeline", add 10 to score
rule "big" when score >= 15 then notify sales
rule "tag seen" on tag added where event.tag == "Hot" then do seen
"""
    )
    actions = engine.ingest(ev("c", "email.open", at(0), "e1"))
    assert [(a.rule, a.action, a.args) for a in actions] == [
        ("hot", "tag", ["Hot"]),
        ("hot tagged", "add_to_group", ["Pipeline"]),
        ("hot tagged", "add_score", ["score", 10]),
        ("tag seen", "seen", []),
        ("big", "notify", ["sales"]),
    ]
    assert all(a.event == "e1" for a in actions)
    view = engine.contact("c")
    assert view is not None
    assert view.groups == ["Pipeline"]
    assert view.scores == {"score": 15}


def test_rules_in_one_round_see_the_state_at_the_start_of_the_round() -> None:
    engine = make(
        """
score { on email.open +1 }
rule "first" when score >= 1 then tag "A"
rule "second" when score >= 1 and not tagged "A" then do saw_untagged
"""
    )
    actions = engine.ingest(ev("c", "email.open", at(0)))
    assert [a.action for a in actions] == ["tag", "saw_untagged"]


CYCLE = """
score { on email.open +1 }
rule "ping" when score >= 1 and not tagged "A" then tag "A"
rule "pong" when tagged "A" then untag "A"
"""


def test_rule_cycle_is_a_problem_never_a_hang() -> None:
    engine = make(CYCLE)
    actions = engine.ingest(ev("c", "email.open", at(0)))
    assert {a.rule for a in actions} == {"ping", "pong"}  # the cascade ran, and stopped
    assert len(actions) <= 2 * 33
    (problem,) = engine.problems
    assert problem.kind == "rule cycle"
    assert problem.contact == "c"
    assert "32 rounds" in problem.message
    assert problem.rules and set(problem.rules) <= {"ping", "pong"}
    assert problem.to_dict()["at"] == at(0)
    # The stream goes on afterwards.
    engine.ingest(ev("d", "email.open", at(1)))
    assert "d" in engine
    assert len(engine.problems) == 2


def test_rule_cycle_problem_names_every_rule_of_the_cycle() -> None:
    engine = make(CYCLE)
    engine.ingest(ev("c", "email.open", at(0)))
    (problem,) = engine.problems
    assert set(problem.rules) == {"ping", "pong"}


def test_counter_cycle_stops_with_state_so_far() -> None:
    engine = make(
        """
score { on email.open +1 }
rule "grow" on score change then add 1 to score
"""
    )
    engine.ingest(ev("c", "email.open", at(0)))
    assert len(engine.problems) == 1
    assert engine.problems[0].rules == ("grow",)
    value = engine.contact("c").scores["score"]  # type: ignore[union-attr]
    assert 2 <= value <= 40


# -- scores ---------------------------------------------------------------------------------


def test_score_cap_per_sliding_window_gives_the_part_that_fits() -> None:
    engine = make("score { on email.click +3 max 10 per 1 day }\n")
    values = []
    for n in range(5):
        engine.ingest(ev("c", "email.click", at(hours=n)))
        values.append(engine.contact("c").scores["score"])  # type: ignore[union-attr]
    assert values == [3, 6, 9, 10, 10]
    # 24 hours after the first click, its 3 points leave the window: 3 fit again.
    engine.ingest(ev("c", "email.click", at(hours=24)))
    assert engine.contact("c").scores["score"] == 13  # type: ignore[union-attr]


def test_score_cap_total_and_once_and_clamp() -> None:
    engine = make(
        """
score {
    on a +4 max 10 total
    on b +7 once
    on c -30
    clamp 0 to 20
}
"""
    )

    def value() -> Any:
        return engine.contact("x").scores["score"]  # type: ignore[union-attr]

    seen = []
    for n, type_ in enumerate(["a", "a", "a", "a", "b", "b", "c", "b", "a"]):
        engine.ingest(ev("x", type_, at(n)))
        seen.append(value())
    assert seen == [4, 8, 10, 10, 17, 17, 0, 0, 0]


def test_clamp_applies_after_each_line() -> None:
    engine = make(
        """
score {
    on a +8
    on a -5
    clamp 0 to 10
}
"""
    )
    engine.ingest(update("x", at(0), score=6))
    engine.ingest(ev("x", "a", at(1)))
    # 6 + 8 -> clamped 10, then -5 -> 5 (not 6 + 8 - 5 = 9).
    assert engine.contact("x").scores == {"score": 5}  # type: ignore[union-attr]


def test_score_line_where_sees_state_before_this_events_lines() -> None:
    engine = make(
        """
score {
    on a +5
    on a +100 where score >= 5
}
"""
    )
    engine.ingest(ev("x", "a", at(0)))
    assert engine.contact("x").scores == {"score": 5}  # type: ignore[union-attr]
    engine.ingest(ev("x", "a", at(1)))
    assert engine.contact("x").scores == {"score": 110}  # type: ignore[union-attr]


def test_several_scores_are_independent() -> None:
    engine = make(
        """
fields { plan: text }
score { on email.open +1 }
score fit { on contact.updated +20 where plan == "enterprise" once }
rule "both" when score >= 1 and fit >= 20 then do hit
"""
    )
    assert engine.ingest(ev("x", "email.open", at(0))) == []
    assert engine.contact("x").scores == {"score": 1}  # type: ignore[union-attr]
    actions = engine.ingest(update("x", at(1), plan="enterprise"))
    assert rules_of(actions) == ["both"]
    engine.ingest(update("x", at(2), plan="enterprise"))
    assert engine.contact("x").scores == {"score": 1, "fit": 20}  # type: ignore[union-attr]


def test_empty_score_and_subtract_from_empty_starts_at_zero() -> None:
    engine = make(
        """
fields { nps: number }
rule "empty" when score is empty then do was_empty
rule "sub" when nps >= 1 then subtract 2 from score
score { on other +1 }
"""
    )
    assert rules_of(engine.ingest(ev("x", "visit", at(0)))) == ["empty"]
    assert engine.contact("x").scores == {}  # type: ignore[union-attr]
    engine.ingest(update("x", at(1), nps=1))
    assert engine.contact("x").scores == {"score": -2}  # type: ignore[union-attr]


# -- contacts and their events ----------------------------------------------------------------


def test_first_event_creates_the_contact() -> None:
    engine = make("score { on email.open +1 }\n")
    assert engine.contact("new") is None
    engine.ingest(ev("new", "email.open", at(3)))
    view = engine.contact("new")
    assert view is not None
    assert view.created == T0 + timedelta(hours=3)
    assert view.status == "active"
    assert view.last_activity == T0 + timedelta(hours=3)
    assert engine.stats.contacts_created == 1


def test_first_evaluation_fires_rules_that_hold_for_an_empty_contact() -> None:
    engine = make('rule "not vip" when not tagged "VIP" then do hit\n')
    assert rules_of(engine.ingest(ev("x", "visit", at(0)))) == ["not vip"]
    assert engine.ingest(ev("x", "visit", at(1))) == []


def test_contact_updated_sets_fields_score_consent_tags() -> None:
    engine = make(FIELDS + "score { on x +1 }\nscore fit { on y +1 }\n")
    engine.ingest(
        update(
            "x",
            at(0),
            city="Bogotá",
            nps=9,
            score=4,
            fit=2.5,
            consent={"email": False},
            tags=["Caliente"],
            groups=["G"],
            extra="kept",
        )
    )
    view = engine.contact("x")
    assert view is not None
    assert view.fields == {"city": "Bogotá", "nps": 9, "extra": "kept"}
    assert view.scores == {"score": 4, "fit": 2.5}
    assert view.consent == {"email": False}
    assert view.tags == ["Caliente"]
    assert view.groups == ["G"]
    # contact.updated is data, not activity.
    assert view.last_activity is None
    assert view.valuation == "inactive"


def test_contact_updated_with_a_wrong_type_is_rejected_and_changes_nothing() -> None:
    engine = make(FIELDS + 'score { on x +1 }\nrule "r" when city == "Lima" then do hit\n')
    engine.ingest(update("x", at(0), city="Cali", nps=3))
    before = list(engine.dump())
    actions = engine.ingest(update("x", at(1), city="Lima", nps="nine"))
    assert actions == []
    assert list(engine.dump()) == before
    assert engine.stats.rejected == 1
    (rejected,) = engine.rejected
    assert "nps" in rejected.reason and "number" in rejected.reason
    assert rejected.record["data"]["nps"] == "nine"
    # A wrong-typed score and consent are rejected too.
    engine.ingest(update("x", at(2), score="high"))
    engine.ingest(update("x", at(2), consent={"email": "no"}))
    assert engine.stats.rejected == 3
    assert "score" in engine.rejected[1].reason
    assert list(engine.dump()) == before


def test_contact_deleted_runs_its_rules_then_removes_the_contact() -> None:
    engine = make(
        """
score { on email.open +1 }
rule "bye" on contact.deleted where score >= 1 then do goodbye
rule "r" when tagged "T" then track "Tagged"
"""
    )
    engine.ingest(ev("x", "email.open", at(0)))
    engine.ingest(update("x", at(1), tags=["T"]))
    actions = engine.ingest(ev("x", "contact.deleted", at(2)))
    assert [(a.rule, a.action) for a in actions] == [("bye", "goodbye")]
    assert "x" not in engine
    assert engine.contact("x") is None
    assert engine.stats.deleted == 1
    assert [row["status"] for row in engine.deleted_history("x")] == ["Tagged"]
    # A later event creates a new, empty contact.
    engine.ingest(ev("x", "visit", at(3)))
    view = engine.contact("x")
    assert view is not None
    assert view.scores == {} and view.tags == []
    assert view.created == T0 + timedelta(hours=3)


def test_hard_bounce_and_unsubscribe_make_the_contact_discarded() -> None:
    engine = make(
        'on email.bounce where event.kind == "hard" then track "Undeliverable", suspend\n'
    )
    actions = engine.ingest(ev("x", "email.bounce", at(0), data={"kind": "hard"}))
    assert [a.action for a in actions] == ["track", "suspend"]
    view = engine.contact("x")
    assert view is not None
    assert view.hard_bounced and view.status == "suspended"
    assert view.valuation == "discarded"
    engine.ingest(ev("y", "unsubscribe", at(1)))
    assert engine.contact("y").valuation == "discarded"  # type: ignore[union-attr]
    engine.ingest(ev("z", "unsubscribe", at(1), data={"category": "news"}))
    assert engine.contact("z").valuation == "new"  # type: ignore[union-attr]


# -- duplicates, fast path --------------------------------------------------------------------


def test_duplicate_ids_are_ignored_and_counted() -> None:
    engine = make(SEED)
    engine.ingest(ev("x", "stage.reached", at(0), "e1"))
    assert engine.ingest(ev("x", "stage.reached", at(1), "e1")) == []
    engine.ingest_many([ev("x", "stage.reached", at(2), "e1"), ev("x", "email.open", at(3), "e2")])
    assert engine.stats.duplicates == 2
    assert engine.stats.events == 2
    assert engine.contact("x").scores == {"score": 4}  # type: ignore[union-attr]


def _stream() -> list[dict[str, Any]]:
    types = ["email.open", "stage.reached", "email.bounce", "email.open", "visit"]
    events = []
    for n in range(300):
        contact = f"c{n % 7}"
        record = ev(contact, types[(n * 3 + n // 7) % len(types)], at(hours=n / 3), f"e{n}")
        if n % 5 == 0:
            record["at"] = (T0 + timedelta(hours=n / 3)).timestamp()  # epoch seconds
        if n % 11 == 0:
            record["id"] = f"e{n - 1}"  # a duplicate
        events.append(record)
    events.append({"contact": "", "type": "x", "at": at(200)})  # a bad record
    return events


@pytest.mark.parametrize("text", [SEED, SEED + "on score change where score >= 5 then do sync\n"])
def test_ingest_and_ingest_many_agree(text: str) -> None:
    events = _stream()
    one = make(text)
    singles: list[Action] = []
    for record in events:
        singles.extend(one.ingest(dict(record)))
    many = make(text)
    batch = many.ingest_many(dict(r) for r in events)
    assert dicts(singles) == dicts(batch)
    assert list(one.dump()) == list(many.dump())
    assert one.stats.to_dict() == many.stats.to_dict()
    assert one.stats.duplicates > 0 and one.stats.rejected == 1
    assert len(batch) > 0


# -- explain ------------------------------------------------------------------------------


def test_engine_explain_says_why_a_rule_did_not_fire() -> None:
    engine = make(SEED)
    engine.ingest(update("jhon", at(0), score=2))
    report = engine.explain("jhon", "Hot lead")
    assert report["rule"] == "Hot lead"
    assert report["holds"] is False
    engine.ingest(ev("jhon", "stage.reached", at(1)))
    assert engine.explain("jhon", "Hot lead")["holds"] is True


def test_consent_is_true_false_or_empty() -> None:
    engine = make(
        """
score { on email.open +1 }
rule "reachable" when consent.email then tag "reachable"
rule "refused" when not consent.email then tag "refused"
rule "sms refused" when consent.sms == false then tag "no sms"
rule "never asked" when consent.email is empty then tag "never asked"
"""
    )
    # Never answered: empty, neither true nor refused (LANGUAGE.md sections 3 and 6).
    assert rules_of(engine.ingest(ev("a", "email.open", at(0)))) == ["never asked"]
    # Refusing turns consent.email false: the edge fires "refused" once.
    actions = engine.ingest(update("a", at(1), consent={"email": False}))
    assert rules_of(actions) == ["refused"]
    actions = engine.ingest(update("a", at(2), consent={"email": True}))
    assert rules_of(actions) == ["reachable"]
    # A contact whose first event refuses never counted as reachable.
    assert rules_of(engine.ingest(update("b", at(2), consent={"email": False, "sms": False}))) == [
        "refused",
        "sms refused",
    ]
    assert engine.contact("a").tags == [  # type: ignore[union-attr]
        "never asked",
        "refused",
        "reachable",
    ]
    assert engine.contact("b").consent == {"email": False, "sms": False}  # type: ignore[union-attr]


def test_consent_is_empty_is_not_warned_about() -> None:
    rules = engage.compile('when consent.email is empty then tag "x"', name="t.rules")
    assert rules.warnings == ()
