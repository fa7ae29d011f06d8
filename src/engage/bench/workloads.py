"""The timed workloads of ``engage bench``: throughput, check time, the clock, durability.

Each workload returns a plain, JSON-ready dict. Every engine figure sits beside the
figure of a hand-written baseline measured in the same run (:mod:`engage.bench.baselines`),
and every workload checks, outside the timed sections, that the engine and its baseline
computed the same thing: a fast wrong answer is not a result.
"""

from __future__ import annotations

import gc
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Final

import engage
from engage.bench.baselines import RescanBaseline, threshold_loop
from engage.bench.generator import (
    DAY,
    activity_events,
    profile_updates,
    realistic_events,
    type_counts,
)
from engage.bench.realistic import Firing, RealisticResult, realistic_loop
from engage.bench.rulesets import (
    DURABILITY_RULES,
    POINTS,
    REALISTIC_RULES,
    big_rules_file,
    threshold_rules,
    thresholds,
    tier_tag,
    time_rules,
)
from engage.bench.timing import Frozen, timed
from engage.collector import gc_paused
from engage.storage import eventlog
from engage.storage.eventlog import FsyncPolicy
from engage.storage.statedir import StateDir

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
    reference: Reference | SeparateReference | None = None,
) -> Row:
    """One cell of the throughput table: engine vs baseline on the same events.

    With a ``reference`` (the sweep's smallest cell), each engine repeat of this cell is
    a *paired round*: its events go in :data:`PAIRED_CHUNKS` chunks, and next to each
    chunk the reference runs a sample of its own (:class:`Reference`,
    :class:`SeparateReference`). The round's
    growth in per-event cost is this cell's time over the time the reference's
    per-event cost gives for the same number of events. Both sides thus meet the same
    moments of the machine, which swings by up to 1.8x within seconds here: a big cell's
    run averages those swings, a short run of the small cell alone does not. The median
    round is reported, beside the plain best-of.
    """
    ks = thresholds(rules, layout)
    names = [tier_tag(i) for i in range(rules)]
    compiled = engage.compile(threshold_rules(ks), name="throughput.rules")
    engine_times: list[float] = []
    baseline_times: list[float] = []
    growth: list[float] = []
    chunks: list[dict[str, list[float]]] = []
    verified = False
    firings = 0
    attempt = 0
    while attempt < repeat or (
        sum(engine_times) < SHORT_CELL_SECONDS and attempt < SHORT_CELL_REPEATS
    ):
        engine = engage.Engine(compiled)
        if reference is None:
            seconds, actions = timed(partial(engine.ingest_many, events))
        else:
            seconds, actions, round_growth, details = _paired_round(engine, events, reference)
            growth.append(round_growth)
            chunks.append(details)
        engine_times.append(seconds)
        base_seconds, result = timed(lambda: threshold_loop(events, POINTS, ks, names))
        baseline_times.append(base_seconds)
        if attempt == 0:
            firings = len(result.crossings)
            _verify_threshold(engine, actions, result.crossings, names, contacts)
            verified = True
        progress(
            f"  throughput R={rules} {layout} contacts={contacts}: repeat {attempt + 1}"
            f" engine {seconds:.3f}s baseline {base_seconds:.3f}s"
        )
        del engine, actions, result
        attempt += 1
    count = len(events)
    best = min(engine_times)
    base = min(baseline_times)
    paired: Row = {}
    if growth:
        paired = {
            "paired_growth": growth,
            "paired_growth_median": statistics.median(growth),
            "paired_chunks": chunks,
        }
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
        **paired,
    }


#: Chunks of a paired round (see :func:`throughput_row`).
PAIRED_CHUNKS = 10


class Reference:
    """The smallest cell of the rules sweep, sampled beside each chunk of a paired round.

    The rules sweep's cells see the same events: a sample is the same chunk of events
    through the reference engine (fewer rules), which goes through the events chunk by
    chunk as the big cell does. The contacts sweep's reference is a whole run of other
    events, in a process of its own (:class:`SeparateReference`).
    """

    def __init__(self, rules: int) -> None:
        self.compiled = engage.compile(
            threshold_rules(thresholds(rules, "spread")), name="reference.rules"
        )
        self._engine = engage.Engine(self.compiled)

    def start(self) -> None:
        """A new round: the reference starts from an empty engine."""
        self._engine = engage.Engine(self.compiled)

    def sample(self, chunk: Sequence[dict[str, Any]]) -> float:
        """Nanoseconds per event of ``chunk`` through the reference engine."""
        start = time.perf_counter()
        self._engine.ingest_many(chunk)
        return (time.perf_counter() - start) / len(chunk) * 1e9


class SeparateReference:
    """A whole-run reference (the 10k cell) in a process of its own.

    Beside a 1M-contact round, the parent process holds ten million events and a big
    engine, whose allocator and caches a 10k run inside it would share. The child
    builds the same events (the generator is seeded) and times a fresh engine whenever
    asked, so its samples are taken as the 10k cell's own runs are, at the moments the
    chunks run.
    """

    def __init__(self, contacts: int, events: int, rules: int, *, seed: int, zipf: float) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _REFERENCE, *map(str, (contacts, events, seed, zipf, rules))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self._read() != "ready":
            raise RuntimeError("the reference process did not start")

    def _read(self) -> str:
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"the reference process ended ({self._process.wait()})")
        return line

    def start(self) -> None:
        """A new round (every sample is a fresh engine already)."""

    def sample(self, chunk: Sequence[dict[str, Any]]) -> float:
        """Nanoseconds per event of one whole run, timed in the child."""
        assert self._process.stdin is not None
        self._process.stdin.write("run\n")
        self._process.stdin.flush()
        return float(self._read())

    def close(self) -> None:
        """End the child (it stops when its input ends) and release the pipes."""
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                pipe.close()
        self._process.wait()


_REFERENCE = """
import gc, sys, time
import engage
from engage.bench.generator import activity_events
from engage.bench.rulesets import threshold_rules, thresholds
contacts, count, seed, zipf, rules = sys.argv[1:6]
events = activity_events(int(contacts), int(count), seed=int(seed), zipf=float(zipf))
spread = thresholds(int(rules), "spread")
compiled = engage.compile(threshold_rules(spread), name="reference.rules")
print("ready", flush=True)
for _ in sys.stdin:
    gc.collect()
    gc.disable()
    engine = engage.Engine(compiled)
    start = time.perf_counter()
    engine.ingest_many(events)
    seconds = time.perf_counter() - start
    gc.enable()
    del engine
    print(seconds / len(events) * 1e9, flush=True)
"""


def _paired_round(
    engine: engage.Engine,
    events: Sequence[dict[str, Any]],
    reference: Reference | SeparateReference,
) -> tuple[float, list[engage.Action], float, dict[str, list[float]]]:
    """One paired round: the engine's seconds, its actions, the round's growth, and the
    ns per event of each chunk and of each reference sample (kept in the JSON: they
    show whether a round's growth is steady across chunks or one chunk's accident).

    The chunks are cut before the clock starts; the reference sample comes after its
    chunk in even chunks and before it in odd ones, so that neither side always runs
    just after the other has filled the caches.
    """
    size = -(-len(events) // PAIRED_CHUNKS)
    chunks = [events[at : at + size] for at in range(0, len(events), size)]
    reference.start()
    actions: list[engage.Action] = []
    seconds = 0.0
    expected_ns = 0.0
    chunk_ns: list[float] = []
    sample_ns: list[float] = []
    gc.collect()
    with gc_paused():
        for number, chunk in enumerate(chunks):
            if number % 2:
                sample_ns.append(reference.sample(chunk))
            start = time.perf_counter()
            actions.extend(engine.ingest_many(chunk))
            elapsed = time.perf_counter() - start
            if not number % 2:
                sample_ns.append(reference.sample(chunk))
            seconds += elapsed
            chunk_ns.append(elapsed / len(chunk) * 1e9)
            expected_ns += sample_ns[-1] * len(chunk)
    details = {"engine_ns": chunk_ns, "reference_ns": sample_ns}
    return seconds, actions, seconds * 1e9 / expected_ns, details


#: A cell whose engine runs add up to less than this many seconds is repeated more (up
#: to :data:`SHORT_CELL_REPEATS` runs): the best of three runs of a quarter of a second
#: moves with whatever else the machine does, and the contacts-sweep ratio divides by
#: the smallest cell.
SHORT_CELL_SECONDS = 2.0
SHORT_CELL_REPEATS = 12


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
            reference = None
            if layout == "spread" and rules == max(rules_sweep) > min(rules_sweep):
                reference = Reference(min(rules_sweep))
            rules_rows.append(
                throughput_row(
                    events,
                    base_contacts,
                    rules,
                    layout,
                    repeat=repeat if layout == "spread" else dense_repeat,
                    progress=progress,
                    reference=reference,
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
        separate: SeparateReference | None = None
        if contacts == max(contacts_sweep) and contacts > min(contacts_sweep):
            smallest = min(contacts_sweep)
            separate = SeparateReference(
                smallest, smallest * events_per_contact, base_rules, seed=seed, zipf=zipf
            )
        events = events_for(contacts)
        if not mix:
            mix = type_counts(events)
        try:
            contacts_rows.append(
                throughput_row(
                    events,
                    contacts,
                    base_rules,
                    "spread",
                    repeat=repeat,
                    progress=progress,
                    reference=separate,
                )
            )
        finally:
            if separate is not None:
                separate.close()
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


# -- the realistic workload: a marketing team's rules beside the same rules by hand ----------

#: R of the threshold workload's baseline run on the realistic stream, for the ratio
#: "realistic engine / threshold baseline" (the threshold workload's headline cell).
THRESHOLD_REFERENCE_RULES: Final = 100
#: How far the engine's and the loop's moments may differ (seconds): both compute a
#: decaying score's crossing in closed form, to a few units in the last place.
MOMENT_TOLERANCE: Final = 1e-3


def realistic(
    *,
    contacts: int,
    events_per_contact: int,
    repeat: int,
    seed: int,
    zipf: float,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """The realistic rules (:data:`REALISTIC_RULES`) through ``ingest_many``, beside the
    hand-written loop (:func:`~engage.bench.realistic.realistic_loop`) on the same events.

    Each repeat times a fresh engine, the loop, and the threshold workload's baseline
    (:func:`threshold_loop`, R = 100 spread thresholds) on the same events, interleaved.
    The first repeat's actions are checked against the loop's, contact by contact,
    outside the timed sections. ``ratio`` is engine events/s over the loop's;
    ``ratio_to_threshold_baseline`` is engine events/s over the threshold loop's, the
    figure that says how far a realistic file is from the simplest one's ceiling.
    """
    total = contacts * events_per_contact
    progress(f"  realistic: generating {total:,} events for {contacts:,} contacts")
    events = realistic_events(contacts, total, seed=seed, zipf=zipf)
    compiled = engage.compile(REALISTIC_RULES, name="realistic.rules")
    ks = thresholds(THRESHOLD_REFERENCE_RULES, "spread")
    names = [tier_tag(i) for i in range(len(ks))]
    engine_times: list[float] = []
    loop_times: list[float] = []
    threshold_times: list[float] = []
    firings = 0
    by_rule: dict[str, int] = {}
    for attempt in range(repeat):
        engine = engage.Engine(compiled)
        seconds, actions = timed(partial(engine.ingest_many, events))
        engine_times.append(seconds)
        loop_seconds, result = timed(partial(realistic_loop, events))
        loop_times.append(loop_seconds)
        threshold_seconds, _ = timed(lambda: threshold_loop(events, POINTS, ks, names))
        threshold_times.append(threshold_seconds)
        if attempt == 0:
            verify_realistic(engine, actions, result, contacts)
            firings = len(actions)
            for action in actions:
                by_rule[action.rule] = by_rule.get(action.rule, 0) + 1
        progress(
            f"  realistic: repeat {attempt + 1}/{repeat} engine {seconds:.2f}s "
            f"loop {loop_seconds:.2f}s threshold loop {threshold_seconds:.2f}s"
        )
        del engine, actions, result
    best = min(engine_times)
    loop = min(loop_times)
    threshold = min(threshold_times)
    return {
        "contacts": contacts,
        "events": total,
        "events_per_contact": events_per_contact,
        "zipf": zipf,
        "event_mix": type_counts(events),
        "rules": len(compiled.rule_names),
        "engine_seconds": best,
        "baseline_seconds": loop,
        "threshold_baseline_seconds": threshold,
        "engine_events_per_second": total / best,
        "baseline_events_per_second": total / loop,
        "threshold_baseline_events_per_second": total / threshold,
        "engine_ns_per_event": best / total * 1e9,
        "baseline_ns_per_event": loop / total * 1e9,
        "ratio": loop / best,
        "ratio_to_threshold_baseline": threshold / best,
        "firings": firings,
        "firings_per_event": firings / total,
        "firings_by_rule": by_rule,
        "verified": True,
        "engine_repeats": engine_times,
        "baseline_repeats": loop_times,
        "threshold_baseline_repeats": threshold_times,
    }


def realistic_firings(actions: Sequence[engage.Action]) -> list[Firing]:
    """The engine's actions in the loop's form: (time, contact, rule, verb, args, suppressed)."""
    return [(a.time, a.contact, a.rule, a.action, tuple(a.args), a.suppressed) for a in actions]


def verify_realistic(
    engine: engage.Engine,
    actions: Sequence[engage.Action],
    result: RealisticResult,
    contacts: int,
) -> None:
    """The engine fired what the loop fired and ended where it ended, or
    :class:`AssertionError` says where not.

    Actions are compared contact by contact, in order: rule, verb, arguments and
    suppression exactly, moments to :data:`MOMENT_TOLERANCE`. (Across contacts, two
    wake-ups a microsecond apart may come in either order, as both sides compute them
    in closed form.) Then each contact's scores, tags and segment membership.
    """
    if len(engine) != contacts or len(result.contacts) != contacts:
        raise AssertionError(
            f"realistic: engine has {len(engine)} contacts, loop {len(result.contacts)}, "
            f"expected {contacts}"
        )
    if engine.problems or engine.rejected:
        raise AssertionError(
            f"realistic: engine problems {engine.problems[:3]} rejected {engine.rejected[:3]}"
        )
    got = _per_contact(realistic_firings(actions))
    want = _per_contact(result.firings)
    for cid in sorted(set(got) | set(want)):
        mine, theirs = got.get(cid, []), want.get(cid, [])
        same = len(mine) == len(theirs) and all(
            a[1:] == b[1:] and abs(a[0] - b[0]) <= MOMENT_TOLERANCE
            for a, b in zip(mine, theirs, strict=True)
        )
        if not same:
            raise AssertionError(
                f"realistic: contact {cid}: engine fired {mine[:6]}, the loop {theirs[:6]} "
                f"({len(mine)} vs {len(theirs)})"
            )
    for cid, state in result.contacts.items():
        view = engine.contact(cid)
        assert view is not None
        engagement = view.scores.get("engagement")
        expected = state.engagement_now(engine.now or state.engagement_at)
        close = (engagement is None) == (expected is None) and (
            engagement is None
            or expected is None
            or math.isclose(engagement, expected, rel_tol=1e-9, abs_tol=1e-9)
        )
        if (
            not close
            or view.scores.get("intent") != state.intent
            or set(view.tags) != (state.tags or set())
            or ("hot_leads" in view.segments) != state.hot
        ):
            raise AssertionError(
                f"realistic: contact {cid} ends as {view}, the loop's: engagement "
                f"{expected}, intent {state.intent}, tags {state.tags}, hot {state.hot}"
            )


def _per_contact(firings: Sequence[Firing]) -> dict[str, list[Firing]]:
    out: dict[str, list[Firing]] = {}
    for firing in firings:
        out.setdefault(firing[1], []).append(firing)
    return out


# -- check time ----------------------------------------------------------------------------


def check_time(*, rules: int, repeat: int, progress: Progress = _quiet) -> dict[str, Any]:
    """Parse + check + compile of a generated ``rules``-rule file.

    Three figures: *warm* is ``engage.compile`` in this process (best of ``repeat``;
    the grammar is already loaded); *cold* is a fresh interpreter that imports the rules
    compiler and compiles the file, timed inside (grammar construction included); *cli*
    is the wall time of ``engage check FILE`` as a user runs it (interpreter start-up,
    imports and all), best and median of :data:`CLI_RUNS`, when the ``engage`` command
    is installed. The target is on the median of *cli*, or on *cold* without it.
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
        "cli_seconds": min(cli) if cli else None,
        "cli_median_seconds": statistics.median(cli) if cli else None,
        "cli_runs": cli,
    }


_COLD = """
import json, sys, time
t0 = time.perf_counter()
from engage.rules import compile_rules
t1 = time.perf_counter()
with open(sys.argv[1], encoding="utf-8") as f:
    text = f.read()
compile_rules(text, name="big.rules")
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


#: Runs of ``engage check FILE`` timed; start-up time on a shared machine varies run to
#: run, so the report gives the best and the median.
CLI_RUNS = 7


def _cli_check(path: str) -> list[float]:
    command = shutil.which("engage", path=os.path.dirname(sys.executable)) or shutil.which("engage")
    if command is None:
        return []
    runs: list[float] = []
    for _ in range(CLI_RUNS):
        start = time.perf_counter()
        done = subprocess.run([command, "check", path], capture_output=True, check=False)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            return []
        runs.append(elapsed)
    return runs


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


# -- durability: snapshot, restore, and the event log ----------------------------------------

#: The log runs of the durability workload: (label, fsync policy or None for no log).
#: ``every`` is the CLI's name of the Python policy ``"always"`` (an fsync per frame).
LOG_RUNS: Final[tuple[tuple[str, FsyncPolicy | None], ...]] = (
    ("none", None),
    ("never", "never"),
    ("interval", "interval"),
)
EVERY_RUNS: Final[tuple[tuple[str, FsyncPolicy | None], ...]] = (
    ("none", None),
    ("every", "always"),
)


def durability(
    *,
    contacts: int,
    log_contacts: int,
    log_events: int,
    every_events: int,
    repeat: int,
    seed: int,
    zipf: float,
    interval_ms: float = 100.0,
    folder: str | None = None,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Snapshot and restore of ``contacts`` contacts; the event log's cost per fsync policy.

    Files are written in a temporary folder under ``folder`` (default: the system's
    temporary folder); the report names its file system, since fsync costs what the
    disk under it costs.
    """
    rules = engage.compile(DURABILITY_RULES, name="durability.rules")
    with tempfile.TemporaryDirectory(prefix="engage-bench-", dir=folder) as work:
        snap = _snapshot_restore(rules, contacts, work, repeat=repeat, progress=progress)
        log = _log_cost(
            rules,
            work,
            contacts=log_contacts,
            events=log_events,
            every_events=every_events,
            repeat=repeat,
            seed=seed,
            zipf=zipf,
            interval_ms=interval_ms,
            progress=progress,
        )
        filesystem = _filesystem(work)
    return {"filesystem": filesystem, "snapshot": snap, "log": log}


def _snapshot_restore(
    rules: engage.Rules, contacts: int, folder: str, *, repeat: int, progress: Progress
) -> Row:
    """Build the memory workload's state, then time ``snapshot`` and ``restore``.

    Every repeat writes the same path (the snapshot replaces it atomically) and restores
    a fresh engine from it; the last restored engine is checked against the original,
    contact by contact (``dump()``), outside the timed sections.
    """
    engine = engage.Engine(rules)
    progress(f"  durability: building {contacts:,} contacts")
    build_seconds, _ = timed(partial(engine.ingest_many, profile_updates(contacts)))
    engine.drain_outbox()  # a host drains it: the snapshot then holds the contacts' state
    if len(engine) != contacts or engine.rejected or engine.problems:
        raise AssertionError(
            f"durability: {len(engine)} contacts of {contacts}, "
            f"rejected {engine.rejected[:3]}, problems {engine.problems[:3]}"
        )
    path = os.path.join(folder, "state.engsnap")
    snapshot_times: list[float] = []
    restore_times: list[float] = []
    size = 0
    restored: engage.Engine | None = None
    for attempt in range(repeat):
        seconds, size = timed(partial(engine.snapshot, path))
        snapshot_times.append(seconds)
        restored = None  # one restored engine alive at a time
        restore_seconds, restored = timed(partial(engage.Engine.restore, path, rules))
        restore_times.append(restore_seconds)
        progress(
            f"  durability: repeat {attempt + 1}/{repeat} snapshot {seconds:.2f}s "
            f"restore {restore_seconds:.2f}s ({size:,} bytes)"
        )
    assert restored is not None
    _verify_restored(engine, restored)
    on_disk = os.path.getsize(path)
    if on_disk != size:
        raise AssertionError(f"snapshot returned {size:,} bytes, the file has {on_disk:,}")
    pending = engine.summary()["pending_timers"]
    del engine, restored
    gc.collect()
    best_snapshot = min(snapshot_times)
    best_restore = min(restore_times)
    return {
        "contacts": contacts,
        "build_seconds": build_seconds,
        "pending_timers": pending,
        "snapshot_seconds": best_snapshot,
        "restore_seconds": best_restore,
        "snapshot_contacts_per_second": contacts / best_snapshot,
        "restore_contacts_per_second": contacts / best_restore,
        "bytes": size,
        "bytes_per_contact": size / contacts,
        "verified": True,
        "snapshot_repeats": snapshot_times,
        "restore_repeats": restore_times,
    }


def _verify_restored(original: engage.Engine, restored: engage.Engine) -> None:
    """The restored engine holds what the original held, or :class:`AssertionError`."""
    if len(restored) != len(original):
        raise AssertionError(
            f"restored engine has {len(restored)} contacts, the original {len(original)}"
        )
    if restored.now != original.now or restored.position != original.position:
        raise AssertionError(
            f"restored clock/position {restored.now}/{restored.position}, "
            f"original {original.now}/{original.position}"
        )
    _same_dump(original, restored, "restored")


def _same_dump(want: engage.Engine, got: engage.Engine, what: str) -> None:
    """``got.dump() == want.dump()``, compared contact by contact (no 1M-item lists)."""
    for index, (a, b) in enumerate(zip(want.dump(), got.dump(), strict=True)):
        if a != b:
            raise AssertionError(f"{what} engine differs at contact #{index}: {b} != {a}")


def _log_cost(
    rules: engage.Rules,
    folder: str,
    *,
    contacts: int,
    events: int,
    every_events: int,
    repeat: int,
    seed: int,
    zipf: float,
    interval_ms: float,
    progress: Progress,
) -> dict[str, Any]:
    """``ingest_many`` of one event stream without a log and with one per fsync policy.

    Two groups, each with its own no-log run on exactly its events: ``never`` and
    ``interval`` on the whole stream; ``every`` (an fsync per event: slow) on its first
    ``every_events`` events. Runs are interleaved within each repeat; the best is kept.
    Each run starts from a fresh engine (and a fresh, empty state folder).
    """
    progress(f"  durability: generating {events:,} events for {contacts:,} contacts")
    stream = activity_events(contacts, events, seed=seed, zipf=zipf, ids=True)
    every_events = min(every_events, events)
    groups = ((stream, LOG_RUNS), (stream[:every_events], EVERY_RUNS))
    times: dict[tuple[str, int], list[float]] = {}
    facts: dict[tuple[str, int], dict[str, Any]] = {}
    for attempt in range(repeat):
        for group, (chunk, runs) in enumerate(groups):
            reference: engage.Engine | None = None
            for label, policy in runs:
                key = (label, group)
                seconds, engine, fact = _log_run(
                    rules, chunk, policy, folder, f"{label}-{group}-{attempt}", interval_ms
                )
                times.setdefault(key, []).append(seconds)
                if attempt == 0:
                    if reference is None:
                        reference = engine
                    else:
                        _same_dump(reference, engine, f"logged ({label})")
                    facts[key] = fact
                progress(
                    f"  durability: log {label} {len(chunk):,} events "
                    f"repeat {attempt + 1}/{repeat} {seconds:.3f}s"
                )
                del engine
    rows: list[Row] = []
    for group, (chunk, runs) in enumerate(groups):
        count = len(chunk)
        plain = min(times[("none", group)])
        for label, policy in runs:
            best = min(times[(label, group)])
            rows.append(
                {
                    "policy": label,
                    "fsync": policy,
                    "events": count,
                    "seconds": best,
                    "events_per_second": count / best,
                    "ratio": plain / best,
                    "log_us_per_event": (best - plain) / count * 1e6 if policy else None,
                    **facts[(label, group)],
                    "verified": True,
                    "repeats": times[(label, group)],
                }
            )
    return {
        "contacts": contacts,
        "events": events,
        "every_events": every_events,
        "interval_ms": interval_ms,
        "rows": rows,
    }


def _log_run(
    rules: engage.Rules,
    events: Sequence[dict[str, Any]],
    policy: FsyncPolicy | None,
    folder: str,
    name: str,
    interval_ms: float,
) -> tuple[float, engage.Engine, dict[str, Any]]:
    """One timed ``ingest_many``: returns (seconds, the engine, facts about its log).

    With a policy, the engine comes from a fresh state folder (:class:`StateDir`), which
    attaches the log; the folder is closed without a checkpoint after the timed section
    (the final flush is not timed) and its log is read back: one intact frame per event.
    """
    if policy is None:
        engine = engage.Engine(rules)
        seconds, _ = timed(partial(engine.ingest_many, events))
        _check_ingested(engine, events)
        return seconds, engine, {"log_bytes": None, "frames": None}
    path = os.path.join(folder, name)
    state = StateDir(path, rules, fsync=policy, interval_ms=interval_ms)
    engine = state.open()
    log_path = engine.journal.path  # to read back what it wrote
    assert log_path is not None
    seconds, _ = timed(partial(engine.ingest_many, events))
    state.close(checkpoint=False)
    _check_ingested(engine, events)
    problems: list[eventlog.LogCorruption] = []
    frames = sum(1 for frame in eventlog.read(log_path, problems) if "e" in frame)
    if problems or frames != len(events):
        raise AssertionError(
            f"log ({policy}): {frames} event frames read back of {len(events)} events, "
            f"problems {problems[:1]}"
        )
    size = os.path.getsize(log_path)
    shutil.rmtree(path)
    return seconds, engine, {"log_bytes": size, "frames": frames}


def _check_ingested(engine: engage.Engine, events: Sequence[dict[str, Any]]) -> None:
    if engine.rejected or engine.problems or engine.stats.duplicates:
        raise AssertionError(
            f"durability: rejected {engine.rejected[:3]}, problems {engine.problems[:3]}, "
            f"duplicates {engine.stats.duplicates}"
        )
    engine.drain_outbox()


def _filesystem(path: str) -> str | None:
    """The type of the file system that holds ``path`` (Linux ``/proc/mounts``), or None."""
    try:
        with open("/proc/mounts", encoding="utf-8") as handle:
            mounts = [line.split() for line in handle]
    except OSError:
        return None
    real = os.path.realpath(path)
    best: tuple[int, str] | None = None
    for fields in mounts:
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) > best[0]):
            best = (len(point), fields[2])
    return None if best is None else best[1]
