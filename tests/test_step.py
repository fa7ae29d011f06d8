"""The per-contact step: contacts driven through ``step``/``wake`` alone, each holding
nothing but its state bytes, give the engine's actions and state.

The driver is what a keyed stream processor does: per contact, the state bytes and one
timer (the step's ``next_wake``); before each event, every wake-up due by its time,
earliest first (ties by contact id, as the engine's timer index); a clock move fires
the wake-ups due by then. Deduplication of ids and time order are the processor's: the
random streams here are made time-ordered and duplicate-free first.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from typing import Any

from hypothesis import given

import engage
from engage.engine.step import Deltas, read, step, wake
from engage.timeutil import coerce_time
from oracle import action_records, assert_same_actions, assert_same_dump
from strategies import operations, rules_text
from test_oracle_core import SETTINGS


def _tidy(ops: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The operations in time order, without repeated ids: what the processor feeds."""
    tidy: list[tuple[str, Any]] = []
    clock = float("-inf")
    seen: set[str] = set()
    for kind, value in ops:
        if kind == "advance":
            clock = max(clock, float(value))
            tidy.append((kind, value))
            continue
        moment = coerce_time(value["at"])
        if moment < clock or value.get("id") in seen:
            continue
        if "id" in value:
            seen.add(value["id"])
        clock = moment
        tidy.append((kind, value))
    return tidy


class Driver:
    """Contacts as state bytes and one timer each, as in a keyed stream job."""

    def __init__(self, rules: engage.Rules) -> None:
        self.rules = rules
        self.states: dict[str, bytes] = {}
        self.wakes: dict[str, float] = {}
        self.timers: list[tuple[float, str]] = []
        self.actions: list[Any] = []
        self.deltas: list[Deltas] = []
        self.clock = float("-inf")

    def _keep(self, contact: str, result: Any) -> None:
        self.actions.extend(result.actions)
        self.deltas.append(result.deltas)
        if result.state is None:
            self.states.pop(contact, None)
            self.wakes.pop(contact, None)
            return
        self.states[contact] = result.state
        if result.next_wake is None:
            self.wakes.pop(contact, None)
        elif self.wakes.get(contact) != result.next_wake:
            self.wakes[contact] = result.next_wake
            heapq.heappush(self.timers, (result.next_wake, contact))

    def fire_until(self, moment: float) -> None:
        while self.timers and self.timers[0][0] <= moment:
            due, contact = heapq.heappop(self.timers)
            if self.wakes.get(contact) != due:
                continue  # replaced or gone: the processor deleted that timer
            del self.wakes[contact]
            self._keep(contact, wake(self.rules, self.states[contact], due))

    def event(self, record: dict[str, Any]) -> None:
        moment = coerce_time(record["at"])
        self.fire_until(moment)
        self.clock = max(self.clock, moment)
        contact = record["contact"]
        self._keep(contact, step(self.rules, self.states.get(contact), dict(record)))

    def advance(self, moment: float) -> None:
        self.fire_until(moment)
        self.clock = max(self.clock, moment)

    def dump(self) -> list[dict[str, Any]]:
        return [read(self.rules, self.states[c], self.clock) for c in sorted(self.states)]


def _per_contact(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        grouped[record["contact"]].append(record)
    return dict(grouped)


def check_step_matches_engine(text: str, ops: list[tuple[str, Any]]) -> Driver:
    rules = engage.compile(text, name="t.rules")
    ops = _tidy(ops)
    engine = engage.Engine(rules)
    driver = Driver(rules)
    expected: list[Any] = []
    for kind, value in ops:
        if kind == "event":
            expected.extend(engine.ingest(dict(value)))
            driver.event(value)
        else:
            expected.extend(engine.advance(value))
            driver.advance(float(value))
    decaying = "decay half-life" in text
    got_records, expected_records = action_records(driver.actions), action_records(expected)
    # Per contact, the same sequence; across contacts, the same multiset.
    got_by, expected_by = _per_contact(got_records), _per_contact(expected_records)
    assert got_by.keys() == expected_by.keys()
    for contact, mine in got_by.items():
        assert_same_actions(mine, expected_by[contact], f"step {contact}", decaying=decaying)
    assert_same_dump(driver.dump(), list(engine.dump()))
    return driver


@SETTINGS
@given(rules_text(), operations())
def test_step_matches_engine(text: str, ops: list[tuple[str, Any]]) -> None:
    check_step_matches_engine(text, ops)


@SETTINGS
@given(rules_text(time=True), operations(time=True))
def test_step_and_wake_match_engine_over_time(text: str, ops: list[tuple[str, Any]]) -> None:
    check_step_matches_engine(text, ops)


RULES = """
score {
    on email.open +2
}
segment hot = score >= 4
when score >= 4 then notify sales
"""


def test_deltas_name_what_cross_contact_structures_need() -> None:
    rules = engage.compile(RULES, name="d.rules")
    first = step(rules, None, {"contact": "c1", "type": "email.open", "at": 1_767_225_600.0})
    assert first.deltas.created
    assert first.deltas.scores == {"score": (None, 2)}
    assert first.deltas.entered == ()
    second = step(rules, first.state, {"contact": "c1", "type": "email.open", "at": 1_767_225_700})
    assert second.deltas.scores == {"score": (2, 4)}
    assert second.deltas.entered == ("hot",)
    assert second.deltas.last_activity == (1_767_225_600.0, 1_767_225_700.0)
    assert [(a.action, a.args) for a in second.actions] == [("notify", ["sales"])]
    gone = step(
        rules, second.state, {"contact": "c1", "type": "contact.deleted", "at": 1_767_225_800}
    )
    assert gone.state is None
    assert gone.deltas.deleted and gone.deltas.left == ("hot",)


def test_a_bad_record_changes_nothing() -> None:
    rules = engage.compile(RULES, name="d.rules")
    first = step(rules, None, {"contact": "c1", "type": "email.open", "at": 1_767_225_600.0})
    bad = step(rules, first.state, {"contact": "c1", "type": "email.open", "at": "not a time"})
    assert bad.state == first.state
    assert bad.actions == [] and bad.deltas.empty
    nothing = step(rules, None, {"contact": "", "type": "email.open"})
    assert nothing.state is None and nothing.deltas.empty


def test_state_bytes_are_self_contained() -> None:
    """A state made by one rules object steps the same under another compiled from the
    same text (a restarted worker): decay references travel with the contact."""
    text = (
        "score {\n    on email.open +8\n    decay half-life 1 day\n}\n"
        'when score <= 2 then tag "cold"\n'
    )
    first = engage.compile(text, name="d.rules")
    made = step(first, None, {"contact": "c1", "type": "email.open", "at": 1_767_225_600.0})
    assert made.next_wake is not None
    other = engage.compile(text, name="d.rules")
    woke = wake(other, made.state or b"", made.next_wake)
    assert [(a.action, a.args) for a in woke.actions] == [("tag", ["cold"])]
    assert abs(woke.deltas.scores["score"][1] - 2.0) < 1e-9
