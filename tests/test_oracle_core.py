"""The engine against the naive oracle (tests/oracle.py), without time features.

Random rules files (tests/strategies.py) and random event streams go through the
engine, one event at a time and with ``ingest_many``, and through the oracle; the
actions (time, contact, rule, verb, arguments, event id, and their order) and the final
state (``engine.dump()``) must be the same.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from hypothesis import HealthCheck, assume, given, settings

import engage
from oracle import CycleError, assert_same_actions, assert_same_dump, run_engine, run_oracle
from strategies import inline_operations, inline_rules_text, operations, rules_text

SETTINGS = settings(
    # 100 in CI; more under a profile that asks for more (ENGAGE_HYPOTHESIS_PROFILE=long).
    max_examples=max(100, settings.default.max_examples),
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
    assume(not oracle.tie)  # a boundary met to the float: rounding decides (note_ties)
    rules = engage.compile(text, name="t.rules")
    whys: dict[bool, list[Any]] = {}
    for batch in (False, True):
        engine = engage.Engine(rules)
        whys[batch] = []
        got = run_engine(engine, ops, batch=batch, whys=whys[batch])
        mode = "ingest_many" if batch else "ingest"
        assert_same_actions(got, oracle.actions, mode, decaying="decay half-life" in text)
        assert_same_dump(list(engine.dump()), oracle.dump())
        assert not engine.problems, engine.problems
        assert engine.stats.rejected == 0
    # The inline path of ingest_many explains its actions as the full path does.
    assert whys[True] == whys[False]


@SETTINGS
@given(rules_text(), operations())
def test_engine_matches_oracle(text: str, ops: list[tuple[str, Any]]) -> None:
    check_against_oracle(text, ops)


@SETTINGS
@given(rules_text(), operations())
def test_engine_matches_oracle_with_tags_kept_in_a_dict(
    text: str, ops: list[tuple[str, Any]]
) -> None:
    """The same, with every contact of two tags or more keeping them in a dict (the
    representation of contacts with many tags), so that each rule kind and action meets
    it in random streams."""
    with (
        patch("engage.state.contact.MANY_TAGS", 1),
        patch("engage.state.writer.MANY_TAGS", 1),
    ):
        check_against_oracle(text, ops)


@SETTINGS
@given(inline_rules_text(), inline_operations())
def test_inline_path_matches_oracle(text: str, ops: list[tuple[str, Any]]) -> None:
    """Rules and events that ``ingest_many`` applies inline, handing a crossing over to
    the cascade (plain threshold rules, or the general round): same actions, same
    explanations and same state as one event at a time and as the oracle."""
    check_against_oracle(text, ops)
