"""Cache misses per event, counted by cachegrind: a figure a noisy machine cannot move.

    python benchmarks/cache_misses.py                       # 100k contacts, 2 MiB cache
    python benchmarks/cache_misses.py --contacts 20000 --measured 10000

Why: at a million contacts the engine's extra cost per event is memory latency, one
cache miss per object it touches that is not in cache. Wall-clock growth from 10k to 1M
contacts moves by +-0.1 between runs on a shared machine; a simulated cache gives the
same count every time, so a layout change can be judged on its own.

How: valgrind's cachegrind simulates the caches. The last-level cache is shrunk (2 MiB
by default) so that a 100k-contact run stands for a 1M-contact run on a real 32 MiB
cache: both hold far more state than fits, and both streams are random over it. For the
engine (``ingest_many``, R = 100 spread thresholds, as in ``engage bench``) and for the
hand-written baseline, two runs are made: one that ingests all but the last
``--measured`` events, one that ingests them all. The difference, over ``--measured``,
is what those events cost late in the stream, when nearly every contact exists. The
hash seed is fixed, so a rerun gives the same figures (the first-level counts still
move with address layout; the last-level ones move by a few hundredths).

Streaming the prebuilt event dicts costs both sides the same misses; a real CPU's
prefetcher hides most of them, the simulation does not. Compare the two sides' figures,
not the absolute numbers. Needs valgrind; takes about five minutes at the default size.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from engage.bench.baselines import threshold_loop
from engage.bench.generator import activity_events
from engage.bench.rulesets import POINTS, threshold_rules, thresholds

#: Events per contact in the stream (the contacts sweep of ``engage bench`` uses 10;
#: 4 keeps the simulation short and leaves every contact with history).
EVENTS_PER_CONTACT = 4
RULES = 100
SIDES = ("engine", "baseline")
COUNTERS = {"instructions": "I   refs", "first_level": "D1  misses", "last_level": "LLd misses"}


def work(side: str, contacts: int, measured: int, phase: str) -> None:
    """What one simulated run does: build the stream, ingest it up to ``phase``."""
    gc.disable()  # as the bench times it; a collection would walk every object
    events = activity_events(contacts, contacts * EVENTS_PER_CONTACT, seed=1)
    split = len(events) - measured
    warm, rest = events[:split], events[split:]
    ks = thresholds(RULES, "spread")
    kept: list[Any] = []  # results stay alive, so freeing them is not counted
    if side == "engine":
        import engage

        engine = engage.Engine(engage.compile(threshold_rules(ks)))
        kept.append(engine.ingest_many(warm))
        if phase == "full":
            kept.append(engine.ingest_many(rest))
    else:
        names = [f"tier_{k}" for k in ks]
        kept.append(threshold_loop(events if phase == "full" else warm, POINTS, ks, names))


def parse_summary(text: str) -> dict[str, int]:
    """The counters of cachegrind's closing summary (printed on stderr)."""
    found = {}
    for name, label in COUNTERS.items():
        match = re.search(re.escape(label) + r":\s+([\d,]+)", text)
        if match is None:
            raise ValueError(f"cachegrind summary has no {label!r}")
        found[name] = int(match.group(1).replace(",", ""))
    return found


def run_child(
    script: str, valgrind_options: list[str], child_args: list[str]
) -> subprocess.CompletedProcess[str]:
    """Run ``script --child CHILD_ARGS`` under valgrind with a fixed hash seed (dict and
    set layouts move instruction counts by up to 15% from seed to seed); raises with
    valgrind's last words when the child fails. Shared by the counting scripts here."""
    command = ["valgrind", *valgrind_options, sys.executable, script, "--child", *child_args]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(child_args)} failed:\n{done.stderr[-2000:]}")
    return done


def simulate(side: str, contacts: int, measured: int, phase: str, ll_bytes: int) -> dict[str, int]:
    """Run :func:`work` under cachegrind and return its counters."""
    options = [
        "--tool=cachegrind",
        "--cache-sim=yes",
        f"--LL={ll_bytes},16,64",
        "--cachegrind-out-file=/dev/null",
    ]
    done = run_child(__file__, options, [side, str(contacts), str(measured), phase])
    return parse_summary(done.stderr)


def per_event(
    contacts: int, measured: int, ll_bytes: int, jobs: int
) -> dict[str, dict[str, float]]:
    """Counters per measured event, by side."""
    runs = [(side, phase) for side in SIDES for phase in ("setup", "full")]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = dict(
            zip(
                runs,
                pool.map(lambda run: simulate(run[0], contacts, measured, run[1], ll_bytes), runs),
                strict=True,
            )
        )
    return {
        side: {
            name: (results[side, "full"][name] - results[side, "setup"][name]) / measured
            for name in COUNTERS
        }
        for side in SIDES
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--child"]:
        side, contacts, measured, phase = args[1:5]
        work(side, int(contacts), int(measured), phase)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--measured", type=int, default=50_000, help="events counted")
    parser.add_argument("--ll-bytes", type=int, default=2 * 1024 * 1024, help="simulated LL")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    options = parser.parse_args(args)
    if not 0 < options.measured < options.contacts * EVENTS_PER_CONTACT:
        parser.error("--measured must be positive and below the stream's length")
    if shutil.which("valgrind") is None:
        print("cache_misses: valgrind is not installed", file=sys.stderr)
        return 2
    figures = per_event(options.contacts, options.measured, options.ll_bytes, options.jobs)
    print(
        f"{options.contacts:,} contacts, R={RULES}, LL {options.ll_bytes // 1024} KiB, "
        f"{options.measured:,} events counted"
    )
    print(f"{'per event':<12}{'instructions':>14}{'D1 misses':>12}{'LL misses':>12}")
    for side in SIDES:
        row = figures[side]
        print(
            f"{side:<12}{row['instructions']:>14,.0f}"
            f"{row['first_level']:>12.2f}{row['last_level']:>12.2f}"
        )
    excess = figures["engine"]["last_level"] - figures["baseline"]["last_level"]
    print(f"engine - baseline: {excess:+.2f} last-level misses per event")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
