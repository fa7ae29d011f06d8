"""Flows in the engine against the naive flow oracle (``tests/flow_oracle.py``).

Random programs (``tests/flow_strategies.py``) with one or two flows, and random streams
of events and clock moves, go through the engine (one event at a time; with
``ingest_many`` between clock moves; one at a time with a snapshot and a restore
halfway; and contact by contact through the per-contact ``step`` / ``wake``) and through
the oracle. For each contact, the sequence of flow outputs (time, rule, action,
arguments, step, reason, event id) must be the same. Outputs of different contacts at
one moment are not ordered against each other (the oracle processes contacts by name,
the engine's timer wheel by its own order).

``ENGAGE_HYPOTHESIS_PROFILE=long`` runs thousands of examples instead of 150.
"""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, assume, given, settings

import engage
from flow_oracle import LoopError, Output, Program, render, run_oracle
from flow_strategies import scenarios
from test_step import Driver, _tidy

SETTINGS = settings(
    max_examples=max(150, settings.default.max_examples),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def engine_outputs(
    text: str, ops: list[tuple[str, Any]], *, batch: bool, restore_at: int | None = None
) -> list[Output]:
    """The engine's flow outputs (actions of rules ``flow:NAME``) over ``ops``; with
    ``restore_at``, the engine is snapshotted before that operation and replaced by one
    restored from the snapshot (flow positions and waits must survive it)."""
    rules = engage.compile(text, name="t.rules")
    engine = engage.Engine(rules, max_future=None)
    actions: list[Any] = []
    pending: list[dict[str, Any]] = []
    for index, (kind, value) in enumerate(ops):
        if index == restore_at:
            with tempfile.TemporaryDirectory() as folder:
                path = os.path.join(folder, "state.snap")
                engine.snapshot(path)
                engine = engage.Engine.restore(path, rules, max_future=None)
        if kind == "event":
            if batch:
                pending.append(dict(value))
            else:
                actions.extend(engine.ingest(dict(value)))
            continue
        if pending:
            actions.extend(engine.ingest_many(pending))
            pending = []
        actions.extend(engine.advance(value))
    if pending:
        actions.extend(engine.ingest_many(pending))
    assert not engine.problems, engine.problems
    assert engine.stats.rejected == 0, engine.rejected
    return flow_outputs(actions)


def flow_outputs(actions: list[Any]) -> list[Output]:
    """The flow outputs (actions of rules ``flow:NAME``) among ``actions``."""
    return [
        Output(
            action.time,
            action.contact,
            action.rule,
            action.action,
            tuple(action.args),
            action.step,
            None if action.options is None else action.options.get("reason"),
            action.event,
        )
        for action in actions
        if action.rule.startswith("flow:")
    ]


def by_contact(outputs: list[Output]) -> dict[str, list[Output]]:
    grouped: dict[str, list[Output]] = defaultdict(list)
    for output in outputs:
        grouped[output.contact].append(output)
    return dict(grouped)


def _oracle(program: Program, ops: list[tuple[str, Any]]) -> dict[str, list[Output]]:
    try:
        oracle = run_oracle(program, ops)
    except LoopError:
        assume(False)
        raise
    return by_contact(oracle.outputs)


def assert_same(got: dict[str, list[Output]], expected: dict[str, list[Output]], why: str) -> None:
    for contact in sorted(expected.keys() | got.keys()):
        assert got.get(contact, []) == expected.get(contact, []), f"contact {contact} ({why})"


def check_flows(program: Program, ops: list[tuple[str, Any]]) -> None:
    """The engine's flow outputs, per contact, equal the oracle's."""
    expected = _oracle(program, ops)
    text = render(program)
    modes = {
        "ingest": engine_outputs(text, ops, batch=False),
        "ingest_many": engine_outputs(text, ops, batch=True),
        "restored halfway": engine_outputs(text, ops, batch=False, restore_at=len(ops) // 2),
    }
    for mode, outputs in modes.items():
        assert_same(by_contact(outputs), expected, f"{mode}\nrules:\n{text}")


@SETTINGS
@given(scenarios())
def test_flows_match_oracle(scenario: tuple[Program, list[tuple[str, Any]]]) -> None:
    check_flows(*scenario)


@SETTINGS
@given(scenarios())
def test_flows_through_the_per_contact_step_match_oracle(
    scenario: tuple[Program, list[tuple[str, Any]]],
) -> None:
    """Contacts driven through ``step`` / ``wake`` alone (each one's flows in its state
    bytes, one timer each: ``test_step.Driver``) over the time-ordered, duplicate-free
    stream a keyed processor feeds, give the oracle's flow outputs."""
    program, ops = scenario
    ops = _tidy(ops)
    expected = _oracle(program, ops)
    text = render(program)
    driver = Driver(engage.compile(text, name="t.rules"))
    for kind, value in ops:
        if kind == "event":
            driver.event(value)
        else:
            driver.advance(float(value))
    assert_same(by_contact(flow_outputs(driver.actions)), expected, f"step\nrules:\n{text}")
