"""The job of ``engage run``: feed event files through an engine, write what comes out.

Records are read in batches and given to :meth:`Engine.ingest_many` (the fast path);
after each batch the actions are written as JSON Lines, the records the engine refused
are mapped back to their file and line and written to the dead-letter output, and the
outbox is drained so that memory stays flat over any length of file.

With a state folder, a record without an ``id`` gets one derived from its content
(``sha:`` and a hash of the canonical record), so that replaying the same file into the
same folder — after a crash, or by mistake — changes nothing: every record is then a
duplicate. Two records identical in contact, type, time and data are, for this purpose,
the same event.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterable
from typing import IO, Any

from engage.engine import Engine
from engage.io.deadletter import DeadLetter
from engage.io.ordering import Placed, in_file_order
from engage.io.progress import Progress
from engage.io.readers import BadRecord, EventSource

#: Records per ``ingest_many`` call: large enough for the fast path, small enough that
#: the progress bar moves and the output streams.
BATCH = 4096


def content_id(record: dict[str, Any]) -> str:
    """A stable id for a record that has none: a hash of its canonical JSON."""
    try:
        text = json.dumps(record, sort_keys=True, default=str, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        text = repr(sorted(record.items(), key=lambda item: str(item[0])))
    return "sha:" + hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=12).hexdigest()


class _Sink:
    """Where actions go; after a closed pipe (``| head``) it quietly drops them, so
    that the run still finishes and a state folder still ends consistent."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream: IO[str] | None = stream
        self.closed_early = False

    def write(self, text: str) -> None:
        if self.stream is None:
            return
        try:
            self.stream.write(text)
        except BrokenPipeError:
            self.stream = None
            self.closed_early = True

    def flush(self) -> None:
        if self.stream is None:
            return
        try:
            self.stream.flush()
        except BrokenPipeError:
            self.stream = None
            self.closed_early = True


class Replay:
    """Feeds sources into an engine and keeps the counts the summary shows."""

    def __init__(
        self,
        engine: Engine,
        output: IO[str],
        dead_letter: DeadLetter,
        progress: Progress,
        *,
        explain: bool = False,
        derive_ids: bool = False,
        after_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.engine = engine
        self.sink = _Sink(output)
        self.dead_letter = dead_letter
        self.progress = progress
        self.explain = explain
        self.derive_ids = derive_ids
        self.after_batch = after_batch
        self.records = 0
        self.actions = 0
        self.outside = 0
        self.suppressed = 0
        self.failed = 0
        self.shown_bad: list[str] = []
        self._read_since_apply = False

    def feed(self, source: EventSource) -> None:
        """Apply every record of one source, in the order written."""
        with source:
            self.feed_placed(in_file_order([source], self.read_progress))

    def feed_placed(self, placed: Iterable[Placed]) -> None:
        """Apply ``(source name, line, record)`` triples in the order given.

        A batch of records goes to :meth:`Engine.ingest_many` at a time; bad records
        (undecodable, or refused by the engine) go to the dead-letter output in the
        order they were placed, with their own file and line.
        """
        batch: list[Any] = []
        places: list[tuple[str, int]] = []
        undecoded: list[tuple[int, str, int, str, Any]] = []
        derive_ids = self.derive_ids
        for name, line, record in placed:
            self.records += 1
            if record.__class__ is BadRecord:
                # Kept until the batch is applied, so the dead letters stay in order:
                # an odd rank sorts it between the records placed around it.
                undecoded.append((2 * len(batch) - 1, name, line, record.reason, record.raw))
                continue
            if derive_ids and isinstance(record, dict) and "id" not in record:
                record["id"] = content_id(record)
            batch.append(record)
            places.append((name, line))
            if len(batch) >= BATCH:
                self._apply(batch, places, undecoded)
                batch = []
                places = []
                undecoded = []
        if batch or undecoded:
            self._apply(batch, places, undecoded)

    def _apply(
        self,
        batch: list[Any],
        places: list[tuple[str, int]],
        bad: list[tuple[int, str, int, str, Any]],
    ) -> None:
        engine = self.engine
        first = engine.position
        rejected_before = len(engine.rejected)
        actions = engine.ingest_many(batch) if batch else []
        for rejected in engine.rejected[rejected_before:]:
            index = (rejected.position or 0) - first - 1
            name, line = places[index] if 0 <= index < len(places) else ("", 0)
            bad.append((2 * index, name, line, rejected.reason, rejected.record))
        bad.sort(key=lambda entry: entry[0])
        for _, name, line, reason, record in bad:
            self._bad(name, line, reason, record)
        # The file holds them now; the engine need not keep them twice.
        del engine.rejected[rejected_before:]
        self.write_actions(actions)
        if self.after_batch is not None:
            self.after_batch(len(batch))
        if self._read_since_apply:
            self._read_since_apply = False
        else:
            self.progress.update(self.records, 0, None)

    def read_progress(self, records: int, source: EventSource) -> None:
        """A hook for the readers: draw how far the current file has been read.

        While a file is read the bar follows its bytes; once the records are applied
        in time order (after the whole input was read), it counts applied records.
        """
        self._read_since_apply = True
        self.progress.update(records, source.bytes_read, source.size)

    def write_actions(self, actions: Iterable[Any]) -> None:
        """Write actions as JSON Lines and count them; drain the engine's outbox."""
        explain = self.explain
        chunk = []
        for action in actions:
            self.actions += 1
            if action.suppressed is not None:
                self.suppressed += 1
            if action.status != "ok":
                self.failed += 1
            chunk.append(json.dumps(action.to_dict(explain)))
        self.outside += len(self.engine.drain_outbox())
        if chunk:
            chunk.append("")
            self.sink.write("\n".join(chunk))

    def _bad(self, source: str, line: int, reason: str, record: Any) -> None:
        self.dead_letter.write(source, line, reason, record)
        if self.dead_letter.path is None and len(self.shown_bad) < 20:
            self.shown_bad.append(f"{source}:{line}: bad record: {reason}")


def print_bad_records(replay: Replay, stream: IO[str] = sys.stderr) -> None:
    """Without ``--dead-letter``, bad records are listed on stderr (the first 20)."""
    if replay.dead_letter.path is not None:
        return
    for text in replay.shown_bad:
        stream.write(text + "\n")
    hidden = replay.dead_letter.count - len(replay.shown_bad)
    if hidden > 0:
        stream.write(f"... and {hidden:,} more bad records (--dead-letter PATH keeps them all)\n")
