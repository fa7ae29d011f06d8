"""Stress tests of the score indexes and the timer wheel, as sortedcontainers does its own:
random operations, and every internal invariant checked (``check()``) after each one.

The operations follow how the engine uses the structures: for the indexes, ``mark``
before a contact changes or is deleted, lazy ``sync`` at queries, ``rescale`` after a
decay rebase that multiplied every stored value, and ``drop``; for the timers,
rescheduling that leaves stale entries behind, deletions, ``pop_due_with_time``,
``next_moment`` and ``compact``. A last test runs random rules and event streams through
whole engines and checks their structures after every operation.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engage
from engage.index.score_index import (
    LAST_ACTIVITY,
    SortedIndexes,
    count_between,
    ids_between,
    top_entries,
)
from engage.state.contact import Contact, put_score, score_of
from engage.time.timers import BUCKET_SECONDS, TimerIndex
from strategies import operations, rules_text

SETTINGS = settings(
    max_examples=max(60, settings.default.max_examples),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SCORES = 3
IDS = [f"c{n}" for n in range(6)]
WHICH = st.sampled_from([0, 1, 2, LAST_ACTIVITY])
VALUES = st.one_of(st.none(), st.integers(-5, 5), st.sampled_from([0.5, -2.5, 3.0]))


# -- the score indexes ---------------------------------------------------------------------

index_operations = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.sampled_from(IDS), WHICH, VALUES),
        st.tuples(st.just("delete"), st.sampled_from(IDS)),
        st.tuples(st.just("query"), WHICH, VALUES, VALUES, st.integers(0, 4)),
        st.tuples(st.just("sync")),
        st.tuples(st.just("rescale"), st.sampled_from([0, 1, 2]), st.sampled_from([0.5, 2.0])),
        st.tuples(st.just("drop")),
    ),
    max_size=60,
)


def _key(contact: Contact, which: int) -> Any:
    return contact.last_activity if which == LAST_ACTIVITY else score_of(contact, which)


def _brute(contacts: dict[str, Contact], which: int) -> list[tuple[Any, str]]:
    return sorted((key, c.id) for c in contacts.values() if (key := _key(c, which)) is not None)


def _apply_index_operation(
    indexes: SortedIndexes, contacts: dict[str, Contact], operation: tuple[Any, ...]
) -> None:
    kind = operation[0]
    if kind == "set":
        _, contact_id, which, value = operation
        contact = contacts.get(contact_id)
        if contact is None:
            contact = contacts[contact_id] = Contact(contact_id, 0.0, SCORES)
        indexes.mark(contact)
        if which == LAST_ACTIVITY:
            contact.last_activity = value
        else:
            put_score(contact, which, value)
    elif kind == "delete":
        contact = contacts.pop(operation[1], None)
        if contact is not None:
            indexes.mark(contact)
    elif kind == "query":
        _, which, low, high, k = operation
        index = indexes.ensure(which, contacts)
        expected = _brute(contacts, which)
        assert list(index) == expected
        inside = [
            contact_id
            for key, contact_id in expected
            if (low is None or key >= low) and (high is None or key <= high)
        ]
        assert list(ids_between(index, low, True, high, True)) == inside
        assert count_between(index, low, True, high, True) == len(inside)
        strict = [
            contact_id
            for key, contact_id in expected
            if (low is None or key > low) and (high is None or key < high)
        ]
        assert count_between(index, low, False, high, False) == len(strict)
        ranked = sorted(expected, key=lambda entry: (-entry[0], entry[1]))[:k]
        assert top_entries(index, k) == ranked
    elif kind == "sync":
        indexes.sync(contacts)
    elif kind == "rescale":
        # What the engine's decay rebase does: every stored value scaled, none marked.
        _, which, factor = operation
        for contact in contacts.values():
            value = score_of(contact, which)
            if value is not None:
                put_score(contact, which, value * factor)
        indexes.rescale(which, factor, contacts)
    else:
        indexes.drop()


@SETTINGS
@given(index_operations)
def test_score_indexes_keep_their_invariants(ops: list[tuple[Any, ...]]) -> None:
    indexes = SortedIndexes()
    contacts: dict[str, Contact] = {}
    indexes.check(contacts)
    for operation in ops:
        _apply_index_operation(indexes, contacts, operation)
        indexes.check(contacts)
    for which in (0, 1, 2, LAST_ACTIVITY):
        assert list(indexes.ensure(which, contacts)) == _brute(contacts, which)
    indexes.check(contacts)


def test_index_check_reports_a_change_made_without_mark() -> None:
    indexes = SortedIndexes()
    contact = Contact("c1", 0.0, SCORES)
    put_score(contact, 0, 3)
    contacts = {"c1": contact}
    indexes.ensure(0, contacts)
    put_score(contact, 0, 4)  # not marked: the index cannot know
    with pytest.raises(AssertionError, match="index 0: entry 0"):
        indexes.check(contacts)


def test_index_check_reports_a_missing_dirty_map() -> None:
    indexes = SortedIndexes()
    indexes.ensure(0, {})
    indexes.dirty = None
    with pytest.raises(AssertionError, match="dirty notes"):
        indexes.check({})


# -- the timer wheel -----------------------------------------------------------------------

#: Moments over a few buckets, on half-hours and between them, so entries share buckets,
#: moments and contacts.
MOMENTS = st.one_of(
    st.integers(0, 12).map(lambda n: n * BUCKET_SECONDS / 2),
    st.floats(0, 6 * BUCKET_SECONDS, allow_nan=False),
)
timer_operations = st.lists(
    st.one_of(
        st.tuples(st.just("schedule"), st.sampled_from(IDS), st.one_of(st.none(), MOMENTS)),
        st.tuples(st.just("churn"), st.sampled_from(IDS), st.integers(1, 400), MOMENTS),
        st.tuples(st.just("delete"), st.sampled_from(IDS)),
        st.tuples(st.just("pop"), MOMENTS),
        st.tuples(st.just("next")),
        st.tuples(st.just("compact")),
    ),
    max_size=50,
)


def _schedule(
    timers: TimerIndex, contacts: dict[str, Contact], contact_id: str, moment: float | None
) -> None:
    """As ``Engine._schedule``: a new wake-up is pushed, the old entry left behind."""
    contact = contacts.get(contact_id)
    if contact is None:
        contact = contacts[contact_id] = Contact(contact_id, 0.0, 1)
    if moment != contact.wake:
        contact.wake = moment
        if moment is not None:
            timers.push(moment, contact_id)


def _live(contacts: dict[str, Contact]) -> list[tuple[float, str]]:
    return sorted((c.wake, c.id) for c in contacts.values() if c.wake is not None)


def _apply_timer_operation(
    timers: TimerIndex, contacts: dict[str, Contact], operation: tuple[Any, ...]
) -> None:
    kind = operation[0]
    if kind == "schedule":
        _schedule(timers, contacts, operation[1], operation[2])
    elif kind == "churn":
        # One contact rescheduled many times (a stream of events moving a window):
        # stale entries pile up until compact rebuilds.
        _, contact_id, times, start = operation
        for step in range(times):
            _schedule(timers, contacts, contact_id, start + step * 7.0)
    elif kind == "delete":
        contact = contacts.pop(operation[1], None)
        if contact is not None:
            contact.wake = None
    elif kind == "pop":
        until = operation[1]
        due = [entry for entry in _live(contacts) if entry[0] <= until]
        fired = [(moment, c.id) for moment, c in timers.pop_due_with_time(until, contacts)]
        assert fired == due, "due wake-ups, each once, in (moment, id) order"
        for _, contact_id in fired:
            assert contacts[contact_id].wake is None
        later = timers.next_moment(contacts)
        assert later is None or later > until
        timers.compact(contacts)
        assert timers.stale_bound_holds(contacts)
    elif kind == "next":
        live = _live(contacts)
        assert timers.next_moment(contacts) == (live[0][0] if live else None)
    else:
        timers.compact(contacts)
        assert timers.stale_bound_holds(contacts)


@SETTINGS
@given(timer_operations)
def test_timer_wheel_keeps_its_invariants(ops: list[tuple[Any, ...]]) -> None:
    timers = TimerIndex()
    contacts: dict[str, Contact] = {}
    for operation in ops:
        _apply_timer_operation(timers, contacts, operation)
        timers.check(contacts)
    fired = [(moment, c.id) for moment, c in timers.pop_due_with_time(float("inf"), contacts)]
    assert sorted(fired) == fired
    assert len(timers) == 0
    timers.check(contacts)


def test_timer_compact_rebuilds_when_stale_entries_dominate() -> None:
    timers = TimerIndex()
    contacts: dict[str, Contact] = {}
    for step in range(2000):
        _schedule(timers, contacts, "c1", 100.0 + step)
    assert not timers.stale_bound_holds(contacts)
    timers.compact(contacts)
    assert len(timers) == 1
    timers.check(contacts)


def test_timer_check_reports_a_lost_wake_up() -> None:
    timers = TimerIndex()
    contact = Contact("c1", 0.0, 1)
    contact.wake = 5000.0  # set without a push
    with pytest.raises(AssertionError, match="no entry"):
        timers.check({"c1": contact})


# -- whole engines ---------------------------------------------------------------------------


def check_engine(engine: engage.Engine) -> None:
    """The engine's own invariant check when it has one; else its structures directly
    (read only: check() never syncs or pops)."""
    check_invariants = getattr(engine, "check_invariants", None)
    if check_invariants is not None:
        check_invariants()
        return
    engine._indexes.check(engine._contacts)
    engine._timers.check(engine._contacts)


QUERIES = ["score >= 3", "fit < 5", "score between 0 and 9", "last_activity within 1 day"]


@SETTINGS
@given(rules_text(time=True), operations(time=True), st.sampled_from([False, True]))
def test_engine_structures_keep_their_invariants(
    text: str, ops: list[tuple[str, Any]], batch: bool
) -> None:
    engine = engage.Engine(engage.compile(text, name="t.rules"))
    check_engine(engine)
    pending: list[dict[str, Any]] = []
    for number, (kind, value) in enumerate(ops):
        if kind == "event" and batch:
            pending.append(dict(value))
            continue
        if pending:
            engine.ingest_many(pending)
            pending = []
            check_engine(engine)
        if kind == "event":
            engine.ingest(dict(value))
        else:
            engine.advance(value)
        check_engine(engine)
        if number % 3 == 0:
            # Queries build the indexes: later changes then go through mark and sync.
            engine.count(QUERIES[number // 3 % len(QUERIES)])
            engine.top("fit", 2)
            check_engine(engine)
    if pending:
        engine.ingest_many(pending)
    check_engine(engine)
