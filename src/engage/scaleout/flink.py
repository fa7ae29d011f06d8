"""engage's per-contact step as a PyFlink DataStream job.

Pipeline (one source and watermark generator per input file, as one Kafka partition)::

    FileSource(JSON Lines) -> parse -> event time + watermarks      (parallelism 1 each)
      union -> key_by(contact) -> ContactFunction                     (parallelism P)
        -> actions: FileSink of JSON Lines (committed part files)     (parallelism P)
        -> segment deltas (side output) -> key_by(segment) -> SegmentCounter -> FileSink

:func:`engage_stage` is the reusable middle: it takes any keyed-ready event stream
(``EVENT_TYPE`` with timestamps and watermarks) and returns the action and segment
streams, so a host swaps the FileSource for a KafkaSource and the FileSink for a
KafkaSink (docs/scaleout.md). :func:`configure` and :func:`file_sources` carry the
settings a PyFlink 2.3 job needs to run at all (see the comments there).

Each contact's value is one ``PICKLED_BYTE_ARRAY`` state (a :class:`~engage.scaleout.keyed.Slot`
tuple: the step's state bytes, its wake-up, its recent ids) and one event-time timer.
Rules travel as text in the job and are compiled once per task, in ``open()``.

Importing this module imports pyflink (about 1 s); :mod:`engage.scaleout.command` checks
for it first.
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig
import time
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
from pyflink.common import Configuration, Duration, Encoder, Types, WatermarkStrategy
from pyflink.common.typeinfo import TypeInformation
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import (
    DataStream,
    KeyedProcessFunction,
    OutputTag,
    StreamExecutionEnvironment,
)
from pyflink.datastream.connectors.file_system import (
    BucketAssigner,
    FileSink,
    FileSource,
    OutputFileConfig,
    RollingPolicy,
    StreamFormat,
)
from pyflink.datastream.state import ValueStateDescriptor

from engage.scaleout.keyed import DEFAULT_RECENT_IDS, ContactTask, compile_texts, parse_line

#: A parsed event: (contact id, event time in ms, the record's JSON text).
EVENT_TYPE: TypeInformation = Types.TUPLE([Types.STRING(), Types.LONG(), Types.STRING()])
#: A segment count change: (segment name, +1 or -1, event time in ms).
SEGMENT_DELTA_TYPE: TypeInformation = Types.TUPLE([Types.STRING(), Types.INT(), Types.LONG()])
SEGMENT_DELTAS = OutputTag("segment-deltas", SEGMENT_DELTA_TYPE)

#: Event time between two segment-count reports (ms): one day.
DEFAULT_REPORT_MS = 86_400_000


@attrs.frozen
class StageOptions:
    """How the keyed stage runs.

    ``cutoff``: the latest wake-up (epoch seconds) that may fire; None fires every
    timer (unbounded input). ``fail_after``: a test hook; the first task to reach that
    many events raises once (a marker file in ``marker_dir`` makes it once per job).
    ``stats_dir``: where each task writes its record count and first/last record times.
    """

    parallelism: int = 1
    cutoff: float | None = None
    recent_ids: int = DEFAULT_RECENT_IDS
    report_ms: int = DEFAULT_REPORT_MS
    fail_after: int = 0
    marker_dir: str | None = None
    stats_dir: str | None = None


@attrs.frozen
class EngageStreams:
    """The outputs of :func:`engage_stage`: actions as JSON Lines text, and segment
    counts as JSON Lines text (``{"segment", "members", "at"}``, one per segment per
    report period in which it changed)."""

    actions: DataStream
    segments: DataStream


def configure(
    *,
    work_dir: str,
    checkpoint_dir: str,
    checkpoint_ms: int = 1000,
    restarts: int = 0,
    submitted: bool = False,
) -> Configuration:
    """The job configuration: THREAD mode, RocksDB, checkpoints, restarts.

    ``submitted``: started by ``flink run`` (the CLI's ``-pyexec``/``-pyarch``/``-pypath``
    then choose the workers' Python; a path of this machine must not override them).
    """
    conf = Configuration()
    if not submitted:
        # Workers must run this interpreter; the default is whatever `python` is on PATH.
        conf.set_string("python.executable", sys.executable)
        conf.set_string("python.client.executable", sys.executable)
        # THREAD mode's embedded CPython does not see the venv (FLINK-38585: "No module
        # named 'pemja'"); an editable install of engage is outside site-packages too.
        conf.set_string("python.pythonpath", os.pathsep.join(_python_path()))
    conf.set_string("python.execution-mode", "thread")
    # PyFlink's key_by adds a Python operator at the *default* parallelism; if it differs
    # from the sources' (1) records are rebalanced into it and per-contact order is lost.
    # So the default stays 1 and only the keyed stages and sinks get P.
    conf.set_string("parallelism.default", "1")
    conf.set_string("state.backend.type", "rocksdb")
    conf.set_string("execution.checkpointing.dir", "file://" + os.path.abspath(checkpoint_dir))
    conf.set_string("execution.checkpointing.interval", f"{checkpoint_ms} ms")
    conf.set_string("io.tmp.dirs", os.path.join(work_dir, "tmp"))
    if restarts > 0:
        conf.set_string("restart-strategy.type", "fixed-delay")
        conf.set_string("restart-strategy.fixed-delay.attempts", str(restarts))
        conf.set_string("restart-strategy.fixed-delay.delay", "1 s")
    else:
        # With checkpoints on, Flink's default restarts forever with back-off: a bug
        # would loop instead of failing the job.
        conf.set_string("restart-strategy.type", "none")
    return conf


def _python_path() -> list[str]:
    import engage

    paths = [sysconfig.get_paths()["purelib"]]
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(engage.__file__)))
    if package_root not in paths:
        paths.append(package_root)
    return paths


class _EventTime(TimestampAssigner):  # type: ignore[misc]
    def extract_timestamp(self, value: Any, record_timestamp: int) -> int:
        return int(value[1])


def _parse(line: str) -> Iterator[tuple[str, int, str]]:
    parsed = parse_line(line)
    if parsed is not None:
        yield parsed


def parse_events(lines: DataStream) -> DataStream:
    """JSON Lines text -> ``EVENT_TYPE``; records without a contact or time are dropped.
    Runs at the upstream's parallelism (keep it that of the source: per-key order)."""
    return lines.flat_map(_parse, output_type=EVENT_TYPE).name("parse")


def event_time(out_of_orderness_ms: int) -> WatermarkStrategy:
    """Bounded out-of-orderness watermarks over an ``EVENT_TYPE`` stream."""
    return WatermarkStrategy.for_bounded_out_of_orderness(
        Duration.of_millis(out_of_orderness_ms)
    ).with_timestamp_assigner(_EventTime())


def file_sources(
    env: StreamExecutionEnvironment, paths: Sequence[str], out_of_orderness_ms: int
) -> DataStream:
    """One bounded FileSource and watermark generator per file, unioned.

    A single source over several files reads them one after the other, so later files
    would arrive far behind the watermark; one generator per file keeps each file's own
    order (put each contact's events in one file, as Kafka keys partitions).
    """
    streams = []
    for index, path in enumerate(paths):
        source = (
            FileSource.for_record_stream_format(
                StreamFormat.text_line_format(), os.path.abspath(path)
            )
            .process_static_file_set()
            .build()
        )
        lines = env.from_source(source, WatermarkStrategy.no_watermarks(), f"events-{index}")
        events = parse_events(lines).assign_timestamps_and_watermarks(
            event_time(out_of_orderness_ms)
        )
        streams.append(events)
    return streams[0].union(*streams[1:]) if len(streams) > 1 else streams[0]


def engage_stage(
    events: DataStream, rules: Sequence[tuple[str, str]], options: StageOptions
) -> EngageStreams:
    """Key ``events`` (``EVENT_TYPE``, with event time) by contact, run engage's step on
    each, and count segment members. ``rules`` are ``(name, text)`` pairs."""
    contacts = events.key_by(lambda event: event[0], key_type=Types.STRING())
    actions = (
        contacts.process(ContactFunction(rules, options), output_type=Types.STRING())
        .name("engage-step")
        .uid("engage-step")
        .set_parallelism(options.parallelism)
    )
    segments = (
        actions.get_side_output(SEGMENT_DELTAS)
        .key_by(lambda delta: delta[0], key_type=Types.STRING())
        .process(SegmentCounter(options.report_ms), output_type=Types.STRING())
        .name("segment-counts")
        .uid("segment-counts")
        .set_parallelism(options.parallelism)
    )
    return EngageStreams(actions, segments)


def jsonl_sink(path: str, prefix: str) -> FileSink:
    """A FileSink of JSON Lines under ``path``: part files ``prefix-*.jsonl``, committed
    on each checkpoint (exactly once; hidden in-progress files are not results)."""
    return (
        FileSink.for_row_format(path, Encoder.simple_string_encoder())
        .with_bucket_assigner(BucketAssigner.base_path_bucket_assigner())
        .with_output_file_config(
            OutputFileConfig.builder().with_part_prefix(prefix).with_part_suffix(".jsonl").build()
        )
        .with_rolling_policy(RollingPolicy.on_checkpoint_rolling_policy())
        .build()
    )


class ContactFunction(KeyedProcessFunction):  # type: ignore[misc]
    """The keyed step: one Slot value and one event-time timer per contact."""

    def __init__(self, rules: Sequence[tuple[str, str]], options: StageOptions) -> None:
        self.rules_sources = list(rules)
        self.options = options
        self.task: ContactTask | None = None
        self.slot: Any = None
        self.records = 0
        self.first: float | None = None
        self.last: float | None = None
        self.opened = 0.0

    def open(self, runtime_context: Any) -> None:
        options = self.options
        self.task = ContactTask(
            compile_texts(self.rules_sources),
            cutoff=options.cutoff,
            recent_ids=options.recent_ids,
        )
        self.slot = runtime_context.get_state(
            ValueStateDescriptor("contact", Types.PICKLED_BYTE_ARRAY())
        )
        self.opened = time.time()

    def process_element(self, value: Any, ctx: Any) -> Iterator[Any]:
        assert self.task is not None
        self.records += 1
        if self.first is None:
            self.first = time.time()
        if self.options.fail_after and self.records >= self.options.fail_after:
            self._fail_once()
        outcome = self.task.on_event(self.slot.value(), value[2])
        yield from self._apply(outcome, ctx, value[1])
        self.last = time.time()

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Any]:
        assert self.task is not None
        yield from self._apply(self.task.on_timer(self.slot.value(), timestamp), ctx, timestamp)

    def _apply(self, outcome: Any, ctx: Any, moment_ms: int) -> Iterator[Any]:
        if outcome.duplicate:
            return
        if outcome.slot is None:
            self.slot.clear()
        else:
            self.slot.update(outcome.slot.to_value())
        if outcome.old_timer != outcome.new_timer:
            timers = ctx.timer_service()
            if outcome.old_timer is not None:
                timers.delete_event_time_timer(outcome.old_timer)
            if outcome.new_timer is not None:
                timers.register_event_time_timer(outcome.new_timer)
        yield from outcome.lines
        for name, change in outcome.segments:
            yield SEGMENT_DELTAS, (name, change, moment_ms)

    def _fail_once(self) -> None:
        marker_dir = self.options.marker_dir
        if marker_dir is None:
            return
        try:
            os.close(os.open(os.path.join(marker_dir, "failed-once"), os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return
        raise RuntimeError(f"injected failure after {self.records} records")

    def close(self) -> None:
        stats_dir = self.options.stats_dir
        if stats_dir is None:
            return
        name = f"task-{os.getpid()}-{id(self)}-{time.time_ns()}.json"
        with open(os.path.join(stats_dir, name), "w", encoding="utf-8") as handle:
            json.dump(
                {
                    "records": self.records,
                    "first": self.first,
                    "last": self.last,
                    "opened": self.opened,
                    "closed": time.time(),
                },
                handle,
            )


class SegmentCounter(KeyedProcessFunction):  # type: ignore[misc]
    """Members per segment, keyed by segment name: sums the +1/-1 deltas and reports the
    count once per ``report_ms`` of event time in which it changed (the end of a bounded
    input fires the last report). Account roll-ups reuse this shape: key by account."""

    def __init__(self, report_ms: int) -> None:
        self.report_ms = report_ms
        self.count: Any = None

    def open(self, runtime_context: Any) -> None:
        # (members, members last reported)
        self.count = runtime_context.get_state(
            ValueStateDescriptor("members", Types.PICKLED_BYTE_ARRAY())
        )

    def process_element(self, value: Any, ctx: Any) -> Iterator[str]:
        members, reported = self.count.value() or (0, 0)
        self.count.update((members + int(value[1]), reported))
        report = (int(value[2]) // self.report_ms + 1) * self.report_ms
        ctx.timer_service().register_event_time_timer(report)
        return iter(())

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[str]:
        members, reported = self.count.value() or (0, 0)
        if members == reported:
            return
        self.count.update((members, members))
        from engage.timeutil import format_time

        yield json.dumps(
            {
                "segment": ctx.get_current_key(),
                "members": members,
                "at": format_time(timestamp / 1000),
            }
        )
