#!/usr/bin/env python3
"""Events per second per slot of engage's Flink job, against a trivial step and in-process.

    python benchmarks/flink_bench.py --events 20000 --out DIR [--cluster] [--result PATH]

Runs, on the same generated events (two key-partitioned JSON Lines files):

1. the in-process engine (``Engine.ingest_many``) and a bare loop of ``step()``;
2. bytes of state per contact (``len(state)`` after the run) for each rules file;
3. Flink local mini-cluster, P=1: engage's step and a trivial step (JSON sum/count and
   one timer per key, as the PyFlink probe) in the same pipeline;
4. with ``--cluster``: a standalone cluster of one JobManager and two TaskManagers (one
   slot each, separate JVMs) from the wheel's scripts, engage's step at P=1 and P=2.

A job's rate is read from its tasks: records / (last record - first record), summed
over the tasks (per slot: divided by P). Each job runs in a child process (its own JVM).
Needs the ``engage[flink]`` extra and Java 11+; takes 2-4 minutes at 20,000 events.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUNDLED_RULES = os.path.join(ROOT, "examples", "engagement.rules")
T0 = 1_767_571_200.0  # 2026-01-05
TYPES = ["email.open"] * 5 + ["email.click"] * 2 + ["web.visit"] * 2 + ["form.submit"]
REST_PORT = 18481


def generate(n: int, out: str, files: int = 2, seed: int = 42) -> list[str]:
    """N time-ordered events over N/10 contacts and 90 days, split by contact."""
    rnd = random.Random(seed)
    contacts = max(1, n // 10)
    paths = [os.path.join(out, f"events-{i}.jsonl") for i in range(files)]
    handles = [open(p, "w", encoding="utf-8") for p in paths]  # noqa: SIM115
    everything = open(os.path.join(out, "events.jsonl"), "w", encoding="utf-8")  # noqa: SIM115
    for index in range(n):
        k = rnd.randrange(contacts)
        moment = T0 + index * (90 * 86_400 / n)
        record: dict[str, Any] = {
            "id": f"e{index}",
            "contact": f"c{k:06d}",
            "type": rnd.choice(TYPES),
            "at": moment,
        }
        if record["type"] == "web.visit":
            record["data"] = {"url": rnd.choice(["/pricing", "/blog", "/docs"])}
        line = json.dumps(record) + "\n"
        handles[k % files].write(line)
        everything.write(line)
    for handle in [*handles, everything]:
        handle.close()
    return paths


def in_process(rules_path: str, events_path: str) -> dict[str, Any]:
    """The engine's rate, a bare step() loop's rate, and state bytes per contact."""
    import engage
    from engage.engine.step import step

    rules = engage.load(rules_path)
    with open(events_path, encoding="utf-8") as handle:
        events = [json.loads(line) for line in handle]
    engine = engage.Engine(rules)
    started = time.perf_counter()
    engine.ingest_many([dict(e) for e in events])
    engine_s = time.perf_counter() - started
    states: dict[str, bytes] = {}
    started = time.perf_counter()
    for event in events:
        result = step(rules, states.get(event["contact"]), dict(event))
        if result.state is not None:
            states[event["contact"]] = result.state
    step_s = time.perf_counter() - started
    sizes = sorted(len(s) for s in states.values())
    return {
        "engine_events_per_s": round(len(events) / engine_s),
        "step_loop_events_per_s": round(len(events) / step_s),
        "state_bytes_mean": round(sum(sizes) / len(sizes), 1),
        "state_bytes_p50": sizes[len(sizes) // 2],
        "state_bytes_max": sizes[-1],
        "contacts": len(sizes),
    }


# -- the job (run in a child process: `flink_bench.py job ...`) ---------------------------


def job(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--step", choices=("engage", "trivial"), required=True)
    parser.add_argument("--rules", required=True)
    parser.add_argument("--events", action="append", required=True)
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    stats = os.path.join(args.out, "stats")
    tmp = os.path.join(args.out, "tmp")
    for directory in (stats, tmp, os.path.join(args.out, "log")):
        os.makedirs(directory, exist_ok=True)
    submitted = "PYFLINK_GATEWAY_PORT" in os.environ
    if not submitted:
        os.environ["JVM_ARGS"] = f"-Djava.io.tmpdir={tmp}"
        os.environ["FLINK_LOG_DIR"] = os.path.join(args.out, "log")
    from pyflink.common import Types
    from pyflink.datastream import StreamExecutionEnvironment

    from engage.scaleout import flink

    conf = flink.configure(
        work_dir=args.out,
        checkpoint_dir=os.path.join(args.out, "checkpoints"),
        submitted=submitted,
    )
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    events = flink.file_sources(env, args.events, 5000)
    if args.step == "engage":
        with open(args.rules, encoding="utf-8") as handle:
            rules = [(args.rules, handle.read())]
        options = flink.StageOptions(parallelism=args.parallelism, stats_dir=stats)
        actions = flink.engage_stage(events, rules, options).actions
    else:
        actions = (
            events.key_by(lambda e: e[0], key_type=Types.STRING())
            .process(TrivialStep(stats), output_type=Types.STRING())
            .set_parallelism(args.parallelism)
        )
    actions.sink_to(flink.jsonl_sink(os.path.join(args.out, "sink"), "out")).set_parallelism(
        args.parallelism
    )
    started = time.time()
    env.execute(f"bench-{args.step}")
    print("JOB_SECONDS", time.time() - started, flush=True)


def _trivial_base() -> Any:
    from pyflink.datastream import KeyedProcessFunction

    return KeyedProcessFunction


class TrivialStep(_trivial_base()):  # type: ignore[misc]
    """The probe's step: JSON {sum,count,last,wake} per key, one timer at last + 60 s."""

    def __init__(self, stats: str) -> None:
        self.stats = stats
        self.records = 0
        self.first: float | None = None
        self.last: float | None = None

    def open(self, runtime_context: Any) -> None:
        from pyflink.common import Types
        from pyflink.datastream.state import ValueStateDescriptor

        self.state = runtime_context.get_state(
            ValueStateDescriptor("s", Types.PICKLED_BYTE_ARRAY())
        )

    def process_element(self, value: Any, ctx: Any) -> Any:
        if self.first is None:
            self.first = time.time()
        self.records += 1
        raw = self.state.value()
        st = json.loads(raw) if raw else {"sum": 0, "count": 0, "last": 0, "wake": None}
        record = json.loads(value[2])
        st["sum"] += len(record["type"])
        st["count"] += 1
        st["last"] = max(st["last"], value[1])
        old, st["wake"] = st["wake"], st["last"] + 60_000
        self.state.update(json.dumps(st).encode())
        if old != st["wake"]:
            if old is not None:
                ctx.timer_service().delete_event_time_timer(old)
            ctx.timer_service().register_event_time_timer(st["wake"])
        self.last = time.time()
        yield json.dumps({"key": value[0], "sum": st["sum"], "count": st["count"]})

    def on_timer(self, timestamp: int, ctx: Any) -> Any:
        yield json.dumps({"key": ctx.get_current_key(), "dormant": timestamp})

    def close(self) -> None:
        name = f"task-{os.getpid()}-{id(self)}.json"
        with open(os.path.join(self.stats, name), "w", encoding="utf-8") as handle:
            json.dump({"records": self.records, "first": self.first, "last": self.last}, handle)


def rate(out: str, parallelism: int) -> dict[str, Any]:
    tasks = []
    for path in glob.glob(f"{out}/stats/*.json"):
        with open(path, encoding="utf-8") as handle:
            tasks.append(json.load(handle))
    tasks = [t for t in tasks if t["records"]]
    records = sum(t["records"] for t in tasks)
    span = max(t["last"] for t in tasks) - min(t["first"] for t in tasks)
    per_task = [round(t["records"] / max(t["last"] - t["first"], 1e-9)) for t in tasks]
    return {
        "records": records,
        "events_per_s": round(records / span),
        "events_per_s_per_slot": round(records / span / parallelism),
        "events_per_s_by_task": per_task,
    }


def run_job(args: argparse.Namespace, name: str, step: str, p: int, cluster: str | None) -> Any:
    out = os.path.join(args.out, name)
    script = [
        os.path.abspath(__file__),
        "job",
        "--step",
        step,
        "--rules",
        args.rules,
        "--parallelism",
        str(p),
        "--out",
        out,
    ]
    for path in args.inputs:
        script += ["--events", path]
    if cluster is None:
        argv = [sys.executable, *script]
        env = None
    else:
        argv = [
            os.path.join(cluster, "bin", "flink"),
            "run",
            "-m",
            f"localhost:{REST_PORT}",
            "-py",
            script[0],
            "-pyexec",
            sys.executable,
            "-pyclientexec",
            sys.executable,
            *script[1:],
        ]
        conf = os.path.join(args.out, f"cluster-p{p}", "conf")
        env = dict(os.environ, FLINK_CONF_DIR=conf)
    started = time.time()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"{name} failed")
    result = rate(out, p)
    result["wall_s"] = round(time.time() - started, 1)
    print(name, json.dumps(result), flush=True)
    return result


def start_cluster(out: str) -> tuple[str, dict[str, str]]:
    """JobManager + two one-slot TaskManagers; pid files and logs under ``out``."""
    import pyflink

    home = os.path.dirname(os.path.abspath(pyflink.__file__))
    conf = os.path.join(out, "conf")
    shutil.copytree(os.path.join(home, "conf"), conf)
    tmp = os.path.join(out, "tmp")
    for sub in ("tmp", "log", "pid"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    path = os.path.join(conf, "config.yaml")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    text = text.replace("all: --add-exports", f"all: -Djava.io.tmpdir={tmp} --add-exports", 1)
    engage_root = os.path.join(ROOT, "src")
    text += (
        f"\nrest.port: {REST_PORT}\nio.tmp.dirs: {tmp}\n"
        f"python.pythonpath: {sysconfig.get_paths()['purelib']}{os.pathsep}{engage_root}\n"
    )
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    env = dict(
        os.environ,
        FLINK_CONF_DIR=conf,
        FLINK_LOG_DIR=os.path.join(out, "log"),
        FLINK_PID_DIR=os.path.join(out, "pid"),
    )
    bin_dir = os.path.join(home, "bin")
    subprocess.run([os.path.join(bin_dir, "jobmanager.sh"), "start"], env=env, check=True)
    for _ in range(2):
        subprocess.run([os.path.join(bin_dir, "taskmanager.sh"), "start"], env=env, check=True)
    time.sleep(8)
    return home, env


def stop_cluster(home: str, env: dict[str, str]) -> None:
    """Stops the daemons of this cluster only (their pid files are under its folder)."""
    bin_dir = os.path.join(home, "bin")
    subprocess.run([os.path.join(bin_dir, "taskmanager.sh"), "stop-all"], env=env, check=False)
    subprocess.run([os.path.join(bin_dir, "jobmanager.sh"), "stop-all"], env=env, check=False)


def main() -> None:
    if sys.argv[1:2] == ["job"]:
        job(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rules", default=BUNDLED_RULES)
    parser.add_argument("--out", required=True, help="work folder (must not exist)")
    parser.add_argument("--cluster", action="store_true", help="also P=1/P=2 on 2 TaskManagers")
    parser.add_argument("--result", help="write the results as JSON here")
    args = parser.parse_args()
    args.rules = os.path.abspath(args.rules)
    args.out = os.path.abspath(args.out)
    os.makedirs(args.out)
    args.inputs = generate(args.events, args.out)
    from engage.bench.rulesets import time_rules

    time_rules_path = os.path.join(args.out, "time.rules")
    with open(time_rules_path, "w", encoding="utf-8") as handle:
        handle.write(time_rules())
    everything = os.path.join(args.out, "events.jsonl")
    results: dict[str, Any] = {
        "events": args.events,
        "contacts": args.events // 10,
        "rules": os.path.relpath(args.rules, ROOT),
        "cpus": os.cpu_count(),
        "in_process": in_process(args.rules, everything),
        "in_process_bench_time_rules": in_process(time_rules_path, everything),
    }
    print(json.dumps(results, indent=1), flush=True)
    flink: dict[str, Any] = {}
    flink["minicluster_p1_engage"] = run_job(args, "mini-p1-engage", "engage", 1, None)
    flink["minicluster_p1_trivial"] = run_job(args, "mini-p1-trivial", "trivial", 1, None)
    if args.cluster:
        # A fresh cluster per job: on Java 17 a TaskManager cannot load the embedded
        # Python (pemja) for a second job ("NoSuchFieldException: loadedLibraryNames").
        for p in (1, 2):
            home, env = start_cluster(os.path.join(args.out, f"cluster-p{p}"))
            try:
                name = f"cluster-p{p}-engage"
                flink[name.replace("-", "_")] = run_job(args, name, "engage", p, home)
            finally:
                stop_cluster(home, env)
    results["flink"] = flink
    engage_rate = flink["minicluster_p1_engage"]["events_per_s_per_slot"]
    trivial_rate = flink["minicluster_p1_trivial"]["events_per_s_per_slot"]
    results["engage_vs_trivial"] = round(engage_rate / trivial_rate, 2)
    print(json.dumps(results, indent=1))
    if args.result:
        with open(args.result, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=1)
            handle.write("\n")


if __name__ == "__main__":
    main()
