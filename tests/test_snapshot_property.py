"""Snapshots: stopping at any point and restoring is the same as never stopping.

For random rules (with time features) and random operations, an engine that writes a
snapshot after the k-th operation and is restored from it (``engage.Engine.restore``)
must emit, from there on, the same actions as an engine that never stopped, and end in
the same state.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engage
from oracle import run_engine
from strategies import operations, rules_text

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(st.booleans(), st.data())
def test_snapshot_restore_continue_equals_never_stopped(time: bool, data: st.DataObject) -> None:
    text = data.draw(rules_text(time=time), label="rules")
    ops: list[tuple[str, Any]] = data.draw(operations(time=time), label="ops")
    point = data.draw(st.integers(0, len(ops)), label="snapshot after")
    batch = data.draw(st.booleans(), label="ingest_many")
    rules = engage.compile(text, name="t.rules")

    straight = engage.Engine(rules)
    run_engine(straight, ops[:point], batch=batch)
    expected_after = run_engine(straight, ops[point:], batch=batch)

    first = engage.Engine(rules)
    run_engine(first, ops[:point], batch=batch)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.snapshot"
        first.snapshot(path)
        restored = engage.Engine.restore(path, rules)
    assert list(restored.dump()) == list(first.dump())
    assert restored.now == first.now
    got_after = run_engine(restored, ops[point:], batch=batch)
    assert got_after == expected_after
    assert list(restored.dump()) == list(straight.dump())
