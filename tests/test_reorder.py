"""Time order for a live feed: the reorder bound (a watermark) and the future margin."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engage
from engage.storage.statedir import StateDir

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
HOUR = 3600.0
DAY = 86_400.0

RULES = """
score {
    on web.visit +1
}
segment busy = score >= 2
rule "visit" on web.visit then notify sales at most once per 1 day
rule "in" on segment enter busy then tag "busy"
"""


def visit(contact: str, at: float, n: int) -> dict[str, Any]:
    return {"id": f"{contact}-{n}", "contact": contact, "type": "web.visit", "at": at}


def actions_of(engine: engage.Engine, events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    actions = engine.ingest_many([dict(e) for e in events]) + engine.flush()
    return sorted((a.time, a.contact, a.rule, a.action, tuple(a.args)) for a in actions)


def grouped_by_contact() -> list[dict[str, Any]]:
    """c1's events of January 8 written before c2's of January 1 and 2 (an export
    grouped by contact)."""
    return [
        visit("c1", T0 + 7 * DAY, 1),
        visit("c1", T0 + 7 * DAY + HOUR, 2),
        visit("c2", T0, 1),
        visit("c2", T0 + DAY, 2),
        visit("c2", T0 + 2 * DAY, 3),
    ]


def in_time_order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(events, key=lambda e: e["at"])


def test_a_bound_puts_a_grouped_feed_back_in_time_order() -> None:
    rules = engage.compile(RULES, name="r.rules")
    expected = actions_of(engage.Engine(rules), in_time_order(grouped_by_contact()))
    held = engage.Engine(rules, max_out_of_order=8 * DAY)
    assert actions_of(held, grouped_by_contact()) == expected
    notifies = [a for a in expected if a[1] == "c2" and a[3] == "notify"]
    assert len(notifies) == 3, "one a day: none swallowed by a cooldown"
    assert held.stats.late == 0
    assert held.stats.reordered == 3


def test_without_a_bound_the_same_feed_is_late() -> None:
    rules = engage.compile(RULES, name="r.rules")
    engine = engage.Engine(rules)
    actions_of(engine, grouped_by_contact())
    assert engine.stats.late == 3
    assert engine.summary()["late"] == 3


def test_events_past_the_bound_are_late_and_applied_at_the_clock() -> None:
    rules = engage.compile(RULES, name="r.rules")
    engine = engage.Engine(rules, max_out_of_order=HOUR)
    engine.ingest(visit("c1", T0 + DAY, 1))
    engine.ingest(visit("c1", T0 + 3 * DAY, 2))  # the watermark passes day 2
    assert engine.held == 1
    engine.ingest(visit("c2", T0, 1))  # three days older than the latest: late
    assert engine.stats.late == 1
    assert engine.stats.reordered == 0
    engine.flush()
    assert engine.held == 0


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(2, 30))
def test_any_disorder_within_the_bound_gives_the_time_ordered_result(
    rng: random.Random, count: int
) -> None:
    rules = engage.compile(RULES, name="r.rules")
    events = [visit(f"c{rng.randrange(3)}", T0 + n * HOUR + rng.random(), n) for n in range(count)]
    shuffled = list(events)
    # Shuffle within windows of five hours: no event is more than 5 h out of order.
    for start in range(0, count, 5):
        window = shuffled[start : start + 5]
        rng.shuffle(window)
        shuffled[start : start + 5] = window
    expected = actions_of(engage.Engine(rules), events)
    engine = engage.Engine(rules, max_out_of_order=6 * HOUR)
    assert actions_of(engine, shuffled) == expected
    assert engine.stats.late == 0
    assert list(engine.dump()) == list(_dump_after(rules, events))


def _dump_after(rules: engage.Rules, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    engine = engage.Engine(rules)
    engine.ingest_many([dict(e) for e in events])
    return list(engine.dump())


def test_a_time_in_the_future_is_a_bad_record_and_moves_nothing() -> None:
    rules = engage.compile(RULES, name="r.rules")
    engine = engage.Engine(rules)
    engine.ingest(visit("c1", T0, 1))
    engine.ingest({"contact": "c9", "type": "web.visit", "at": "2099-01-01T00:00:00Z"})
    assert engine.stats.future == 1
    assert engine.stats.rejected == 1
    assert "in the future" in engine.rejected[0].reason
    assert engine.now == T0
    assert "c9" not in engine
    # A later event of anyone is not late.
    engine.ingest(visit("c2", T0 + HOUR, 1))
    assert engine.stats.late == 0


def test_the_future_margin_is_settable_and_can_be_off() -> None:
    rules = engage.compile(RULES, name="r.rules")
    far = {"contact": "c1", "type": "web.visit", "at": "2099-01-01T00:00:00Z"}
    engine = engage.Engine(rules, max_future=None)
    engine.ingest(dict(far))
    assert engine.stats.rejected == 0
    engine = engage.Engine(rules)
    engine.max_future = 200 * 365 * DAY
    engine.ingest(dict(far))
    assert engine.stats.rejected == 0


def test_held_events_survive_a_snapshot(tmp_path: Path) -> None:
    rules = engage.compile(RULES, name="r.rules")
    events = grouped_by_contact()
    expected = actions_of(engage.Engine(rules), in_time_order(events))
    engine = engage.Engine(rules, max_out_of_order=8 * DAY)
    first = engine.ingest_many([dict(e) for e in events[:3]])
    assert engine.held == 3
    engine.snapshot(tmp_path / "s.engsnap")
    restored = engage.Engine.restore(tmp_path / "s.engsnap", rules, max_out_of_order=8 * DAY)
    assert restored.held == 3
    rest = restored.ingest_many([dict(e) for e in events[3:]]) + restored.flush()
    got = sorted((a.time, a.contact, a.rule, a.action, tuple(a.args)) for a in first + rest)
    assert got == expected


def test_held_events_survive_a_crash(tmp_path: Path) -> None:
    """Held events are journaled on arrival: recovery replays them through the same
    buffer and nothing is lost."""
    rules = engage.compile(RULES, name="r.rules")
    events = grouped_by_contact()
    expected = _dump_after(rules, in_time_order(events))
    first = StateDir(tmp_path / "state", rules, max_out_of_order=8 * DAY)
    engine = first.open()
    engine.ingest_many([dict(e) for e in events[:4]])
    assert engine.held == 4
    first.close(checkpoint=False)  # killed: no snapshot, only the log
    second = StateDir(tmp_path / "state", rules, max_out_of_order=8 * DAY)
    recovered = second.open()
    assert recovered.held == 4
    recovered.ingest_many([dict(e) for e in events[4:]])
    recovered.flush()
    assert list(recovered.dump()) == expected
    second.close()


def test_a_reload_keeps_held_events() -> None:
    rules = engage.compile(RULES, name="r.rules")
    engine = engage.Engine(rules, max_out_of_order=8 * DAY)
    engine.ingest_many([dict(e) for e in grouped_by_contact()])
    held = engine.held
    assert held > 0
    engine.reload(engage.compile(RULES + '\nwhen score >= 1 then tag "seen"\n', name="r.rules"))
    assert engine.held == held
    engine.flush()
    view = engine.contact("c2")
    assert view is not None and "seen" in view.tags


def test_the_bound_cannot_change_while_events_are_held() -> None:
    rules = engage.compile(RULES, name="r.rules")
    engine = engage.Engine(rules, max_out_of_order=DAY)
    engine.ingest(visit("c1", T0, 1))
    with pytest.raises(ValueError, match="flush"):
        engine.max_out_of_order = None
    engine.flush()
    engine.max_out_of_order = None
    assert engine.max_out_of_order is None


def test_held_events_restored_without_a_bound_are_applied_in_time_order(
    tmp_path: Path,
) -> None:
    rules = engage.compile(RULES, name="r.rules")
    events = grouped_by_contact()
    engine = engage.Engine(rules, max_out_of_order=8 * DAY)
    engine.ingest_many([dict(e) for e in events])
    assert engine.held == len(events)
    engine.snapshot(tmp_path / "s.engsnap")
    restored = engage.Engine.restore(tmp_path / "s.engsnap", rules)
    assert restored.held == 0
    assert list(restored.dump()) == _dump_after(rules, in_time_order(events))
