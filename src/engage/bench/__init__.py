"""``engage bench``: the bundled benchmark harness.

Runs the workloads of issues 2 and 3 and of the durability issue on this machine and
prints a markdown report; ``--json PATH`` writes every figure, every repeat and the
machine facts. The method — what each number means, how the baselines are built, how
time is taken — is written in ``benchmarks/README.md``; committed results are in
``benchmarks/results/``.

Workloads (``--only``, comma-separated):

- ``throughput``: R threshold rules ``when score >= k then tag "tier_k"`` through
  ``ingest_many``, beside a dict-and-bisect loop in the same run (R sweep and contacts
  sweep);
- ``memory``: bytes per contact with one score, two fields and two tags;
- ``check``: parse + check + compile of a generated 1,000-rule file;
- ``time``: the clock advanced a day at a time over 180 days with recency classes and two
  decaying scores, beside a rescan-every-contact-every-tick baseline;
- ``durability``: snapshot and restore of 1M contacts (seconds, bytes, the restored state
  checked), and ``ingest_many`` with the event log at each fsync policy beside the same
  events without a log;
- ``realistic``: a marketing team's rules file (two scores with caps, filters, decay and a
  clamp; recency classes; a segment with enter/exit rules; a count window; a cooldown; a
  re-arm; sends) through ``ingest_many`` beside the same rules written by hand as one
  Python loop, and bytes per contact with those rules;
- ``accounts``: the realistic rules with accounts and leads declared beside the same
  rules without them, and a contact's move in an account of 1k to 100k contacts beside
  a naive recomputation (:mod:`engage.bench.accounts`).
- ``flow``: contacts through a 5-step flow (waits and sends) by events and clock moves,
  beside a heap-and-dict loop; bytes per contact waiting in the flow; a policy variant
  (:mod:`engage.bench.flows`).

Usage::

    engage bench                       # everything, full size (several minutes)
    engage bench --quick               # tiny sizes, seconds (the tests run this)
    engage bench --only throughput --rules 10,100 --contacts 100000 --repeat 5
    python -m engage.bench --json out.json --markdown out.md
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
from collections.abc import Sequence
from typing import Any

import engage
from engage.bench import accounts as bench_accounts
from engage.bench import flows, workloads
from engage.bench.generator import DEFAULT_ZIPF, activity_events
from engage.bench.memory import memory, realistic_memory
from engage.bench.report import machine, markdown, targets
from engage.bench.rulesets import threshold_rules, thresholds

__all__ = ["main", "parse_args", "run"]

WORKLOADS = (
    "throughput",
    "memory",
    "check",
    "time",
    "durability",
    "realistic",
    "accounts",
    "flow",
)

#: Full-size defaults: the sizes issues 2 and 3 name.
FULL: dict[str, Any] = {
    "rules": [10, 100, 1000],
    "contacts": [10_000, 100_000, 1_000_000],
    "base_contacts": 100_000,
    "base_rules": 100,
    "events_per_contact": 10,
    "layouts": ["spread", "dense"],
    "memory_contacts": 1_000_000,
    "check_rules": 1000,
    "time_contacts": 1_000_000,
    "time_events_per_contact": 3,
    "ticks": 180,
    "durability_contacts": 1_000_000,
    "log_contacts": 20_000,
    "log_events": 200_000,
    "log_every_events": 20_000,
    "state_dir": None,
    "realistic_contacts": 100_000,
    "realistic_events_per_contact": 10,
    "realistic_memory_contacts": 1_000_000,
    "flow_contacts": 1_000_000,
    "flow_policy": flows.DEFAULT_POLICY,
    "repeat": 3,
    "dense_repeat": 1,
    "accounts_contacts": 20_000,
    "accounts_events_per_contact": 10,
    "accounts_move_sizes": [1_000, 10_000, 100_000],
    "accounts_moves": 2_000,
    "accounts_naive_moves": 20,
}

#: ``--quick``: the same code paths at sizes that run in seconds.
QUICK: dict[str, Any] = {
    "rules": [10, 100],
    "contacts": [500, 2000],
    "base_contacts": 2000,
    "base_rules": 10,
    "events_per_contact": 5,
    "layouts": ["spread", "dense"],
    "memory_contacts": 2000,
    "check_rules": 50,
    "time_contacts": 500,
    "time_events_per_contact": 3,
    "ticks": 30,
    "durability_contacts": 2000,
    "log_contacts": 200,
    "log_events": 2000,
    "log_every_events": 300,
    "state_dir": None,
    "realistic_contacts": 1000,
    "realistic_events_per_contact": 5,
    "realistic_memory_contacts": 1000,
    "flow_contacts": 2000,
    "flow_policy": flows.DEFAULT_POLICY,
    "repeat": 1,
    "dense_repeat": 1,
    "accounts_contacts": 500,
    "accounts_events_per_contact": 5,
    "accounts_move_sizes": [100, 1_000],
    "accounts_moves": 100,
    "accounts_naive_moves": 5,
}


def _ints(text: str) -> list[int]:
    try:
        values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas: {text!r}"
        ) from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive numbers: {text!r}")
    return values


def _positive(text: str) -> int:
    return _ints(text)[0]


def _names(allowed: Sequence[str]) -> Any:
    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        unknown = [name for name in names if name not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(unknown) or 'empty'}; choose from {', '.join(allowed)}"
            )
        return names

    return parse


def parser() -> argparse.ArgumentParser:
    """The command line of ``engage bench``."""
    p = argparse.ArgumentParser(
        prog="engage bench",
        description="Benchmark engage on this machine against hand-written baselines "
        "(method: benchmarks/README.md).",
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes: runs in seconds")
    p.add_argument(
        "--only",
        type=_names(WORKLOADS),
        default=list(WORKLOADS),
        help="workloads to run, comma-separated: " + ", ".join(WORKLOADS),
    )
    p.add_argument("--rules", type=_ints, help="R values of the rules sweep (default 10,100,1000)")
    p.add_argument(
        "--contacts", type=_ints, help="contact counts of the contacts sweep (default 10k,100k,1M)"
    )
    p.add_argument(
        "--events", type=_positive, help="events per contact in the throughput workload (10)"
    )
    p.add_argument("--base-contacts", type=_positive, help="contacts of the rules sweep (100k)")
    p.add_argument("--base-rules", type=_positive, help="R of the contacts sweep (100)")
    p.add_argument(
        "--layouts",
        type=_names(("spread", "dense")),
        help="threshold layouts of the rules sweep (spread,dense)",
    )
    p.add_argument("--memory-contacts", type=_positive, help="contacts of the memory workload (1M)")
    p.add_argument("--check-rules", type=_positive, help="rules in the check-time file (1000)")
    p.add_argument("--time-contacts", type=_positive, help="contacts of the clock workload (1M)")
    p.add_argument(
        "--time-events", type=_positive, help="events per contact in the clock workload (3)"
    )
    p.add_argument("--ticks", type=_positive, help="one-day clock ticks (180)")
    p.add_argument(
        "--durability-contacts",
        type=_positive,
        help="contacts snapshotted and restored in the durability workload (1M)",
    )
    p.add_argument(
        "--log-events", type=_positive, help="events through the event log per run (200k)"
    )
    p.add_argument("--log-contacts", type=_positive, help="contacts of those events (20k)")
    p.add_argument(
        "--log-every-events",
        type=_positive,
        help="events of the fsync-every-event run, which is slow (20k)",
    )
    p.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where the durability workload writes its files (default: the temporary "
        "folder; fsync costs what the disk under it costs)",
    )
    p.add_argument(
        "--realistic-contacts", type=_positive, help="contacts of the realistic workload (100k)"
    )
    p.add_argument(
        "--realistic-events",
        type=_positive,
        help="events per contact in the realistic workload (10)",
    )
    p.add_argument(
        "--realistic-memory-contacts",
        type=_positive,
        help="contacts of the realistic workload's memory figure (1M)",
    )
    p.add_argument("--flow-contacts", type=_positive, help="contacts of the flow workload (1M)")
    p.add_argument(
        "--flow-policy",
        metavar="TEXT",
        help="the policy block of the flow workload's policy variant ('' to skip it)",
    )
    p.add_argument("--repeat", type=_positive, help="repeats; the best is reported (3)")
    p.add_argument(
        "--dense-repeat",
        type=_positive,
        help="repeats of the dense layout, which is output-bound and slow (1)",
    )
    p.add_argument("--seed", type=int, default=1, help="generator seed (1)")
    p.add_argument("--zipf", type=float, default=DEFAULT_ZIPF, help="activity power-law exponent")
    p.add_argument("--json", metavar="PATH", help="write the full results as JSON")
    p.add_argument("--markdown", metavar="PATH", help="write the report as markdown")
    p.add_argument(
        "--profile",
        action="store_true",
        help="also cProfile the engine's ingest_many at the base size and print the top",
    )
    p.add_argument("--progress", action="store_true", help="progress lines on stderr")
    return p


def parse_args(argv: Sequence[str] | None) -> dict[str, Any]:
    """The run's configuration: preset (full or quick) overridden by the flags."""
    args = parser().parse_args(argv)
    config = dict(QUICK if args.quick else FULL)
    overrides = {
        "rules": args.rules,
        "contacts": args.contacts,
        "events_per_contact": args.events,
        "base_contacts": args.base_contacts,
        "base_rules": args.base_rules,
        "layouts": args.layouts,
        "memory_contacts": args.memory_contacts,
        "check_rules": args.check_rules,
        "time_contacts": args.time_contacts,
        "time_events_per_contact": args.time_events,
        "ticks": args.ticks,
        "durability_contacts": args.durability_contacts,
        "log_events": args.log_events,
        "log_contacts": args.log_contacts,
        "log_every_events": args.log_every_events,
        "state_dir": args.state_dir,
        "realistic_contacts": args.realistic_contacts,
        "realistic_events_per_contact": args.realistic_events,
        "realistic_memory_contacts": args.realistic_memory_contacts,
        "repeat": args.repeat,
        "dense_repeat": args.dense_repeat,
        "flow_contacts": args.flow_contacts,
    }
    config.update({key: value for key, value in overrides.items() if value is not None})
    if args.flow_policy is not None:
        config["flow_policy"] = args.flow_policy or None  # '' skips the policy variant
    config.update(
        {
            "only": args.only,
            "quick": args.quick,
            "seed": args.seed,
            "zipf": args.zipf,
            "json": args.json,
            "markdown": args.markdown,
            "profile": args.profile,
            "progress": args.progress,
        }
    )
    return config


def run(config: dict[str, Any]) -> dict[str, Any]:
    """Run the selected workloads; returns the report dict (machine, config, results)."""

    def progress(line: str) -> None:
        if config["progress"]:
            print(line, file=sys.stderr, flush=True)

    report: dict[str, Any] = {
        "machine": machine(),
        "config": {k: v for k, v in config.items() if k not in ("json", "markdown", "progress")},
        "results": {},
    }
    results = report["results"]
    only = config["only"]
    if "throughput" in only:
        progress("throughput")
        results["throughput"] = workloads.throughput(
            rules_sweep=config["rules"],
            contacts_sweep=config["contacts"],
            base_contacts=config["base_contacts"],
            base_rules=config["base_rules"],
            events_per_contact=config["events_per_contact"],
            layouts=config["layouts"],
            repeat=config["repeat"],
            dense_repeat=config["dense_repeat"],
            seed=config["seed"],
            zipf=config["zipf"],
            progress=progress,
        )
    if "check" in only:
        progress("check")
        results["check"] = workloads.check_time(
            rules=config["check_rules"], repeat=config["repeat"], progress=progress
        )
    if "memory" in only:
        progress("memory")
        results["memory"] = memory(config["memory_contacts"])
    if "time" in only:
        progress("time")
        results["time"] = workloads.clock(
            contacts=config["time_contacts"],
            events_per_contact=config["time_events_per_contact"],
            ticks=config["ticks"],
            seed=config["seed"],
            zipf=config["zipf"],
            progress=progress,
        )
    if "durability" in only:
        progress("durability")
        results["durability"] = workloads.durability(
            contacts=config["durability_contacts"],
            log_contacts=config["log_contacts"],
            log_events=config["log_events"],
            every_events=config["log_every_events"],
            repeat=config["repeat"],
            seed=config["seed"],
            zipf=config["zipf"],
            folder=config["state_dir"],
            progress=progress,
        )
    if "realistic" in only:
        progress("realistic")
        results["realistic"] = workloads.realistic(
            contacts=config["realistic_contacts"],
            events_per_contact=config["realistic_events_per_contact"],
            repeat=config["repeat"],
            seed=config["seed"],
            zipf=config["zipf"],
            progress=progress,
        )
        progress("realistic: memory")
        results["realistic"]["memory"] = realistic_memory(
            config["realistic_memory_contacts"],
            events_per_contact=config["realistic_events_per_contact"],
            seed=config["seed"],
            zipf=config["zipf"],
        )
    if "accounts" in only:
        progress("accounts")
        results["accounts"] = bench_accounts.accounts(config, progress)
    if "flow" in only:
        progress("flow")
        results["flow"] = flows.flow(
            contacts=config["flow_contacts"],
            repeat=config["repeat"],
            policy=config["flow_policy"],
            progress=progress,
        )
        progress("flow: memory")
        results["flow"]["memory"] = flows.flow_memory(config["flow_contacts"])
    report["targets"] = targets(results, config)
    if "accounts" in results:
        report["targets"] += bench_accounts.targets(results["accounts"])
    return report


def profile_ingest(config: dict[str, Any], top: int = 30) -> str:
    """cProfile of one ``ingest_many`` at the base size (R = base rules, spread layout).

    For finding where the engine's time goes per event when a target is missed;
    cProfile slows Python code several times over, so read shares, not speeds.
    """
    contacts = config["base_contacts"]
    events = activity_events(
        contacts, contacts * config["events_per_contact"], seed=config["seed"], zipf=config["zipf"]
    )
    rules = engage.compile(threshold_rules(thresholds(config["base_rules"], "spread")))
    engine = engage.Engine(rules)
    profiler = cProfile.Profile()
    profiler.enable()
    engine.ingest_many(events)
    profiler.disable()
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer)
    stats.sort_stats("tottime").print_stats(top)
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``engage bench``; prints the markdown report; returns the exit code (0).

    The exit code is 0 whether or not targets are met (the contract says so: the
    report says what was met); a failed correctness check raises, as a wrong engine
    must not produce a speed figure.
    """
    config = parse_args(argv)
    report = run(config)
    text = markdown(report)
    print(text, end="")
    if config["markdown"]:
        with open(config["markdown"], "w", encoding="utf-8") as handle:
            handle.write(text)
    if config["json"]:
        with open(config["json"], "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1, sort_keys=True)
            handle.write("\n")
    if config["profile"]:
        print("\n## Profile of ingest_many (cProfile, by own time)\n\n```")
        print(profile_ingest(config), end="")
        print("```")
    return 0
