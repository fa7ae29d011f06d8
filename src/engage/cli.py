"""The ``engage`` command: ``check``, ``run``, ``fmt``, ``test``, ``diff``, ``explain``,
``report``, ``flink`` and ``bench`` (see the contract).

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

from engage.timeutil import DEFAULT_MAX_FUTURE

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
        "repeat to read several files (merged into one time order)",
    )
    run.add_argument(
        "--in-file-order",
        action="store_true",
        help="apply records as written instead of in time order (streams; no sort)",
    )
    run.add_argument(
        "--sort-chunk",
        type=int,
        default=None,
        metavar="N",
        help="records sorted in memory at a time; a longer input is sorted in runs on "
        "disk (default: 100000)",
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
    run.add_argument(
        "--max-out-of-order",
        type=_duration,
        metavar="DURATION",
        help="hold events this long (90s, 5m, 1h...) and apply them in time order, as a "
        "watermark does; later ones are applied at the clock and counted late",
    )
    run.add_argument(
        "--max-future",
        type=_optional_duration,
        default=DEFAULT_MAX_FUTURE,
        metavar="DURATION|off",
        help="refuse, as bad records, events stamped more than this after the host's "
        "clock (default 1d; 'off' for simulated or made-up times)",
    )
    run.add_argument("--quiet", "-q", action="store_true", help="no summary, no progress bar")

    fmt_command = commands.add_parser(
        "fmt",
        help="rewrite rules files in the canonical layout",
        description="Rewrite rules files in the canonical layout, comments kept. "
        "With --check, change nothing: print a diff and exit 1 if a file would change.",
    )
    fmt_command.add_argument("files", nargs="+", metavar="FILE", help="rules files (.rules)")
    fmt_command.add_argument(
        "--check", action="store_true", help="print what would change; exit 1 if anything would"
    )

    test_command = commands.add_parser(
        "test",
        help="run the test blocks of rules files",
        description="Run every `test` block of the rules files against a fresh engine; "
        "report each failed expectation. Exit 0 when all pass, 1 on a failure.",
    )
    test_command.add_argument("files", nargs="+", metavar="FILE", help="rules files (.rules)")

    diff = commands.add_parser(
        "diff",
        help="show what a rules change would change",
        description="Replay the same events through two versions of the rules and compare: "
        "firings per rule, contacts affected, first differences.",
    )
    diff.add_argument("old", metavar="OLD", help="the rules as they are (.rules)")
    diff.add_argument("new", metavar="NEW", help="the rules as they would be (.rules)")
    diff.add_argument(
        "--events",
        action="append",
        required=True,
        metavar="PATH",
        help="events file, as for run (repeat for several; '-' is stdin)",
    )
    diff.add_argument("--until", metavar="TIME", help="after the last event, move clocks to TIME")
    diff.add_argument(
        "--contacts",
        type=int,
        default=5,
        metavar="N",
        help="show the first differences of N affected contacts (default 5)",
    )
    diff.add_argument("--json", action="store_true", help="write the report as one JSON object")

    explain = commands.add_parser(
        "explain",
        help="show why rules fired (or not) for one contact",
        description="Replay events and show one contact's timeline: each of its events "
        "and wake-ups, the score lines that gave points, every rule fired or why not, "
        "and the actions.",
    )
    explain.add_argument("files", nargs="+", metavar="FILE", help="rules files (.rules)")
    explain.add_argument(
        "--events",
        action="append",
        required=True,
        metavar="PATH",
        help="events file, as for run (repeat for several; '-' is stdin)",
    )
    explain.add_argument("--contact", required=True, metavar="ID", help="the contact to trace")
    explain.add_argument("--rule", metavar="RULE", help="show this rule only")
    explain.add_argument(
        "--until", metavar="TIME", help="after the last event, move the clock to TIME"
    )
    explain.add_argument("--json", action="store_true", help="write the timeline as a JSON list")

    flink = commands.add_parser(
        "flink",
        help="run the rules as a Flink job (needs engage[flink] and Java 11+)",
        description="Run events through rules in a Flink job (local mini-cluster); "
        "actions go to DIR/actions as JSON Lines.",
    )
    flink.add_argument("files", nargs="+", metavar="FILE", help="rules files (.rules)")
    from engage.scaleout.command import add_arguments

    add_arguments(flink)

    from engage.report.command import add_arguments as add_report_arguments

    add_report_arguments(
        commands.add_parser(
            "report",
            help="the whole picture: firings, segments, classes, scores, flows, sends",
            description="Replay events (or open a state folder, read-only) and report "
            "rule firings, segment sizes, recency classes, score distributions, flows "
            "(entered, waiting per step, left by reason, converted, per version) and sends "
            "(sent, suppressed, skipped, held), now and over time; --html also writes a "
            "page with charts, --csv where each contact is in each flow.",
        ),
        _optional_duration,
    )

    from engage.history.command import add_arguments as add_track_arguments

    add_track_arguments(
        commands.add_parser(
            "track",
            help="track contact history from a list of ids (a mail-house list)",
            description="Set a status on a campaign's history rows for the contacts of "
            "a list (CSV or text) in a state folder; --others sets another status on the "
            "campaign's rows of contacts not listed. See docs/history.md.",
        )
    )

    bench = commands.add_parser(
        "bench",
        help="run the benchmark harness",
        description="Run the bundled benchmark harness (options: engage bench --help).",
        add_help=False,
    )
    bench.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def _duration(text: str) -> float:
    from engage.timeutil import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _optional_duration(text: str) -> float | None:
    return None if text.strip().lower() in ("off", "none") else _duration(text)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``engage`` script; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["bench"]:
        from engage.bench import main as bench_main

        return bench_main(args_list[1:])
    args = _parser().parse_args(args_list)
    if args.command == "check":
        return check(args.files, quiet=args.quiet, plan=args.plan)
    if args.command == "fmt":
        return fmt(args.files, check_only=args.check)
    if args.command == "diff":
        return diff(args)
    if args.command == "test":
        return run_rule_tests(args.files)
    if args.command == "explain":
        return explain(args)
    if args.command == "flink":
        return flink(args)
    if args.command == "report":
        from engage.report.command import main as report_main

        return report_main(args)
    if args.command == "track":
        from engage.history.command import main as track_main

        return track_main(args)
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


#: The rules loader shared with the commands that live in their own modules.
load_rules = _load


def check(files: Sequence[str], *, quiet: bool = False, plan: bool = False) -> int:
    """``engage check``: every problem of every file, ``FILE:LINE:COL: error: ...``;
    with ``plan``, the generated source of the event plans (:mod:`engage.dsl.plans`)
    and the instructions of every flow."""
    rules = _load(files, sys.stderr)
    if rules is None:
        return EXIT_RULES
    if plan:
        from engage.dsl.plans import build_plans

        print(build_plans(rules.program_for_engine())[1], end="")
        for flow in rules.program.flows:
            print("\n# " + "\n# ".join(flow.describe()))
    if not quiet:
        for warning in rules.warnings:
            sys.stderr.write(warning.format() + "\n")
        program = rules.program  # for its counts: no engine's own copy to compile
        parts = [
            _plural(len(files), "file"),
            _plural(len(program.rules) + _entity_rule_count(program), "rule"),
            _plural(len(program.scores), "score"),
            _plural(sum(1 for s in program.segments if not s.hidden), "segment"),
        ]
        if program.flows:
            parts.append(_plural(len(program.flows), "flow"))
        if rules.warnings:
            parts.append(_plural(len(rules.warnings), "warning"))
        print("ok: " + ", ".join(parts))
    return EXIT_OK


def _entity_rule_count(program: Any) -> int:
    """Rules fired per account or per lead (they are not in ``program.rules``)."""
    b2b = program.b2b
    return 0 if b2b is None else len(b2b.account_rules) + len(b2b.lead_rules)


def run_rule_tests(files: Sequence[str]) -> int:
    """``engage test``: the test blocks of the files (see :mod:`engage.ruletests`)."""
    from engage.ruletests import run_tests, write_results

    rules = _load(files, sys.stderr)
    if rules is None:
        return EXIT_RULES
    return EXIT_OK if write_results(run_tests(rules), sys.stdout) else EXIT_RULES


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# -- fmt --------------------------------------------------------------------------------


def fmt(files: Sequence[str], *, check_only: bool = False) -> int:
    """``engage fmt``: rewrite files in place, or (``check_only``) diff them.

    Exit code 1 when a file has syntax errors or, with ``check_only``, would change;
    2 when a file cannot be read or written. Files are written whole, atomically.
    """
    import difflib

    from engage.dsl.formatter import format_rules
    from engage.errors import LimitExceededError, RulesError

    err = sys.stderr
    status = EXIT_OK
    changed = 0
    for path in files:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            formatted = format_rules(text, path)
        except RulesError as exc:
            for diagnostic in exc.diagnostics:
                err.write(diagnostic.format() + "\n")
            status = max(status, EXIT_RULES)
            continue
        except (LimitExceededError, UnicodeDecodeError, OSError) as exc:
            err.write(f"engage fmt: error: {path}: {_os_message(exc, path)}\n")
            status = EXIT_USAGE
            continue
        if formatted == text:
            continue
        changed += 1
        if check_only:
            sys.stdout.writelines(
                difflib.unified_diff(
                    text.splitlines(keepends=True),
                    formatted.splitlines(keepends=True),
                    fromfile=path,
                    tofile=f"{path} (formatted)",
                )
            )
            status = max(status, EXIT_RULES)
            continue
        try:
            _replace_file(path, formatted)
        except OSError as exc:
            err.write(f"engage fmt: error: cannot write {path}: {exc.strerror or exc}\n")
            status = EXIT_USAGE
            continue
        print(f"reformatted {path}")
    verb = "would reformat" if check_only else "reformatted"
    err.write(f"engage fmt: {verb} {_plural(changed, 'file')}, {len(files) - changed} unchanged\n")
    return status


def _replace_file(path: str, text: str) -> None:
    """Write ``text`` to a new file beside ``path``, then rename it over ``path``."""
    import contextlib
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(prefix=".engage-fmt-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        with contextlib.suppress(OSError):
            os.chmod(temp, os.stat(path).st_mode & 0o7777)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


# -- run --------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    """``engage run``: replay events, write actions, dead letters, dump and summary."""
    from engage.io import DeadLetter
    from engage.io.ordering import CHUNK_RECORDS, TimeOrder, placed_records
    from engage.io.progress import Progress
    from engage.io.replay import Replay, print_bad_records

    err = sys.stderr
    if args.sort_chunk is not None and args.sort_chunk < 1:
        err.write("engage run: error: --sort-chunk must be at least 1\n")
        return EXIT_USAGE
    try:
        until = until_time(args.until)
        sources = open_sources(args.events)
    except UsageError as exc:
        err.write(f"engage run: error: {exc}\n")
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
        state = StateDir(
            args.state,
            rules,
            fsync=policy,
            backfill=args.backfill,
            max_out_of_order=args.max_out_of_order,
            max_future=args.max_future,
        )
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

        engine = Engine(rules, max_out_of_order=args.max_out_of_order, max_future=args.max_future)

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
    order = (
        None
        if args.in_file_order
        else TimeOrder(chunk_size=args.sort_chunk or CHUNK_RECORDS, on_read=replay.read_progress)
    )
    interrupted = False
    try:
        replay.feed_placed(placed_records(sources, order, replay.read_progress))
        replay.write_actions(engine.flush())
        if until is not None:
            replay.write_actions(engine.advance(until))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        for source in sources:
            source.close()
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
        _summary(replay, engine, args, err, counted_before, order)
    return EXIT_OK


# -- diff -------------------------------------------------------------------------------


def diff(args: argparse.Namespace) -> int:
    """``engage diff``: the same events through the old and the new rules, compared."""
    from engage.diffing import diff as compare
    from engage.diffing import render
    from engage.io.ordering import TimeOrder, placed_records

    err = sys.stderr
    if args.contacts < 0:
        err.write("engage diff: error: --contacts must be >= 0\n")
        return EXIT_USAGE
    try:
        until = until_time(args.until)
        sources = open_sources(args.events)
    except UsageError as exc:
        err.write(f"engage diff: error: {exc}\n")
        return EXIT_USAGE
    try:
        old = _load([args.old], err)
        new = _load([args.new], err) if old is not None else None
        if old is None or new is None:
            return EXIT_RULES
        report = compare(
            old, new, placed_records(sources, TimeOrder()), until=until, shown=args.contacts
        )
    finally:
        for source in sources:
            source.close()
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(), sort_keys=True) + "\n")
    else:
        sys.stdout.write(render(report, args.old, args.new))
    return EXIT_OK


class UsageError(Exception):
    """A command line a command cannot run with (exit code 2); the message says why."""


def until_time(text: str | None) -> float | None:
    """The ``--until`` option as epoch seconds (None when not given)."""
    from engage.timeutil import coerce_time

    if text is None:
        return None
    try:
        return coerce_time(text)
    except ValueError as exc:
        raise UsageError(f"bad --until time {text!r}: {exc}") from None


def open_sources(paths: Sequence[str]) -> list[Any]:
    """Open every ``--events`` source (closing those opened when one fails)."""
    from engage.io import open_events

    if list(paths).count("-") > 1:
        raise UsageError("standard input ('-') can be read only once")
    sources: list[Any] = []
    for path in paths:
        try:
            sources.append(open_events(path))
        except (OSError, ValueError) as exc:
            for source in sources:
                source.close()
            raise UsageError(_os_message(exc, path)) from None
    return sources


# -- explain ----------------------------------------------------------------------------


def explain(args: argparse.Namespace) -> int:
    """``engage explain``: one contact's timeline (see :mod:`engage.explaining`)."""
    from engage.explaining import explain as trace
    from engage.io.ordering import TimeOrder, placed_records

    err = sys.stderr
    try:
        until = until_time(args.until)
        sources = open_sources(args.events)
    except UsageError as exc:
        err.write(f"engage explain: error: {exc}\n")
        return EXIT_USAGE
    try:
        rules = _load(args.files, err)
        if rules is None:
            return EXIT_RULES
        return trace(
            rules,
            args.files,
            placed_records(sources, TimeOrder()),
            args.contact,
            rule=args.rule,
            until=until,
            as_json=args.json,
            out=sys.stdout,
            err=err,
        )
    finally:
        for source in sources:
            source.close()


# -- flink ------------------------------------------------------------------------------


def flink(args: argparse.Namespace) -> int:
    """``engage flink``: the rules checked here, then the job (engage.scaleout)."""
    from engage.rules import read_rules_file
    from engage.scaleout.command import run as run_job

    if _load(args.files, sys.stderr) is None:
        return EXIT_RULES
    return run_job(args, [(path, read_rules_file(path)) for path in args.files], sys.stderr)


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
    order: Any = None,
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
        f"  late {overview['late']:,} (applied at the clock), reordered "
        f"{overview['reordered']:,} (within --max-out-of-order), in the future "
        f"{overview['future']:,} (refused)",
    ]
    if "leads" in overview:
        lines.append(
            f"  accounts {overview['accounts']:,}, leads {overview['leads']:,} (scored "
            f"{overview['leads_scored']:,}, unscorable {overview['leads_unscorable']:,}, "
            f"qualified {overview['leads_qualified']:,}, closed {overview['leads_closed']:,})"
        )
    if order is not None and order.out_of_order:
        lines.append(
            f"  out of order in the input {order.out_of_order:,} "
            "(applied in time order; see --in-file-order)"
        )
    if replay.dead_letter.reasons:
        top = ", ".join(
            f"{reason} ({n:,})" for reason, n in replay.dead_letter.reasons.most_common(5)
        )
        lines.append(f"  bad records by reason: {top}")
    if replay.sink.closed_early:
        lines.append("  (the action output was closed early; the run still finished)")
    from engage.terminal import write_lines

    write_lines(lines, err)
