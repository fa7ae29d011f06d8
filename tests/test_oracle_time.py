"""The engine against the naive oracle, with time: decay, recency classes (valuation),
``within`` / ``older than``, ``had`` / ``count`` windows, segments over them, late
events and random clock moves (``engine.advance``) between events.

The oracle finds the moments at which time alone changes something by listing every
candidate moment of every contact and stepping through them in order; the engine uses
its timer index. Actions (including those at timer moments, which carry no event id)
and the final state must agree.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given

from strategies import operations, rules_text
from test_oracle_core import SETTINGS, check_against_oracle


@SETTINGS
@given(rules_text(time=True), operations(time=True))
def test_engine_matches_oracle_over_time(text: str, ops: list[tuple[str, Any]]) -> None:
    check_against_oracle(text, ops)


@SETTINGS
@given(rules_text(time=True, segments=False), operations(time=True))
def test_wake_plan_matches_oracle(text: str, ops: list[tuple[str, Any]]) -> None:
    """Without segments, most programs take the wake plan (``Cascade.wake``): every rule
    time can change evaluated in one generated call, and only the rules whose truth bit
    rose fired."""
    check_against_oracle(text, ops)
