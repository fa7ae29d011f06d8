"""Queries: top, count and select agree with a brute-force filter over every contact.

The planner answers score ranges, recency classes and segment membership from indexes;
these tests check the indexed answers against a plain Python filter over
``engine.contacts()``, on a population built by events and moved through time.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import engage
from engage import ContactView, Engine, QueryError

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)

RULES = """
fields {
    city: text
    nps: number
    plan: text
}
score {
    on email.open   +1
    on email.click  +3
    on form.submit  +10
    on email.bounce -4
}
score fit {
    on contact.updated +5 where plan == "enterprise"
}
segment engaged = score >= 10 and last_activity within 30 days
segment bogota = city == "Bogotá"
when score >= 20 then tag "Hot"
"""

DECAYING = """
score {
    on email.open  +4
    on form.submit +20
    decay half-life 7 days
}
segment warm = score >= 5
"""


def populate(text: str, contacts: int = 60, events: int = 600, seed: int = 7) -> Engine:
    engine = Engine(engage.compile(text, name="q.rules"))
    rng = random.Random(seed)
    types = ["email.open", "email.click", "form.submit", "email.bounce", "web.visit"]
    cities = ["Bogotá", "Cali", "Lima", ""]
    for n in range(events):
        contact = f"c{rng.randrange(contacts):03d}"
        when = T0 + timedelta(hours=n * 2)
        if rng.random() < 0.15:
            data: dict[str, Any] = {"city": rng.choice(cities)}
            if "nps" in text:
                data["nps"] = rng.randrange(11)
            if "plan" in text and rng.random() < 0.3:
                data["plan"] = "enterprise"
            engine.ingest({"contact": contact, "type": "contact.updated", "at": when, "data": data})
        elif rng.random() < 0.02:
            engine.ingest(
                {"contact": contact, "type": "email.bounce", "at": when, "data": {"kind": "hard"}}
            )
        elif rng.random() < 0.02:
            engine.ingest({"contact": contact, "type": "unsubscribe", "at": when})
        else:
            engine.ingest({"contact": contact, "type": rng.choice(types), "at": when})
    # Some contacts that only ever had data (inactive) and one never scored.
    engine.ingest({"contact": "zz-idle", "type": "contact.updated", "at": when, "data": {}})
    return engine


def brute(engine: Engine, predicate: Callable[[ContactView], bool]) -> list[str]:
    return [view.id for view in engine.contacts() if predicate(view)]


def value(view: ContactView, score: str) -> Any:
    return view.scores.get(score)


def ge(score: str, k: float) -> Callable[[ContactView], bool]:
    return lambda v: value(v, score) is not None and value(v, score) >= k


CASES: list[tuple[str, Callable[[ContactView], bool]]] = [
    ("score >= 10", ge("score", 10)),
    ("score > 10", lambda v: value(v, "score") is not None and value(v, "score") > 10),
    ("score < 3", lambda v: value(v, "score") is not None and value(v, "score") < 3),
    ("score <= 0", lambda v: value(v, "score") is not None and value(v, "score") <= 0),
    ("score == 4", lambda v: value(v, "score") == 4),
    ("score != 4", lambda v: value(v, "score") != 4),
    ("score between 5 and 15", lambda v: ge("score", 5)(v) and value(v, "score") <= 15),
    ("score is empty", lambda v: value(v, "score") is None),
    ("fit is not empty", lambda v: value(v, "fit") is not None),
    ("fit >= 5 and score >= 10", lambda v: ge("fit", 5)(v) and ge("score", 10)(v)),
    ("score >= 30 or fit >= 10", lambda v: ge("score", 30)(v) or ge("fit", 10)(v)),
    ("in segment engaged", lambda v: "engaged" in v.segments),
    ("not in segment engaged", lambda v: "engaged" not in v.segments),
    ("in segment bogota and score >= 5", lambda v: "bogota" in v.segments and ge("score", 5)(v)),
    ('city == "Bogotá"', lambda v: v.fields.get("city", "") == "Bogotá"),
    ('city == ""', lambda v: v.fields.get("city", "") == ""),
    ('city in ["Cali", "Lima"]', lambda v: v.fields.get("city") in ("Cali", "Lima")),
    ("nps >= 7", lambda v: v.fields.get("nps") is not None and v.fields["nps"] >= 7),
    ('tagged "Hot"', lambda v: "Hot" in v.tags),
    ('valuation is "new"', lambda v: v.valuation == "new"),
    ('valuation is "frequent"', lambda v: v.valuation == "frequent"),
    ('valuation is "dormant"', lambda v: v.valuation == "dormant"),
    ('valuation is "expired"', lambda v: v.valuation == "expired"),
    ('valuation is "inactive"', lambda v: v.valuation == "inactive"),
    ('valuation is "discarded"', lambda v: v.valuation == "discarded"),
    ("last_activity within 20 days", lambda v: _within(v, 20)),
    (
        'valuation is "new" and score >= 5',
        lambda v: v.valuation == "new" and ge("score", 5)(v),
    ),
]


def _within(view: ContactView, days: int) -> bool:
    last = view.last_activity
    clock = view._now
    return last is not None and clock - last.timestamp() < days * 86400


_ENGINES: dict[int, Engine] = {}


def engine_at(days_later: int) -> Engine:
    """The population, its clock moved ``days_later`` days past the last event."""
    if days_later not in _ENGINES:
        engine = populate(RULES)
        engine.advance(T0 + timedelta(hours=1200) + days_later * DAY)
        _ENGINES[days_later] = engine
    return _ENGINES[days_later]


@pytest.fixture
def engine() -> Engine:
    engine = engine_at(0)
    assert len(engine) > 40
    return engine


@pytest.mark.parametrize(("query", "predicate"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("days_later", [0, 20, 70, 150])
def test_count_and_select_equal_brute_force(
    query: str, predicate: Callable[[ContactView], bool], days_later: int
) -> None:
    engine = engine_at(days_later)
    expected = brute(engine, predicate)
    assert engine.select(query) == expected
    assert engine.count(query) == len(expected)


def test_queries_see_some_of_every_kind(engine: Engine) -> None:
    # The fixture population is varied enough for the comparisons to mean something.
    assert 0 < engine.count("score >= 10") < len(engine)
    assert engine.count("in segment bogota") > 0
    assert engine.count('valuation is "inactive"') >= 1
    assert engine.count('valuation is "discarded"') >= 1
    assert engine_at(150).count('valuation is "expired"') >= 1


def test_top_is_highest_first_ties_by_id(engine: Engine) -> None:
    views = [(v.id, v.scores["score"]) for v in engine.contacts() if "score" in v.scores]
    expected = sorted(views, key=lambda item: (-item[1], item[0]))
    assert engine.top("score", 10) == expected[:10]
    assert engine.top("score", 1000) == expected
    assert (
        engine.top("fit", 3)
        == sorted(
            ((v.id, v.scores["fit"]) for v in engine.contacts() if "fit" in v.scores),
            key=lambda item: (-item[1], item[0]),
        )[:3]
    )
    assert engine.top("score", 0) == []


def test_indexes_follow_updates_and_deletes() -> None:
    engine = populate(RULES, contacts=20, events=200, seed=3)
    before = engine.select("score >= 5")
    victim = before[0]
    engine.ingest({"contact": victim, "type": "contact.deleted", "at": T0 + 100 * DAY})
    assert engine.select("score >= 5") == before[1:]
    top_id, top_value = engine.top("score", 1)[0]
    engine.ingest(
        {"contact": top_id, "type": "contact.updated", "at": T0 + 100 * DAY, "data": {"score": -1}}
    )
    assert top_id not in engine.select("score >= 0")
    assert engine.top("score", 1)[0] != (top_id, top_value)
    assert engine.count("score >= 5") == len(brute(engine, ge("score", 5)))


@pytest.mark.parametrize("days_later", [0, 3, 10, 30])
def test_decaying_score_queries_equal_brute_force(days_later: int) -> None:
    engine = populate(DECAYING, contacts=30, events=300, seed=11)
    engine.advance(T0 + timedelta(hours=600) + days_later * DAY)
    for k in (1, 5, 12):
        expected = brute(engine, ge("score", k))
        assert engine.select(f"score >= {k}") == expected
        assert engine.count(f"score >= {k}") == len(expected)
    members = brute(engine, lambda v: "warm" in v.segments)
    assert engine.select("in segment warm") == members
    assert members == brute(engine, ge("score", 5))
    ranked = sorted(
        ((v.id, v.scores["score"]) for v in engine.contacts() if "score" in v.scores),
        key=lambda item: (-item[1], item[0]),
    )
    got = engine.top("score", 5)
    assert [i for i, _ in got] == [i for i, _ in ranked[:5]]
    assert [s for _, s in got] == pytest.approx([s for _, s in ranked[:5]])


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("", "needs a condition"),
        ("score >=", ""),
        ("scroe >= 5", "scroe"),
        ("in segment nowhere", "nowhere"),
        ("score >= 5\nor score < 1", "one line"),
        ("x" * 10_001, "10,000"),
    ],
)
def test_bad_query_raises_query_error_with_a_message(query: str, fragment: str) -> None:
    engine = populate(RULES, contacts=3, events=10)
    for call in (engine.count, engine.select):
        with pytest.raises(QueryError) as caught:
            call(query)
        message = str(caught.value)
        assert message
        assert fragment in message


def test_misspelt_name_in_a_query_suggests_the_right_one() -> None:
    engine = populate(RULES, contacts=3, events=10)
    with pytest.raises(QueryError, match="score"):
        engine.count("scroe >= 5")


def test_top_of_an_unknown_score_raises_query_error() -> None:
    engine = populate(RULES, contacts=3, events=10)
    with pytest.raises(QueryError, match="nope"):
        engine.top("nope", 3)


def test_query_error_is_a_value_error_and_an_engage_error() -> None:
    engine = populate(RULES, contacts=3, events=10)
    with pytest.raises(ValueError):
        engine.select("score >>= 3")
    with pytest.raises(engage.EngageError):
        engine.select("score >>= 3")
