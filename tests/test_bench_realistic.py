"""The realistic workload of ``engage bench``: its stream, its rules, and its baseline.

The hand-written loop is only a fair baseline if it does what the engine does, so the
central test runs both on a tiny stream and asks for the same actions, contact by
contact, and the same final state. Timings are never asserted.
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest

import engage
from engage.bench import main
from engage.bench.generator import (
    EVENT_DATA,
    RealisticColumns,
    activity_events,
    realistic_events,
)
from engage.bench.realistic import realistic_loop
from engage.bench.rulesets import REALISTIC_RULES
from engage.bench.workloads import realistic_firings, verify_realistic

RULE_NAMES = {
    "Demo request",
    "Hot lead",
    "Cooled down",
    "Returning visitor",
    "Pricing interest",
    "Engaged offer",
    "We miss you",
    "Undeliverable",
}


def test_realistic_rules_check_clean() -> None:
    rules = engage.compile(REALISTIC_RULES, name="realistic.rules")
    assert set(rules.rule_names) == RULE_NAMES
    assert not rules.warnings


def test_realistic_stream_is_the_activity_stream_with_data() -> None:
    events = realistic_events(300, 3000, seed=5)
    assert events == realistic_events(300, 3000, seed=5)
    plain = activity_events(300, 3000, seed=5)
    assert [{k: e[k] for k in ("contact", "type", "at")} for e in events] == plain
    for event in events:
        keys = [key for key, _ in EVENT_DATA[event["type"]]]
        assert list(event["data"]) == keys
    urls = Counter(e["data"]["url"] for e in events if e["type"] == "web.visit")
    assert len(urls) > 5 and urls["/pricing"] > 0
    assert {e["data"]["kind"] for e in events if e["type"] == "email.bounce"} == {"hard", "soft"}


def test_columns_survive_a_file(tmp_path: Path) -> None:
    columns = RealisticColumns.generate(50, 400, seed=2)
    path = str(tmp_path / "stream.columns")
    columns.save(path)
    assert list(RealisticColumns.load(path).events()) == list(columns.events())


def test_the_loop_fires_what_the_engine_fires() -> None:
    fired: set[str] = set()
    suppressed = 0
    for seed in (1, 2, 3):
        events = realistic_events(400, 4000, seed=seed)
        engine = engage.Engine(engage.compile(REALISTIC_RULES, name="realistic.rules"))
        actions = engine.ingest_many(events)
        result = realistic_loop(events)
        verify_realistic(engine, actions, result, 400)  # raises on any difference
        fired |= {firing[2] for firing in result.firings}
        suppressed += sum(1 for firing in result.firings if firing[5] == "hard bounced")
        times = [firing[0] for firing in result.firings]
        assert all(a <= b for a, b in itertools.pairwise(times))  # the loop's is time order
    # Every rule fired, and a send was suppressed: the comparison covers caps, windows,
    # wake-ups, firing modes and suppression.
    assert fired == RULE_NAMES
    assert suppressed


def test_a_difference_is_caught() -> None:
    events = realistic_events(200, 2000, seed=4)
    engine = engage.Engine(engage.compile(REALISTIC_RULES, name="realistic.rules"))
    actions = engine.ingest_many(events)
    result = realistic_loop(events)
    dropped = next(i for i, f in enumerate(result.firings) if f[2] == "We miss you")
    del result.firings[dropped]
    with pytest.raises(AssertionError, match="We miss you"):
        verify_realistic(engine, actions, result, 200)
    assert len(realistic_firings(actions)) == len(result.firings) + 1


def test_quick_realistic_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    argv = ["--quick", "--only", "realistic", "--realistic-contacts", "300", "--json", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "## Realistic rules" in printed
    assert "realistic: engine fires the hand-written loop's actions" in printed
    assert '"ratio_to_threshold_baseline"' in out.read_text(encoding="utf-8")
