"""The ``engage`` command: ``check``, ``run`` and ``bench`` (see the contract).

Exit codes: 0 when the job ran (bad event records are reported, not fatal), 1 when the
rules have errors, 2 for a usage problem (bad option, unreadable or unknown events
file, bad ``--until`` time).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import IO, Any

EXIT_OK = 0
EXIT_RULES = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    from engage import __version__

    parser = argparse.ArgumentParser(
        prog="engage",
        description="Rules and scoring for customer engagement.",
    )
    parser.add_argument("--version", action="version", version=f"engage {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    check = commands.add_parser(
        "check", help="parse and check rules files", description="Parse and check rules files."
    )
    check.add_argument("files", nargs="+", metavar="FILE", help="rules files (.rules)")
    check.add_argument(
        "--quiet", "-q", action="store_true", help="print errors only (no warnings, no summary)"
    )
    check.add_argument(
        "--plan", action="store_true", help="print the generated plan of every event type"
    )

    run = commands.add_parser(
        "run",
        help="replay events through rules",
        description="Replay events through rules; actions go to stdout as JSON Lines.",
    )
    run.add_argument("files", nargs="+", metavar="FILE", help="rules files (.rules)")
    run.add_argument(
        "--events",
        action="append",
        required=True,
        metavar="PATH",
        help="events file: .jsonl, .msgpack or .csv (optionally .gz); '-' is stdin; "
        "repeat to read several files in order",
    )
    run.add_argument("--until", metavar="TIME", help="after the last event, move the clock to TIME")
    run.add_argument(
        "--dump", metavar="PATH", help="write the final state as JSON Lines ('-': stdout)"
    )
    run.add_argument(
        "--dead-letter", metavar="PATH", help="write bad records with line and reason (JSON Lines)"
    )
    run.add_argument("--explain", action="store_true", help="add a 'why' object to every action")
    run.add_argument("--output", "-o", metavar="PATH", help="write actions here instead of stdout")
    run.add_argument("--no-actions", action="store_true", help="do not write actions")
    run.add_argument(
        "--state", metavar="DIR", help="keep a snapshot and event log in DIR and resume from it"
    )
    run.add_argument(
        "--fsync",
        choices=("every", "interval", "never"),
        default="interval",
        help="with --state: when the event log is forced to disk (default: interval)",
    )
    run.add_argument(
        "--checkpoint-every",
        type=int,
        default=500_000,
        metavar="N",
        help="with --state: snapshot and compact the log every N records (0: only at the end)",
    )
    run.add_argument(
        "--backfill",
        action="store_true",
        help="with --state and changed rules: fire new rules for contacts that already match",
    )
    run.add_argument(
        "--max-contacts",
        type=int,
        metavar="N",
        help="refuse, as bad records, events that would create more than N contacts",
    )
    run.add_argument("--quiet", "-q", action="store_true", help="no summary, no progress bar")

    bench = commands.add_parser(
        "bench",
        help="run the benchmark harness",
        description="Run the bundled benchmark harness (options: engage bench --help).",
        add_help=False,
    )
    bench.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``engage`` script; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["bench"]:
        from engage.bench import main as bench_main

        return bench_main(args_list[1:])
    args = _parser().parse_args(args_list)
    if args.command == "check":
        return check(args.files, quiet=args.quiet, plan=args.plan)
    return run(args)


# -- check ------------------------------------------------------------------------------


def _load(files: Sequence[str], err: IO[str]) -> Any:
    """Compile rules files, printing every problem; None when they cannot be used."""
    from engage.errors import LimitExceededError, RulesError
    from engage.rules import load

    try:
        return load(*files)
    except RulesError as exc:
        for diagnostic in exc.diagnostics:
            err.write(diagnostic.format() + "\n")
        errors = sum(1 for d in exc.diagnostics if d.severity == "error")
        err.write(f"{errors} error{'s' if errors != 1 else ''}\n")
    except LimitExceededError as exc:
        err.write(f"error: {exc}\n")
    except UnicodeDecodeError as exc:
        err.write(f"error: a rules file is not UTF-8 text ({exc.reason} at byte {exc.start})\n")
    except OSError as exc:
        err.write(f"error: cannot read {exc.filename or 'rules file'}: {exc.strerror}\n")
    return None


def check(files: Sequence[str], *, quiet: bool = False, plan: bool = False) -> int:
    """``engage check``: every problem of every file, ``FILE:LINE:COL: error: ...``;
    with ``plan``, the generated source of the event plans (:mod:`engage.dsl.plans`)."""
    rules = _load(files, sys.stderr)
    if rules is None:
        return EXIT_RULES
    if plan:
        from engage.dsl.plans import build_plans

        print(build_plans(rules.program_for_engine())[1], end="")
    if not quiet:
        for warning in rules.warnings:
            sys.stderr.write(warning.format() + "\n")
        program = rules.program_for_engine()
        parts = [
            _plural(len(files), "file"),
            _plural(len(program.rules), "rule"),
            _plural(len(program.scores), "score"),
            _plural(len(program.segments), "segment"),
        ]
        if rules.warnings:
            parts.append(_plural(len(rules.warnings), "warning"))
        print("ok: " + ", ".join(parts))
    return EXIT_OK


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# -- run --------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    """``engage run``: replay events, write actions, dead letters, dump and summary."""
    from engage.io import DeadLetter, open_events
    from engage.io.progress import Progress
    from engage.io.replay import Replay, print_bad_records
    from engage.timeutil import coerce_time

    err = sys.stderr
    until = None
    if args.until is not None:
        try:
            until = coerce_time(args.until)
        except ValueError as exc:
            err.write(f"engage run: error: bad --until time {args.until!r}: {exc}\n")
            return EXIT_USAGE
    if args.events.count("-") > 1:
        err.write("engage run: error: standard input ('-') can be read only once\n")
        return EXIT_USAGE
    sources = []
    for path in args.events:
        try:
            sources.append(open_events(path))
        except (OSError, ValueError) as exc:
            for source in sources:
                source.close()
            err.write(f"engage run: error: {_os_message(exc, path)}\n")
            return EXIT_USAGE
    rules = _load(args.files, err)
    if rules is None:
        for source in sources:
            source.close()
        return EXIT_RULES

    state = None
    if args.state:
        from engage.errors import EngageError
        from engage.storage.eventlog import FsyncPolicy
        from engage.storage.statedir import StateDir

        # The log's policy names: "every" event is its "always".
        policy: FsyncPolicy = "always" if args.fsync == "every" else args.fsync
        state = StateDir(args.state, rules, fsync=policy, backfill=args.backfill)
        try:
            engine = state.open()
        except (OSError, EngageError) as exc:
            err.write(f"engage run: error: cannot open the state folder {args.state}: {exc}\n")
            return EXIT_USAGE
        if not args.quiet:
            for message in state.recovery.messages():
                err.write(f"state: {message}\n")
            if engine.reload_report is not None:
                for message in engine.reload_report.messages():
                    err.write(f"state: {message}\n")
    else:
        from engage.engine import Engine

        engine = Engine(rules)

    output: IO[str]
    if args.no_actions:
        output = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    elif args.output:
        output = open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    else:
        output = sys.stdout
    dead_letter = DeadLetter(args.dead_letter)
    progress = Progress(err, enabled=not args.quiet and err.isatty())

    since_checkpoint = [0]

    def after_batch(count: int) -> None:
        if state is None or args.checkpoint_every <= 0:
            return
        since_checkpoint[0] += count
        if since_checkpoint[0] >= args.checkpoint_every:
            since_checkpoint[0] = 0
            state.checkpoint()

    engine.max_contacts = args.max_contacts
    counted_before = (engine.stats.events, engine.stats.duplicates)
    replay = Replay(
        engine,
        output,
        dead_letter,
        progress,
        explain=args.explain,
        derive_ids=state is not None,
        after_batch=after_batch,
    )
    interrupted = False
    try:
        for source in sources:
            with source:
                replay.feed(source)
        if until is not None:
            replay.write_actions(engine.advance(until))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress.finish()
        replay.sink.flush()
        dead_letter.close()
        if output is not sys.stdout:
            output.close()
    if state is not None:
        state.close(checkpoint=not interrupted)
    if interrupted:
        err.write("engage run: interrupted; accepted events are kept\n")
        return 130
    if args.dump:
        _write_dump(engine, args.dump)
    print_bad_records(replay, err)
    for problem in engine.problems:
        err.write(f"error: {problem}\n")
    if not args.quiet:
        _summary(replay, engine, args, err, counted_before)
    return EXIT_OK


def _os_message(exc: Exception, path: str) -> str:
    if isinstance(exc, OSError):
        return f"cannot read {path}: {exc.strerror or exc}"
    return str(exc)


def _write_dump(engine: Any, path: str) -> None:
    """One JSON object per contact, keys sorted, in contact-id order."""
    handle: IO[str] = sys.stdout if path == "-" else open(path, "w", encoding="utf-8")  # noqa: SIM115
    try:
        for record in engine.dump():
            handle.write(json.dumps(record, sort_keys=True) + "\n")
    finally:
        if handle is sys.stdout:
            handle.flush()
        else:
            handle.close()


def _summary(
    replay: Any,
    engine: Any,
    args: argparse.Namespace,
    err: IO[str],
    counted_before: tuple[int, int],
) -> None:
    """Counts of this run (a resumed state folder has counted earlier runs too)."""
    accepted = engine.stats.events - counted_before[0]
    duplicates = engine.stats.duplicates - counted_before[1]
    elapsed = max(replay.progress.elapsed(), 1e-9)
    overview = engine.summary()
    clock = overview["clock"] or "not set"
    lines = [
        f"engage run: {replay.records:,} records in {elapsed:.2f}s "
        f"({replay.records / elapsed:,.0f} records/s)",
        f"  accepted {accepted:,}, duplicates {duplicates:,}, "
        f"bad {replay.dead_letter.count:,}"
        + (f" (see {args.dead_letter})" if args.dead_letter and replay.dead_letter.count else ""),
        f"  actions {replay.actions:,} (outside {replay.outside:,}, suppressed "
        f"{replay.suppressed:,}, failed {replay.failed:,})",
        f"  contacts {overview['contacts']:,}, clock {clock}",
    ]
    if replay.dead_letter.reasons:
        top = ", ".join(
            f"{reason} ({n:,})" for reason, n in replay.dead_letter.reasons.most_common(5)
        )
        lines.append(f"  bad records by reason: {top}")
    if replay.sink.closed_early:
        lines.append("  (the action output was closed early; the run still finished)")
    err.write("\n".join(lines) + "\n")
