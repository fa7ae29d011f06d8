"""The ``engage track`` command: a list of ids tracked in a state folder, in one batch.

``engage track --state DIR --status S --campaign C [--offer O] [--mode both|update|create]
[--others S2] [--at TIME] [--rules FILE]... [--json] IDS_FILE``

The rules are those kept in the folder's newest snapshot (``--rules`` gives them
instead, and must when the folder has no snapshot yet). The folder is recovered as
``engage run --state`` does, the batch goes through the engine's event log (see
:mod:`engage.history.batch`), and the folder is checkpointed. Actions the tracking
causes (rules that read the history) are written to stdout as JSON Lines, as ``engage
run`` writes them; the summary goes to stderr (and, with ``--json``, to stdout as one
JSON object after the actions).

Exit codes: 0 done (also when the batch was applied before: nothing changes), 1 the
rules have errors, 2 a usage problem (no rules, unreadable ids file, unknown status).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import IO, Any

from engage.history.track import MODES

EXIT_OK = 0
EXIT_RULES = 1
EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``engage track``."""
    parser.add_argument(
        "ids",
        metavar="IDS_FILE",
        help="contact ids: CSV (a column named "
        "id or contact, else the first) or text, one id a line",
    )
    parser.add_argument("--state", required=True, metavar="DIR", help="the state folder")
    parser.add_argument("--status", required=True, help="the status to track")
    parser.add_argument("--campaign", required=True, help="the campaign of the rows")
    parser.add_argument("--offer", help="only rows of this offer (and new rows get it)")
    parser.add_argument(
        "--mode", choices=MODES, default="both", help="update rows, create rows, or both (default)"
    )
    parser.add_argument(
        "--others",
        metavar="STATUS",
        help="the status of the campaign's rows whose contact is not listed",
    )
    parser.add_argument(
        "--at", metavar="TIME", help="the moment of the tracking (default: the engine clock)"
    )
    parser.add_argument(
        "--rules",
        action="append",
        metavar="FILE",
        help="rules files (default: those kept in the folder's snapshot)",
    )
    parser.add_argument(
        "--json", action="store_true", help="also write the summary to stdout as one JSON object"
    )


def main(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    """Run ``engage track``; returns the exit code."""
    from engage.cli import load_rules
    from engage.errors import RulesError, SnapshotError
    from engage.history.batch import Batch, read_ids
    from engage.rules import compile_sources
    from engage.storage.snapshot import read_header
    from engage.storage.statedir import StateDir
    from engage.timeutil import coerce_time

    out = out or sys.stdout
    err = err or sys.stderr
    at: float | None = None
    if args.at is not None:
        try:
            at = coerce_time(args.at)
        except ValueError as exc:
            err.write(f"engage track: error: bad --at time {args.at!r}: {exc}\n")
            return EXIT_USAGE
    try:
        ids = read_ids(args.ids)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        err.write(f"engage track: error: cannot read {args.ids}: {exc}\n")
        return EXIT_USAGE
    if args.rules:
        rules = load_rules(args.rules, err)
        if rules is None:
            return EXIT_RULES
    else:
        snapshot = StateDir(args.state, None).newest_snapshot()  # type: ignore[arg-type]
        sources: Any = None
        if snapshot is not None:
            try:
                sources = read_header(snapshot).get("rules_sources")
            except SnapshotError as exc:
                err.write(f"engage track: error: {exc}\n")
                return EXIT_USAGE
        if not isinstance(sources, dict) or not sources:
            err.write(
                "engage track: error: the state folder keeps no rules (no snapshot yet, "
                "or one written before rules were kept): pass --rules FILE\n"
            )
            return EXIT_USAGE
        try:
            rules = compile_sources(sorted((str(k), str(v)) for k, v in sources.items()))
        except RulesError as exc:
            for diagnostic in exc.diagnostics:
                err.write(diagnostic.format() + "\n")
            return EXIT_RULES
    folder = StateDir(args.state, rules)
    engine = folder.open()
    batch = Batch(args.status, args.campaign, ids, args.offer, args.mode, args.others, at)
    try:
        result = engine.track_batch(batch)
    except ValueError as exc:
        folder.close(checkpoint=False)
        err.write(f"engage track: error: {exc}\n")
        return EXIT_USAGE
    for action in result.actions:
        out.write(json.dumps(action.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")
    folder.close(checkpoint=result.applied)
    summary = result.summary()
    if not result.applied:
        err.write("engage track: this batch was applied before; nothing changed\n")
    else:
        err.write(
            f"engage track: {result.listed} ids: {result.updated} rows updated, "
            f"{result.created} created, {result.unchanged} unchanged, "
            f"{result.no_row} without a row to update"
            + (
                f", others: {result.others_updated} of {result.others} updated"
                if batch.others
                else ""
            )
            + "\n"
        )
        if result.unknown:
            shown = ", ".join(result.unknown_ids[:10])
            more = "" if result.unknown <= 10 else ", ..."
            verb = "created" if args.mode != "update" else "not tracked"
            err.write(f"engage track: {result.unknown} unknown ids ({verb}): {shown}{more}\n")
    if args.json:
        out.write(json.dumps(summary, sort_keys=True) + "\n")
    return EXIT_OK
