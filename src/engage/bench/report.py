"""The report: machine facts, targets, and the markdown tables printed by ``engage bench``.

Results are only comparable with the machine they ran on, so the machine is captured
automatically (CPU model and count, Python build, memory, engage version and git commit)
and printed with every report. The same dict is written as JSON (``--json``); the
markdown is a rendering of it, never a second source.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import engage
from engage.bench import flows


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_total() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def _git(*args: str) -> str | None:
    folder = os.path.dirname(os.path.abspath(__file__))
    try:
        done = subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, check=False, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def machine() -> dict[str, Any]:
    """Facts about the machine and the build, captured at the start of the run."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 0
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "memory_bytes": _memory_total(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "python_build": " ".join(platform.python_build()),
        "compiler": platform.python_compiler(),
        "engage": engage.__version__,
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        # Paths as base names: results are committed, and where a file went on the
        # machine that ran them says nothing about the figures.
        "argv": [os.path.basename(arg) if os.sep in arg else arg for arg in sys.argv[1:]],
    }


# -- targets ---------------------------------------------------------------------------


def _row(rows: Sequence[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    for row in rows:
        if all(row.get(key) == value for key, value in match.items()):
            return row
    return None


def _growth_target(
    small: dict[str, Any], big: dict[str, Any], label: str, limit: float
) -> dict[str, Any]:
    """A cost-growth target: paired rounds' median when measured, else best-of / best-of."""
    growth = big["engine_ns_per_event"] / small["engine_ns_per_event"]
    if "paired_growth_median" in big:
        growth = big["paired_growth_median"]
        label += ", paired rounds, median"
    return {"target": label, "want": f"<= {limit}", "value": growth, "met": growth <= limit}


def targets(results: dict[str, Any], config: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 2's and issue 3's targets, each with the measured value and whether it is met.

    A target whose inputs were not measured in this run (a workload left out, other
    sizes) is left out: a target is only judged at the size it names. Rows with
    ``met`` None are informational: a figure without a target (the durability costs).
    """
    out: list[dict[str, Any]] = []
    tput = results.get("throughput")
    if tput:
        rules_rows = tput["rules_sweep"]
        contacts_rows = tput["contacts_sweep"]
        row = _row(rules_rows, layout="spread", rules=100, contacts=100_000)
        if row:
            out.append(
                {
                    "target": "throughput ratio engine/baseline at R=100, 100k contacts",
                    "want": ">= 0.25",
                    "value": row["ratio"],
                    "met": row["ratio"] >= 0.25,
                }
            )
        low = _row(rules_rows, layout="spread", rules=10, contacts=config["base_contacts"])
        high = _row(rules_rows, layout="spread", rules=1000, contacts=config["base_contacts"])
        if low and high:
            out.append(
                _growth_target(low, high, "per-event cost R=1000 / R=10 (spread thresholds)", 1.25)
            )
        small = _row(contacts_rows, contacts=10_000)
        big = _row(contacts_rows, contacts=1_000_000)
        if small and big:
            out.append(
                _growth_target(small, big, "per-event cost 1M contacts / 10k contacts (R=100)", 1.5)
            )
    mem = results.get("memory")
    if mem and mem["contacts"] == 1_000_000:
        value = mem["bytes_per_contact"]
        out.append(
            {
                "target": "bytes per contact at 1M (1 score, 2 fields, 2 tags)",
                "want": "<= 600",
                "value": value,
                "met": value <= 600,
            }
        )
    chk = results.get("check")
    if chk and chk["rules"] == 1000:
        value = chk.get("cli_median_seconds")
        label = "`engage check` of 1,000 rules (seconds, wall, median)"
        if value is None:
            value = max(
                v for v in (chk["warm_seconds"], chk["cold_compile_seconds"]) if v is not None
            )
            label = "parse + check + compile of 1,000 rules (seconds, cold)"
        out.append(
            {
                "target": label,
                "want": "< 1",
                "value": value,
                "met": value < 1.0,
            }
        )
    clk = results.get("time")
    if clk:
        out.append(
            {
                "target": "clock: engine finds the naive rescan's transitions, tick by tick",
                "want": "equal",
                "value": "equal" if clk["verified"] else f"{len(clk['mismatches'])}+ ticks differ",
                "met": clk["verified"],
            }
        )
        if clk["speedup"] is not None:
            out.append(
                {
                    "target": "clock: naive rescan time / engine time over all ticks",
                    "want": "> 1",
                    "value": clk["speedup"],
                    "met": clk["speedup"] > 1,
                }
            )
    dur = results.get("durability")
    if dur:
        snap = dur["snapshot"]
        out.append(
            {
                "target": "durability: restored engine's dump() equals the original's",
                "want": "equal",
                "value": "equal" if snap["verified"] else "differs",
                "met": snap["verified"],
            }
        )
        if snap["contacts"] == 1_000_000:
            for name in ("snapshot", "restore"):
                out.append(
                    {
                        "target": f"durability: {name} of 1M contacts (seconds)",
                        "want": "(info)",
                        "value": snap[f"{name}_seconds"],
                        "met": None,
                    }
                )
        for row in dur["log"]["rows"]:
            if row["fsync"] is not None:
                out.append(
                    {
                        "target": f"durability: events/s with the log, fsync {row['policy']}"
                        f" / without (same {row['events']:,} events)",
                        "want": "(info)",
                        "value": row["ratio"],
                        "met": None,
                    }
                )
    real = results.get("realistic")
    if real:
        out.append(
            {
                "target": "realistic: engine fires the hand-written loop's actions, contact by "
                "contact",
                "want": "equal",
                "value": "equal" if real["verified"] else "differs",
                "met": real["verified"],
            }
        )
        out.append(
            {
                "target": f"realistic: engine/loop events/s ({real['contacts']:,} contacts)",
                "want": "(info)",
                "value": real["ratio"],
                "met": None,
            }
        )
        out.append(
            {
                "target": "realistic: engine events/s / threshold loop's (R=100) on the same "
                "events",
                "want": "(info)",
                "value": real["ratio_to_threshold_baseline"],
                "met": None,
            }
        )
        mem_real = real.get("memory")
        if mem_real:
            out.append(
                {
                    "target": f"realistic: bytes per contact at {mem_real['contacts']:,}",
                    "want": "(info)",
                    "value": mem_real["bytes_per_contact"],
                    "met": None,
                }
            )
    if results.get("flow"):
        out += flows.targets(results["flow"])
    return out


# -- markdown --------------------------------------------------------------------------


def _n(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or digits == 0:
        return f"{round(value):,}"
    return f"{value:,.{digits}f}"


def _gb(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**30:.1f} GiB"


def markdown(report: dict[str, Any]) -> str:
    """The whole report as markdown (what ``engage bench`` prints)."""
    m = report["machine"]
    lines = [
        "# engage bench",
        "",
        f"- date: {m['date']}; engage {m['engage']} (git {m['git_commit'] or '-'}"
        f"{', uncommitted changes' if m['git_dirty'] else ''})",
        f"- machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), "
        f"{_gb(m['memory_bytes'])}, {m['os']}",
        f"- Python {m['python']} ({m['implementation']}, {m['compiler']})",
        f"- config: {_config_line(report['config'])}",
        "",
    ]
    goals = report.get("targets") or []
    if goals:
        lines += ["## Targets", "", "| target | want | measured | met |", "|---|---|---|---|"]
        for goal in goals:
            value = goal["value"]
            shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
            lines.append(f"| {goal['target']} | {goal['want']} | {shown} | {_met(goal['met'])} |")
        lines.append("")
    results = report["results"]
    if "throughput" in results:
        lines += _throughput_md(results["throughput"])
    if "memory" in results:
        lines += _memory_md(results["memory"])
    if "check" in results:
        lines += _check_md(results["check"])
    if "time" in results:
        lines += _time_md(results["time"])
    if "durability" in results:
        lines += _durability_md(results["durability"])
    if "realistic" in results:
        lines += _realistic_md(results["realistic"])
    if "accounts" in results:
        from engage.bench.accounts import markdown as accounts_md  # noqa: PLC0415

        lines += accounts_md(results["accounts"])
    if "flow" in results:
        lines += flows.markdown(results["flow"])
    return "\n".join(lines) + "\n"


def _met(met: bool | None) -> str:
    if met is None:
        return "-"
    return "yes" if met else "**no**"


def _config_line(config: dict[str, Any]) -> str:
    keys = ("repeat", "dense_repeat", "seed", "zipf", "events_per_contact", "only", "quick")
    return ", ".join(f"{key}={config[key]}" for key in keys if key in config)


def _throughput_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    out = [
        "| layout | R | contacts | events | engine ev/s | baseline ev/s | ratio "
        "| engine ns/ev | firings/ev | best of | checked |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['layout']} | {r['rules']:,} | {r['contacts']:,} | {r['events']:,} "
            f"| {_n(r['engine_events_per_second'])} | {_n(r['baseline_events_per_second'])} "
            f"| {r['ratio']:.3f} | {_n(r['engine_ns_per_event'])} "
            f"| {r['firings_per_event']:.4f} | {len(r['engine_repeats'])} "
            f"| {'yes' if r['verified'] else 'no'} |"
        )
    return out


def _throughput_md(t: dict[str, Any]) -> list[str]:
    mix = ", ".join(f"{k} {v:,}" for k, v in sorted(t["event_mix"].items(), key=lambda kv: -kv[1]))
    lines = [
        "## Throughput: `when score >= k then tag` rules through `ingest_many`",
        "",
        f"Events per contact: {t['events_per_contact']}; Zipf exponent {t['zipf']}; "
        f"event mix (one list): {mix}.",
        "ratio = engine events/s / baseline events/s (baseline: dict of scores + bisect, "
        "same run).",
        "",
        "### Rules sweep",
        "",
        *_throughput_table(t["rules_sweep"]),
        "",
        *_paired_md(t["rules_sweep"], "rules"),
        "### Contacts sweep",
        "",
        *_throughput_table(t["contacts_sweep"]),
        "",
        *_paired_md(t["contacts_sweep"], "contacts"),
    ]
    return lines


def _paired_md(rows: Sequence[dict[str, Any]], sweep: str) -> list[str]:
    big = next((r for r in rows if "paired_growth" in r), None)
    if big is None:
        return []
    if sweep == "rules":
        cell = f"R={big['rules']:,}"
        smallest = f"R={min(r['rules'] for r in rows):,}"
    else:
        cell = f"{big['contacts']:,}-contact"
        smallest = f"{min(r['contacts'] for r in rows):,}-contact"
    rounds = ", ".join(f"{g:.2f}" for g in big["paired_growth"])
    beside = (
        "the same chunk through the R=10 engine"
        if sweep == "rules"
        else f"a whole run of the {smallest} cell in a process of its own"
    )
    return [
        f"Paired rounds: each repeat of the {cell} cell ran in chunks, each beside "
        f"{beside}, and is compared with what the small cell's per-event cost gives "
        f"for the same events; per-event cost growth by round: {rounds} "
        f"(median {big['paired_growth_median']:.3f}).",
        "",
    ]


def _memory_md(mem: dict[str, Any]) -> list[str]:
    inside = mem["tracemalloc"]
    outside = mem["rss"]
    lines = [
        "## Memory per contact (1 score, 2 fields, 2 tags)",
        "",
        f"Contacts: {mem['contacts']:,}.",
        "",
        "| measure | bytes/contact | with score index built |",
        "|---|---:|---:|",
        f"| tracemalloc (live Python blocks) | {_n(inside['bytes_per_contact'])} "
        f"| {_n(inside['bytes_per_contact_indexed'])} |",
        f"| RSS delta (fresh process) | {_n(outside.get('bytes_per_contact'))} "
        f"| {_n(outside.get('bytes_per_contact_indexed'))} |",
        "",
        "One contact, object by object (`sys.getsizeof`, shared strings not counted): "
        + ", ".join(f"{k} {_n(v)}" for k, v in inside["breakdown"].items()),
        "",
    ]
    return lines


def _check_md(c: dict[str, Any]) -> list[str]:
    return [
        "## Check time: parse + check + compile",
        "",
        f"A generated file of {c['rules']:,} rules ({c['lines']:,} lines, {c['bytes']:,} bytes, "
        f"{c['warnings']} warnings).",
        "",
        "| measure | seconds |",
        "|---|---:|",
        f"| `engage.compile`, warm (best of {len(c['warm_repeats'])}) | {c['warm_seconds']:.3f} |",
        "| `engage.compile`, fresh interpreter (grammar built) "
        f"| {_n(c['cold_compile_seconds'], 3)} |",
        "| import of the rules compiler (`engage.rules`), fresh interpreter "
        f"| {_n(c['cold_import_seconds'], 3)} |",
        f"| `engage check FILE`, wall, best of {len(c.get('cli_runs') or ())} "
        f"| {_n(c['cli_seconds'], 3)} |",
        f"| `engage check FILE`, wall, median | {_n(c.get('cli_median_seconds'), 3)} |",
        "",
    ]


def _time_md(t: dict[str, Any]) -> list[str]:
    fit = t["engine_fit"]
    naive = t["naive_fit"]
    lines = [
        "## Clock: valuation classes and decaying scores over "
        f"{t['ticks']} ticks of {t['tick_seconds'] / 86400:g} day",
        "",
        f"{t['contacts']:,} contacts, {t['events']:,} events ingested in "
        f"{t['ingest_seconds']:.1f} s "
        f"({_n(t['ingest_events_per_second'])} events/s on the full path, "
        f"{t['ingest_firings']:,} actions); then the clock advanced tick by tick.",
        "",
        "| | engine | naive rescan |",
        "|---|---:|---:|",
        f"| total time over all ticks (s) | {t['engine_seconds']:.2f} | {t['naive_seconds']:.2f} |",
        f"| time per tick, mean (ms) | {t['engine_seconds'] / t['ticks'] * 1e3:.1f} "
        f"| {t['naive_seconds'] / t['ticks'] * 1e3:.1f} |",
        f"| fixed cost per tick, fitted (ms) | {_ms(fit['intercept'])} "
        f"| {_ms(naive['intercept'])} |",
        f"| cost per transition, fitted (µs) | {_us(fit['slope'])} | {_us(naive['slope'])} |",
        f"| r² of time vs transitions | {_n(fit['r2'], 3)} | {_n(naive['r2'], 3)} |",
        "",
        f"Speed-up of the engine over the naive rescan: **{_n(t['speedup'], 1)}x**. "
        f"Firings {t['firings']:,}; transitions (rule truth changes) "
        f"{t['transitions']:,} over {t['contact_ticks']:,} contact-ticks; engine "
        f"{_n(t['engine_us_per_transition'], 2)} µs per transition; naive "
        f"{_n(t['naive_ns_per_contact_tick'])} ns per contact-tick. Ticks with no "
        f"transition: {t['quiet_ticks']} (engine's slowest of them: "
        f"{_ms(t['engine_max_quiet_tick_seconds'])} ms). "
        f"Transitions equal tick by tick: {'yes' if t['verified'] else '**no**'}.",
        "",
        "Per tick, grouped by 30 days:",
        "",
        "| ticks | transitions | firings | engine (ms) | naive (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    rows = t["per_tick"]
    for first in range(0, len(rows), 30):
        chunk = rows[first : first + 30]
        lines.append(
            f"| {chunk[0]['tick']}-{chunk[-1]['tick']} | {sum(r['transitions'] for r in chunk):,} "
            f"| {sum(r['firings'] for r in chunk):,} "
            f"| {sum(r['engine_seconds'] for r in chunk) * 1e3:,.1f} "
            f"| {sum(r['naive_seconds'] for r in chunk) * 1e3:,.0f} |"
        )
    lines.append("")
    return lines


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1e3:.2f}"


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value * 1e6:.2f}"


def _durability_md(d: dict[str, Any]) -> list[str]:
    snap = d["snapshot"]
    log = d["log"]
    folder = f" on {d['filesystem']}" if d.get("filesystem") else ""
    lines = [
        "## Durability: snapshot, restore, and the event log",
        "",
        f"{snap['contacts']:,} contacts with one score, two fields and two tags "
        f"(examples-like rules: decaying clamped score, recency classes, a segment, a "
        f"`when` rule; {snap['pending_timers']:,} pending wake-ups), built in "
        f"{snap['build_seconds']:.1f} s. Files written to a temporary folder{folder}.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| `engine.snapshot(path)` (s, best of {len(snap['snapshot_repeats'])}) "
        f"| {snap['snapshot_seconds']:.3f} |",
        f"| `Engine.restore(path, rules)` (s, best of {len(snap['restore_repeats'])}) "
        f"| {snap['restore_seconds']:.3f} |",
        f"| snapshot contacts/s | {_n(snap['snapshot_contacts_per_second'])} |",
        f"| restore contacts/s | {_n(snap['restore_contacts_per_second'])} |",
        f"| snapshot size (bytes) | {snap['bytes']:,} |",
        f"| bytes per contact | {snap['bytes_per_contact']:.1f} |",
        f"| restored `dump()` equals the original's | {'yes' if snap['verified'] else '**no**'} |",
        "",
        f"Event log: `ingest_many` of {log['events']:,} events (ids, {log['contacts']:,} "
        "contacts, the same rules) on a fresh engine without a log and on one opened from "
        "a fresh state folder (`StateDir`) with each fsync policy (interval "
        f'{log["interval_ms"]:g} ms). fsync `every` (Python `"always"`) syncs per event, '
        f"so it runs on the first {log['every_events']:,} events only, beside a no-log run "
        "of those same events. ratio = events/s with the log / events/s without; log "
        "cost = extra µs per event. The logged engine's state equals the unlogged one's, "
        "and its log reads back one intact frame per event (checked).",
        "",
        "| fsync | events | events/s | ratio | log cost (µs/ev) | log bytes/ev | best of "
        "| checked |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in log["rows"]:
        per_event = None if r["log_bytes"] is None else r["log_bytes"] / r["events"]
        lines.append(
            f"| {r['policy'] if r['fsync'] else 'no log'} | {r['events']:,} "
            f"| {_n(r['events_per_second'])} | {r['ratio']:.3f} "
            f"| {_n(r['log_us_per_event'], 1)} | {_n(per_event, 1)} | {len(r['repeats'])} "
            f"| {'yes' if r['verified'] else 'no'} |"
        )
    lines.append("")
    return lines


def _realistic_md(r: dict[str, Any]) -> list[str]:
    mix = ", ".join(f"{k} {v:,}" for k, v in sorted(r["event_mix"].items(), key=lambda kv: -kv[1]))
    fired = ", ".join(
        f"{k} {v:,}" for k, v in sorted(r["firings_by_rule"].items(), key=lambda kv: -kv[1])
    )
    repeats = len(r["engine_repeats"])
    lines = [
        "## Realistic rules: a marketing team's file beside the same rules by hand",
        "",
        f"{r['rules']} rules, 2 scores, 1 segment; {r['contacts']:,} contacts, "
        f"{r['events']:,} events ({r['events_per_contact']} per contact, Zipf {r['zipf']}); "
        f"mix: {mix}.",
        "",
        "| side | events/s | ns/event | ratio to engine | best of |",
        "|---|---:|---:|---:|---:|",
        f"| engine (`ingest_many`) | {_n(r['engine_events_per_second'])} "
        f"| {_n(r['engine_ns_per_event'])} | 1 | {repeats} |",
        f"| hand-written loop, same rules | {_n(r['baseline_events_per_second'])} "
        f"| {_n(r['baseline_ns_per_event'])} | {1 / r['ratio']:.1f}x faster | {repeats} |",
        f"| threshold loop (R=100), same events | "
        f"{_n(r['threshold_baseline_events_per_second'])} "
        f"| {_n(r['threshold_baseline_seconds'] / r['events'] * 1e9)} "
        f"| {1 / r['ratio_to_threshold_baseline']:.1f}x faster | {repeats} |",
        "",
        f"ratio engine/loop **{r['ratio']:.4f}**; engine / threshold loop "
        f"**{r['ratio_to_threshold_baseline']:.4f}**. Checked: "
        f"{'the same actions, contact by contact' if r['verified'] else 'no'} "
        f"({r['firings']:,} actions, {r['firings_per_event']:.4f} per event: {fired}).",
        "",
    ]
    mem = r.get("memory")
    if mem:
        lines += [
            f"Memory with these rules, {mem['contacts']:,} contacts after "
            f"{mem['events_per_contact']} events each: tracemalloc "
            f"{_n(mem['tracemalloc_bytes_per_contact'])} bytes/contact, RSS delta "
            f"{_n(mem['rss_bytes_per_contact'])} bytes/contact.",
            "",
        ]
    return lines
