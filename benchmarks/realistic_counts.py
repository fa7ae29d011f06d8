"""The realistic workload, counted by callgrind: instructions per event, engine vs loop.

    python benchmarks/realistic_counts.py                  # 5k contacts, 50k events
    python benchmarks/realistic_counts.py --contacts 2000 --events 10

Why: ``engage bench --only realistic`` times the engine against the same rules written
by hand as one Python loop, on a machine whose speed swings by 1.8x within seconds.
Counted instructions do not swing, so a change to the engine's event path can be judged
on its own, and the ratio of instructions says what the engine's generality costs.

How: the same rules and stream as ``engage bench --only realistic``
(``REALISTIC_RULES``, ``realistic_events``: ten events per contact over 90 days, with
url, form, link and bounce data), at a small size. Each side builds its input (and the
engine its compiled rules, warmed on a few events of another stream) outside the count;
callgrind counts only the ``functools.reduce`` that runs the one ingestion
(``--toggle-collect``). Three sides: the engine's ``ingest_many``, the hand-written loop
(``realistic_loop``) and, for scale, the threshold workload's loop (``threshold_loop``,
R = 100) over the same events. The engine and the realistic loop must fire the same
number of actions. The hash seed is fixed, so a rerun gives the same figures to a few
parts in ten thousand. Needs valgrind; takes a few minutes at the default size.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cache_misses import run_child

from engage.bench.baselines import threshold_loop
from engage.bench.generator import realistic_events
from engage.bench.realistic import realistic_loop
from engage.bench.rulesets import POINTS, REALISTIC_RULES, thresholds, tier_tag
from engage.collector import gc_paused

SIDES = ("engine", "loop", "threshold")


def work(side: str, contacts: int, per_contact: int) -> int:
    """What one counted run does: build the input, then ingest it once.

    Returns the actions fired (engine), the firings (loop) or the crossings (threshold
    loop); only the ``functools.reduce`` over the one ingestion is counted.
    """
    with gc_paused():  # as the bench times it
        return _ingest(side, contacts, per_contact)


def _ingest(side: str, contacts: int, per_contact: int) -> int:
    events = realistic_events(contacts, contacts * per_contact, seed=1)
    run: Any
    if side == "engine":
        import engage

        rules = engage.compile(REALISTIC_RULES, name="realistic.rules")
        engage.Engine(rules).ingest_many(realistic_events(50, 500, seed=9))  # warm-up
        engine = engage.Engine(rules)

        def run(total: int, _: int) -> int:
            return total + len(engine.ingest_many(events))
    elif side == "loop":

        def run(total: int, _: int) -> int:
            return total + len(realistic_loop(events).firings)
    else:
        ks = thresholds(100, "spread")
        names = [tier_tag(i) for i in range(len(ks))]

        def run(total: int, _: int) -> int:
            return total + len(threshold_loop(events, POINTS, ks, names).crossings)

    return functools.reduce(run, range(1), 0)


def count(side: str, contacts: int, per_contact: int) -> dict[str, int]:
    """Run :func:`work` under callgrind; returns the instructions and what it fired."""
    options = [
        "--tool=callgrind",
        "--toggle-collect=functools_reduce*",
        "--callgrind-out-file=/dev/null",
    ]
    done = run_child(__file__, options, [side, str(contacts), str(per_contact)])
    match = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    if match is None:
        raise ValueError(f"callgrind printed no instruction count:\n{done.stderr[-2000:]}")
    return {"instructions": int(match.group(1)), "fired": int(done.stdout.split()[-1])}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--child"]:
        side, contacts, per_contact = args[1:4]
        print(work(side, int(contacts), int(per_contact)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=5_000)
    parser.add_argument("--events", type=int, default=10, help="events per contact")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    options = parser.parse_args(args)
    if options.contacts < 1 or options.events < 1:
        parser.error("--contacts and --events must be positive")
    if shutil.which("valgrind") is None:
        print("realistic_counts: valgrind is not installed", file=sys.stderr)
        return 2
    with ThreadPoolExecutor(max_workers=options.jobs) as pool:
        found = dict(
            zip(
                SIDES,
                pool.map(lambda side: count(side, options.contacts, options.events), SIDES),
                strict=True,
            )
        )
    if found["engine"]["fired"] != found["loop"]["fired"]:
        raise AssertionError(
            f"the engine fired {found['engine']['fired']:,} actions, "
            f"the loop {found['loop']['fired']:,}"
        )
    events = options.contacts * options.events
    print(
        f"{options.contacts:,} contacts, {events:,} events; "
        f"actions: engine {found['engine']['fired']:,}, loop {found['loop']['fired']:,}"
    )
    print(f"{'side':<12}{'instructions/event':>20}")
    for side in SIDES:
        print(f"{side:<12}{found[side]['instructions'] / events:>20,.0f}")
    engine = found["engine"]["instructions"]
    print(f"loop / engine, instructions: {found['loop']['instructions'] / engine:.4f}")
    print(
        f"threshold loop / engine, instructions: {found['threshold']['instructions'] / engine:.4f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
