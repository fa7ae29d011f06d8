"""``engage flink``: run the Flink job over JSON Lines files and write its output.

On this machine it runs in a local mini-cluster that PyFlink starts in a JVM of its
own (about 1 s, then 3-4 s until the first record); started by ``flink run -py`` (this
file is a script too: ``python -m engage.scaleout.command --help``) it runs on that
cluster. The output directory gets ``actions/`` (committed part files, JSON Lines as
``engage run`` prints), ``segments/`` (segment member counts) and ``summary.json``.

Before the job, the events are read once here (a JSON parse per line) to count bad
records and find the last event time: without ``--until``, as in ``engage run``, no
wake-up later than that fires, while the end of a bounded input fires every timer.
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import IO, Any

from engage.scaleout.keyed import DEFAULT_RECENT_IDS, parse_line

EXIT_OK = 0
EXIT_USAGE = 2
MIN_JAVA = 11


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``engage flink`` (rules files are added by the caller)."""
    parser.add_argument(
        "--events",
        action="append",
        required=True,
        metavar="PATH",
        help="events file (.jsonl); repeat for several files, read in parallel: "
        "keep each contact's events in one file",
    )
    parser.add_argument("--output", required=True, metavar="DIR", help="output directory")
    parser.add_argument("--parallelism", type=int, default=1, metavar="N", help="keyed tasks")
    parser.add_argument(
        "--until", metavar="TIME", help="after the input, fire wake-ups due by TIME"
    )
    parser.add_argument(
        "--checkpoints", metavar="DIR", help="checkpoint directory (default: DIR/checkpoints)"
    )
    parser.add_argument(
        "--checkpoint-interval", type=int, default=1000, metavar="MS", help="default 1000"
    )
    parser.add_argument(
        "--out-of-orderness",
        type=int,
        default=5000,
        metavar="MS",
        help="bounded out-of-orderness of event times (default 5000)",
    )
    parser.add_argument(
        "--recent-ids",
        type=int,
        default=DEFAULT_RECENT_IDS,
        metavar="N",
        help=f"event ids kept per contact to drop repeats (default {DEFAULT_RECENT_IDS})",
    )
    parser.add_argument(
        "--restarts", type=int, default=0, metavar="N", help="restart a failed job N times"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no summary on stderr")
    # Test hook: the first task to reach N events fails once (needs --restarts).
    parser.add_argument("--fail-after", type=int, default=0, help=argparse.SUPPRESS)


def missing_requirement() -> str | None:
    """Why the job cannot run here (with the remedy), or None. Costs one ``java
    -version`` (about 30 ms) and a module lookup; does not import pyflink."""
    if importlib.util.find_spec("pyflink") is None:
        return (
            "PyFlink is not installed; install the extra: pip install 'engage[flink]' "
            "(apache-flink 2.3.0, about 850 MB)"
        )
    java = _java()
    if java is None:
        return "Java 11 or later is needed and was not found; install a JDK (17 is tested)"
    version = _java_major(java)
    if version is None or version < MIN_JAVA:
        shown = "unknown" if version is None else str(version)
        return (
            f"Java {MIN_JAVA} or later is needed ({java} is version {shown}); install "
            "a JDK 17 and put it first on PATH or in JAVA_HOME"
        )
    return None


def _java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and os.path.exists(os.path.join(home, "bin", "java")):
        return os.path.join(home, "bin", "java")
    return shutil.which("java")


def _java_major(java: str) -> int | None:
    try:
        done = subprocess.run(
            [java, "-version"], check=False, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if found is None:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def scan(paths: Sequence[str]) -> dict[str, Any]:
    """Records, bad records and the last event time (epoch seconds) of the input."""
    records = bad = 0
    last_ms: int | None = None
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if not line.strip():
                    continue
                records += 1
                parsed = parse_line(line)
                if parsed is None:
                    bad += 1
                elif last_ms is None or parsed[1] > last_ms:
                    last_ms = parsed[1]
    return {"records": records, "bad": bad, "last": None if last_ms is None else last_ms / 1000}


def run(args: argparse.Namespace, rules: Sequence[tuple[str, str]], err: IO[str]) -> int:
    """Run the job for parsed ``args`` and ``(name, text)`` rules; returns the exit code."""
    from engage.cli import UsageError, until_time
    from engage.timeutil import format_time

    problem = missing_requirement()
    if problem is not None:
        err.write(f"engage flink: error: {problem}\n")
        return EXIT_USAGE
    try:
        until = until_time(args.until)
    except UsageError as exc:
        err.write(f"engage flink: error: {exc}\n")
        return EXIT_USAGE
    if args.parallelism < 1:
        err.write("engage flink: error: --parallelism must be at least 1\n")
        return EXIT_USAGE
    output = os.path.abspath(args.output)
    if os.path.exists(os.path.join(output, "actions")):
        err.write(f"engage flink: error: {args.output} already holds a run; use a new one\n")
        return EXIT_USAGE
    try:
        scanned = scan(args.events)
    except OSError as exc:
        err.write(f"engage flink: error: cannot read {exc.filename}: {exc.strerror}\n")
        return EXIT_USAGE
    # As `engage run`: the clock ends at the later of the last event and --until.
    moments = [m for m in (scanned["last"], until) if m is not None]
    cutoff = max(moments) if moments else None

    started = time.time()
    summary = execute(args, rules, output, cutoff)
    summary.update(
        records=scanned["records"],
        bad=scanned["bad"],
        clock=None if cutoff is None else format_time(cutoff),
        parallelism=args.parallelism,
        seconds=round(time.time() - started, 3),
    )
    with open(os.path.join(output, "summary.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2, sort_keys=True)
        handle.write("\n")
    if not args.quiet:
        err.write(
            f"engage flink: {summary['records']:,} records in {summary['seconds']:.2f}s "
            f"(parallelism {args.parallelism}), bad {summary['bad']:,}\n"
            f"  actions {summary['actions']:,} in {output}/actions, clock {summary['clock']}\n"
            f"  segments {json.dumps(summary['segments'], sort_keys=True)}\n"
        )
    return EXIT_OK


def execute(
    args: argparse.Namespace, rules: Sequence[tuple[str, str]], output: str, cutoff: float | None
) -> dict[str, Any]:
    """Build and run the job (blocks until it ends); returns what it wrote."""
    work = os.path.join(output, "work")
    for sub in ("tmp", "log", "markers"):
        os.makedirs(os.path.join(work, sub), exist_ok=True)
    submitted = "PYFLINK_GATEWAY_PORT" in os.environ
    if not submitted:
        # Read by PyFlink when it starts the local JVM, so set before the first call.
        tmp = os.path.join(work, "tmp")
        os.environ["JVM_ARGS"] = (
            os.environ.get("JVM_ARGS", "") + f" -Djava.io.tmpdir={tmp}"
        ).strip()
        os.environ.setdefault("FLINK_LOG_DIR", os.path.join(work, "log"))

    from pyflink.datastream import StreamExecutionEnvironment

    from engage.scaleout import flink

    conf = flink.configure(
        work_dir=work,
        checkpoint_dir=args.checkpoints or os.path.join(output, "checkpoints"),
        checkpoint_ms=args.checkpoint_interval,
        restarts=args.restarts,
        submitted=submitted,
    )
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    events = flink.file_sources(env, args.events, args.out_of_orderness)
    options = flink.StageOptions(
        parallelism=args.parallelism,
        cutoff=cutoff,
        recent_ids=args.recent_ids,
        fail_after=args.fail_after,
        marker_dir=os.path.join(work, "markers"),
    )
    streams = flink.engage_stage(events, rules, options)
    streams.actions.sink_to(flink.jsonl_sink(os.path.join(output, "actions"), "actions")).name(
        "actions-sink"
    ).set_parallelism(args.parallelism)
    streams.segments.sink_to(flink.jsonl_sink(os.path.join(output, "segments"), "segments")).name(
        "segments-sink"
    ).set_parallelism(args.parallelism)
    env.execute("engage")
    return {
        "actions": sum(1 for _ in committed_lines(os.path.join(output, "actions"))),
        "segments": final_segment_counts(os.path.join(output, "segments")),
        "injected_failure": os.path.exists(os.path.join(work, "markers", "failed-once")),
    }


def committed_lines(directory: str) -> list[str]:
    """The lines of the committed part files under ``directory`` (not the hidden
    in-progress files a failover leaves), in file-name order."""
    lines: list[str] = []
    for path in sorted(glob.glob(os.path.join(directory, "**", "*.jsonl"), recursive=True)):
        if os.path.basename(path).startswith("."):
            continue
        with open(path, encoding="utf-8") as handle:
            lines.extend(line.rstrip("\n") for line in handle if line.strip())
    return lines


def final_segment_counts(directory: str) -> dict[str, int]:
    """Each segment's last reported member count."""
    latest: dict[str, tuple[str, int]] = {}
    for line in committed_lines(directory):
        record = json.loads(line)
        name = record["segment"]
        if name not in latest or record["at"] >= latest[name][0]:
            latest[name] = (record["at"], record["members"])
    return {name: members for name, (_, members) in sorted(latest.items())}


def main(argv: Sequence[str] | None = None) -> int:
    """``flink run -py command.py RULES... --events ... --output ...`` on a cluster."""
    from engage.rules import read_rules_file

    parser = argparse.ArgumentParser(prog="engage-flink", description=__doc__)
    parser.add_argument("files", nargs="+", metavar="FILE", help="rules files (.rules)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    rules = [(path, read_rules_file(path)) for path in args.files]
    return run(args, rules, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
