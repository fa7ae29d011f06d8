"""Smoke tests of the benchmark harness itself (``engage bench``).

They check what makes the figures trustworthy — a seeded generator, the power-law
shape, baselines that compute what the engine computes — and that a quick run goes
end to end. They never assert timings: speed is the harness's output, not its contract.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from pathlib import Path

import pytest

import engage
from engage.bench import main, parse_args
from engage.bench.baselines import TIME_TAGS, RescanBaseline, threshold_loop
from engage.bench.generator import (
    EVENT_TYPES,
    activity_events,
    profile_updates,
)
from engage.bench.rulesets import (
    POINTS,
    big_rules_file,
    threshold_rules,
    thresholds,
    tier_tag,
    time_rules,
)
from engage.bench.workloads import (
    PAIRED_CHUNKS,
    Reference,
    SeparateReference,
    _paired_round,
    clock,
    throughput_row,
)

DAY = 86_400.0


def test_generator_is_seeded_and_deterministic() -> None:
    first = activity_events(300, 3000, seed=7)
    assert first == activity_events(300, 3000, seed=7)
    assert first != activity_events(300, 3000, seed=8)
    assert activity_events(50, 200, seed=1, ids=True)[0]["id"] == "e0"


def test_generator_stream_shape() -> None:
    events = activity_events(400, 4000, seed=3)
    assert len(events) == 4000
    assert len({e["contact"] for e in events}) == 400  # every contact is there
    times = [e["at"] for e in events]
    assert all(a < b for a, b in itertools.pairwise(times))
    assert all(isinstance(t, float) for t in times)
    assert {e["type"] for e in events} <= {name for name, _ in EVENT_TYPES}
    assert all(len(e) == 3 for e in events)  # plain dicts: contact, type, at


def test_event_types_follow_their_weights() -> None:
    events = activity_events(1000, 50_000, seed=4)
    counts = Counter(e["type"] for e in events)
    total = sum(weight for _, weight in EVENT_TYPES)
    for name, weight in EVENT_TYPES:
        assert math.isclose(counts[name] / len(events), weight / total, abs_tol=0.01)


def test_activity_is_a_power_law_across_contacts() -> None:
    events = activity_events(10_000, 200_000, seed=5, zipf=0.8)
    ranked = sorted(Counter(e["contact"] for e in events).values(), reverse=True)
    # Rank-frequency: rank 10 vs rank 1 should be about 10 ** -0.8 (~1/6.3).
    assert 3 < ranked[0] / ranked[9] < 13
    # A heavy head, a long tail: the top 1% hold far more than 1% of the events,
    # and the median contact is well below the mean (20 events per contact).
    head = sum(ranked[:100]) / len(events)
    assert head > 0.15
    assert ranked[len(ranked) // 2] < 0.6 * len(events) / len(ranked)


def test_profile_updates_give_a_score_two_fields_and_two_tags() -> None:
    updates = list(profile_updates(20, seed=2))
    assert updates == list(profile_updates(20, seed=2))
    for update in updates:
        data = update["data"]
        assert update["type"] == "contact.updated"
        assert len(set(data["tags"])) == 2
        assert set(data) == {"city", "plan", "tags", "score"}


def test_threshold_layouts() -> None:
    assert thresholds(3, "spread") == [10.0, 20.0, 30.0]
    assert thresholds(10, "spread") == thresholds(100, "spread")[:10]  # a prefix
    assert thresholds(4, "dense") == [25.0, 50.0, 75.0, 100.0]
    with pytest.raises(ValueError):
        thresholds(3, "sparse")


def test_threshold_baseline_semantics() -> None:
    events = [
        {"contact": "a", "type": "form.submit", "at": 1.0},  # empty -> 10: crosses 10
        {"contact": "a", "type": "email.bounce", "at": 2.0},  # 10 -> 5: re-arms 10
        {"contact": "a", "type": "form.submit", "at": 3.0},  # 5 -> 15: crosses 10 again
        {"contact": "b", "type": "email.sent", "at": 4.0},  # no points, no score
        {"contact": "b", "type": "email.bounce", "at": 5.0},  # empty -> -5
        {"contact": "a", "type": "form.submit", "at": 6.0},  # 15 -> 25: crosses 20
    ]
    result = threshold_loop(events, POINTS, [10.0, 20.0, 30.0], ["t1", "t2", "t3"])
    assert result.crossings == [("a", 0), ("a", 0), ("a", 1)]
    assert result.scores == {"a": 25.0, "b": -5.0}
    assert result.tags == {"a": {"t1", "t2"}}


@pytest.mark.parametrize("layout", ["spread", "dense"])
def test_engine_and_baseline_tag_the_same_contacts(layout: str) -> None:
    events = activity_events(200, 3000, seed=11)
    row = throughput_row(events, 200, 20, layout, repeat=1)
    assert row["verified"]
    assert row["firings"] > 0
    # And directly, for the reader: the engine's tag actions are the baseline's crossings.
    ks = thresholds(20, layout)
    names = [tier_tag(i) for i in range(20)]
    engine = engage.Engine(engage.compile(threshold_rules(ks), name="t.rules"))
    actions = engine.ingest_many(events)
    want = [(c, names[i]) for c, i in threshold_loop(events, POINTS, ks, names).crossings]
    assert [(a.contact, a.args[0]) for a in actions] == want


def test_paired_rounds_give_the_growth_round_by_round() -> None:
    small = activity_events(50, 500, seed=5)
    big = activity_events(400, 4000, seed=5)
    # Contacts sweep: a whole small run beside each chunk, in a process of its own.
    separate = SeparateReference(50, 500, 10, seed=5, zipf=0.8)
    try:
        row = throughput_row(big, 400, 10, "spread", repeat=2, reference=separate)
    finally:
        separate.close()
    assert row["verified"]
    # Every repeat is a paired round, chunked: the same work, verified the same way.
    assert len(row["paired_growth"]) == len(row["engine_repeats"]) >= 2
    assert all(growth > 0 for growth in row["paired_growth"])
    ordered = sorted(row["paired_growth"])
    assert ordered[0] <= row["paired_growth_median"] <= ordered[-1]
    # Rules sweep: the reference goes through the same events chunk by chunk.
    rules = throughput_row(big, 400, 30, "spread", repeat=1, reference=Reference(10))
    assert rules["verified"]
    assert rules["paired_growth"]
    # Without a reference there are no paired figures.
    assert "paired_growth" not in throughput_row(small, 50, 10, "spread", repeat=1)


def test_a_paired_round_compares_with_the_reference_over_the_same_events() -> None:
    events = activity_events(100, 1000, seed=3)
    reference = Reference(10)
    engine = engage.Engine(engage.compile(threshold_rules(thresholds(10, "spread"))))
    seconds, actions, growth, details = _paired_round(engine, events, reference)
    assert len(details["engine_ns"]) == len(details["reference_ns"]) == PAIRED_CHUNKS
    # The growth is the engine's time over what the samples' cost gives for its events.
    size = len(events) // PAIRED_CHUNKS
    expected = sum(ns * size for ns in details["reference_ns"]) / 1e9
    assert growth == pytest.approx(seconds / expected)
    assert seconds == pytest.approx(sum(ns * size for ns in details["engine_ns"]) / 1e9)
    # The reference went through every event once, as the engine did: same actions.
    assert len(reference._engine) == len(engine) == 100
    assert [(a.contact, a.args) for a in actions] == [
        (a.contact, a.args) for a in engage.Engine(reference.compiled).ingest_many(events)
    ]
    assert seconds > 0 and growth > 0


def test_rescan_baseline_finds_the_engines_transitions() -> None:
    result = clock(contacts=300, events_per_contact=3, ticks=150, seed=5, zipf=0.8)
    assert result["verified"], result["mismatches"]
    assert result["firings"] > 0
    assert result["transitions"] >= result["firings"] > 0


def test_rescan_baseline_classes_follow_the_windows() -> None:
    events = [{"contact": "a", "type": "email.open", "at": 0.0}]
    baseline = RescanBaseline(events)
    fired, _ = baseline.tick(15 * DAY)  # exactly 15 days: no longer new (half-open)
    assert ("a", "frequent") in fired
    fired, _ = baseline.tick(200 * DAY)
    assert ("a", "expired") in fired
    assert set(TIME_TAGS) >= {tag for _, tag in fired}


def test_generated_rules_compile() -> None:
    assert len(engage.compile(big_rules_file(80), name="big.rules").rule_names) == 80
    engage.compile(time_rules(), name="time.rules")


def test_quick_run_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    md = tmp_path / "bench.md"
    assert main(["--quick", "--json", str(out), "--markdown", str(md)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert set(report["results"]) == {
        "throughput",
        "memory",
        "check",
        "time",
        "durability",
        "realistic",
        "accounts",
        "flow",
    }
    assert report["machine"]["python"]
    rows = report["results"]["throughput"]["rules_sweep"]
    assert rows and all(row["verified"] for row in rows)
    assert report["results"]["time"]["verified"]
    assert report["results"]["memory"]["bytes_per_contact"] > 0
    assert report["results"]["realistic"]["verified"]
    assert report["results"]["realistic"]["memory"]["bytes_per_contact"] > 0
    printed = capsys.readouterr().out
    assert "# engage bench" in printed
    assert md.read_text(encoding="utf-8") == printed


def test_quick_durability(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    folder = tmp_path / "state"
    folder.mkdir()
    argv = ["--quick", "--only", "durability", "--json", str(out), "--state-dir", str(folder)]
    assert main(argv) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert set(report["results"]) == {"durability"}
    durability = report["results"]["durability"]
    snap = durability["snapshot"]
    assert snap["verified"]  # the restored engine's dump() equalled the original's
    assert snap["contacts"] == 2000
    assert snap["snapshot_seconds"] > 0 and snap["restore_seconds"] > 0
    assert snap["bytes"] > 0 and snap["bytes_per_contact"] == snap["bytes"] / 2000
    log = durability["log"]
    rows = {(row["policy"], row["events"]): row for row in log["rows"]}
    assert set(rows) == {
        ("none", 2000),
        ("never", 2000),
        ("interval", 2000),
        ("none", 300),
        ("every", 300),
    }
    for (policy, events), row in rows.items():
        assert row["verified"] and row["events_per_second"] > 0
        if policy == "none":
            assert row["ratio"] == 1.0 and row["frames"] is None
        else:
            assert row["frames"] == events and row["log_bytes"] > 0
            assert row["ratio"] > 0
    assert rows[("every", 300)]["fsync"] == "always"
    assert not list(folder.iterdir())  # the workload cleans up after itself
    goals = {goal["target"]: goal for goal in report["targets"]}
    assert goals["durability: restored engine's dump() equals the original's"]["met"]
    printed = capsys.readouterr().out
    assert "## Durability: snapshot, restore, and the event log" in printed


def test_only_and_sizes_flags() -> None:
    config = parse_args(
        ["--quick", "--only", "throughput,check", "--rules", "5,50", "--repeat", "2"]
    )
    assert config["only"] == ["throughput", "check"]
    assert config["rules"] == [5, 50]
    assert config["repeat"] == 2
    with pytest.raises(SystemExit):
        parse_args(["--only", "speed"])
    config = parse_args(["--only", "durability", "--log-every-events", "50"])
    assert config["only"] == ["durability"]
    assert config["log_every_events"] == 50
    assert config["durability_contacts"] == 1_000_000


def test_a_separate_reference_times_whole_runs_in_its_own_process() -> None:
    reference = SeparateReference(50, 500, 10, seed=5, zipf=0.8)
    try:
        reference.start()
        samples = [reference.sample([]) for _ in range(2)]
    finally:
        reference.close()
    assert all(sample > 0 for sample in samples)
