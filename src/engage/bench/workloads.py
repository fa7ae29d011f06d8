"""The timed workloads of ``engage bench``: throughput, check time, and the clock.

Each workload returns a plain, JSON-ready dict. Every engine figure sits beside the
figure of a hand-written baseline measured in the same run (:mod:`engage.bench.baselines`),
and every workload checks, outside the timed sections, that the engine and its baseline
computed the same thing: a fast wrong answer is not a result.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import engage
from engage.bench.baselines import RescanBaseline, threshold_loop
from engage.bench.generator import DAY, activity_events, type_counts
from engage.bench.rulesets import (
    POINTS,
    big_rules_file,
    threshold_rules,
    thresholds,
    tier_tag,
    time_rules,
)
from engage.bench.timing import Frozen, timed

Progress = Callable[[str], None]
Row = dict[str, Any]


def _quiet(_: str) -> None:
    """The default progress sink: say nothing."""


# -- workload 1: threshold rules through ingest_many -------------------------------------


def throughput_row(
    events: Sequence[dict[str, Any]],
    contacts: int,
    rules: int,
    layout: str,
    *,
    repeat: int,
    progress: Progress = _quiet,
) -> Row:
    """One cell of the throughput table: engine vs baseline on the same events.

    The rules are compiled outside the timed section; each engine repeat runs on a
    fresh :class:`engage.Engine` (an engine that has seen the events would only take
    the path of known contacts). The actions of the first repeat are checked against
    the baseline's crossings: same (contact, tag) pairs, same order, tag verbs only.
    """
    ks = thresholds(rules, layout)
    names = [tier_tag(i) for i in range(rules)]
    compiled = engage.compile(threshold_rules(ks), name="throughput.rules")
    engine_times: list[float] = []
    baseline_times: list[float] = []
    verified = False
    firings = 0
    for attempt in range(repeat):
        engine = engage.Engine(compiled)
        seconds, actions = timed(partial(engine.ingest_many, events))
        engine_times.append(seconds)
        base_seconds, result = timed(lambda: threshold_loop(events, POINTS, ks, names))
        baseline_times.append(base_seconds)
        if attempt == 0:
            firings = len(result.crossings)
            _verify_threshold(engine, actions, result.crossings, names, contacts)
            verified = True
        progress(
            f"  throughput R={rules} {layout} contacts={contacts}: repeat {attempt + 1}/{repeat}"
            f" engine {seconds:.3f}s baseline {base_seconds:.3f}s"
        )
        del engine, actions, result
    count = len(events)
    best = min(engine_times)
    base = min(baseline_times)
    return {
        "layout": layout,
        "rules": rules,
        "contacts": contacts,
        "events": count,
        "engine_seconds": best,
        "baseline_seconds": base,
        "engine_events_per_second": count / best,
        "baseline_events_per_second": count / base,
        "engine_ns_per_event": best / count * 1e9,
        "baseline_ns_per_event": base / count * 1e9,
        "ratio": base / best,
        "firings": firings,
        "firings_per_event": firings / count,
        "verified": verified,
        "engine_repeats": engine_times,
        "baseline_repeats": baseline_times,
    }


def _verify_threshold(
    engine: engage.Engine,
    actions: Sequence[engage.Action],
    crossings: Sequence[tuple[str, int]],
    names: Sequence[str],
    contacts: int,
) -> None:
    """The engine did what the baseline did, or :class:`AssertionError` says how not."""
    if len(engine) != contacts:
        raise AssertionError(f"engine has {len(engine)} contacts, expected {contacts}")
    if engine.problems or engine.rejected:
        raise AssertionError(
            f"engine problems {engine.problems[:3]} rejected {engine.rejected[:3]}"
        )
    verbs = {action.action for action in actions}
    if verbs - {"tag"}:
        raise AssertionError(f"unexpected verbs {sorted(verbs)}")
    got = [(action.contact, action.args[0]) for action in actions]
    want = [(contact, names[index]) for contact, index in crossings]
    if got != want:
        first = next(
            (i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
            min(len(got), len(want)),
        )
        raise AssertionError(
            f"engine tags differ from the baseline's crossings at #{first}: "
            f"engine {got[first : first + 3]} baseline {want[first : first + 3]} "
            f"({len(got)} vs {len(want)} in all)"
        )


def throughput(
    *,
    rules_sweep: Sequence[int],
    contacts_sweep: Sequence[int],
    base_contacts: int,
    base_rules: int,
    events_per_contact: int,
    layouts: Sequence[str],
    repeat: int,
    dense_repeat: int,
    seed: int,
    zipf: float,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Issue 2's throughput table: R sweep at ``base_contacts``, contacts sweep at ``base_rules``.

    The dense layout is output-bound (at R = 1000 it fires ~9 tags per event: minutes per
    repeat), so it has its own, smaller repeat count.

    Contacts are swept with a constant number of events per contact, so each contact
    sees the same activity pattern and reaches the same scores: what changes is only how
    many contacts the engine holds (the per-event cost of a bigger dict, colder caches).
    """
    rules_rows: list[Row] = []
    contacts_rows: list[Row] = []
    cache: dict[int, list[dict[str, Any]]] = {}

    def events_for(contacts: int) -> list[dict[str, Any]]:
        if contacts not in cache:
            cache.clear()  # one event list alive at a time: a million contacts is 10M dicts
            gc.collect()
            progress(
                f"  generating {contacts * events_per_contact:,} events for {contacts:,} contacts"
            )
            cache[contacts] = activity_events(
                contacts, contacts * events_per_contact, seed=seed, zipf=zipf
            )
        return cache[contacts]

    for layout in layouts:
        events = events_for(base_contacts)
        for rules in rules_sweep:
            rules_rows.append(
                throughput_row(
                    events,
                    base_contacts,
                    rules,
                    layout,
                    repeat=repeat if layout == "spread" else dense_repeat,
                    progress=progress,
                )
            )
    mix: dict[str, int] = {}
    for contacts in contacts_sweep:
        if contacts == base_contacts and base_rules in rules_sweep and "spread" in layouts:
            row = next(
                r for r in rules_rows if r["rules"] == base_rules and r["layout"] == "spread"
            )
            contacts_rows.append(dict(row))
            continue
        events = events_for(contacts)
        if not mix:
            mix = type_counts(events)
        contacts_rows.append(
            throughput_row(events, contacts, base_rules, "spread", repeat=repeat, progress=progress)
        )
    if not mix:
        mix = type_counts(events_for(base_contacts))
    cache.clear()
    return {
        "events_per_contact": events_per_contact,
        "zipf": zipf,
        "event_mix": mix,
        "rules_sweep": rules_rows,
        "contacts_sweep": contacts_rows,
    }


# -- check time ----------------------------------------------------------------------------


def check_time(*, rules: int, repeat: int, progress: Progress = _quiet) -> dict[str, Any]:
    """Parse + check + compile of a generated ``rules``-rule file.

    Three figures: *warm* is ``engage.compile`` in this process (best of ``repeat``;
    the grammar is already loaded); *cold* is a fresh interpreter that imports engage
    and compiles the file, timed inside (grammar construction included); *cli* is the
    wall time of ``engage check FILE`` as a user runs it (interpreter start-up, imports
    and all), when the ``engage`` command is installed.
    """
    text = big_rules_file(rules)
    compiled = engage.compile(text, name="big.rules")
    if len(compiled.rule_names) != rules:
        raise AssertionError(f"compiled {len(compiled.rule_names)} rules, expected {rules}")
    warm: list[float] = []
    for _ in range(repeat):
        seconds, _result = timed(lambda: engage.compile(text, name="big.rules"))
        warm.append(seconds)
    progress(f"  check: warm compile of {rules} rules best {min(warm):.3f}s")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "big.rules")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        cold = _cold_compile(path)
        cli = _cli_check(path)
    return {
        "rules": rules,
        "bytes": len(text.encode("utf-8")),
        "lines": text.count("\n"),
        "warnings": len(compiled.warnings),
        "warm_seconds": min(warm),
        "warm_repeats": warm,
        "cold_import_seconds": cold.get("import"),
        "cold_compile_seconds": cold.get("compile"),
        "cli_seconds": cli,
    }


_COLD = """
import json, sys, time
t0 = time.perf_counter()
import engage
t1 = time.perf_counter()
with open(sys.argv[1], encoding="utf-8") as f:
    text = f.read()
engage.compile(text, name="big.rules")
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "compile": t2 - t1}))
"""


def _cold_compile(path: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _COLD, path], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return {}
    data: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def _cli_check(path: str) -> float | None:
    command = shutil.which("engage", path=os.path.dirname(sys.executable)) or shutil.which("engage")
    if command is None:
        return None
    best: float | None = None
    for _ in range(3):
        start = time.perf_counter()
        done = subprocess.run([command, "check", path], capture_output=True, check=False)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            return None
        best = elapsed if best is None else min(best, elapsed)
    return best


# -- workload 2: the clock -----------------------------------------------------------------


def clock(
    *,
    contacts: int,
    events_per_contact: int,
    ticks: int,
    tick_seconds: float = DAY,
    seed: int,
    zipf: float,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Issue 3's workload: ingest activity, then advance the clock tick by tick.

    The engine and the naive rescan (:class:`~engage.bench.baselines.RescanBaseline`)
    each build their state from the same events; then, for every tick, the engine's
    ``advance`` and the rescan's ``tick`` are timed back to back, and the (contact, tag)
    pairs they fired inside the tick are compared as sets (the engine fires at the exact
    moment within the tick; the rescan only sees the tick's end — for conditions that
    move one way as time passes, the same set). One run: the 180-tick loop is long.
    """
    total = contacts * events_per_contact
    progress(f"  clock: generating {total:,} events for {contacts:,} contacts")
    events = activity_events(contacts, total, seed=seed, zipf=zipf, span=90 * DAY)
    compiled = engage.compile(time_rules(), name="time.rules")
    engine = engage.Engine(compiled)
    ingest_seconds, ingest_actions = timed(lambda: engine.ingest_many(events))
    progress(f"  clock: engine ingested {total:,} events in {ingest_seconds:.1f}s")
    baseline_ingest, baseline = timed(lambda: RescanBaseline(events))
    if engine.problems or engine.rejected:
        raise AssertionError(
            f"engine problems {engine.problems[:3]} rejected {engine.rejected[:3]}"
        )
    start = engine.now
    if start is None or start != baseline.ref:
        raise AssertionError(f"clock after ingest: engine {start}, baseline {baseline.ref}")
    ingest_firings = len(ingest_actions)
    events = []  # free the input: the ticks run on the engine's state alone
    del ingest_actions
    rows: list[Row] = []
    mismatches: list[dict[str, Any]] = []
    with Frozen():
        for tick in range(1, ticks + 1):
            moment = start + tick * tick_seconds
            engine_seconds, actions = timed(partial(engine.advance, moment), collect=False)
            naive_seconds, (fired, changes) = timed(partial(baseline.tick, moment), collect=False)
            got = {(action.contact, action.args[0]) for action in actions}
            want = set(fired)
            if got != want or len(got) != len(actions):
                mismatches.append(
                    {
                        "tick": tick,
                        "engine_only": sorted(got - want)[:5],
                        "naive_only": sorted(want - got)[:5],
                        "engine_actions": len(actions),
                        "naive_firings": len(fired),
                    }
                )
            rows.append(
                {
                    "tick": tick,
                    "engine_seconds": engine_seconds,
                    "naive_seconds": naive_seconds,
                    "firings": len(actions),
                    "transitions": changes,
                }
            )
            if tick % 30 == 0 or tick == ticks:
                progress(
                    f"  clock: tick {tick}/{ticks} engine {engine_seconds * 1e3:.1f}ms "
                    f"naive {naive_seconds * 1e3:.0f}ms firings {len(actions)}"
                )
    engine_total = sum(r["engine_seconds"] for r in rows)
    naive_total = sum(r["naive_seconds"] for r in rows)
    firings = sum(r["firings"] for r in rows)
    transitions = sum(r["transitions"] for r in rows)
    fit = _fit([r["transitions"] for r in rows], [r["engine_seconds"] for r in rows])
    naive_fit = _fit([r["transitions"] for r in rows], [r["naive_seconds"] for r in rows])
    quiet_ticks = [r["engine_seconds"] for r in rows if r["transitions"] == 0]
    return {
        "contacts": contacts,
        "events": total,
        "ticks": ticks,
        "tick_seconds": tick_seconds,
        "ingest_seconds": ingest_seconds,
        "ingest_events_per_second": total / ingest_seconds,
        "ingest_firings": ingest_firings,
        "baseline_ingest_seconds": baseline_ingest,
        "engine_seconds": engine_total,
        "naive_seconds": naive_total,
        "speedup": naive_total / engine_total if engine_total else None,
        "firings": firings,
        "transitions": transitions,
        "contact_ticks": contacts * ticks,
        "engine_us_per_transition": engine_total / transitions * 1e6 if transitions else None,
        "naive_ns_per_contact_tick": naive_total / (contacts * ticks) * 1e9,
        "engine_fit": fit,
        "naive_fit": naive_fit,
        "quiet_ticks": len(quiet_ticks),
        "engine_max_quiet_tick_seconds": max(quiet_ticks) if quiet_ticks else None,
        "verified": not mismatches,
        "mismatches": mismatches[:10],
        "pending_timers": engine.summary()["pending_timers"],
        "per_tick": rows,
    }


def _fit(xs: Sequence[float], ys: Sequence[float]) -> dict[str, float | None]:
    """Least squares ``y = intercept + slope * x`` with r²: how well x explains y.

    For the engine, x = transitions per tick and y = seconds per tick: a slope (the cost
    of one transition) with a small intercept and r² near 1 says the cost follows the
    transitions. For the naive rescan the intercept (the rescan) dominates.
    """
    n = len(xs)
    if n < 2:
        return {"intercept": None, "slope": None, "r2": None}
    mean_x = sum(xs) / n
    mean_y = sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    syy = sum((y - mean_y) ** 2 for y in ys)
    if sxx == 0:
        return {"intercept": mean_y, "slope": None, "r2": None}
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    r2 = (sxy * sxy) / (sxx * syy) if syy else 1.0
    return {"intercept": intercept, "slope": slope, "r2": r2}
