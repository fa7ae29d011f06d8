"""Fuzzing event records: whatever comes in, only documented outcomes come out.

Random JSON-like records (wrong types, NaN and infinities, huge strings, deep nesting,
missing keys) go through ``engine.ingest_many`` and ``engine.ingest``. Every record must
be accepted, ignored as a duplicate, or kept in ``engine.rejected`` with a reason and
counted in ``engine.stats.rejected``: never an exception, never an internal problem.
The accepted state stays sound: the dump is plain JSON (no NaN), and a good event
afterwards is processed exactly as on a fresh engine.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engage

RULES = """
fields {
    nps: number
    city: text
    interests: list
    vip: bool
    renewal: time
}
score {
    on email.open +5
    on web.visit +2 where event.url contains "/pricing"
    clamp 0 to 100
}
score fit { on contact.updated +1 where nps >= 5 }
segment hot = score >= 5
rule "hot" when score >= 5 then do hit
rule "visit" on web.visit where event.n > 2 then tag "Visitor"
rule "seg" on segment enter hot then notify sales
"""

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _nest(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"k": [value]}
    return value


KEYS = st.sampled_from(["", "a", "url", "n", "kind", "é", "k" * 50, "email", "nps"])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "x" * 70000, "2026-01-05T10:00:00Z", "not a time", "\x00", "é" * 300]),
)
json_like = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=4)
    ),
    max_leaves=6,
)
deep = st.integers(1, 40).map(_nest)
times = st.one_of(
    st.integers(1767600000, 1767700000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["2026-01-05T10:00:00Z", "2026-01-05", "2026-13-45", "", "yesterday"]),
    st.just(datetime(2026, 1, 5, 12, tzinfo=UTC)),
    st.integers(-(2**64), 2**64),
    json_like,
)
update_data = st.dictionaries(
    st.sampled_from(
        [
            "nps",
            "city",
            "interests",
            "vip",
            "renewal",
            "score",
            "fit",
            "consent",
            "tags",
            "groups",
            "status",
            "other",
        ]
    ),
    st.one_of(json_like, st.dictionaries(KEYS, json_like, max_size=3)),
    max_size=5,
)


@st.composite
def records(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(json_like)  # not even an object
    record: dict[str, Any] = {}
    fields = {
        "contact": st.one_of(st.sampled_from(["a", "b", "x" * 300, ""]), json_like),
        "type": st.one_of(
            st.sampled_from(
                [
                    "email.open",
                    "web.visit",
                    "contact.updated",
                    "contact.deleted",
                    "unsubscribe",
                    "email.bounce",
                    "t" * 200,
                ]
            ),
            json_like,
        ),
        "at": times,
        "id": st.one_of(st.text(max_size=5), st.integers(0, 5), json_like, st.just("i" * 300)),
        "data": st.one_of(
            update_data,
            st.fixed_dictionaries({"url": json_like, "n": json_like}),
            st.fixed_dictionaries({"kind": json_like, "campaign": json_like}),
            json_like,
            deep,
        ),
    }
    for key, values in fields.items():
        if draw(st.integers(0, 5)):
            record[key] = draw(values)
    if draw(st.integers(0, 9)) == 0:
        record[draw(st.text(max_size=5))] = draw(json_like)
    return record


#: After any time the fuzzed records carry (the engines here accept any time: the future
#: margin has tests of its own in test_reorder.py).
GOOD = {"contact": "fresh-contact", "type": "email.open", "at": "9999-01-01T00:00:00Z"}


def check_sound(engine: engage.Engine, given_count: int) -> None:
    stats = engine.stats
    assert stats.events + stats.duplicates + stats.rejected == given_count
    assert len(engine.rejected) == stats.rejected
    for rejected in engine.rejected:
        assert isinstance(rejected.reason, str) and rejected.reason
    assert not engine.problems, engine.problems
    json.dumps(list(engine.dump()), allow_nan=False)
    # A good event afterwards is processed as on a fresh engine.
    actions = [a.to_dict() for a in engine.ingest(dict(GOOD))]
    fresh = engage.Engine(engine.rules, max_future=None)
    assert actions == [a.to_dict() for a in fresh.ingest(dict(GOOD))]
    view = engine.contact("fresh-contact")
    assert view is not None and view.scores == {"score": 5}
    assert [a["action"] for a in actions] == ["hit", "notify"]
    for value in view.scores.values():
        assert math.isfinite(value)


RULES_COMPILED = engage.compile(RULES, name="fuzz.rules")


@SETTINGS
@given(st.lists(records(), max_size=6))
def test_ingest_many_never_raises_and_keeps_state_sound(batch: list[Any]) -> None:
    engine = engage.Engine(RULES_COMPILED, max_future=None)
    engine.ingest_many(batch)
    check_sound(engine, len(batch))


@SETTINGS
@given(st.lists(records(), max_size=6))
def test_ingest_one_by_one_agrees_with_ingest_many(batch: list[Any]) -> None:
    one = engage.Engine(RULES_COMPILED, max_future=None)
    singles = []
    for record in batch:
        singles.extend(a.to_dict() for a in one.ingest(record))
    many = engage.Engine(RULES_COMPILED, max_future=None)
    assert [a.to_dict() for a in many.ingest_many(batch)] == singles
    assert list(one.dump()) == list(many.dump())
    assert one.stats.to_dict() == many.stats.to_dict()
    check_sound(one, len(batch))
