"""The engine against the naive oracle (tests/oracle.py), without time features.

Random rules files (tests/strategies.py) and random event streams go through the
engine, one event at a time and with ``ingest_many``, and through the oracle; the
actions (time, contact, rule, verb, arguments, event id, and their order) and the final
state (``engine.dump()``) must be the same.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings

import engage
from oracle import CycleError, assert_same_dump, run_engine, run_oracle
from strategies import operations, rules_text

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


def check_against_oracle(text: str, ops: list[tuple[str, Any]]) -> None:
    try:
        oracle = run_oracle(text, ops)
    except CycleError:
        assume(False)
        raise
    rules = engage.compile(text, name="t.rules")
    for batch in (False, True):
        engine = engage.Engine(rules)
        got = run_engine(engine, ops, batch=batch)
        mode = "ingest_many" if batch else "ingest"
        assert got == oracle.actions, f"actions differ ({mode})"
        assert_same_dump(list(engine.dump()), oracle.dump())
        assert not engine.problems, engine.problems
        assert engine.stats.rejected == 0


@SETTINGS
@given(rules_text(), operations())
def test_engine_matches_oracle(text: str, ops: list[tuple[str, Any]]) -> None:
    check_against_oracle(text, ops)
