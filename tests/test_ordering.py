"""Time order of replayed files: ``engage run`` applies records by time, not as written."""

from __future__ import annotations

import datetime as dt
import io
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import msgpack
import pytest

from engage.cli import main
from engage.io.ordering import TimeOrder, placed_records
from engage.io.readers import BadRecord, EventSource, open_events

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_RULES = ROOT / "examples" / "engagement.rules"
EXAMPLE_EVENTS = ROOT / "examples" / "events.jsonl"

COOLDOWN_RULES = """\
segment browsing = last_activity within 3 days

rule "Visit"
    on web.visit
    then notify sales
    at most once per 1 day

rule "Browsing"
    on segment enter browsing
    then tag "Browsing"

rule "Gone"
    on segment exit browsing
    then untag "Browsing"
"""

#: c2's visits of January 1 and 2 are written after c1's visit of January 8.
GROUPED_VISITS = [
    {"contact": "c1", "type": "web.visit", "at": "2026-01-08T10:00:00Z"},
    {"contact": "c2", "type": "web.visit", "at": "2026-01-01T10:00:00Z"},
    {"contact": "c2", "type": "web.visit", "at": "2026-01-02T11:00:00Z"},
]


def _write(path: Path, records: list[Any]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[list[dict[str, Any]], str]:
    assert main(argv) == 0
    captured = capsys.readouterr()
    return _lines(captured.out), captured.err


def _by_contact(actions: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for action in actions:
        grouped[action["contact"]].append(action)
    return dict(grouped)


def _source(records: list[Any], name: str = "e.jsonl") -> EventSource:
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)
    return EventSource(name, "jsonl", io.BytesIO(text.encode()), None)


def _shuffled_keeping_ties(records: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """A random order in which records of the same time keep their written order."""
    shuffled = records[:]
    random.Random(seed).shuffle(shuffled)
    queues: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        queues[record["at"]].append(record)
    return [queues[record["at"]].pop(0) for record in shuffled]


def test_grouped_and_shuffled_files_give_the_actions_of_the_ordered_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = _lines(EXAMPLE_EVENTS.read_text(encoding="utf-8"))
    grouped = sorted(records, key=lambda r: r["contact"])  # stable: a CRM export
    files = {
        "ordered": _write(tmp_path / "ordered.jsonl", records),
        "grouped": _write(tmp_path / "grouped.jsonl", grouped),
        "shuffled": _write(tmp_path / "shuffled.jsonl", _shuffled_keeping_ties(records, 7)),
    }
    results = {}
    for label, path in files.items():
        dump = tmp_path / f"{label}.dump.jsonl"
        argv = ["run", str(EXAMPLE_RULES), "--events", str(path), "--until", "2026-06-30"]
        actions, err = _run([*argv, "--dump", str(dump)], capsys)
        results[label] = (_by_contact(actions), dump.read_text(encoding="utf-8"), err)
    expected_actions, expected_dump, expected_err = results["ordered"]
    assert expected_actions
    assert "out of order" not in expected_err
    for label in ("grouped", "shuffled"):
        actions, dump, err = results[label]
        assert actions == expected_actions, label
        assert dump == expected_dump, label
        assert "out of order in the input" in err


def test_grouped_export_fires_every_cooldown_and_segment_action(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "c.rules"
    rules.write_text(COOLDOWN_RULES, encoding="utf-8")
    events = _write(tmp_path / "grouped.jsonl", GROUPED_VISITS)
    actions, err = _run(["run", str(rules), "--events", str(events)], capsys)
    assert [(a["at"][:10], a["contact"], a["action"]) for a in actions] == [
        ("2026-01-01", "c2", "notify"),
        ("2026-01-01", "c2", "tag"),  # enters the segment
        ("2026-01-02", "c2", "notify"),
        ("2026-01-05", "c2", "untag"),  # leaves it three days after the last visit
        ("2026-01-08", "c1", "notify"),
        ("2026-01-08", "c1", "tag"),
    ]
    assert "out of order in the input 2 " in err
    # As written, c2's visits arrive after the clock passed them: one notification lost.
    late, _ = _run(["run", str(rules), "--events", str(events), "--in-file-order"], capsys)
    assert sum(a["action"] == "notify" for a in late) == 2


def test_several_files_are_merged_into_one_time_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "c.rules"
    rules.write_text(COOLDOWN_RULES, encoding="utf-8")
    first = _write(tmp_path / "a.jsonl", GROUPED_VISITS[:1])
    second = _write(tmp_path / "b.jsonl", GROUPED_VISITS[1:])
    argv = ["run", str(rules), "--events", str(first), "--events", str(second), "-q"]
    actions, _ = _run(argv, capsys)
    assert [a["at"][:10] for a in actions if a["action"] == "notify"] == [
        "2026-01-01",
        "2026-01-02",
        "2026-01-08",
    ]


def _visit(contact: str, day: int, **extra: Any) -> dict[str, Any]:
    return {"contact": contact, "type": "web.visit", "at": f"2026-01-{day:02d}T10:00:00Z", **extra}


def test_ties_keep_file_order_then_source_order() -> None:
    first = _source([_visit("a", 2), _visit("b", 1), _visit("c", 2)], "first.jsonl")
    second = _source([_visit("d", 2), _visit("e", 1)], "second.jsonl")
    order = TimeOrder()
    placed = list(order.ordered([first, second]))
    assert [record["contact"] for _, _, record in placed] == ["b", "e", "a", "c", "d"]
    assert [(name, line) for name, line, _ in placed] == [
        ("first.jsonl", 2),
        ("second.jsonl", 2),
        ("first.jsonl", 1),
        ("first.jsonl", 3),
        ("second.jsonl", 1),
    ]
    assert order.runs == 0


def test_records_without_a_readable_time_take_the_latest_time_written_before_them() -> None:
    records: list[Any] = [
        {"contact": "untimed-first", "type": "x"},
        _visit("a", 5),
        "not JSON",
        _visit("b", 3),
        {"contact": "bad-time", "type": "x", "at": "the fifth"},
        _visit("c", 6),
        {"contact": "untimed", "type": "x"},
        _visit("d", 4),
    ]
    placed = list(TimeOrder().ordered([_source(records)]))
    labels = [r.reason[:8] if isinstance(r, BadRecord) else r["contact"] for _, _, r in placed]
    assert labels == ["untimed-first", "b", "d", "a", "not JSON", "bad-time", "c", "untimed"]
    assert [line for _, line, _ in placed] == [1, 4, 8, 2, 3, 5, 6, 7]


def test_out_of_order_counts_records_before_the_latest_time_written() -> None:
    days = [1, 5, 3, 5, 2, 6, 6, 4]
    order = TimeOrder()
    list(order.ordered([_source([_visit("x", day) for day in days])]))
    assert order.records == 8
    assert order.out_of_order == 3  # 3 and 2 (after 5), 4 (after 6)
    in_order = TimeOrder()
    list(in_order.ordered([_source([_visit("x", day) for day in sorted(days)])]))
    assert in_order.out_of_order == 0


def test_a_long_input_is_sorted_in_runs_on_disk_and_merged(tmp_path: Path) -> None:
    rng = random.Random(3)
    records: list[Any] = [
        _visit(f"c{n}", rng.randint(1, 9), id=f"e{n}", data={"n": n}) for n in range(200)
    ]
    records[17] = "not JSON"
    records[40]["data"] = {"huge": 10**30}  # beyond msgpack: still carried through
    expected = list(TimeOrder().ordered([_source(records)]))
    order = TimeOrder(chunk_size=7, max_open_runs=3)  # 29 runs, merged in passes
    spilled = list(order.ordered([_source(records)]))
    assert order.runs > 29
    assert [(name, line) for name, line, _ in spilled] == [(n, line) for n, line, _ in expected]
    assert [repr(r) for _, _, r in spilled] == [repr(r) for _, _, r in expected]
    assert spilled[[line for _, line, _ in spilled].index(41)][2]["data"] == {"huge": 10**30}


def test_msgpack_times_survive_a_run_file(tmp_path: Path) -> None:
    moments = [dt.datetime(2026, 1, day, tzinfo=dt.UTC) for day in (3, 1, 2)]
    path = tmp_path / "e.msgpack"
    path.write_bytes(
        b"".join(
            msgpack.packb(
                {"contact": "x", "type": "t", "at": m, "data": {"b": b"\x00"}}, datetime=True
            )
            for m in moments
        )
    )
    with open_events(str(path)) as source:
        placed = list(TimeOrder(chunk_size=1).ordered([source]))
    assert [record["at"] for _, _, record in placed] == sorted(moments)
    assert [line for _, line, _ in placed] == [2, 3, 1]
    assert placed[0][2]["data"] == {"b": b"\x00"}


def test_bad_lines_keep_their_line_numbers_in_the_dead_letter_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "c.rules"
    rules.write_text(COOLDOWN_RULES, encoding="utf-8")
    events = _write(
        tmp_path / "e.jsonl",
        [
            _visit("a", 5),
            "not JSON",
            _visit("b", 2),
            {"type": "web.visit", "at": "2026-01-01T00:00:00Z"},  # no contact
            {"contact": "c", "type": "web.visit", "at": "the first"},
            _visit("d", 1),
        ],
    )
    dead = tmp_path / "dead.jsonl"
    argv = ["run", str(rules), "--events", str(events), "--dead-letter", str(dead)]
    _, err = _run([*argv, "--sort-chunk", "2"], capsys)
    letters = _lines(dead.read_text(encoding="utf-8"))
    # Applied in time order: line 4 (January 1) first, then 2 and 5 after line 1's time.
    assert [(entry["source"], entry["line"]) for entry in letters] == [
        ("e.jsonl", 4),
        ("e.jsonl", 2),
        ("e.jsonl", 5),
    ]
    assert "contact" in letters[0]["reason"]
    assert letters[1]["reason"].startswith("not JSON")
    assert "'at'" in letters[2]["reason"]
    assert "accepted 3, duplicates 0, bad 3" in err


def test_standard_input_is_applied_as_it_arrives_between_sorted_files() -> None:
    before = _source([_visit("a", 3), _visit("b", 1)], "before.jsonl")
    stdin = _source([_visit("s", 9), _visit("t", 2)], "-")
    after = _source([_visit("c", 8), _visit("d", 4)], "after.jsonl")
    placed = list(placed_records([before, stdin, after], TimeOrder()))
    assert [record["contact"] for _, _, record in placed] == ["b", "a", "s", "t", "d", "c"]
    as_written = [
        _source([_visit("a", 3), _visit("b", 1)]),
        _source([_visit("s", 9)], "-"),
        _source([_visit("c", 8)]),
    ]
    placed = list(placed_records(as_written, None))
    assert [record["contact"] for _, _, record in placed] == ["a", "b", "s", "c"]


def test_a_state_folder_resumes_a_reordered_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = _lines(EXAMPLE_EVENTS.read_text(encoding="utf-8"))
    for record in records:
        del record["id"]  # ids derived from content
    grouped = _write(tmp_path / "grouped.jsonl", sorted(records, key=lambda r: r["contact"]))
    state = tmp_path / "state"
    argv = ["run", str(EXAMPLE_RULES), "--events", str(grouped), "--state", str(state)]
    first, err = _run([*argv, "--checkpoint-every", "500"], capsys)
    assert first
    assert f"accepted {len(records):,}, duplicates 0" in err
    again, err = _run(argv, capsys)
    assert again == []
    assert f"accepted 0, duplicates {len(records):,}" in err
