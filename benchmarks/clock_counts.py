"""The clock workload's ticks, counted by callgrind: the engine against the naive rescan.

    python benchmarks/clock_counts.py                     # 20k contacts, 512 KiB cache
    python benchmarks/clock_counts.py --contacts 5000 --ticks 60

Why: ``engage bench --only time`` times the engine's clock against a rescan of every
contact at every tick, on a machine whose speed swings by 1.8x within seconds. Counted
instructions and cache misses do not swing, so a change to the wake-up path can be
judged on its own, and the speed-up in instructions says what the engine's design costs
apart from memory.

How: the same workload as ``engage bench`` (``time_rules``: recency classes, two
decaying scores, threshold rules; three events per contact over 90 days), at a smaller
size with a last-level cache shrunk to match (20k contacts against 512 KiB stands for
1M against 32 MiB, as in ``cache_misses.py``). Each side builds its state outside the
count; callgrind counts only the ticks (``--toggle-collect`` on the ``functools.reduce``
that runs them). The hash seed is fixed, so a rerun gives the same figures. Needs
valgrind; takes a few minutes at the default size.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cache_misses import parse_summary, run_child

from engage.bench.baselines import RescanBaseline
from engage.bench.generator import activity_events
from engage.bench.rulesets import time_rules
from engage.collector import gc_paused

DAY = 86_400.0
EVENTS_PER_CONTACT = 3
SIDES = ("engine", "naive")


def work(side: str, contacts: int, ticks: int) -> int:
    """What one counted run does: build the state, then move the clock tick by tick.

    Returns the firings (engine) or rising bits (naive) over the ticks; only the
    ``functools.reduce`` over the ticks is counted.
    """
    with gc_paused():  # as the bench times it
        return _ticks(side, contacts, ticks)


def _ticks(side: str, contacts: int, ticks: int) -> int:
    events = activity_events(contacts, contacts * EVENTS_PER_CONTACT, seed=1, span=90 * DAY)
    tick: Any
    if side == "engine":
        import engage

        engine = engage.Engine(engage.compile(time_rules(), name="time.rules"))
        engine.ingest_many(events)
        start = engine.now
        assert start is not None
        engine.advance(start + DAY / 2)  # the first move imports what it needs

        def tick(total: int, number: int) -> int:
            return total + len(engine.advance(start + number * DAY))
    else:
        baseline = RescanBaseline(events)
        start = baseline.ref
        baseline.tick(start + DAY / 2)

        def tick(total: int, number: int) -> int:
            return total + len(baseline.tick(start + number * DAY)[0])

    del events
    return functools.reduce(tick, range(1, ticks + 1), 0)


def count(side: str, contacts: int, ticks: int, ll_bytes: int) -> dict[str, int]:
    """Run :func:`work` under callgrind and return the ticks' counters."""
    options = [
        "--tool=callgrind",
        "--cache-sim=yes",
        f"--LL={ll_bytes},16,64",
        "--toggle-collect=functools_reduce*",
        "--callgrind-out-file=/dev/null",
    ]
    done = run_child(__file__, options, [side, str(contacts), str(ticks)])
    found = parse_summary(done.stderr)
    found["fired"] = int(done.stdout.split()[-1])
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--child"]:
        side, contacts, ticks = args[1:4]
        print(work(side, int(contacts), int(ticks)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--ticks", type=int, default=180, help="one-day ticks counted")
    parser.add_argument("--ll-bytes", type=int, default=512 * 1024, help="simulated LL")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    options = parser.parse_args(args)
    if options.contacts < 1 or options.ticks < 1:
        parser.error("--contacts and --ticks must be positive")
    if shutil.which("valgrind") is None:
        print("clock_counts: valgrind is not installed", file=sys.stderr)
        return 2
    with ThreadPoolExecutor(max_workers=options.jobs) as pool:
        found = dict(
            zip(
                SIDES,
                pool.map(
                    lambda side: count(side, options.contacts, options.ticks, options.ll_bytes),
                    SIDES,
                ),
                strict=True,
            )
        )
    print(
        f"{options.contacts:,} contacts, {options.ticks} ticks, "
        f"LL {options.ll_bytes // 1024} KiB; firings: engine {found['engine']['fired']:,}, "
        f"naive {found['naive']['fired']:,}"
    )
    print(f"{'per tick':<10}{'instructions':>16}{'D1 misses':>14}{'LL misses':>14}")
    for side in SIDES:
        row = found[side]
        print(
            f"{side:<10}{row['instructions'] / options.ticks:>16,.0f}"
            f"{row['first_level'] / options.ticks:>14,.0f}"
            f"{row['last_level'] / options.ticks:>14,.0f}"
        )
    for name, label in (("instructions", "instructions"), ("last_level", "LL misses")):
        ratio = found["naive"][name] / max(1, found["engine"][name])
        print(f"naive / engine, {label}: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
