"""``engage track`` of a list of ids, beside a hand-written loop over a dict of rows.

Issue 16 asks for batch tracking within 3x of the simplest code that could do the job:
read the ids file and, for each id, update the row of a ``dict`` (contact id -> row).
Both sides run in the same process, on the same ids file, after the same setup:

- **engage**: :func:`engage.history.batch.read_ids` of the file, then
  ``Engine.track_batch`` (repeats made unique, the batch key, the walk to the latest
  matching row, the status change logged; no rule reads the history, so no cascade);
- **baseline**: the same file read the same way, then a loop that looks each id up in
  a dict of rows (the same row layout) and appends the status change.

Each side runs ``--repeat`` times, the status alternating so every row changes each
time (the engine's record of applied batches is cleared between repeats, or the
repeat would be "applied before"), and the best time is kept. ``--command`` also times the whole
``engage track`` command on a state folder of the same contacts (recovery, the batch
through the event log, the checkpoint), which the ratio does not include.

Usage: ``python benchmarks/track_bench.py [--ids 1000000] [--repeat 3] [--command]``
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import tempfile
import time
from typing import Any

import engage
from engage.history.batch import Batch, read_ids
from engage.history.rows import new_row

RULES = """
statuses {
    proposed
    contacted      counts as contact
    undeliverable
}
on list then send email "letter" from campaign "C"
"""


def build_engine(count: int) -> engage.Engine:
    """An engine whose ``count`` contacts each got one send of campaign C."""
    engine = engage.Engine(engage.compile(RULES, name="track.rules"), max_future=None)
    at = 1_767_607_200.0
    engine.ingest_many({"contact": f"c{i}", "type": "list", "at": at} for i in range(count))
    return engine


def baseline(path: str, rows: dict[str, list[Any]], status: str, campaign: str, at: float) -> int:
    """The hand-written loop: read the ids, update each one's row in a dict."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    ids = [line.strip() for line in text.splitlines() if line.strip()]
    updated = 0
    unknown = []
    for contact_id in ids:
        row = rows.get(contact_id)
        if row is None:
            unknown.append(contact_id)
        elif row[0] == campaign and row[-2] != status:
            row.append(status)
            row.append(at)
            updated += 1
    return updated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--command", action="store_true", help="also time engage track")
    args = parser.parse_args(argv)
    count = args.ids
    folder = tempfile.mkdtemp(prefix="track-bench-")
    path = os.path.join(folder, "ids.txt")
    ids = [f"c{i}" for i in range(count)]
    random.Random(16).shuffle(ids)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(ids) + "\n")
    at = 1_767_700_000.0

    started = time.perf_counter()
    engine = build_engine(count)
    setup = time.perf_counter() - started
    print(f"setup: {count:,} contacts with one row each in {setup:.1f}s", file=sys.stderr)

    engage_times: list[float] = []
    base_times: list[float] = []
    for repeat in range(args.repeat):
        status = "undeliverable" if repeat % 2 == 0 else "proposed"
        rows = {f"c{i}": new_row("C", None, "email", "letter", "contacted", 0.0) for i in range(count)}
        gc.collect()
        gc.disable()
        started = time.perf_counter()
        updated = baseline(path, rows, status, "C", at + repeat)
        base_times.append(time.perf_counter() - started)
        gc.enable()
        del rows
        engine.state.history.batches.clear()  # a repeat is a new batch, not "applied before"
        gc.collect()
        gc.disable()
        started = time.perf_counter()
        result = engine.track_batch(Batch(status, "C", read_ids(path), mode="update", at=at + repeat))
        engage_times.append(time.perf_counter() - started)
        gc.enable()
        assert result.applied and result.updated == updated == count, (result.summary(), updated)

    best_engage, best_base = min(engage_times), min(base_times)
    print(f"ids: {count:,}")
    print(f"engage track_batch (read + apply): {best_engage:.3f}s  {best_engage / count * 1e6:.2f} us/id")
    print(f"hand-written dict loop (read + apply): {best_base:.3f}s  {best_base / count * 1e6:.2f} us/id")
    print(f"ratio: {best_engage / best_base:.2f}x (target within 3x)")
    print(f"all engage: {[round(t, 3) for t in engage_times]}  all baseline: {[round(t, 3) for t in base_times]}")

    if args.command:
        from engage.cli import main as cli_main
        from engage.storage.statedir import StateDir

        state = os.path.join(folder, "state")
        directory = StateDir(state, engine.rules, fsync="never")
        opened = directory.open()
        opened.ingest_many(
            {"contact": f"c{i}", "type": "list", "at": 1_767_607_200.0} for i in range(count)
        )
        directory.close()
        del opened, directory, engine
        gc.collect()
        started = time.perf_counter()
        code = cli_main(
            ["track", "--state", state, "--status", "undeliverable", "--campaign", "C",
             "--mode", "update", path]
        )
        whole = time.perf_counter() - started
        print(f"engage track command (recover, batch through the log, checkpoint): {whole:.1f}s (exit {code})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
