"""Durability: snapshots, the event log and state folders that survive restarts.

A snapshot restores to the same state and the same future; a damaged snapshot is refused
with a message that says why; a torn log tail is cut and reported, never replayed; a
state folder resumes where it stopped and absorbs a re-sent stream.
"""

from __future__ import annotations

import os
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import engage
from engage import Engine, SnapshotError
from engage.storage import eventlog
from engage.storage.statedir import StateDir

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)

RULES = """
fields { city: text  nps: number }
score {
    on email.open   +1
    on email.click  +3    max 6 per 1 day
    on form.submit  +10
    decay half-life 30 days
}
score fit { on contact.updated +5 where city == "Bogotá" once }
segment hot = score >= 8
rule "Hot" when score >= 5 then notify sales, tag "Caliente"
rule "Clicks" when count email.click within 2 days >= 3 then do clicky
rule "Warm" on segment enter hot then add to group "Pipeline"
when valuation is "frequent" then send email "we-miss-you"
rule "once" when fit >= 5 then do fit once
rule "hyst" when score >= 12 then do top re-arm when score < 6
"""


def rules() -> engage.Rules:
    return engage.compile(RULES, name="s.rules")


def stream(start: int, stop: int) -> list[dict[str, Any]]:
    types = ["email.open", "email.click", "form.submit", "web.visit", "email.click"]
    events = []
    for n in range(start, stop):
        contact = f"c{n % 5}"
        when = T0 + n * HOUR * 7
        if n % 9 == 4:
            data = {"city": "Bogotá" if n % 2 else "Cali", "nps": n % 11}
            events.append(
                {
                    "id": f"e{n}",
                    "contact": contact,
                    "type": "contact.updated",
                    "at": when,
                    "data": data,
                }
            )
        else:
            events.append(
                {"id": f"e{n}", "contact": contact, "type": types[n % len(types)], "at": when}
            )
    return events


def run(engine: Engine, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a.to_dict() for a in engine.ingest_many(events)]


# -- snapshots ----------------------------------------------------------------------------


def test_snapshot_round_trip_same_state_and_same_future(tmp_path: Path) -> None:
    original = Engine(rules())
    run(original, stream(0, 60))
    path = tmp_path / "state.engsnap"
    size = original.snapshot(path)
    assert size == path.stat().st_size > 0
    restored = Engine.restore(path, rules())
    assert list(restored.dump()) == list(original.dump())
    assert restored.clock == original.clock
    # The continued stream gives the same actions and the same final state.
    later = stream(60, 160)
    assert run(restored, later) == run(original, later)
    end = T0 + 200 * 24 * HOUR
    assert [a.to_dict() for a in restored.advance(end)] == [
        a.to_dict() for a in original.advance(end)
    ]
    assert list(restored.dump()) == list(original.dump())
    assert restored.select("in segment hot") == original.select("in segment hot")
    assert restored.top("score", 5) == original.top("score", 5)


def test_restored_engine_keeps_dedupe_ids_and_counters(tmp_path: Path) -> None:
    engine = Engine(rules())
    events = stream(0, 20)
    run(engine, events)
    engine.snapshot(tmp_path / "s")
    restored = Engine.restore(tmp_path / "s", rules())
    assert restored.stats.events == 20
    assert run(restored, events) == []
    assert restored.stats.duplicates == 20
    assert list(restored.dump()) == list(engine.dump())


def test_snapshot_rules_state_survives(tmp_path: Path) -> None:
    """Rule arming (edge truth, once, re-arm) is part of the state."""
    engine = Engine(rules())
    engine.ingest({"contact": "a", "type": "form.submit", "at": T0})  # 10: Hot fires
    engine.snapshot(tmp_path / "s")
    restored = Engine.restore(tmp_path / "s", rules())
    # Still above 5: Hot must not fire again after the restore.
    actions = restored.ingest({"contact": "a", "type": "email.open", "at": T0 + HOUR})
    assert [a.rule for a in actions if a.rule == "Hot"] == []


def _snapshot_bytes(tmp_path: Path) -> bytes:
    engine = Engine(rules())
    run(engine, stream(0, 30))
    engine.snapshot(tmp_path / "good")
    return (tmp_path / "good").read_bytes()


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (lambda b: b[: len(b) // 2], "checksum"),
        (lambda b: b[:10], "too short"),
        (lambda b: b"", "too short"),
        (lambda b: b"NOTASNAP" + b[8:], "bad magic"),
        (lambda b: b[:100] + bytes([b[100] ^ 0xFF]) + b[101:], "checksum"),
        (lambda b: b + b"trailing", "checksum"),
    ],
    ids=["truncated", "tiny", "empty", "magic", "flipped-byte", "trailing-garbage"],
)
def test_corrupt_snapshot_is_refused_with_a_clear_message(
    tmp_path: Path, damage: Any, fragment: str
) -> None:
    bad = tmp_path / "bad.engsnap"
    bad.write_bytes(damage(_snapshot_bytes(tmp_path)))
    with pytest.raises(SnapshotError) as caught:
        Engine.restore(bad, rules())
    message = str(caught.value)
    assert fragment in message
    assert "bad.engsnap" in message


def test_snapshot_version_mismatch_is_refused(tmp_path: Path) -> None:
    data = bytearray(_snapshot_bytes(tmp_path))
    struct.pack_into("<I", data, 8, 99)
    bad = tmp_path / "future.engsnap"
    bad.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match="version 99"):
        Engine.restore(bad, rules())


def test_missing_snapshot_is_a_snapshot_error(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="cannot read"):
        Engine.restore(tmp_path / "nothing-here", rules())


def test_snapshot_error_is_a_value_error() -> None:
    assert issubclass(SnapshotError, ValueError)
    assert issubclass(SnapshotError, engage.EngageError)


def test_snapshot_write_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    engine = Engine(rules())
    run(engine, stream(0, 10))
    engine.snapshot(tmp_path / "s")
    run(engine, stream(10, 20))
    engine.snapshot(tmp_path / "s")  # over the old one
    assert sorted(os.listdir(tmp_path)) == ["s"]
    assert Engine.restore(tmp_path / "s", rules()).stats.events == 20


# -- state folders ------------------------------------------------------------------------


def test_state_dir_open_close_reopen_resumes(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    reference = Engine(rules())
    expected = run(reference, stream(0, 120))

    first = StateDir(folder, rules(), fsync="never")
    engine = first.open()
    got = run(engine, stream(0, 60))
    first.close()
    second = StateDir(folder, rules(), fsync="never")
    engine = second.open()
    assert second.recovery.snapshot is not None
    assert second.recovery.replayed == 0
    got += run(engine, stream(60, 120))
    assert got == expected
    assert list(engine.dump()) == list(reference.dump())
    second.close()


def test_state_dir_recovers_from_the_log_after_a_crash(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    first = StateDir(folder, rules(), fsync="always")
    engine = first.open()
    run(engine, stream(0, 40))
    engine.advance(T0 + 400 * HOUR)
    before = list(engine.dump())
    # A crash: no checkpoint, only the log is on disk (fsync "always": every frame).
    first.close(checkpoint=False)
    second = StateDir(folder, rules())
    recovered = second.open()
    assert second.recovery.snapshot is None
    assert second.recovery.replayed == 41
    assert second.recovery.cut == []
    assert list(recovered.dump()) == before
    assert recovered.clock == T0 + 400 * HOUR
    assert any("replayed 41" in line for line in second.recovery.messages())
    second.close()


def test_same_events_twice_into_the_same_folder_change_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    events = stream(0, 50)
    first = StateDir(folder, rules())
    run(first.open(), events)
    first.close()
    second = StateDir(folder, rules())
    engine = second.open()
    before = list(engine.dump())
    assert run(engine, events) == []
    assert list(engine.dump()) == before
    assert engine.stats.duplicates == 50
    second.close()
    third = StateDir(folder, rules())
    assert list(third.open().dump()) == before
    third.close()


def test_dedupe_ids_survive_a_restart_without_checkpoint(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    first = StateDir(folder, rules(), fsync="always")
    run(first.open(), stream(0, 10))
    first.close(checkpoint=False)  # a crash: no snapshot, only the log
    # The feed re-sends everything (at-least-once delivery).
    second = StateDir(folder, rules())
    engine = second.open()
    reference = Engine(rules())
    run(reference, stream(0, 10))
    expected = run(reference, stream(10, 15))
    assert run(engine, stream(0, 15)) == expected
    assert list(engine.dump()) == list(reference.dump())
    assert engine.stats.duplicates == 10
    assert engine.stats.events == 15
    second.close()


def test_torn_log_tail_is_cut_and_reported_not_replayed(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    first = StateDir(folder, rules(), fsync="always")
    engine = first.open()
    run(engine, stream(0, 10))
    assert engine.journal.active
    log_path = Path(engine.journal.path)
    first.close(checkpoint=False)  # a crash: no snapshot
    size = log_path.stat().st_size
    with open(log_path, "r+b") as handle:
        handle.truncate(size - 5)  # the last frame (event e9) is torn
    reference = Engine(rules())
    run(reference, stream(0, 9))

    second = StateDir(folder, rules())
    recovered = second.open()
    assert second.recovery.replayed == 9
    assert len(second.recovery.cut) == 1
    name, problem = second.recovery.cut[0]
    assert name == log_path.name
    assert "torn" in problem.reason
    assert any("cut the log" in line for line in second.recovery.messages())
    assert list(recovered.dump()) == list(reference.dump())
    # The file itself was cut back to its intact frames.
    assert [f["n"] for f in eventlog.read(log_path)] == list(range(1, 10))
    # The lost event can be sent again and is applied (its id was never recorded).
    recovered.ingest(stream(9, 10)[0])
    assert recovered.stats.duplicates == 0
    run(reference, stream(9, 10))
    assert list(recovered.dump()) == list(reference.dump())
    second.close()


def test_checkpoint_compacts_the_log(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    state = StateDir(folder, rules())
    engine = state.open()
    run(engine, stream(0, 20))
    first_snapshot = state.checkpoint()
    run(engine, stream(20, 40))
    second_snapshot = state.checkpoint()
    names = sorted(os.listdir(folder))
    assert engine.journal.active
    current_log = os.path.basename(engine.journal.path)
    assert names == [current_log, os.path.basename(second_snapshot)]
    assert not os.path.exists(first_snapshot)
    assert names[0].startswith("log-") and names[1].startswith("snapshot-")
    state.close()
    reopened = StateDir(folder, rules())
    again = reopened.open()
    assert again.stats.events == 40
    assert reopened.recovery.replayed == 0
    reopened.close()


def test_unreadable_newest_snapshot_falls_back_to_the_log(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    state = StateDir(folder, rules(), fsync="always")
    engine = state.open()
    run(engine, stream(0, 20))
    expected = list(engine.dump())
    state.close(checkpoint=False)
    # A bogus newer snapshot (e.g. written by a broken tool) is skipped and reported.
    (folder / "snapshot-000000000999.engsnap").write_bytes(b"garbage" * 10)
    reopened = StateDir(folder, rules())
    recovered = reopened.open()
    assert reopened.recovery.skipped_snapshots
    assert "snapshot-000000000999.engsnap" in reopened.recovery.skipped_snapshots[0][0]
    assert list(recovered.dump()) == expected
    reopened.close(checkpoint=False)


LIST_FIELD_RULES = """
fields {
    interests: list
}
when interests contains "golf" then tag "golfer"
when interests contains "tennis" then tag "tennis"
"""


def test_list_fields_come_back_as_lists_that_rules_read(tmp_path: Path) -> None:
    """msgpack gives lists back as lists: a restored list field is a tuple again, reads
    as before, and a reload does not share it with the contact it was taken from."""
    compiled = engage.compile(LIST_FIELD_RULES, name="t.rules")
    engine = Engine(compiled)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    engine.ingest(
        {"contact": "c1", "type": "contact.updated", "at": at, "data": {"interests": ["golf"]}}
    )
    path = tmp_path / "s.engsnap"
    engine.snapshot(path)
    restored = Engine.restore(path, compiled)
    assert restored.state.contacts["c1"].fields == [("golf",)]
    assert list(restored.dump()) == list(engine.dump())
    actions = restored.ingest(
        {
            "contact": "c1",
            "type": "contact.updated",
            "at": at + timedelta(days=1),
            "data": {"interests": ["golf", "tennis"]},
        }
    )
    assert [(a.action, a.args) for a in actions] == [("tag", ["tennis"])]

    before = engine.state.contacts["c1"]
    engine.reload(compiled)
    after = engine.state.contacts["c1"]
    assert after is not before
    assert after.fields == before.fields
    assert after.fields is not before.fields
