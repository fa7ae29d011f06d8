"""A state folder: the latest snapshot plus the event log after it, and recovery.

Layout of the folder::

    snapshot-<seq>.engsnap     the latest complete snapshot (all log frames <= seq)
    log-<first seq>.englog     log segments, frames in sequence order

Opening a folder recovers: restore the newest snapshot that reads back intact (an older
one is kept until a newer one is safely on disk), cut a torn tail off the last log
segment (reported, never replayed), replay every frame after the snapshot, then start a
new log segment for what comes next. A checkpoint writes a new snapshot atomically and
then deletes the segments and snapshots it covers (log compaction).
"""

from __future__ import annotations

import os
import re

from engage.engine import Engine
from engage.errors import SnapshotError
from engage.rules import Rules
from engage.storage import eventlog
from engage.storage.eventlog import EventLog, FsyncPolicy, LogCorruption
from engage.timeutil import DEFAULT_MAX_FUTURE

_SNAPSHOT = re.compile(r"^snapshot-(\d{12})\.engsnap$")
_LOG = re.compile(r"^log-(\d{12})\.englog$")


class Recovery:
    """What opening a state folder found and did."""

    def __init__(self) -> None:
        self.snapshot: str | None = None
        self.snapshot_seq = 0
        self.replayed = 0
        self.cut: list[tuple[str, LogCorruption]] = []
        self.skipped_snapshots: list[tuple[str, str]] = []
        #: Opened for reading only: a torn tail was skipped, not cut off the file.
        self.read_only = False

    def messages(self) -> list[str]:
        lines = []
        if self.snapshot:
            lines.append(f"restored {os.path.basename(self.snapshot)} (seq {self.snapshot_seq})")
        for name, reason in self.skipped_snapshots:
            lines.append(f"skipped unreadable snapshot {name}: {reason}")
        if self.replayed:
            lines.append(f"replayed {self.replayed} log entries")
        for name, problem in self.cut:
            verb = "stopped reading" if self.read_only else "cut"
            lines.append(
                f"{verb} the log {name} at byte {problem.offset}: {problem.reason} "
                "(that entry was never applied)"
            )
        return lines


class StateDir:
    """Snapshot + event log in one folder, for an engine that survives restarts."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        rules: Rules,
        *,
        fsync: FsyncPolicy = "interval",
        interval_ms: float = 100.0,
        backfill: bool = False,
        max_out_of_order: float | None = None,
        max_future: float | None = DEFAULT_MAX_FUTURE,
    ) -> None:
        self.path = os.fspath(path)
        #: Engine options that recovery must apply as the first run did: replayed log
        #: entries pass through the same reorder buffer and the same future margin.
        self.max_out_of_order = max_out_of_order
        self.max_future = max_future
        self.rules = rules
        self.fsync: FsyncPolicy = fsync
        self.interval_ms = interval_ms
        self.backfill = backfill
        self.engine: Engine | None = None
        self.recovery = Recovery()

    def _files(self, pattern: re.Pattern[str]) -> list[tuple[int, str]]:
        found = []
        for name in os.listdir(self.path):
            match = pattern.match(name)
            if match:
                found.append((int(match.group(1)), os.path.join(self.path, name)))
        return sorted(found)

    def newest_snapshot(self) -> str | None:
        """The newest snapshot file of the folder (None when it has none or does not
        exist). Cost: one directory listing."""
        if not os.path.isdir(self.path):
            return None
        found = self._files(_SNAPSHOT)
        return found[-1][1] if found else None

    def open(self) -> Engine:
        """Recover the engine from the folder (created if missing) and start logging."""
        os.makedirs(self.path, exist_ok=True)
        engine = self._recover(repair=True)
        segment = os.path.join(self.path, f"log-{engine.journal.seq + 1:012d}.englog")
        engine.journal.attach(EventLog(segment, fsync=self.fsync, interval_ms=self.interval_ms))
        self.engine = engine
        return engine

    def open_read_only(self) -> Engine:
        """Recover the engine from the folder and change nothing in it, for readers
        (``engage report``): no new log segment, a torn log tail is skipped (and
        reported in :attr:`recovery`) but not cut, and :meth:`checkpoint` is refused.

        Costs a snapshot restore plus a replay of the log after it, as :meth:`open`.
        Raises FileNotFoundError when the folder does not exist.
        """
        if not os.path.isdir(self.path):
            raise FileNotFoundError(2, "no such state folder", self.path)
        self.recovery.read_only = True
        return self._recover(repair=False)

    def _recover(self, *, repair: bool) -> Engine:
        """The newest intact snapshot plus the log frames after it."""
        recovery = self.recovery
        engine: Engine | None = None
        for seq, name in reversed(self._files(_SNAPSHOT)):
            try:
                engine = Engine.restore(
                    name,
                    self.rules,
                    backfill=self.backfill,
                    max_out_of_order=self.max_out_of_order,
                    max_future=self.max_future,
                )
            except SnapshotError as exc:
                recovery.skipped_snapshots.append((os.path.basename(name), str(exc)))
                continue
            recovery.snapshot = name
            recovery.snapshot_seq = seq
            break
        if engine is None:
            engine = Engine(
                self.rules, max_out_of_order=self.max_out_of_order, max_future=self.max_future
            )
        logs = self._files(_LOG)
        for index, (_, name) in enumerate(logs):
            problems: list[LogCorruption] = []
            for frame in eventlog.read(name, problems):
                if frame["n"] <= engine.journal.seq:
                    continue
                engine.replay_entry(frame)
                recovery.replayed += 1
            if problems:
                if repair and index == len(logs) - 1:
                    eventlog.repair(name)
                recovery.cut.append((os.path.basename(name), problems[0]))
                break
        return engine

    def checkpoint(self) -> str:
        """Snapshot now, then compact: drop the log segments and snapshots it covers."""
        engine = self.engine
        if engine is None:
            raise RuntimeError("open() the state folder first")
        seq = engine.journal.seq
        target = os.path.join(self.path, f"snapshot-{seq:012d}.engsnap")
        engine.snapshot(target)
        old_log = engine.journal.attach(
            EventLog(
                os.path.join(self.path, f"log-{seq + 1:012d}.englog"),
                fsync=self.fsync,
                interval_ms=self.interval_ms,
            )
        )
        if old_log is not None:
            old_log.close()
        for first, name in self._files(_LOG):
            if first <= seq and name != engine.journal.path:
                os.unlink(name)
        for snap_seq, name in self._files(_SNAPSHOT):
            if snap_seq < seq:
                os.unlink(name)
        return target

    def close(self, *, checkpoint: bool = True) -> None:
        """Checkpoint (by default) and close the log."""
        if self.engine is None:
            return
        if checkpoint:
            self.checkpoint()
        self.engine.journal.close()
