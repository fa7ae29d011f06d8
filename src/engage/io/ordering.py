"""Time order for replayed files: a stable sort by (time, place in the input).

Why: rules read the clock. A file written in time order replays as it happened, but
exports are often grouped by contact (all of one contact's events, then the next
contact's), and applied in that order an early event written late arrives after the
clock has moved past it: a cooldown, a window or a timer then sees the wrong history.
So ``engage run`` applies the records of its files in time order, whatever order they
were written in; records at the same time keep the order they were written in (files
in the order given, then lines).

A record's place in the order is its ``at``. A record without one, or with one that
cannot be read, and a record that could not be decoded at all take the latest time
written before them in their file (at the top of a file, the beginning of time), after
the records of that time written before them. That is the clock at which a replay in
written order would have applied them, which is what "no time" means (the engine
applies such an event at its clock); and a bad record still reaches the rejection
path with its file and line.

Cost: O(n log n) time for n records, one time parse per record. Memory is bounded by
``chunk_size`` records: a smaller input is sorted in memory and nothing is written;
a larger one is read a chunk at a time, each chunk sorted and written as a *run*
(msgpack, in a private temporary folder removed afterwards), and the runs are merged
with :func:`heapq.merge` (O(n log r) for r runs, one buffered reader per run; more
than ``max_open_runs`` runs are first merged in groups). Disk: about the input's size
in msgpack. The first record comes out only once the whole input has been read, so
standard input, a live feed, is not sorted here (see :func:`placed_records`).
"""

from __future__ import annotations

import heapq
import math
import os
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

import msgpack

from engage.io.readers import BadRecord, EventSource
from engage.timeutil import coerce_time

#: Records sorted in memory before a run is written. At a few hundred bytes to a
#: kilobyte per decoded record, about 50-100 MB of memory.
CHUNK_RECORDS: Final = 100_000

#: Runs merged at once (each holds an open file and a read buffer).
MAX_OPEN_RUNS: Final = 64

#: A record placed in the input: (source name, line, record or BadRecord).
Placed = tuple[str, int, Any]

#: Told, every :data:`READ_REPORT_EVERY` records, how far reading has got:
#: ``(records read in all, the source being read)``; a progress bar's hook.
ReadHook = Callable[[int, EventSource], None]

READ_REPORT_EVERY: Final = 4096

# msgpack extension codes of the run files (private to this module and process).
_BAD: Final = 1
_PICKLED: Final = 2


def time_of(record: Any) -> float | None:
    """The epoch seconds of a record's ``at``; None without a readable one."""
    if record.__class__ is not dict and not isinstance(record, Mapping):
        return None
    at = record.get("at")
    if at is None:
        return None
    try:
        return coerce_time(at)
    except ValueError:
        return None


class TimeOrder:
    """A stable external sort of event records by time, with its counts.

    An entry is the list ``[time, sequence, source index, line, record]``; the
    sequence number is unique, so entries compare by time and sequence only and the
    sort is stable by construction.

    Attributes:
        records: records read.
        out_of_order: records whose time is before the latest time written before them
            in their file (what a replay in written order would have applied late).
        runs: sorted runs written to disk (0 when the input fit in one chunk).
    """

    def __init__(
        self,
        *,
        chunk_size: int = CHUNK_RECORDS,
        max_open_runs: int = MAX_OPEN_RUNS,
        on_read: ReadHook | None = None,
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        if max_open_runs < 2:
            raise ValueError("max_open_runs must be at least 2")
        self.chunk_size = chunk_size
        self.max_open_runs = max_open_runs
        self.on_read = on_read
        self.records = 0
        self.out_of_order = 0
        self.runs = 0

    def ordered(self, sources: Sequence[EventSource]) -> Iterator[Placed]:
        """The records of every source, in time order (ties: source order, then line).

        Reads the sources to the end before yielding the first record; closing the
        generator early removes the run files.
        """
        names = [source.name for source in sources]
        chunk: list[list[Any]] = []
        with tempfile.TemporaryDirectory(prefix="engage-order-") as folder:
            runs: list[str] = []
            for entry in self._entries(sources):
                chunk.append(entry)
                if len(chunk) >= self.chunk_size:
                    chunk.sort()
                    runs.append(self._write_run(folder, chunk))
                    chunk = []
            chunk.sort()
            if not runs:
                merged: Iterable[list[Any]] = chunk
            else:
                while len(runs) >= self.max_open_runs:
                    runs = self._merge_groups(folder, runs)
                merged = heapq.merge(*(_read_run(path) for path in runs), chunk)
            for _, _, index, line, record in merged:
                yield names[index], line, record

    def _entries(self, sources: Sequence[EventSource]) -> Iterator[list[Any]]:
        sequence = 0
        for index, source in enumerate(sources):
            latest = -math.inf
            for line, record in source:
                self.records += 1
                sequence += 1
                if self.on_read is not None and not self.records % READ_REPORT_EVERY:
                    self.on_read(self.records, source)
                moment = time_of(record)
                if moment is None:
                    moment = latest
                elif moment < latest:
                    self.out_of_order += 1
                else:
                    latest = moment
                yield [moment, sequence, index, line, record]

    def _write_run(self, folder: str, entries: Iterable[list[Any]]) -> str:
        self.runs += 1
        path = os.path.join(folder, f"run-{self.runs:06d}.msgpack")
        packer = msgpack.Packer(default=_encode, use_bin_type=True, datetime=True)
        with open(path, "wb", buffering=1 << 20) as handle:
            for entry in entries:
                try:
                    handle.write(packer.pack(entry))
                except (TypeError, ValueError, OverflowError):
                    # Beyond msgpack (an integer over 64 bits, say): kept as a pickle,
                    # which only this process writes and reads back.
                    fallback = [*entry[:4], msgpack.ExtType(_PICKLED, pickle.dumps(entry[4]))]
                    handle.write(packer.pack(fallback))
        return path

    def _merge_groups(self, folder: str, runs: list[str]) -> list[str]:
        """One merge pass: every ``max_open_runs`` runs become one."""
        merged = []
        for start in range(0, len(runs), self.max_open_runs):
            group = runs[start : start + self.max_open_runs]
            merged.append(self._write_run(folder, heapq.merge(*map(_read_run, group))))
            for path in group:
                os.unlink(path)
        return merged


def _encode(value: Any) -> Any:
    if isinstance(value, BadRecord):
        return msgpack.ExtType(
            _BAD, msgpack.packb([value.reason, value.raw], use_bin_type=True, datetime=True)
        )
    raise TypeError(f"cannot write {type(value).__name__} to a run file")


def _decode(code: int, data: bytes) -> Any:
    if code == _BAD:
        reason, raw = msgpack.unpackb(data, raw=False, strict_map_key=False, timestamp=3)
        return BadRecord(reason, raw)
    if code == _PICKLED:
        return pickle.loads(data)
    return msgpack.ExtType(code, data)


def _read_run(path: str) -> Iterator[list[Any]]:
    with open(path, "rb") as handle:
        yield from msgpack.Unpacker(
            handle,
            raw=False,
            strict_map_key=False,
            timestamp=3,
            ext_hook=_decode,
            read_size=1 << 16,
        )


def in_file_order(
    sources: Sequence[EventSource], on_read: ReadHook | None = None
) -> Iterator[Placed]:
    """The records of every source as written, streaming (no sort, no memory)."""
    count = 0
    for source in sources:
        name = source.name
        for line, record in source:
            count += 1
            if on_read is not None and not count % READ_REPORT_EVERY:
                on_read(count, source)
            yield name, line, record


def placed_records(
    sources: Sequence[EventSource], order: TimeOrder | None, on_read: ReadHook | None = None
) -> Iterator[Placed]:
    """What ``engage run`` applies, in the order it applies it.

    With ``order``, the files are merged into one time order; standard input (``-``),
    a feed that may never end, is applied as it arrives, at its place among the
    sources (the files before it are sorted together, then it streams, then the files
    after it). Without ``order``, everything is applied as written. Each source is
    closed once read.
    """
    group: list[EventSource] = []
    for source in [*sources, None]:
        if source is not None and source.path != "-" and order is not None:
            group.append(source)
            continue
        if group:
            try:
                yield from order.ordered(group) if order is not None else ()
            finally:
                for done in group:
                    done.close()
            group = []
        if source is not None:
            with source:
                yield from in_file_order([source], on_read)
