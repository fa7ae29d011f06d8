"""Idempotency window and the event log's framing, torn tails and repair."""

from __future__ import annotations

import os
from pathlib import Path

from engage.state.dedupe import DedupeWindow
from engage.storage import eventlog
from engage.storage.eventlog import EventLog


def test_dedupe_window_forgets_the_oldest() -> None:
    window = DedupeWindow(3)
    assert all(window.add(i) for i in ("a", "b", "c"))
    assert not window.add("a")
    assert window.add("d")  # evicts "a"
    assert window.add("a")
    assert window.ids() == ["c", "d", "a"]


def test_log_round_trip_and_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with EventLog(path, fsync="always") as log:
        for n in range(1, 6):
            log.append({"n": n, "e": {"contact": "c", "type": "t", "at": float(n)}})
    assert [f["n"] for f in eventlog.read(path)] == [1, 2, 3, 4, 5]
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.truncate(size - 3)  # a crash in the middle of the last frame
    problems: list[eventlog.LogCorruption] = []
    assert [f["n"] for f in eventlog.read(path, problems)] == [1, 2, 3, 4]
    assert problems and "torn" in problems[0].reason
    cut = eventlog.repair(path)
    assert cut is not None
    assert [f["n"] for f in eventlog.read(path)] == [1, 2, 3, 4]
    assert eventlog.repair(path) is None


def test_log_detects_a_flipped_byte(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with EventLog(path, fsync="never") as log:
        for n in range(1, 4):
            log.append({"n": n, "a": float(n)})
    data = bytearray(path.read_bytes())
    data[-2] ^= 0xFF
    path.write_bytes(bytes(data))
    problems: list[eventlog.LogCorruption] = []
    assert [f["n"] for f in eventlog.read(path, problems)] == [1, 2]
    assert "checksum" in problems[0].reason
