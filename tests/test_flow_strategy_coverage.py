"""The flow strategies reach what the flow oracle test is meant to check.

In the style of ``test_strategy_coverage.py``, but measured on what *happens*, not on
the text: a fixed, derandomized sample of scenarios runs through the flow oracle, whose
``features`` count what each did (a wait that expired, an exit while waiting, a goal, a
re-entry, each side of a split, a clock move past several timers...). Each must happen
in at least a floor share of the scenarios; the floors sit well below the shares
measured when they were set (:func:`measured_shares`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from flow_oracle import LoopError, run_oracle
from flow_strategies import scenarios

#: Scenarios drawn: more than ``test_strategy_coverage.SAMPLE``, since what a scenario
#: does depends on its rules and its stream together (a second or so per hundred).
SAMPLE = 500

#: What must happen, by the oracle's feature names, with its floor share.
FEATURES: Mapping[str, float] = {
    "wait expired": 0.12,
    "wait until met": 0.08,
    "wait until met later": 0.002,
    "wait until met by time alone": 0.05,
    "wait until timed out": 0.04,
    "clock wait expired": 0.1,
    "left: finished": 0.15,
    "left: exit": 0.08,
    "left: goal": 0.06,
    "left: ended": 0.04,
    "left: deleted": 0.02,
    "exit while waiting (wait)": 0.02,
    "exit while waiting (wait until)": 0.004,
    "goal while waiting": 0.006,
    "exit or goal by time alone": 0.04,
    "goal continue": 0.07,
    "re-entry": 0.04,
    "re-entry only converted": 0.006,
    "re-entry only dismissed": 0.01,
    "entry held back by exit when": 0.15,
    "entry at a timer moment": 0.1,
    "split a": 0.07,
    "split b": 0.05,
    "if took branch": 0.08,
    "if took else": 0.04,
    "enter flow action": 0.05,
    "exit flow action": 0.02,
    "clock move past several timers": 0.05,
}


def sample(strategy: st.SearchStrategy[Any]) -> list[Any]:
    """:data:`SAMPLE` derandomized draws of ``strategy`` (the same ones every run)."""
    drawn: list[Any] = []

    @settings(
        max_examples=SAMPLE,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy)
    def draw(value: Any) -> None:
        drawn.append(value)

    draw()
    return drawn


def measured_shares() -> dict[str, float]:
    """The share of sampled scenarios in which each feature happened."""
    drawn = sample(scenarios())
    found: Counter[str] = Counter()
    for program, ops in drawn:
        try:
            oracle = run_oracle(program, ops)
        except LoopError:
            continue
        found.update(name for name, count in oracle.features.items() if count)
    return {name: found[name] / len(drawn) for name in FEATURES}


def test_flow_scenarios_reach_every_feature() -> None:
    measured = measured_shares()
    missing = {name: share for name, share in measured.items() if share < FEATURES[name]}
    assert not missing, f"what the flow strategies rarely or never make happen: {missing}"
