"""The report's flows section, and where each contact is in its flows.

Per flow and version: how many entered (entries, and distinct contacts), how many are
inside now and at which step each waits (the step's path and text), how many left by
reason, and how many converted (reached the goal: leaving with reason ``goal``, or
staying under ``goal ... continue``); per step, the actions written there.

Two sources meet here. Entries, leavings, conversions and step actions come from the
action stream (:class:`~engage.report.ledgers.FlowLedger`; a state folder keeps no
history, so they are None there). Who is inside now, and where, is the contacts' own
state (``ContactView.flow_places``), read from a replay or a state folder alike. An
instruction index becomes a step path and text through the compiled flow of the
contact's version; a version no longer in the program is shown by its index alone.

Cost: one pass over the contacts (each contact's flow records unpacked, a few hundred
nanoseconds per flow), plus linear work in the flow versions and their steps.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

from engage.engine import Engine
from engage.flows.spec import ACTION, OP_NAMES, WAIT, WAIT_CLOCK, WAIT_UNTIL, FlowSpec
from engage.program import Program
from engage.report.collect import Facts
from engage.report.ledgers import LEAVE_REASONS, FlowCounts, FlowKey
from engage.report.model import Chart, Table
from engage.report.timeline import Timeline

#: The instruction codes at which a contact waits on time or a condition.
WAITS = frozenset({WAIT, WAIT_UNTIL, WAIT_CLOCK})
#: The instruction codes shown as steps (those of ``FlowSpec.step_paths``); tests and
#: jumps are not places, unless a contact of a version gone from the rules is at one.
STEPS = WAITS | {ACTION}


def specs_of(engine: Engine) -> dict[FlowKey, FlowSpec]:
    """The compiled flows the engine runs, by (name, version): the current versions and
    the older ones its contacts are still inside."""
    return dict(engine.flow_specs())


def places(engine: Engine) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(contact id, place)`` for every contact and flow it is or was in, by contact id
    then flow name; ``place`` is an entry of ``ContactView.flow_places``. One pass over
    the contacts (ids sorted by the engine)."""
    for view in engine.contacts():
        found = view.flow_places
        if found:
            for place in sorted(found, key=lambda place: str(place["flow"])):
                yield view.id, place


def step_of(spec: FlowSpec | None, pc: int) -> tuple[str | None, str | None]:
    """The path and text of instruction ``pc`` of ``spec``, or Nones when the version
    is gone from the program (or the index is past its end)."""
    if spec is None or not 0 <= pc < len(spec.instructions):
        return None, None
    instruction = spec.instructions[pc]
    return instruction.path, instruction.text


def _order(program: Program, keys: set[FlowKey]) -> list[FlowKey]:
    """Flows in written order, then flows no longer in the program by name; versions
    ascending (a record without a version last)."""
    written = {spec.name: spec.order for spec in program.flows}
    return sorted(
        keys,
        key=lambda key: (
            key[0] not in written,
            written.get(key[0], 0),
            key[0],
            key[1] is None,
            key[1] or 0,
        ),
    )


def numbers(facts: Facts, timeline: Timeline | None) -> list[dict[str, Any]]:
    """The ``flows`` value of the JSON object: one entry per flow and version (see the
    module docstring; ``docs/authoring.md`` lists the keys)."""
    engine = facts.engine
    specs = specs_of(engine)
    current = engine.flow_versions()
    waiting: defaultdict[FlowKey, Counter[int]] = defaultdict(Counter)
    for _, place in places(engine):
        if place["inside"]:
            waiting[place["flow"], place["version"]][place["at"]] += 1
    ledger = facts.flows
    seen: dict[FlowKey, FlowCounts] = {} if ledger is None else ledger.counts
    result = []
    for key in _order(facts.program, set(specs) | set(waiting) | set(seen)):
        name, version = key
        spec = specs.get(key)
        counts = seen.get(key)
        if counts is None and ledger is not None:
            counts = FlowCounts()
        entry: dict[str, Any] = {
            "flow": name,
            "version": version,
            "current": current.get(name) == version,
            "inside": sum(waiting[key].values()),
            "steps": _steps(spec, waiting[key], counts),
        }
        if counts is None:
            entry.update(entered=None, contacts=None, left=None, left_total=None, converted=None)
        else:
            left = {reason: counts.left[reason] for reason in LEAVE_REASONS}
            left.update(sorted((r, n) for r, n in counts.left.items() if r not in left))
            entry.update(
                entered=counts.entered,
                contacts=len(counts.contacts),
                left=left,
                left_total=sum(left.values()),
                converted={
                    "total": counts.converted_left + counts.converted_stayed,
                    "left": counts.converted_left,
                    "stayed": counts.converted_stayed,
                },
            )
        result.append(entry)
    return result


def _steps(
    spec: FlowSpec | None, waiting: Counter[int], counts: FlowCounts | None
) -> list[dict[str, Any]]:
    """Every step a contact can be at (waits, actions) in order, then occupied
    instructions of a version gone from the program, then steps known only from the
    stream's actions."""
    rows: list[dict[str, Any]] = []
    shown_pcs: set[int] = set()
    shown_paths: set[str] = set()
    if spec is not None:
        for pc, instruction in enumerate(spec.instructions):
            if instruction.op not in STEPS and pc not in waiting:
                continue
            shown_pcs.add(pc)
            shown_paths.add(instruction.path)
            rows.append(
                {
                    "step": instruction.path,
                    "text": instruction.text,
                    "kind": "wait" if instruction.op in WAITS else OP_NAMES[instruction.op],
                    "at": pc,
                    "waiting": waiting[pc],
                    "actions": None
                    if counts is None or instruction.op in WAITS
                    else counts.steps[instruction.path],
                }
            )
    for pc in sorted(set(waiting) - shown_pcs):
        rows.append(
            {
                "step": None,
                "text": None,
                "kind": None,
                "at": pc,
                "waiting": waiting[pc],
                "actions": None,
            }
        )
    if counts is not None:
        for path in sorted(set(counts.steps) - shown_paths):
            rows.append(
                {
                    "step": path,
                    "text": None,
                    "kind": "action",
                    "at": None,
                    "waiting": 0,
                    "actions": counts.steps[path],
                }
            )
    return rows


def _label(row: dict[str, Any]) -> str:
    return f"{row['flow']} v{row['version']}" if row["version"] is not None else row["flow"]


def _step_text(step: dict[str, Any]) -> str | None:
    """A step's text, or its instruction index when its version is gone."""
    if step["text"] is not None:
        return str(step["text"])
    return None if step["at"] is None else f"instruction {step['at']}"


def tables(value: list[dict[str, Any]], meta: dict[str, Any]) -> list[Table]:
    """ "Flows" (one row per version), "Flows left by reason" (reasons that occurred)
    and "Flow steps" (who waits where now, and the actions written at each step)."""
    if not value:
        return []
    overview = tuple(
        (
            row["flow"],
            row["version"],
            row["entered"],
            row["contacts"],
            row["inside"],
            row["left_total"],
            None if row["converted"] is None else row["converted"]["total"],
            None if row["converted"] is None else row["converted"]["stayed"],
        )
        for row in value
    )
    columns = ("flow", "version", "entered", "contacts", "inside", "left", "converted", "stayed")
    title = (
        "Flows"
        if any(row["entered"] is not None for row in value)
        else ("Flows (entries, leavings and conversions are not kept in a state folder)")
    )
    result = [Table(title, columns, overview)]
    left = tuple(
        (row["flow"], row["version"], reason, n)
        for row in value
        for reason, n in (row["left"] or {}).items()
        if n
    )
    if left:
        result.append(
            Table("Flows left by reason", ("flow", "version", "reason", "contacts"), left)
        )
    steps = tuple(
        (
            row["flow"],
            row["version"],
            "-" if step["step"] is None else step["step"],
            _step_text(step),
            step["waiting"],
            step["actions"],
        )
        for row in value
        for step in row["steps"]
    )
    if steps:
        result.append(
            Table(
                "Flow steps (waiting now, actions written)",
                ("flow", "version", "step", "text", "waiting", "actions"),
                steps,
            )
        )
    return result


def charts(value: list[dict[str, Any]], meta: dict[str, Any]) -> list[Chart]:
    """Per flow version, a stacked bar of those inside and those who left by reason;
    per flow version with someone waiting, the contacts waiting at each step."""
    if not value:
        return []
    labels = tuple(_label(row) for row in value)
    series: list[tuple[str, tuple[float, ...]]] = [
        ("inside", tuple(float(row["inside"]) for row in value))
    ]
    reasons = [r for r in LEAVE_REASONS] + sorted(
        {r for row in value for r in (row["left"] or {}) if r not in LEAVE_REASONS}
    )
    for reason in reasons:
        counts = tuple(float((row["left"] or {}).get(reason, 0)) for row in value)
        if any(counts):
            series.append((f"left: {reason}", counts))
    result = [Chart("bars", "Flows: inside now and left", labels, tuple(series), ylabel="contacts")]
    for row in value:
        if not row["inside"]:
            continue
        steps = [step for step in row["steps"] if step["kind"] != "action" or step["waiting"]]
        result.append(
            Chart(
                "bars",
                f"Flow {_label(row)}: waiting at each step",
                tuple(step["step"] or f"#{step['at']}" for step in steps),
                (("waiting", tuple(float(step["waiting"]) for step in steps)),),
                xlabel="step",
                ylabel="contacts",
            )
        )
    return result
