"""The ``engage report`` command: read the input, build the numbers, write the forms.

Exit codes as for the other commands: 0 when the report was made, 1 when the rules
have errors, 2 for a usage problem (unreadable events file or state folder, bad
``--until``, ``--html`` without matplotlib, ``--csv -`` with ``--json``: both would
write to standard output).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXIT_OK = 0
EXIT_RULES = 1
EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser, duration: Any) -> None:
    """The options of ``engage report`` (``duration`` parses ``--max-future``)."""
    from engage.timeutil import DEFAULT_MAX_FUTURE

    parser.add_argument("files", nargs="+", metavar="FILE", help="rules files (.rules)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--events",
        action="append",
        metavar="PATH",
        help="replay this events file, in time order as engage run does (repeat for "
        "several; '-' is stdin)",
    )
    source.add_argument(
        "--state", metavar="DIR", help="report on a state folder as it is (read, never written)"
    )
    parser.add_argument(
        "--until", metavar="TIME", help="after the last event, move the clock to TIME"
    )
    parser.add_argument("--json", action="store_true", help="write every number as one JSON object")
    parser.add_argument(
        "--html",
        metavar="PATH",
        help="also write a self-contained HTML page with charts (needs engage[plots])",
    )
    parser.add_argument(
        "--csv",
        metavar="PATH",
        help="also write one CSV row per contact and flow it is or was in (step, since, "
        "wait until, left reason...); '-' writes it to stdout instead of the tables",
    )
    parser.add_argument(
        "--max-future",
        type=duration,
        default=DEFAULT_MAX_FUTURE,
        metavar="DURATION|off",
        help="as for engage run (default 1d; 'off' for simulated or made-up times)",
    )


def main(args: argparse.Namespace) -> int:
    """Run ``engage report`` with parsed arguments; returns the exit code."""
    from engage.cli import UsageError, until_time

    err = sys.stderr
    try:
        until = until_time(args.until)
    except UsageError as exc:
        err.write(f"engage report: error: {exc}\n")
        return EXIT_USAGE
    if args.csv == "-" and args.json:
        err.write(
            "engage report: error: --csv - and --json both write to stdout; give --csv a file\n"
        )
        return EXIT_USAGE
    if args.html:
        from engage.report.plots import PlotsUnavailableError, require_matplotlib

        try:
            require_matplotlib()
        except PlotsUnavailableError as exc:
            err.write(f"engage report: error: {exc}\n")
            return EXIT_USAGE
    from engage.cli import load_rules

    rules = load_rules(args.files, err)
    if rules is None:
        return EXIT_RULES
    facts = _from_events(args, rules, until) if args.events else _from_state(args, rules, until)
    if isinstance(facts, int):
        return facts
    from engage.report.sections import build

    numbers = build(facts)
    if args.csv is not None:
        code = _write_csv(facts.engine, args.csv)
        if code != EXIT_OK:
            return code
    if args.json:
        sys.stdout.write(json.dumps(numbers, sort_keys=True) + "\n")
    elif args.csv != "-":
        from engage.report.text import write

        write(numbers, sys.stdout)
    if args.html:
        from engage.report.html import page

        try:
            with open(args.html, "w", encoding="utf-8") as handle:
                handle.write(page(numbers))
        except OSError as exc:
            err.write(f"engage report: error: cannot write {args.html}: {exc.strerror or exc}\n")
            return EXIT_USAGE
        err.write(f"engage report: wrote {args.html}\n")
    return EXIT_OK


def _write_csv(engine: Any, path: str) -> int:
    """Write the flow places export to ``path`` (``-``: stdout); an exit code."""
    from engage.report.export import write

    if path == "-":
        write(engine, sys.stdout)
        return EXIT_OK
    try:
        with open(path, "w", encoding="utf-8", newline="") as handle:
            count = write(engine, handle)
    except OSError as exc:
        sys.stderr.write(f"engage report: error: cannot write {path}: {exc.strerror or exc}\n")
        return EXIT_USAGE
    sys.stderr.write(f"engage report: wrote {path} ({count} rows)\n")
    return EXIT_OK


def _from_events(args: argparse.Namespace, rules: Any, until: float | None) -> Any:
    """The facts of a replay, or an exit code."""
    from engage.cli import UsageError, open_sources
    from engage.io.ordering import TimeOrder, placed_records
    from engage.report.collect import collect_events

    try:
        sources = open_sources(args.events)
    except UsageError as exc:
        sys.stderr.write(f"engage report: error: {exc}\n")
        return EXIT_USAGE
    try:
        return collect_events(
            rules,
            placed_records(sources, TimeOrder()),
            until=until,
            max_future=args.max_future,
        )
    finally:
        for source in sources:
            source.close()


def _from_state(args: argparse.Namespace, rules: Any, until: float | None) -> Any:
    """The facts of a state folder, opened read-only, or an exit code."""
    from engage.errors import EngageError
    from engage.report.collect import collect_state
    from engage.storage.statedir import StateDir

    folder = StateDir(args.state, rules, max_future=args.max_future)
    try:
        engine = folder.open_read_only()
    except (OSError, EngageError) as exc:
        sys.stderr.write(f"engage report: error: cannot open the state folder: {exc}\n")
        return EXIT_USAGE
    for message in folder.recovery.messages():
        sys.stderr.write(f"state: {message}\n")
    if until is not None:
        engine.advance(until)  # in memory only: the folder is not written
    return collect_state(engine)
