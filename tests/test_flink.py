"""``engage flink`` gives ``engage run``'s actions: per contact the same sequence, across
contacts the same multiset, at parallelism 1 and 2, and after a failure mid-stream.

The keyed logic (``engage.scaleout.keyed``) is checked first without a JVM, driven as
Flink drives it (watermarks lagging the events, every timer at the end of the input).
The job tests need Java 11+ and the ``engage[flink]`` extra; each starts one local
mini-cluster in a child process (about 10-15 s each).
"""

from __future__ import annotations

import heapq
import json
import os
import random
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

import engage
from engage.cli import main as cli_main
from engage.scaleout.command import committed_lines, missing_requirement
from engage.scaleout.keyed import ContactTask, Slot, parse_line, timer_ms
from engage.timeutil import coerce_time, format_time
from oracle import ACTION_KEYS, assert_same_actions

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_RULES = ROOT / "examples" / "engagement.rules"
EXAMPLE_EVENTS = ROOT / "examples" / "events.jsonl"

#: Decay, recency classes, windows, time-driven segments.
TIME_RULES = """
score {
    on email.open    +1
    on email.click   +3   max 9 per 1 day
    on web.visit     +2
    decay half-life 7 days
    clamp 0 to 50
}
valuation {
    new       within 5 days
    frequent  within 20 days
    dormant   within 60 days
}
segment warm = score >= 4
segment quiet = last_activity older than 10 days
when score >= 6 then notify sales
when count web.visit within 3 days >= 2 then tag "browsing"
when valuation is "dormant" then send email "come-back"
when had email.click within 2 days then track "clicked"
on segment exit warm then track "cooled"
"""

T0 = coerce_time("2026-01-05T00:00:00Z")


def time_events(count: int, contacts: int, seed: int = 7) -> list[dict[str, Any]]:
    """Time-ordered events over about 150 days, some sent twice (same id, same contact)."""
    rnd = random.Random(seed)
    moment = T0
    events: list[dict[str, Any]] = []
    for index in range(count):
        moment += rnd.expovariate(count / (150 * 86_400))
        record = {
            "id": f"e{index}",
            "contact": f"c{rnd.randrange(contacts):03d}",
            "type": rnd.choice(["email.open", "email.open", "email.click", "web.visit"]),
            "at": format_time(round(moment)),
        }
        events.append(record)
        if rnd.random() < 0.03:
            events.append(dict(record))  # a redelivery
    return events


def write_events(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return path


def split_by_contact(source: Path, parts: int, directory: Path) -> list[Path]:
    """Key-partitioned files, as Kafka partitions: each contact's events in one file."""
    lines: list[list[str]] = [[] for _ in range(parts)]
    for line in source.read_text(encoding="utf-8").splitlines(keepends=True):
        contact = json.loads(line)["contact"]
        lines[sum(contact.encode()) % parts].append(line)
    paths = []
    for index, chunk in enumerate(lines):
        path = directory / f"part-{index}.jsonl"
        path.write_text("".join(chunk), encoding="utf-8")
        paths.append(path)
    return paths


def engage_run(rules: Path, events: Path, until: str | None, tmp: Path) -> list[dict[str, Any]]:
    """Actions and final state of the in-process engine (``engage run``)."""
    out, dump = tmp / "run-actions.jsonl", tmp / "run-dump.jsonl"
    argv = [str(rules), "--events", str(events), "--output", str(out), "--dump", str(dump), "-q"]
    if until:
        argv += ["--until", until]
    assert cli_main(["run", *argv]) == 0
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def segment_members(dump: Path) -> Counter[str]:
    members: Counter[str] = Counter()
    for line in dump.read_text(encoding="utf-8").splitlines():
        members.update(json.loads(line).get("segments", []))
    return members


def assert_same_per_contact(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Per contact the same sequence (decaying scores: within a second, as a set)."""

    def grouped(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in records:
            out[record["contact"]].append({k: record[k] for k in ACTION_KEYS if k in record})
        return dict(out)

    mine, theirs = grouped(got), grouped(expected)
    assert mine.keys() == theirs.keys()
    for contact, actions in mine.items():
        assert_same_actions(actions, theirs[contact], f"flink {contact}", decaying=True)


# -- the keyed logic, without Flink ---------------------------------------------------------


def drive(task: ContactTask, lines: list[str], lag_ms: int) -> list[dict[str, Any]]:
    """Feed ``lines`` as Flink does: per contact one stored value and one timer; timers
    fire when the watermark (latest time seen - lag - 1) passes them, and the end of the
    input fires all of them."""
    values: dict[str, Any] = {}
    timers: dict[str, int] = {}
    heap: list[tuple[int, str]] = []
    out: list[str] = []

    def apply(contact: str, outcome: Any) -> None:
        if outcome.duplicate:
            return
        values[contact] = None if outcome.slot is None else outcome.slot.to_value()
        if outcome.old_timer != outcome.new_timer:
            timers.pop(contact, None)
            if outcome.new_timer is not None:
                timers[contact] = outcome.new_timer
                heapq.heappush(heap, (outcome.new_timer, contact))
        out.extend(outcome.lines)

    def fire(watermark: float) -> None:
        while heap and heap[0][0] <= watermark:
            due, contact = heapq.heappop(heap)
            if timers.get(contact) == due:
                del timers[contact]
                apply(contact, task.on_timer(values.get(contact), due))

    seen = -(2**62)
    for line in lines:
        parsed = parse_line(line)
        assert parsed is not None
        contact, moment, text = parsed
        apply(contact, task.on_event(values.get(contact), text))
        seen = max(seen, moment)
        fire(seen - lag_ms - 1)
    fire(float("inf"))
    return [json.loads(line) for line in out]


@pytest.mark.parametrize("lag_ms", [0, 5000, 10 * 86_400_000])
def test_keyed_logic_gives_the_engines_actions(tmp_path: Path, lag_ms: int) -> None:
    events = write_events(tmp_path / "events.jsonl", time_events(400, 25))
    rules_path = tmp_path / "time.rules"
    rules_path.write_text(TIME_RULES, encoding="utf-8")
    expected = engage_run(rules_path, events, "2026-07-01", tmp_path)
    rules = engage.compile(TIME_RULES, name=str(rules_path))
    task = ContactTask(rules, cutoff=coerce_time("2026-07-01"))
    got = drive(task, events.read_text(encoding="utf-8").splitlines(), lag_ms)
    assert_same_per_contact(got, expected)
    assert Counter(r["action"] for r in got) == Counter(r["action"] for r in expected)


def test_without_until_no_wake_up_fires_after_the_last_event(tmp_path: Path) -> None:
    events = write_events(tmp_path / "events.jsonl", time_events(200, 10))
    rules_path = tmp_path / "time.rules"
    rules_path.write_text(TIME_RULES, encoding="utf-8")
    expected = engage_run(rules_path, events, None, tmp_path)
    lines = events.read_text(encoding="utf-8").splitlines()
    last = max(coerce_time(json.loads(line)["at"]) for line in lines)
    rules = engage.compile(TIME_RULES, name=str(rules_path))
    got = drive(ContactTask(rules, cutoff=last), lines, 5000)
    assert_same_per_contact(got, expected)
    everything = drive(ContactTask(rules, cutoff=None), lines, 5000)
    assert len(everything) > len(got)  # the end of input would fire the rest


def test_repeated_ids_of_a_contact_are_dropped_and_others_kept() -> None:
    task = ContactTask(engage.compile('score { on email.open +1 }\nwhen score >= 2 then tag "x"'))
    first = {"id": "a", "contact": "c1", "type": "email.open", "at": "2026-01-01T00:00:00Z"}
    value = task.on_event(None, json.dumps(first)).slot
    assert value is not None
    repeat = task.on_event(value.to_value(), json.dumps(first))
    assert repeat.duplicate and repeat.lines == []
    second = dict(first, id="b", at="2026-01-01T00:01:00Z")
    outcome = task.on_event(value.to_value(), json.dumps(second))
    assert [json.loads(line)["action"] for line in outcome.lines] == ["tag"]
    small = ContactTask(task.rules, recent_ids=1)
    slot = Slot()
    for event_id in ("a", "b"):
        got = small.on_event(slot.to_value(), json.dumps(dict(first, id=event_id)))
        assert got.slot is not None
        slot = got.slot
    assert slot.ids == ("b",)  # only the last one is remembered


def test_parse_line_places_events_in_event_time() -> None:
    assert parse_line('{"contact": "c", "at": "2026-01-01T00:00:00.0005Z"}') == (
        "c",
        1_767_225_600_000,
        '{"contact": "c", "at": "2026-01-01T00:00:00.0005Z"}',
    )
    for bad in ("not json", "[1]", '{"contact": 3, "at": 0}', '{"contact": "c"}'):
        assert parse_line(bad) is None
    assert timer_ms(1_767_225_600.0005) == 1_767_225_600_001  # rounded up: fires after


def test_missing_pyflink_or_java_is_a_usage_error(monkeypatch: Any, capsys: Any) -> None:
    from engage.scaleout import command

    monkeypatch.setattr(command, "missing_requirement", lambda: "Java 11 or later is needed")
    argv = ["flink", str(EXAMPLE_RULES), "--events", str(EXAMPLE_EVENTS), "--output", "x"]
    assert cli_main(argv) == 2
    assert "Java 11 or later is needed" in capsys.readouterr().err


# -- the job, on a local mini-cluster -------------------------------------------------------

needs_flink = pytest.mark.skipif(
    missing_requirement() is not None, reason=f"no Flink job here: {missing_requirement()}"
)


def engage_flink(rules: Path, events: list[Path], out: Path, *extra: str) -> dict[str, Any]:
    argv = [sys.executable, "-m", "engage", "flink", str(rules), "--output", str(out), "-q"]
    for path in events:
        argv += ["--events", str(path)]
    done = subprocess.run([*argv, *extra], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return summary


def flink_actions(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in committed_lines(os.fspath(out / "actions"))]


@needs_flink
@pytest.mark.parametrize("parallelism", [1, 2])
def test_bundled_example_gives_engage_runs_actions(tmp_path: Path, parallelism: int) -> None:
    expected = engage_run(EXAMPLE_RULES, EXAMPLE_EVENTS, "2026-06-30", tmp_path)
    # At P=2 the input is two key-partitioned files, one source each.
    inputs = [EXAMPLE_EVENTS] if parallelism == 1 else split_by_contact(EXAMPLE_EVENTS, 2, tmp_path)
    out = tmp_path / "flink"
    summary = engage_flink(
        EXAMPLE_RULES, inputs, out, "--until", "2026-06-30", "--parallelism", str(parallelism)
    )
    got = flink_actions(out)
    assert Counter(map(json.dumps, got)) == Counter(map(json.dumps, expected))
    assert_same_per_contact(got, expected)
    members = segment_members(tmp_path / "run-dump.jsonl")
    assert {k: v for k, v in summary["segments"].items() if v} == dict(members)
    assert summary["actions"] == len(expected) and summary["clock"] == "2026-06-30T00:00:00Z"


@needs_flink
@pytest.mark.parametrize("parallelism", [1, 2])
def test_time_rules_give_engage_runs_actions(tmp_path: Path, parallelism: int) -> None:
    events = write_events(tmp_path / "events.jsonl", time_events(1500, 60, seed=parallelism))
    rules = tmp_path / "time.rules"
    rules.write_text(TIME_RULES, encoding="utf-8")
    # Without --until: no wake-up after the last event, as in `engage run`.
    expected = engage_run(rules, events, None, tmp_path)
    out = tmp_path / "flink"
    summary = engage_flink(rules, [events], out, "--parallelism", str(parallelism))
    assert_same_per_contact(flink_actions(out), expected)
    members = segment_members(tmp_path / "run-dump.jsonl")
    assert {k: v for k, v in summary["segments"].items() if v} == dict(members)


@needs_flink
def test_a_failure_mid_stream_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    events = write_events(tmp_path / "events.jsonl", time_events(12_000, 600, seed=3))
    rules = tmp_path / "time.rules"
    rules.write_text(TIME_RULES, encoding="utf-8")
    expected = engage_run(rules, events, "2026-07-01", tmp_path)
    out = tmp_path / "flink"
    summary = engage_flink(
        rules,
        [events],
        out,
        "--until",
        "2026-07-01",
        "--parallelism",
        "2",
        "--restarts",
        "2",
        "--checkpoint-interval",
        "200",
        "--fail-after",
        "4000",
    )
    assert summary["injected_failure"]
    logs = "".join(p.read_text(errors="replace") for p in (out / "work" / "log").glob("*.log"))
    assert "from Checkpoint" in logs  # restored from a checkpoint, not from the start
    got = flink_actions(out)
    assert len(got) == len(expected)
    assert_same_per_contact(got, expected)
