"""The flow workload of ``engage bench`` (issue 15): contacts through a 5-step flow.

Every contact joins the flow's segment by one ``contact.updated`` event (the entries are
spread over one day), then the clock moves an hour at a time until every contact has
finished::

    flow onboarding {
        for segment nuevos
        wait 1 day
        send email "welcome"
        wait 2 days
        send sms "reminder"
        notify sales
    }

Four sides, interleaved in each repeat, on the same event list and the same clock moves:

- **engine**: a fresh :class:`engage.Engine` with the flow: ``ingest_many`` of the events,
  then ``advance`` once per tick;
- **loop**: :class:`FlowLoop`, the hand-written baseline the issue names: a heap of
  wake-up times and a dict of positions, interpreting the same five steps, before each
  event popping the wake-ups due by its time, as the engine does;
- **no flow**: the engine on the same events and ticks with the same declarations but no
  flow, which says how much of the engine's time is the flow's own;
- **policy** (when a policy block text is given and parses): the engine with the flow
  and the policy, against the engine with the flow alone.

Checked outside the timed sections: the engine's sends (``send_*`` and ``notify``
actions: contact, verb, argument, time) are the loop's, by count and by a SHA-256
digest of the sorted list; every contact finished the flow.

Cost per contact-step is a side's time over ``contacts x 5``; the target (engine within
3x of the loop) is judged on the ratio of the two, measured in the same run.

Memory (:func:`flow_memory`): bytes per contact of the same contacts with and without
the flow, after they entered it and wait at its first ``wait`` (tracemalloc in this
process, RSS delta in a fresh interpreter, the larger of each is the figure); the
difference is what waiting in a flow costs beyond the contact.
"""

from __future__ import annotations

import gc
import hashlib
import heapq
import json
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, Final

import engage
from engage.bench.generator import DAY, START, contact_id
from engage.bench.memory import _rss
from engage.bench.timing import timed
from engage.errors import RulesError

#: The declarations both engine sides share: a field and the segment the flow enters from.
DECLARATIONS: Final = """\
fields { plan: text }
segment nuevos = plan == "new"
"""

#: The flow: five steps, two of them waits, three of them outside actions.
FLOW: Final = """\
flow onboarding {
    for segment nuevos
    wait 1 day
    send email "welcome"
    wait 2 days
    send sms "reminder"
    notify sales
}
"""

FLOW_RULES: Final = DECLARATIONS + FLOW

#: The steps of :data:`FLOW` as the loop reads them: ("wait", seconds) or (verb, arg).
LOOP_STEPS: Final[tuple[tuple[str, Any], ...]] = (
    ("wait", 1 * DAY),
    ("send_email", "welcome"),
    ("wait", 2 * DAY),
    ("send_sms", "reminder"),
    ("notify", "sales"),
)
STEPS: Final = len(LOOP_STEPS)

#: The policy of the policy variant (LANGUAGE.md section 6). Its caps never bind for
#: one e-mail and one SMS per contact, and no send falls in its quiet hours (entries lie
#: between 08:00 and 20:00 UTC and the waits are whole days, so sends do too): what it
#: measures is the cost of checking, not of holding or dropping.
DEFAULT_POLICY: Final = """\
policy {
    timezone "UTC"
    email at most 3 per 7 days
    sms at most 1 per 1 day
    any at most 5 per 7 days
    quiet hours 21:00 to 08:00
}
"""

#: Sends as compared: (contact, verb, argument, time).
Send = tuple[str, str, str, float]

#: The verbs that count as sends in the comparison.
SEND_VERBS: Final = frozenset({"send_email", "send_sms", "notify"})

#: Entries lie in [START + 8 h, START + 20 h): daytime, outside the policy's quiet hours.
ENTRY_START: Final = START + 8 * 3600.0
ENTRY_SPAN: Final = 12 * 3600.0
TICK: Final = 3600.0


def flow_events(contacts: int) -> list[dict[str, Any]]:
    """One ``contact.updated`` per contact putting it in the flow's segment, in time order."""
    step = ENTRY_SPAN / contacts
    return [
        {
            "contact": contact_id(i),
            "type": "contact.updated",
            "at": ENTRY_START + i * step,
            "data": {"plan": "new"},
        }
        for i in range(contacts)
    ]


def _lazy_events(contacts: int) -> Iterator[dict[str, Any]]:
    """:func:`flow_events` made one at a time (the memory figures must not count a list)."""
    step = ENTRY_SPAN / contacts
    for i in range(contacts):
        yield {
            "contact": contact_id(i),
            "type": "contact.updated",
            "at": ENTRY_START + i * step,
            "data": {"plan": "new"},
        }


def flow_ticks() -> list[float]:
    """The clock moves after the events: every hour until a day after the last send."""
    end = ENTRY_START + ENTRY_SPAN + 4 * DAY
    first = (ENTRY_START + ENTRY_SPAN) // TICK * TICK + TICK
    count = int((end - first) // TICK) + 1
    return [first + i * TICK for i in range(count)]


class FlowLoop:
    """The baseline: the flow by hand, a heap of wake-up times and a dict of positions.

    ``positions`` maps a contact to the index of the step it is at; ``heap`` holds
    ``(wake-up, contact)`` for contacts in a wait. A contact enters when an event sets
    its plan to "new" and it has never entered (a flow without ``re-enter``); the steps
    run as the engine runs them: a wait ends at its start plus its length, sends go out
    at the moment the wait before them ends. Sends are written as plain tuples.
    """

    __slots__ = ("entered", "heap", "positions", "sends")

    def __init__(self) -> None:
        self.positions: dict[str, int] = {}
        self.entered: set[str] = set()
        self.heap: list[tuple[float, str]] = []
        self.sends: list[Send] = []

    def _run(self, contact: str, pc: int, now: float) -> None:
        steps = LOOP_STEPS
        sends = self.sends
        while pc < STEPS:
            verb, arg = steps[pc]
            if verb == "wait":
                self.positions[contact] = pc + 1
                heapq.heappush(self.heap, (now + arg, contact))
                return
            sends.append((contact, verb, arg, now))
            pc += 1
        del self.positions[contact]

    def _due(self, now: float) -> None:
        heap = self.heap
        positions = self.positions
        while heap and heap[0][0] <= now:
            wake, contact = heapq.heappop(heap)
            self._run(contact, positions[contact], wake)

    def ingest(self, events: Sequence[dict[str, Any]]) -> None:
        entered = self.entered
        for event in events:
            at = event["at"]
            if self.heap and self.heap[0][0] <= at:
                self._due(at)
            contact = event["contact"]
            if event["data"].get("plan") == "new" and contact not in entered:
                entered.add(contact)
                self._run(contact, 0, at)

    def advance(self, now: float) -> None:
        self._due(now)


def run_loop(events: Sequence[dict[str, Any]], ticks: Sequence[float]) -> list[Send]:
    """The baseline's whole run: the events, then every tick; returns its sends."""
    loop = FlowLoop()
    loop.ingest(events)
    for tick in ticks:
        loop.advance(tick)
    return loop.sends


def run_engine(
    rules: engage.Rules, events: Sequence[dict[str, Any]], ticks: Sequence[float]
) -> tuple[engage.Engine, list[engage.Action]]:
    """A fresh engine's whole run: ``ingest_many`` of the events, then ``advance`` per
    tick; returns the engine and every action."""
    engine = engage.Engine(rules, max_future=None)
    actions = engine.ingest_many(events)
    for tick in ticks:
        actions += engine.advance(tick)
    return engine, actions


def engine_sends(actions: Sequence[engage.Action]) -> list[Send]:
    """The engine's sends in the loop's form (sends a policy stopped or held excluded)."""
    return [
        (a.contact, a.action, a.args[0], a.time)
        for a in actions
        if a.action in SEND_VERBS and a.suppressed is None and a.held_until is None
    ]


def digest(sends: Sequence[Send]) -> str:
    """SHA-256 of the sorted sends: equal digests mean the same sends at the same times."""
    h = hashlib.sha256()
    for contact, verb, arg, at in sorted(sends):
        h.update(f"{contact}|{verb}|{arg}|{at!r}\n".encode())
    return h.hexdigest()


def _outcomes(actions: Sequence[engage.Action]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for a in actions:
        if a.action.startswith("send_"):
            key = (
                f"suppressed:{a.suppressed}"
                if a.suppressed
                else ("held" if a.held_until is not None else "sent")
            )
            counts[key] = counts.get(key, 0) + 1
    return counts


def _check(engine: engage.Engine, contacts: int, what: str) -> None:
    if len(engine) != contacts or engine.rejected or engine.problems:
        raise AssertionError(
            f"flow workload ({what}): {len(engine)} contacts of {contacts}, "
            f"rejected {engine.rejected[:3]}, problems {engine.problems[:3]}"
        )


def compile_policy(policy: str | None) -> tuple[engage.Rules | None, str | None]:
    """The flow's rules with ``policy`` added, or None and why the variant is skipped."""
    if policy is None:
        return None, "no policy text given"
    try:
        return engage.compile(FLOW_RULES + policy, name="flow-policy.rules"), None
    except RulesError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        return None, (
            "skipped: the policy block does not compile with this engine "
            f"(`policy` not in the language yet?): {first}"
        )


def flow(
    *,
    contacts: int,
    repeat: int,
    policy: str | None = DEFAULT_POLICY,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """The flow workload's timed part (see the module docstring); a JSON-ready dict."""
    events = flow_events(contacts)
    ticks = flow_ticks()
    with_flow = engage.compile(FLOW_RULES, name="flow.rules")
    without = engage.compile(DECLARATIONS, name="no-flow.rules")
    with_policy, policy_note = compile_policy(policy)
    times: dict[str, list[float]] = {"engine": [], "loop": [], "no_flow": [], "policy": []}
    checked: dict[str, Any] = {}
    policy_outcomes: dict[str, int] | None = None
    for attempt in range(repeat):
        seconds, (engine, actions) = timed(lambda: run_engine(with_flow, events, ticks))
        times["engine"].append(seconds)
        if attempt == 0:
            _check(engine, contacts, "engine")
            ours = engine_sends(actions)
            finished = sum(
                1
                for a in actions
                if a.action == "exit_flow" and a.options == {"reason": "finished"}
            )
            if finished != contacts:
                raise AssertionError(f"flow workload: {finished} of {contacts} contacts finished")
            checked = {"engine_sends": len(ours), "engine_digest": digest(ours)}
            checked["engine_actions"] = len(actions)
        del engine, actions
        seconds, sends = timed(lambda: run_loop(events, ticks))
        times["loop"].append(seconds)
        if attempt == 0:
            checked["loop_sends"] = len(sends)
            checked["loop_digest"] = digest(sends)
            if (checked["loop_sends"], checked["loop_digest"]) != (
                checked["engine_sends"],
                checked["engine_digest"],
            ):
                raise AssertionError(
                    f"flow workload: the engine's sends differ from the loop's: {checked}"
                )
        del sends
        seconds, (engine, actions) = timed(lambda: run_engine(without, events, ticks))
        times["no_flow"].append(seconds)
        if attempt == 0:
            _check(engine, contacts, "no flow")
        del engine, actions
        if with_policy is not None:
            seconds, (engine, actions) = timed(partial(run_engine, with_policy, events, ticks))
            times["policy"].append(seconds)
            if attempt == 0:
                _check(engine, contacts, "policy")
                policy_outcomes = _outcomes(actions)
            del engine, actions
        progress(
            f"  flow: repeat {attempt + 1}/{repeat} "
            + " ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items() if v)
        )
    steps = contacts * STEPS
    best = {k: min(v) if v else None for k, v in times.items()}
    engine_s = best["engine"]
    loop_s = best["loop"]
    no_flow_s = best["no_flow"]
    assert engine_s is not None and loop_s is not None and no_flow_s is not None
    flow_only = max(engine_s - no_flow_s, 0.0)
    sends_per_run = checked["engine_sends"]
    result: dict[str, Any] = {
        "contacts": contacts,
        "steps_per_contact": STEPS,
        "contact_steps": steps,
        "events": len(events),
        "ticks": len(ticks),
        "flow": FLOW,
        "engine_seconds": engine_s,
        "loop_seconds": loop_s,
        "no_flow_seconds": no_flow_s,
        "engine_ns_per_contact_step": engine_s / steps * 1e9,
        "loop_ns_per_contact_step": loop_s / steps * 1e9,
        "no_flow_ns_per_contact_step": no_flow_s / steps * 1e9,
        "flow_only_ns_per_contact_step": flow_only / steps * 1e9,
        "ratio": engine_s / loop_s,
        "flow_only_ratio": flow_only / loop_s,
        "verified": True,
        **checked,
        "repeats": times,
        "policy": {
            "text": policy,
            "skipped": policy_note,
        },
    }
    policy_s = best["policy"]
    if policy_s is not None:
        result["policy"].update(
            {
                "seconds": policy_s,
                "ratio_to_no_policy": policy_s / engine_s,
                "sends": sends_per_run,
                "extra_ns_per_send": (policy_s - engine_s) / max(sends_per_run, 1) * 1e9,
                "outcomes": policy_outcomes,
            }
        )
    return result


# -- memory ---------------------------------------------------------------------------------


def _waiting_engine(rules_text: str, contacts: int) -> engage.Engine:
    return engage.Engine(engage.compile(rules_text, name="flow-memory.rules"), max_future=None)


def _ingest(engine: engage.Engine, contacts: int) -> None:
    batch: list[dict[str, Any]] = []
    for event in _lazy_events(contacts):
        batch.append(event)
        if len(batch) == 10_000:
            engine.ingest_many(batch)
            engine.drain_outbox()
            batch = []
    engine.ingest_many(batch)
    engine.drain_outbox()


def _check_waiting(engine: engage.Engine, contacts: int, in_flow: bool) -> None:
    _check(engine, contacts, "memory")
    state = engine.state.contacts  # read only: whether the contacts wait in the flow
    waiting = sum(1 for c in state.values() if c.flows is not None)
    if waiting != (contacts if in_flow else 0):
        raise AssertionError(f"flow memory: {waiting} of {contacts} contacts in the flow")


def traced_bytes(rules_text: str, contacts: int, in_flow: bool) -> float:
    """Bytes per contact the engine retains after the entries, by tracemalloc."""
    engine = _waiting_engine(rules_text, contacts)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        _ingest(engine, contacts)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    _check_waiting(engine, contacts, in_flow)
    del engine
    gc.collect()
    return (after - before) / contacts


def rss_child(which: str, contacts: int) -> float | None:
    """Bytes per contact by RSS delta; run in a fresh interpreter by :func:`rss_bytes`."""
    text = FLOW_RULES if which == "flow" else DECLARATIONS
    engine = _waiting_engine(text, contacts)
    gc.collect()
    before = _rss()
    _ingest(engine, contacts)
    gc.collect()
    after = _rss()
    _check_waiting(engine, contacts, which == "flow")
    if before is None or after is None:
        return None
    return (after - before) / contacts


def rss_bytes(which: str, contacts: int) -> tuple[float | None, str | None]:
    """:func:`rss_child` in a fresh interpreter: (bytes per contact, error)."""
    code = (
        "import json, sys\n"
        "from engage.bench.flows import rss_child\n"
        "print(json.dumps(rss_child(sys.argv[1], int(sys.argv[2]))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, which, str(contacts)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return None, done.stderr.strip()[-2000:]
    value = json.loads(done.stdout.strip().splitlines()[-1])
    return (None if value is None else float(value)), None


def breakdown() -> dict[str, int]:
    """``sys.getsizeof`` of what one waiting contact holds because of the flow."""
    engine = _waiting_engine(FLOW_RULES, 1)
    _ingest(engine, 1)
    contact = engine.state.contacts[contact_id(0)]  # read only, a diagnostic
    assert contact.flows is not None and contact.wake is not None
    entry = (contact.wake, contact.id)
    sizes = {
        "flows_bytes": sys.getsizeof(contact.flows),
        "wake_float": sys.getsizeof(contact.wake),
        "timer_entry_tuple": sys.getsizeof(entry),
        "timer_list_slot": 8,
    }
    sizes["total"] = sum(sizes.values())
    return sizes


def flow_memory(contacts: int) -> dict[str, Any]:
    """Bytes per contact with and without the flow, and the difference (module docstring)."""
    traced = {
        "flow": traced_bytes(FLOW_RULES, contacts, True),
        "no_flow": traced_bytes(DECLARATIONS, contacts, False),
    }
    rss: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    for which in ("flow", "no_flow"):
        value, error = rss_bytes(which, contacts)
        rss[which] = value
        if error:
            errors[which] = error
    traced_extra = traced["flow"] - traced["no_flow"]
    rss_flow, rss_none = rss["flow"], rss["no_flow"]
    rss_extra = None if rss_flow is None or rss_none is None else rss_flow - rss_none
    candidates = [v for v in (traced_extra, rss_extra) if v is not None]
    return {
        "contacts": contacts,
        "tracemalloc": traced,
        "rss": rss,
        "rss_errors": errors,
        "tracemalloc_extra_bytes_per_contact": traced_extra,
        "rss_extra_bytes_per_contact": rss_extra,
        "extra_bytes_per_contact": max(candidates),
        "breakdown": breakdown(),
    }


# -- the report -----------------------------------------------------------------------------


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 15's targets from the flow workload's result."""
    out: list[dict[str, Any]] = [
        {
            "target": "flow: engine's sends equal the hand-written loop's (count and digest)",
            "want": "equal",
            "value": "equal" if result["verified"] else "differs",
            "met": result["verified"],
        },
        {
            "target": f"flow: engine / loop time per contact-step ({result['contacts']:,} "
            "contacts, 5 steps)",
            "want": "<= 3",
            "value": result["ratio"],
            "met": result["ratio"] <= 3.0 if result["contacts"] >= 1_000_000 else None,
        },
    ]
    mem = result.get("memory")
    if mem:
        value = mem["extra_bytes_per_contact"]
        out.append(
            {
                "target": f"flow: bytes per contact waiting in the flow beyond the contact "
                f"({mem['contacts']:,})",
                "want": "<= 150",
                "value": value,
                "met": value <= 150 if mem["contacts"] >= 1_000_000 else None,
            }
        )
    pol = result["policy"]
    out.append(
        {
            "target": "flow: time with a policy / without (caps, quiet hours checked per send)",
            "want": "(info)",
            "value": pol.get("ratio_to_no_policy", pol["skipped"] or "-"),
            "met": None,
        }
    )
    return out


def _ns(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def markdown(r: dict[str, Any]) -> list[str]:
    """The flow workload's section of the report."""
    lines = [
        "## Flows: a 5-step flow beside a heap-and-dict loop",
        "",
        f"{r['contacts']:,} contacts enter by one event each (over 12 hours), then "
        f"{r['ticks']} one-hour clock moves; {r['contact_steps']:,} contact-steps. Flow:",
        "",
        "```rules",
        r["flow"].rstrip(),
        "```",
        "",
        "| side | seconds | ns per contact-step | engine / side |",
        "|---|---:|---:|---:|",
        f"| engine (`ingest_many` + `advance`) | {r['engine_seconds']:.3f} "
        f"| {_ns(r['engine_ns_per_contact_step'])} | 1 |",
        f"| hand-written loop (heap + dict) | {r['loop_seconds']:.3f} "
        f"| {_ns(r['loop_ns_per_contact_step'])} | {r['ratio']:.2f} |",
        f"| engine, same events, no flow | {r['no_flow_seconds']:.3f} "
        f"| {_ns(r['no_flow_ns_per_contact_step'])} "
        f"| {r['engine_seconds'] / r['no_flow_seconds']:.2f} |",
        "",
        f"Engine / loop **{r['ratio']:.2f}x** per contact-step; the flow's own share "
        f"(engine minus the no-flow run) {_ns(r['flow_only_ns_per_contact_step'])} ns per "
        f"contact-step, **{r['flow_only_ratio']:.2f}x** the loop. Best of "
        f"{len(r['repeats']['engine'])}. Checked: {r['engine_sends']:,} sends on both "
        f"sides, digest {r['engine_digest'][:16]}.",
        "",
    ]
    pol = r["policy"]
    if pol.get("seconds") is not None:
        lines += [
            f"With a policy (caps and quiet hours that pass): {pol['seconds']:.3f} s, "
            f"**{pol['ratio_to_no_policy']:.3f}x** the run without; "
            f"{_ns(pol['extra_ns_per_send'])} ns more per send; outcomes {pol['outcomes']}.",
            "",
        ]
    else:
        lines += [f"Policy variant: {pol['skipped']}", ""]
    mem = r.get("memory")
    if mem:
        b = mem["breakdown"]
        lines += [
            f"Memory, {mem['contacts']:,} contacts waiting at the first `wait`: beyond the "
            f"same contacts without the flow, tracemalloc "
            f"{_ns(mem['tracemalloc_extra_bytes_per_contact'])} bytes/contact, RSS delta "
            f"{_ns(mem['rss_extra_bytes_per_contact'])} bytes/contact (with the flow: "
            f"{_ns(mem['tracemalloc']['flow'])} / {_ns(mem['rss']['flow'])}; without: "
            f"{_ns(mem['tracemalloc']['no_flow'])} / {_ns(mem['rss']['no_flow'])}). "
            f"One contact's flow objects by `sys.getsizeof`: "
            + ", ".join(f"{k} {v}" for k, v in b.items())
            + ".",
            "",
        ]
    return lines
