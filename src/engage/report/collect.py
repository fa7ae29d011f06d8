"""Gather the report's facts: replay events through an engine, or open a state folder.

A replay applies the records in the order given (the caller puts them in time order,
as ``engage run`` does), watches every action (firings per rule and day, sends by
channel and outcome, flow entries, leavings and conversions per version: see
:mod:`engage.report.ledgers`) and, at every UTC midnight the clock passes, samples segment
sizes and recency classes with indexed counts (O(log n) each, so a year of days costs
a few thousand counts). A state folder gives only the present: no firings, no sends,
no flow entries, nothing over time (the folder keeps state, not history); where each
contact is in its flows is state, and is read from either.

The facts are raw; :mod:`engage.report.sections` turns them into the report's numbers.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any, Literal

import attrs

from engage.actions import Action
from engage.engine import Engine
from engage.firings import FiringTracker
from engage.io.deadletter import DeadLetter
from engage.io.ordering import Placed, time_of
from engage.io.readers import BadRecord
from engage.io.replay import BATCH
from engage.program import Program
from engage.report.ledgers import FlowLedger, SendLedger
from engage.report.timeline import DAY, day_of
from engage.rules import Rules
from engage.time.valuation import DISCARDED, EXPIRED, INACTIVE


def class_names(program: Program) -> list[str]:
    """Every recency class a contact can be in, declared windows first."""
    return [name for name, _ in program.classes] + [EXPIRED, INACTIVE, DISCARDED]


@attrs.define
class Facts:
    """What a replay or a state folder showed, before it is summed into numbers.

    ``firings`` counts firings by (rule, UTC day); ``sends`` outcomes by channel;
    ``flows`` entries, leavings, conversions and step actions per flow version;
    ``samples`` holds, for each UTC midnight the clock passed (by day number), the
    segment sizes (``segment:NAME``) and class counts (``class:NAME``) at that moment.
    ``first`` is the time of the first applied event; None for a state folder, which
    keeps no history (then ``firings``, ``sends`` and ``flows`` are None too).
    """

    source: Literal["events", "state"]
    engine: Engine
    records: int = 0
    bad: DeadLetter = attrs.field(factory=lambda: DeadLetter(None))
    first: float | None = None
    actions: int = 0
    firings: Counter[tuple[str, int]] | None = attrs.field(factory=Counter)
    sends: SendLedger | None = attrs.field(factory=SendLedger)
    flows: FlowLedger | None = attrs.field(factory=FlowLedger)
    samples: dict[int, dict[str, int]] = attrs.field(factory=dict)

    @property
    def program(self) -> Program:
        return self.engine.program


def sample(engine: Engine) -> dict[str, int]:
    """Segment sizes and class counts at the engine's clock (indexed counts). The
    hidden segments of flow conditions are not segments users declared: left out."""
    program = engine.program
    counts = {
        f"segment:{segment.name}": engine.count(f"in segment {segment.name}")
        for segment in program.segments
        if not segment.hidden
    }
    for name in class_names(program):
        counts[f"class:{name}"] = engine.count(f"valuation is {json.dumps(name)}")
    return counts


class Watcher:
    """Counts what an engine's actions say into ``facts``, in output order: firings,
    sends (:class:`~engage.report.ledgers.SendLedger`), flows
    (:class:`~engage.report.ledgers.FlowLedger`). A host driving its own engine can
    feed it every list of actions the engine returns. O(1) per action; drains the
    engine's outbox (the report has no handlers to wait for)."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.tracker = FiringTracker()

    def observe(self, actions: Iterable[Action]) -> None:
        facts = self.facts
        firings = facts.firings
        sends = facts.sends
        flows = facts.flows
        assert firings is not None and sends is not None and flows is not None
        for action in actions:
            facts.actions += 1
            if self.tracker.starts(action):
                firings[action.rule, day_of(action.time)] += 1
            flows.observe(action, repeat=sends.observe(action))
        facts.engine.drain_outbox()


def collect_events(
    rules: Rules,
    placed: Iterable[Placed],
    *,
    until: float | None = None,
    max_future: float | None = None,
    max_out_of_order: float | None = None,
) -> Facts:
    """Replay ``placed`` records through a fresh engine and gather the facts.

    ``until`` moves the clock there after the last record (timers due by then fire),
    as ``engage run --until`` does. Costs one replay, plus the daily samples.

    The clock is moved to each midnight before the first record after it is applied,
    which fires the same timers the record would have fired. A record stamped past
    ``max_future`` is refused by the engine and does not move the clock here either.
    """
    engine = Engine(rules, max_future=max_future, max_out_of_order=max_out_of_order)
    facts = Facts("events", engine)
    watcher = Watcher(facts)
    horizon = None if max_future is None else time.time() + max_future
    midnight: float | None = None
    batch: list[Any] = []

    def apply() -> None:
        if batch:
            before = len(engine.rejected)
            watcher.observe(engine.ingest_many(batch))
            for rejected in engine.rejected[before:]:
                facts.bad.write("", 0, rejected.reason, rejected.record)
            del engine.rejected[before:]
            batch.clear()
        if facts.first is None and engine.now is not None:
            facts.first = engine.now

    def pass_midnights(moment: float) -> None:
        nonlocal midnight
        while midnight is not None and moment >= midnight:
            apply()
            watcher.observe(engine.advance(midnight))
            facts.samples[day_of(midnight)] = sample(engine)
            midnight += DAY

    for source, line, record in placed:
        facts.records += 1
        if record.__class__ is BadRecord:
            facts.bad.write(source, line, record.reason, record.raw)
            continue
        moment = time_of(record)
        if moment is not None and (horizon is None or moment <= horizon):
            if midnight is None:
                midnight = (day_of(moment) + 1) * DAY
            pass_midnights(moment)
        batch.append(record)
        if len(batch) >= BATCH:
            apply()
    apply()
    watcher.observe(engine.flush())
    if until is not None:
        pass_midnights(until)
        watcher.observe(engine.advance(until))
    return facts


def collect_state(engine: Engine) -> Facts:
    """The facts of an engine opened from a state folder: the present only."""
    return Facts("state", engine, firings=None, sends=None, flows=None)
