"""Crash test: ``engage run --state DIR`` killed with SIGKILL, resumed, compared.

    python benchmarks/crash_test.py                      # large: 1M events, 8 kills
    python benchmarks/crash_test.py --events 20000 --kills 3

1. Writes a seeded events file (power-law activity, profile updates; some records with
   ids, some without, so both dedupe paths are exercised).
2. Runs it once uninterrupted, without state, and keeps the ``--dump``.
3. Runs it into a state folder, killing the process with SIGKILL at random moments,
   resuming each time with the same command, then lets the last run finish.
4. The final dump must equal the uninterrupted one byte for byte.

The tests run a small version of this on every CI run (``tests/test_crash.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from engage.bench.generator import DAY, START, activity_events, profile_update

RULES = Path(__file__).resolve().parent.parent / "examples" / "engagement.rules"
#: The same rules with a campaign flow added (crash_flows.rules).
FLOW_RULES = Path(__file__).resolve().parent / "crash_flows.rules"


@dataclass
class CrashReport:
    """What a crash test did and found."""

    events: int
    kills: int = 0
    finished_before_kill: int = 0
    resumes: int = 0
    reference_seconds: float = 0.0
    identical: bool = False
    recovery_messages: list[str] = field(default_factory=list)

    def text(self) -> str:
        verdict = "identical" if self.identical else "DIFFERENT"
        return (
            f"{self.events:,} events, {self.kills} SIGKILLs mid-run "
            f"({self.finished_before_kill} runs finished before their kill), "
            f"{self.resumes} resumes; uninterrupted run {self.reference_seconds:.2f}s; "
            f"final dump {verdict}"
        )


def write_events(path: Path, *, contacts: int, events: int, seed: int) -> None:
    """A seeded events file: activity plus one profile update per tenth contact."""
    rng = random.Random(seed)
    stream = activity_events(contacts, events, seed=seed, span=60 * DAY)
    updates = [
        profile_update(index, rng, START + rng.uniform(0, 60 * DAY))
        for index in range(0, contacts, 10)
    ]
    records = sorted(stream + updates, key=lambda record: record["at"])
    with path.open("w", encoding="utf-8") as handle:
        for number, record in enumerate(records):
            with_id = {"id": f"x{number}", **record} if number % 2 == 0 else record
            handle.write(json.dumps(with_id) + "\n")


def _command(
    events: Path, dump: Path, state: Path | None, until: str, every: int, rules: Path = RULES
) -> list[str]:
    command = [sys.executable, "-m", "engage", "run", str(rules), "--events", str(events)]
    command += ["--until", until, "--dump", str(dump), "--no-actions"]
    if state is not None:
        command += ["--state", str(state), "--checkpoint-every", str(every)]
    return command


def crash_test(
    workdir: Path,
    *,
    contacts: int,
    events: int,
    kills: int,
    seed: int = 7,
    rules: Path = RULES,
) -> CrashReport:
    """Run the whole test in ``workdir``; returns the report (``identical`` is the verdict).

    ``rules``: the rules file (``FLOW_RULES`` adds a campaign flow, so that flow
    positions, waits and sends are part of what must come back identical).
    """
    rng = random.Random(seed)
    events_path = workdir / "events.jsonl"
    write_events(events_path, contacts=contacts, events=events, seed=seed)
    until = "2026-06-30T00:00:00Z"
    report = CrashReport(events=events)

    reference = workdir / "reference.jsonl"
    started = time.monotonic()
    subprocess.run(_command(events_path, reference, None, until, 0, rules), check=True)
    report.reference_seconds = time.monotonic() - started

    state = workdir / "state"
    dump = workdir / "resumed.jsonl"
    every = max(events // 7, 1000)
    command = _command(events_path, dump, state, until, every, rules)
    for _ in range(kills):
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.05, 1.0) * report.reference_seconds)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            report.kills += 1
        else:
            report.finished_before_kill += 1
        _, errors = process.communicate()
        report.resumes += 1
        report.recovery_messages += _state_lines(errors)
    final = subprocess.run(command, check=False, capture_output=True, text=True)
    if final.returncode != 0:
        raise RuntimeError(f"the final resumed run failed: {final.stderr}")
    report.recovery_messages += _state_lines(final.stderr)
    report.identical = reference.read_bytes() == dump.read_bytes()
    return report


def _state_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("state:")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--flows", action="store_true", help="the rules with a campaign flow")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="engage-crash-") as folder:
        report = crash_test(
            Path(folder),
            contacts=args.contacts,
            events=args.events,
            kills=args.kills,
            seed=args.seed,
            rules=FLOW_RULES if args.flows else RULES,
        )
    print(report.text())
    for message in report.recovery_messages:
        print("  " + message)
    return 0 if report.identical else 1


if __name__ == "__main__":
    if os.name != "posix":
        raise SystemExit("the crash test needs POSIX signals")
    raise SystemExit(main())
