"""The flow workload of ``engage bench``: its baseline computes what the engine does,
its policy variant is skipped with a reason when the policy does not compile, and a
quick run goes end to end. No timing is asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

import engage
from engage.bench import main, parse_args
from engage.bench.flows import (
    FLOW_RULES,
    STEPS,
    compile_policy,
    digest,
    engine_sends,
    flow,
    flow_events,
    flow_ticks,
    run_engine,
    run_loop,
)


def test_the_loop_sends_what_the_engine_sends() -> None:
    events = flow_events(300)
    ticks = flow_ticks()
    _, actions = run_engine(engage.compile(FLOW_RULES), events, ticks)
    ours = engine_sends(actions)
    theirs = run_loop(events, ticks)
    assert len(ours) == len(theirs) == 300 * 3
    assert digest(ours) == digest(theirs)
    assert sorted(ours) == sorted(theirs)


def test_the_digest_sees_a_moved_send() -> None:
    sends = run_loop(flow_events(10), flow_ticks())
    moved = [*sends[:-1], (*sends[-1][:3], sends[-1][3] + 1.0)]
    assert digest(moved) != digest(sends)


def test_a_policy_that_does_not_compile_skips_the_variant() -> None:
    rules, why = compile_policy("policy { nonsense }")
    assert rules is None and why is not None and why.startswith("skipped")
    assert compile_policy(None) == (None, "no policy text given")


def test_flow_workload_quick() -> None:
    result = flow(contacts=200, repeat=1, policy=None)
    assert result["verified"] and result["contact_steps"] == 200 * STEPS
    assert result["engine_sends"] == result["loop_sends"] == 600
    assert result["policy"]["skipped"] == "no policy text given"


def test_flow_policy_flag() -> None:
    assert parse_args(["--quick", "--flow-policy", ""])["flow_policy"] is None
    assert parse_args(["--quick", "--flow-policy", "policy { }"])["flow_policy"] == "policy { }"
    assert parse_args(["--quick"])["flow_policy"].startswith("policy {")


def test_quick_flow_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    md = tmp_path / "out.md"
    assert main(["--quick", "--only", "flow", "--markdown", str(md)]) == 0
    text = md.read_text("utf-8")
    assert "## Flows: a 5-step flow beside a heap-and-dict loop" in text
    assert "bytes per contact waiting in the flow" in text
    assert "Policy variant" in text or "With a policy" in text
    capsys.readouterr()
