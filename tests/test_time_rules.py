"""Time-driven rules: recency classes, decay crossings, windows, segments over time,
cooldowns and late events, at the exact moments docs/semantics.md (section 2, 5b) gives.

Intervals are half-open: ``X within D`` holds while ``now - X < D``, so a boundary is
crossed exactly at ``X + D`` and the actions it causes carry that moment as ``at``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import engage
from engage import Action, Engine
from engage.triggers.cascade import Cascade

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)


def make(text: str) -> Engine:
    # These tests move the clock a year and more past T0: a simulation, not a feed.
    return Engine(engage.compile(text, name="t.rules"), max_future=None)


def ev(
    contact: str, type_: str, when: datetime, event_id: str | None = None, **data: Any
) -> dict[str, Any]:
    record: dict[str, Any] = {"contact": contact, "type": type_, "at": when}
    if event_id is not None:
        record["id"] = event_id
    if data:
        record["data"] = data
    return record


def fired(actions: list[Action]) -> list[tuple[str, datetime]]:
    return [(a.action, a.at) for a in actions]


# -- recency classes ---------------------------------------------------------------------

VALUATION = """
valuation {
    new       within 15 days
    frequent  within 45 days
    dormant   within 120 days
}
when valuation is "new" then do new
when valuation is "frequent" then do frequent
when valuation is "dormant" then do dormant
when valuation is "expired" then do expired
when valuation is "inactive" then do inactive
when valuation is "discarded" then do discarded
"""


@pytest.mark.parametrize(
    ("days", "expected"), [(15, "frequent"), (45, "dormant"), (120, "expired")]
)
def test_recency_boundary_fires_exactly_at_the_boundary(days: int, expected: str) -> None:
    engine = make(VALUATION)
    assert fired(engine.ingest(ev("a", "email.open", T0))) == [("new", T0)]
    boundary = T0 + days * DAY
    # One second before the boundary the previous class still holds.
    engine.advance(boundary - SECOND)
    assert engine.contact("a").valuation != expected  # type: ignore[union-attr]
    actions = engine.advance(boundary)
    assert fired(actions)[-1] == (expected, boundary)
    assert actions[-1].event is None
    assert engine.contact("a").valuation == expected  # type: ignore[union-attr]


def test_recency_class_sequence_over_time() -> None:
    engine = make(VALUATION)
    engine.ingest(ev("a", "email.open", T0))
    actions = engine.advance(T0 + 365 * DAY)
    assert fired(actions) == [
        ("frequent", T0 + 15 * DAY),
        ("dormant", T0 + 45 * DAY),
        ("expired", T0 + 120 * DAY),
    ]
    assert engine.next_timer() is None


def test_only_class_ends_a_condition_tells_apart_wake_the_contact() -> None:
    # Only "dormant" is tested: the end of "new" (day 15) changes no condition, so the
    # contact sleeps until it turns dormant (day 45), then until it expires (day 120).
    engine = make(
        "valuation { new within 15 days  frequent within 45 days  dormant within 120 days }\n"
        'when valuation is "dormant" then do miss\n'
    )
    engine.ingest(ev("a", "email.open", T0))
    assert engine.next_timer() == T0 + 45 * DAY
    assert fired(engine.advance(T0 + 50 * DAY)) == [("miss", T0 + 45 * DAY)]
    assert engine.next_timer() == T0 + 120 * DAY
    engine.advance(T0 + 121 * DAY)
    assert engine.next_timer() is None


def test_a_window_wakes_the_contact_only_when_its_count_can_change_a_test() -> None:
    # ">= 2" changes only when the count drops from 2: with three visits (days 0, 1,
    # 2) that is when the day-1 visit leaves the window (day 4), not the day-0 one.
    engine = make("when count web.visit within 3 days >= 2 then do busy\n")
    for day in range(3):
        engine.ingest(ev("a", "web.visit", T0 + day * DAY))
    assert engine.next_timer() == T0 + 4 * DAY
    engine.advance(T0 + 4 * DAY)
    assert engine.next_timer() is None
    later = T0 + 4 * DAY + 12 * HOUR  # the day-2 visit is still inside: 2 again
    assert fired(engine.ingest(ev("a", "web.visit", later))) == [("busy", later)]


def test_new_activity_resets_recency() -> None:
    engine = make(VALUATION)
    engine.ingest(ev("a", "email.open", T0))
    assert fired(engine.advance(T0 + 20 * DAY)) == [("frequent", T0 + 15 * DAY)]
    assert fired(engine.ingest(ev("a", "email.open", T0 + 20 * DAY))) == [("new", T0 + 20 * DAY)]
    assert fired(engine.advance(T0 + 36 * DAY)) == [("frequent", T0 + 35 * DAY)]


def test_inactive_never_active_and_data_is_not_activity() -> None:
    engine = make(VALUATION)
    actions = engine.ingest(ev("a", "contact.updated", T0, city="Cali"))
    assert fired(actions) == [("inactive", T0)]
    assert engine.advance(T0 + 400 * DAY) == []
    assert engine.contact("a").valuation == "inactive"  # type: ignore[union-attr]
    actions = engine.ingest(ev("a", "web.visit", T0 + 401 * DAY))
    assert fired(actions) == [("new", T0 + 401 * DAY)]


@pytest.mark.parametrize(
    "event",
    [
        {"type": "email.bounce", "data": {"kind": "hard"}},
        {"type": "unsubscribe"},
        {"type": "contact.updated", "data": {"status": "suspended"}},
    ],
)
def test_discarded(event: dict[str, Any]) -> None:
    engine = make(VALUATION)
    engine.ingest(ev("a", "email.open", T0))
    actions = engine.ingest({"contact": "a", "at": T0 + DAY, **event})
    assert fired(actions) == [("discarded", T0 + DAY)]
    # Time does not move a discarded contact to another class.
    assert engine.advance(T0 + 200 * DAY) == []
    assert engine.contact("a").valuation == "discarded"  # type: ignore[union-attr]


def test_soft_bounce_and_scoped_unsubscribe_are_not_discarding() -> None:
    engine = make(VALUATION)
    engine.ingest(ev("a", "email.bounce", T0, kind="soft"))
    engine.ingest(ev("b", "unsubscribe", T0, campaign="spring"))
    assert engine.contact("a").valuation == "new"  # type: ignore[union-attr]
    assert engine.contact("b").valuation == "new"  # type: ignore[union-attr]


def test_count_by_valuation_follows_the_clock() -> None:
    engine = make(VALUATION)
    for n in range(10):
        engine.ingest(ev(f"c{n}", "email.open", T0 + n * DAY))
    engine.ingest(ev("idle", "contact.updated", T0))
    engine.advance(T0 + 20 * DAY)
    # Activity at day 6..9 is < 15 days old at day 20; day 0..5 is frequent.
    assert engine.count('valuation is "new"') == 4
    assert engine.count('valuation is "frequent"') == 6
    assert engine.count('valuation is "inactive"') == 1
    engine.advance(T0 + 21 * DAY)
    assert engine.count('valuation is "new"') == 3


# -- decay --------------------------------------------------------------------------------

DECAY = """
score {
    on boost +8
    on small +4
    decay half-life 10 days
}
rule "hot" when score >= 4 then do hot
rule "cold" when score < 4 then do cold
"""


def test_decaying_score_crosses_at_the_computed_moment() -> None:
    engine = make(DECAY)
    assert fired(engine.ingest(ev("a", "boost", T0))) == [("hot", T0)]
    crossing = T0 + 10 * DAY  # 8 halves to 4 after one half-life
    assert engine.next_timer() == crossing
    assert engine.advance(crossing - SECOND) == []
    actions = engine.advance(crossing + 5 * DAY)
    assert fired(actions) == [("cold", crossing)]
    assert actions[0].event is None
    view = engine.contact("a")
    assert view is not None
    assert view.scores["score"] == pytest.approx(8 * 2 ** (-1.5))


def test_decaying_threshold_rule_rearms_at_the_crossing() -> None:
    engine = make(DECAY)
    engine.ingest(ev("a", "boost", T0))
    # Before the crossing the score is still >= 4: more points do not fire `hot` again.
    assert engine.ingest(ev("a", "small", T0 + 9 * DAY)) == []
    # The new crossing: (8 * 2^-0.9 + 4) * 2^-(t/10d) == 4 at t = 10 * log2(1 + 2 * 2^-0.9).
    engine2 = make(DECAY)
    engine2.ingest(ev("a", "boost", T0))
    engine2.advance(T0 + 10 * DAY + SECOND)
    assert engine2.contact("a").score("score") < 4  # type: ignore[union-attr]
    actions = engine2.ingest(ev("a", "small", T0 + 11 * DAY))
    assert fired(actions) == [("hot", T0 + 11 * DAY)]


def test_decay_is_not_a_score_change_event() -> None:
    engine = make(
        """
score { on boost +8  decay half-life 1 day }
on score change then do changed
when score < 1 then do low
"""
    )
    assert fired(engine.ingest(ev("a", "boost", T0))) == [("changed", T0)]
    assert fired(engine.advance(T0 + 30 * DAY)) == [("low", T0 + 3 * DAY)]


# -- windows ------------------------------------------------------------------------------

WINDOWS = """
fields { renewal: time }
rule "had" when had email.open within 4 days then do had_open
rule "not had" when not had email.open within 4 days then do not_had
rule "many" when count email.click within 7 days >= 3 then do many
rule "few" when count email.click within 7 days < 3 then do few
rule "old" when created older than 30 days then do old
rule "recent" when last_activity within 2 days then do recent
rule "stale" when not (last_activity within 2 days) then do stale
"""


def test_had_turns_false_exactly_when_the_event_leaves_the_window() -> None:
    engine = make(WINDOWS)
    actions = engine.ingest(ev("a", "email.open", T0))
    assert ("had_open", T0) in fired(actions)
    assert ("not_had", T0) not in fired(actions)
    assert [a for a in engine.advance(T0 + 4 * DAY - SECOND) if a.action == "not_had"] == []
    actions = engine.advance(T0 + 4 * DAY)
    assert ("not_had", T0 + 4 * DAY) in fired(actions)


def test_had_where_reads_the_event() -> None:
    engine = make(
        'rule "w" when had email.open where event.message == "welcome" within 4 days '
        "then do opened_welcome\n"
    )
    assert engine.ingest(ev("a", "email.open", T0, message="other")) == []
    actions = engine.ingest(ev("a", "email.open", T0 + DAY, message="welcome"))
    assert fired(actions) == [("opened_welcome", T0 + DAY)]


def test_count_turns_false_exactly_when_the_oldest_event_leaves() -> None:
    engine = make(WINDOWS)
    engine.ingest(ev("a", "email.click", T0 + DAY))
    engine.ingest(ev("a", "email.click", T0 + 2 * DAY))
    actions = engine.ingest(ev("a", "email.click", T0 + 3 * DAY))
    assert ("many", T0 + 3 * DAY) in fired(actions)
    assert [a for a in engine.advance(T0 + 8 * DAY - SECOND) if a.action == "few"] == []
    actions = engine.advance(T0 + 8 * DAY)
    assert ("few", T0 + 8 * DAY) in fired(actions)


def test_within_and_older_than_boundaries() -> None:
    engine = make(WINDOWS)
    actions = engine.ingest(ev("a", "web.visit", T0))
    assert ("recent", T0) in fired(actions)
    actions = engine.advance(T0 + 60 * DAY)
    assert ("stale", T0 + 2 * DAY) in fired(actions)
    assert ("old", T0 + 30 * DAY) in fired(actions)


def test_time_field_within() -> None:
    engine = make("fields { trial_end: time }\nwhen trial_end older than 1 day then do ended\n")
    end = T0 + 5 * DAY
    assert engine.ingest(ev("a", "contact.updated", T0, trial_end=end.isoformat())) == []
    assert engine.advance(end + DAY - SECOND) == []
    assert fired(engine.advance(end + 3 * DAY)) == [("ended", end + DAY)]


# -- segments over events and time ------------------------------------------------------------

SEGMENTS = """
score { on email.open +5 }
segment warm = score >= 5 and last_activity within 10 days
on segment enter warm then do entered
on segment exit warm then do left
"""


def test_segment_enter_by_event_and_exit_by_time() -> None:
    engine = make(SEGMENTS)
    actions = engine.ingest(ev("a", "email.open", T0))
    assert fired(actions) == [("entered", T0)]
    assert engine.contact("a").segments == ["warm"]  # type: ignore[union-attr]
    assert engine.select("in segment warm") == ["a"]
    assert engine.advance(T0 + 10 * DAY - SECOND) == []
    actions = engine.advance(T0 + 10 * DAY)
    assert fired(actions) == [("left", T0 + 10 * DAY)]
    assert engine.contact("a").segments == []  # type: ignore[union-attr]
    assert engine.count("in segment warm") == 0
    # Re-entering by a new event.
    assert fired(engine.ingest(ev("a", "email.open", T0 + 11 * DAY))) == [
        ("entered", T0 + 11 * DAY)
    ]


def test_segment_exit_by_event() -> None:
    engine = make(SEGMENTS + 'on drop then untag "VIP"\n')
    engine.ingest(ev("a", "email.open", T0))
    actions = engine.ingest(ev("a", "contact.updated", T0 + DAY, score=1))
    assert fired(actions) == [("left", T0 + DAY)]
    assert engine.contact("a").segments == []  # type: ignore[union-attr]
    actions = engine.ingest(ev("a", "contact.updated", T0 + 2 * DAY, score=9))
    assert fired(actions) == [("entered", T0 + 2 * DAY)]


def test_segment_over_a_tag_changed_by_a_rule() -> None:
    engine = make(
        """
segment vip = tagged "VIP"
on drop then untag "VIP"
on segment enter vip then do vip_in
on segment exit vip then do vip_out
"""
    )
    assert fired(engine.ingest(ev("a", "contact.updated", T0, tags=["VIP"]))) == [("vip_in", T0)]
    actions = engine.ingest(ev("a", "drop", T0 + DAY))
    assert [a.action for a in actions] == ["untag", "vip_out"]
    assert engine.contact("a").segments == []  # type: ignore[union-attr]


# -- cooldowns ------------------------------------------------------------------------------


def test_at_most_once_per_drops_firings_inside_the_window() -> None:
    engine = make('rule "c" on email.open then do hit at most once per 1 day\n')
    times = [T0, T0 + 12 * timedelta(hours=1), T0 + DAY - SECOND, T0 + DAY, T0 + DAY + SECOND]
    hits = [bool(engine.ingest(ev("a", "email.open", t))) for t in times]
    assert hits == [True, False, False, True, False]
    # Dropped, not delayed: nothing fires later by time.
    assert engine.advance(T0 + 10 * DAY) == []


def test_cooldown_on_an_edge_rule() -> None:
    engine = make(
        """
fields { nps: number }
rule "c" when nps >= 5 then do hit at most once per 2 days
"""
    )
    values = [(0, 6), (1, 1), (1, 7), (2, 1), (3, 8)]
    hits = [bool(engine.ingest(ev("a", "contact.updated", T0 + d * DAY, nps=v))) for d, v in values]
    # The rising edge at day 1 is inside the cooldown and dropped; the one at day 3 fires.
    assert hits == [True, False, False, False, True]


# -- late events ----------------------------------------------------------------------------


def test_late_event_applies_at_the_clock_and_nothing_is_lost() -> None:
    engine = make(
        """
score { on email.open +1 }
rule "cnt" when count email.open within 3 days >= 2 then do cnt
rule "each" on email.open then do opened
"""
    )
    engine.ingest(ev("b", "web.visit", T0 + 10 * DAY))  # the clock is now day 10
    actions = engine.ingest(ev("a", "email.open", T0 + 9 * DAY, "late1"))
    assert [(a.action, a.at, a.event) for a in actions] == [("opened", T0 + 10 * DAY, "late1")]
    view = engine.contact("a")
    assert view is not None
    assert view.scores == {"score": 1}
    assert view.created == T0 + 9 * DAY  # "created time is t" (semantics 3.2)
    assert view.last_activity == T0 + 9 * DAY
    assert engine.stats.late == 1
    # A second late event: the window counts both at their own times (day 8 and 9).
    actions = engine.ingest(ev("a", "email.open", T0 + 8 * DAY, "late2"))
    assert ("cnt", T0 + 10 * DAY) in fired(actions)
    assert view.last_activity == T0 + 9 * DAY  # the later of the two
    # The day-8 event leaves the window at day 11.
    assert engine.next_timer() == T0 + 11 * DAY
    assert engine.clock == T0 + 10 * DAY


def test_a_record_without_at_happens_at_the_clock() -> None:
    engine = make("score { on email.open +1 }\n")
    engine.ingest({"contact": "a", "type": "email.open"})
    assert engine.stats.rejected == 1
    assert "clock" in engine.rejected[0].reason
    engine.ingest(ev("a", "email.open", T0))
    engine.ingest({"contact": "a", "type": "email.open"})
    assert engine.contact("a").scores == {"score": 2}  # type: ignore[union-attr]


def test_advance_never_moves_the_clock_back() -> None:
    engine = make(VALUATION)
    engine.ingest(ev("a", "email.open", T0 + DAY))
    assert engine.advance(T0) == []
    assert engine.clock == T0 + DAY


def test_timers_fire_in_time_order_then_by_contact() -> None:
    engine = make(VALUATION)
    engine.ingest(ev("b", "email.open", T0))
    engine.ingest(ev("a", "email.open", T0))
    engine.ingest(ev("c", "email.open", T0 - DAY))
    actions = engine.advance(T0 + 16 * DAY)
    assert [(a.contact, a.at) for a in actions] == [
        ("c", T0 + 14 * DAY),
        ("a", T0 + 15 * DAY),
        ("b", T0 + 15 * DAY),
    ]


def test_timers_due_before_an_event_fire_before_it() -> None:
    engine = make(VALUATION + "on email.open then do opened\n")
    engine.ingest(ev("a", "email.open", T0))
    actions = engine.ingest(ev("a", "email.open", T0 + 20 * DAY))
    assert fired(actions) == [
        ("frequent", T0 + 15 * DAY),
        ("new", T0 + 20 * DAY),
        ("opened", T0 + 20 * DAY),
    ]


def test_why_of_a_recency_change_names_both_classes() -> None:
    engine = make(VALUATION)
    engine.ingest(ev("a", "email.open", T0))
    (action,) = engine.advance(T0 + 15 * DAY)
    assert action.why is not None
    assert action.why["reads"]["valuation"] == ["new", "frequent"]


def test_next_timer_is_the_next_pending_wakeup() -> None:
    engine = make('when valuation is "frequent" then do frequent\n')
    engine.ingest(ev("a", "email.open", T0))
    engine.ingest(ev("a", "email.open", T0 + DAY))
    assert engine.next_timer() == T0 + 16 * DAY


# -- the wake plan ----------------------------------------------------------------------------

CASCADING_WAKE = """
valuation {
    new       within 15 days
    frequent  within 45 days
}
when valuation is "frequent" then tag "cooling"
when tagged "cooling" then notify sales
"""


@pytest.mark.parametrize("segment", ["", 'segment recent = valuation is "new"\n'])
def test_a_wake_ups_actions_cascade_with_the_timer_as_cause(segment: str) -> None:
    """What a wake-up's rules change is read by other rules in the same cascade; every
    action carries the timer. With a segment over the class, which this wake-up moves,
    it takes the general round; without, the wake plan: the two must agree."""
    engine = make(CASCADING_WAKE + segment)
    assert engine.program.wake_truth is not None
    assert (engine.program.wake_segments is not None) == bool(segment)
    engine.ingest(ev("a", "email.open", T0))
    actions = engine.advance(T0 + 20 * DAY)
    assert [(a.action, a.args, a.at) for a in actions] == [
        ("tag", ["cooling"], T0 + 15 * DAY),
        ("notify", ["sales"], T0 + 15 * DAY),
    ]
    for action in actions:
        assert action.why is not None
        assert action.why["timer"] == "2026-01-16T00:00:00Z"
    assert actions[0].why is not None
    assert actions[0].why["reads"]["valuation"] == ["new", "frequent"]
    assert engine.advance(T0 + 30 * DAY) == []


DECAYING_SEGMENT = """
score {
    on form.submit +10
    decay half-life 1 day
}
segment warm = score >= 4
on segment exit warm then do cooled
when score < 8 then tag "fading"
when score < 2 then notify sales
"""


def test_a_wake_up_that_moves_a_segment_takes_the_general_round(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A segment over a decaying score does not keep the program off the wake plan:
    wake-ups that leave it as it is take the plan, the one that moves it takes the
    general round (which fires the exit rule). Both give what the general round alone
    gives."""
    engine = make(DECAYING_SEGMENT)
    assert engine.program.wake_truth is not None
    assert engine.program.wake_segments is not None
    general_wakes: list[str] = []
    run = Cascade.run

    def counting_run(cascade: Cascade, contact: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("wake"):
            general_wakes.append(contact.id)
        return run(cascade, contact, *args, **kwargs)

    monkeypatch.setattr(Cascade, "run", counting_run)
    engine.ingest(ev("a", "form.submit", T0))
    actions = engine.advance(T0 + 3 * DAY)
    assert [a.action for a in actions] == ["tag", "cooled", "notify"]
    assert general_wakes == ["a"]  # the exit; the two threshold wake-ups took the plan

    reference = make(DECAYING_SEGMENT)
    reference.program.wake_truth = None  # every wake-up through the general round
    reference.ingest(ev("a", "form.submit", T0))
    expected = reference.advance(T0 + 3 * DAY)
    assert [(a.action, a.args, a.at, a.why) for a in actions] == [
        (a.action, a.args, a.at, a.why) for a in expected
    ]


def test_ingest_many_hands_the_decay_reference_to_the_full_path() -> None:
    """The inline path moves the clock without touching decaying scores. An event it
    hands to the full path at that same moment must find the decay reference moved
    too: a short half-life 56 years from the reference overflowed the scaling."""
    engine = make(
        "score {\n    on email.open +1\n    decay half-life 6 hours\n}\n"
        "score fit {\n    on email.open +1\n}\n"
        'when fit >= 1 then tag "fits"\n'
    )
    assert engine.inline_types, "the click must take the inline path"
    at = T0.timestamp()
    engine.ingest_many(
        [
            {"contact": "c1", "type": "email.click", "at": at},  # inline: no points
            {"contact": "c1", "type": "contact.updated", "at": at, "data": {"score": 2}},
        ]
    )
    assert engine.problems == []
    (dumped,) = engine.dump()
    assert dumped["scores"] == {"score": 2}
