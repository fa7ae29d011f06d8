"""Campaign flows (LANGUAGE.md section 5; docs/flows.md): entry, steps, waits, leaving,
re-entry, windows, flow actions and rules, deletion, versions, snapshots and the step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import engage
from engage import Action, Engine
from engage.engine.step import step, wake
from engage.errors import RulesCheckError, RulesError
from engage.flows.driver import cohort
from engage.timeutil import format_time, parse_time

HEAD = """
score { on email.open +1  on web.visit +1 }
segment nuevos = tagged "new"
"""


def compile_(body: str) -> engage.Rules:
    return engage.compile_rules(HEAD + body, "t.rules")


def engine_for(body: str) -> Engine:
    return Engine(compile_(body), max_future=None)


def ev(contact: str, type_: str, at: str, **data: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"contact": contact, "type": type_, "at": at}
    if data:
        record["data"] = data
    return record


def join(contact: str, at: str, *tags: str) -> dict[str, Any]:
    return ev(contact, "contact.updated", at, tags=["new", *tags])


def log(actions: list[Action]) -> list[tuple[str, str, str, Any]]:
    """(time, contact, verb, what): the first argument, or the reason of an exit."""
    rows = []
    for a in actions:
        what: Any = a.args[0] if a.args else None
        if a.action == "exit_flow":
            what = (a.args[0], (a.options or {}).get("reason"))
        rows.append((format_time(a.time), a.contact, a.action, what))
    return rows


BASIC = """
flow onboarding {
    for segment nuevos
    wait 4 days
    send email "welcome"
    wait 7 days
    send sms "second"
}
"""


def test_entry_at_join_waits_and_sends_in_order() -> None:
    engine = engine_for(BASIC)
    out = engine.ingest(join("a", "2026-01-01T10:00:00Z"))
    assert log(out) == [("2026-01-01T10:00:00Z", "a", "enter_flow", "onboarding")]
    out = engine.advance("2026-02-01")
    assert log(out) == [
        ("2026-01-05T10:00:00Z", "a", "send_email", "welcome"),
        ("2026-01-12T10:00:00Z", "a", "send_sms", "second"),
        ("2026-01-12T10:00:00Z", "a", "exit_flow", ("onboarding", "finished")),
    ]
    send = out[0]
    assert send.rule == "flow:onboarding" and send.step == "2" and send.version == 1
    assert send.to_dict()["step"] == "2"
    assert engine.outbox[-2:] == out[:2]  # sends went to the outbox
    view = engine.contact("a")
    assert view is not None and view.flows == []
    assert view.flow_places[0]["reason"] == "finished"


def test_waits_are_timers_not_polls() -> None:
    engine = engine_for(BASIC)
    engine.ingest(join("a", "2026-01-01T00:00:00Z"))
    assert engine.next_timer() is not None
    assert format_time(engine.next_timer().timestamp()) == "2026-01-05T00:00:00Z"  # type: ignore[union-attr]
    assert engine.advance("2026-01-04T23:59:59Z") == []
    assert [a.action for a in engine.advance("2026-01-05")] == ["send_email"]


def test_one_running_instance_and_no_reentry_by_default() -> None:
    engine = engine_for(BASIC)
    engine.ingest(join("a", "2026-01-01"))
    engine.ingest(ev("a", "contact.updated", "2026-01-02", tags=[]))  # leaves the segment
    engine.ingest(ev("a", "contact.updated", "2026-01-02T01:00:00Z", tags=["new"]))  # again
    out = engine.advance("2026-03-01")
    assert [a.action for a in out].count("enter_flow") == 0
    assert [a.action for a in out].count("send_email") == 1


def test_branches_are_chosen_on_arrival() -> None:
    engine = engine_for(
        """
        flow f {
            for segment nuevos
            wait 1 day
            if score >= 2 { send email "hot" }
            else if score >= 1 { send email "warm" }
            else { send email "cold" }
            notify sales
        }
        """
    )
    engine.ingest(join("a", "2026-01-01"))
    engine.ingest(join("b", "2026-01-01"))
    engine.ingest(join("c", "2026-01-01"))
    engine.ingest(ev("a", "email.open", "2026-01-01T01:00:00Z"))
    engine.ingest(ev("a", "email.open", "2026-01-01T02:00:00Z"))
    engine.ingest(ev("b", "email.open", "2026-01-01T03:00:00Z"))
    out = engine.advance("2026-01-03")
    sends = {a.contact: (a.args[0], a.step) for a in out if a.action == "send_email"}
    assert sends == {"a": ("hot", "2.1.1"), "b": ("warm", "2.2.1"), "c": ("cold", "2.else.1")}
    assert [a.step for a in out if a.action == "notify"] == ["3", "3", "3"]


def test_split_is_deterministic_and_close_to_its_share() -> None:
    body = """
    flow f {
        for segment nuevos
        split 30% { send email "a" } else { send email "b" }
    }
    """
    first = engine_for(body)
    second = engine_for(body)
    events = [join(f"c{i}", "2026-01-01") for i in range(1000)]
    out1 = first.ingest_many(events)
    out2 = second.ingest_many(events)
    pick1 = {a.contact: a.args[0] for a in out1 if a.action == "send_email"}
    pick2 = {a.contact: a.args[0] for a in out2 if a.action == "send_email"}
    assert pick1 == pick2
    share = sum(1 for v in pick1.values() if v == "a") / len(pick1)
    assert 0.25 < share < 0.35
    assert all((cohort(c, "f", 1) < 30) == (v == "a") for c, v in pick1.items())


def test_wait_until_goes_on_at_once_when_it_becomes_true_or_after_at_most() -> None:
    engine = engine_for(
        """
        flow f {
            for segment nuevos
            wait until tagged "demo" at most 3 days
            send email "next"
        }
        """
    )
    engine.ingest(join("now", "2026-01-01", "demo"))  # holds already: at once
    engine.ingest(join("later", "2026-01-01"))
    engine.ingest(join("never", "2026-01-01"))
    out = engine.ingest(ev("later", "contact.updated", "2026-01-02", tags=["new", "demo"]))
    out += engine.advance("2026-01-10")
    sends = [(format_time(a.time), a.contact) for a in out if a.action == "send_email"]
    assert sends == [("2026-01-02T00:00:00Z", "later"), ("2026-01-04T00:00:00Z", "never")]


def test_wait_until_a_time_of_day_in_the_contacts_zone_across_dst() -> None:
    engine = engine_for(
        """
        flow f {
            for segment nuevos
            timezone "America/New_York"
            wait until 09:00 on weekdays
            send email "morning"
        }
        """
    )
    # Saturday 7 March 2026, 20:00 in New York; DST starts on Sunday 8 March.
    engine.ingest(join("ny", "2026-03-08T01:00:00Z"))
    engine.ingest(
        ev(
            "bog",
            "contact.updated",
            "2026-03-08T01:00:00Z",
            tags=["new"],
            timezone="America/Bogota",
        )
    )
    out = engine.advance("2026-03-12")
    sends = {a.contact: format_time(a.time) for a in out if a.action == "send_email"}
    # Monday 9 March 09:00 EDT (13:00Z) for the flow's zone; 09:00 in Bogota is 14:00Z.
    assert sends == {"ny": "2026-03-09T13:00:00Z", "bog": "2026-03-09T14:00:00Z"}


def test_exit_while_waiting_and_no_entry_while_exit_holds() -> None:
    engine = engine_for(
        """
        flow f {
            for segment nuevos
            exit when score >= 2
            wait 5 days
            send email "late"
        }
        """
    )
    engine.ingest(join("a", "2026-01-01"))
    engine.ingest(ev("a", "email.open", "2026-01-02"))
    out = engine.ingest(ev("a", "email.open", "2026-01-03"))
    assert log(out) == [("2026-01-03T00:00:00Z", "a", "exit_flow", ("f", "exit"))]
    engine.ingest(ev("b", "email.open", "2026-01-03"))
    engine.ingest(ev("b", "email.open", "2026-01-03T01:00:00Z"))
    assert engine.ingest(join("b", "2026-01-03T02:00:00Z")) == []  # exit holds: no entry
    assert [a.action for a in engine.advance("2026-02-01")] == []


def test_exit_by_time_alone_while_waiting() -> None:
    engine = engine_for(
        """
        flow f {
            for segment nuevos
            exit when not (last_activity within 3 days)
            wait 10 days
            send email "never"
        }
        """
    )
    engine.ingest(ev("a", "web.visit", "2026-01-01"))
    engine.ingest(join("a", "2026-01-01T01:00:00Z"))
    out = engine.advance("2026-01-20")
    assert log(out) == [("2026-01-04T00:00:00Z", "a", "exit_flow", ("f", "exit"))]


def test_goal_leaves_and_goal_continue_counts_once_and_stays() -> None:
    body = """
    flow f {
        for segment nuevos
        goal tagged "Cliente"%s
        wait 2 days
        send email "after"
    }
    """
    leaving = engine_for(body % "")
    leaving.ingest(join("a", "2026-01-01"))
    out = leaving.ingest(join("a", "2026-01-01T05:00:00Z", "Cliente"))
    assert log(out) == [("2026-01-01T05:00:00Z", "a", "exit_flow", ("f", "goal"))]
    staying = engine_for(body % " continue")
    staying.ingest(join("a", "2026-01-01"))
    out = staying.ingest(join("a", "2026-01-01T05:00:00Z", "Cliente"))
    out += staying.ingest(ev("a", "web.visit", "2026-01-01T06:00:00Z"))
    out += staying.advance("2026-01-05")
    assert [a.action for a in out] == ["flow_goal", "send_email", "exit_flow"]
    assert staying.contact("a").flow_places[0]["converted"] is True  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("only", "expected"),
    [("", ["goal", "finished"]), (" only converted", ["goal"]), (" only dismissed", ["finished"])],
)
def test_reentry_after_a_while_in_each_mode(only: str, expected: list[str]) -> None:
    engine = engine_for(
        f"""
        flow f {{
            for segment nuevos
            re-enter after 10 days{only}
            goal tagged "won"
            wait 1 day
            send email "hi"
        }}
        """
    )
    engine.ingest(join("done", "2026-01-01"))  # finishes on 2 January
    engine.ingest(join("conv", "2026-01-01"))
    engine.ingest(join("conv", "2026-01-01T01:00:00Z", "won"))  # converted at once
    engine.ingest(ev("conv", "contact.updated", "2026-01-01T02:00:00Z", tags=["new"]))
    out = engine.advance("2026-01-20")
    entered = sorted((format_time(a.time), a.contact) for a in out if a.action == "enter_flow")
    reasons = {"conv": "goal", "done": "finished"}
    want = sorted(
        ("2026-01-11T01:00:00Z", "conv") if who == "conv" else ("2026-01-12T00:00:00Z", "done")
        for who in (c for c, r in reasons.items() if r in expected)
    )
    assert entered == want  # without leaving and joining the segment again


def test_window_entry_at_from_and_end_at_to_in_the_flows_zone() -> None:
    engine = engine_for(
        """
        flow f {
            for segment nuevos
            from 2026-02-01 to 2026-02-10
            timezone "America/Bogota"
            wait 30 days
            send email "never"
        }
        """
    )
    assert engine.ingest(join("a", "2026-01-15")) == []  # before the window
    out = engine.advance("2026-03-01")
    assert log(out) == [
        ("2026-02-01T05:00:00Z", "a", "enter_flow", "f"),
        ("2026-02-10T05:00:00Z", "a", "exit_flow", ("f", "ended")),
    ]
    assert engine.ingest(join("b", "2026-02-11")) == []  # after the window


def test_enter_and_exit_flow_actions_and_flow_rules() -> None:
    engine = engine_for(
        """
        segment nobody = tagged "nobody"
        flow f {
            for segment nobody
            wait 1 day
            send email "x"
        }
        rule "in" on web.visit then enter flow f
        rule "out" on email.open then exit flow f
        on flow enter f then tag "in-f"
        on flow exit f where event.reason == "exit" then notify ops "left"
        """
    )
    out = engine.ingest(ev("a", "web.visit", "2026-01-01"))
    assert [a.action for a in out] == ["enter_flow", "enter_flow", "tag"]
    assert [a.rule for a in out][:2] == ["in", "flow:f"]
    assert engine.ingest(ev("a", "web.visit", "2026-01-01T01:00:00Z"))[1:] == []  # inside
    out = engine.ingest(ev("a", "email.open", "2026-01-01T02:00:00Z"))
    assert [a.action for a in out] == ["exit_flow", "exit_flow", "notify"]
    assert engine.advance("2026-02-01") == []


def test_deleting_a_contact_takes_it_out_of_its_flows() -> None:
    engine = engine_for(BASIC)
    engine.ingest(join("a", "2026-01-01"))
    out = engine.ingest(ev("a", "contact.deleted", "2026-01-02"))
    assert log(out) == [("2026-01-02T00:00:00Z", "a", "exit_flow", ("onboarding", "deleted"))]
    assert engine.advance("2026-02-01") == []


def test_a_step_that_changes_state_is_seen_by_the_next_step() -> None:
    engine = engine_for(
        """
        segment tagged_x = tagged "x"
        flow f {
            for segment nuevos
            tag "x"
            wait until in segment tagged_x
            send email "seen"
        }
        on tag added "x" then notify sales
        """
    )
    out = engine.ingest(join("a", "2026-01-01"))
    assert [a.action for a in out] == ["enter_flow", "tag", "notify", "send_email", "exit_flow"]


def test_a_flow_needs_a_segment_with_a_caret() -> None:
    with pytest.raises(RulesCheckError) as caught:
        compile_('flow f {\n    wait 1 day\n    send email "x"\n}')
    text = str(caught.value)
    assert "has no `for segment` line" in text and "^" in text and "t.rules:4:6" in text


def test_header_after_a_step_is_refused() -> None:
    with pytest.raises(RulesError, match="before the first step"):
        compile_('flow f { for segment nuevos wait 1 day exit when score > 1 send email "x" }')


def test_unknown_flow_segment_and_zone_are_refused_with_suggestions() -> None:
    with pytest.raises(RulesCheckError) as caught:
        compile_(
            'flow welcome { for segment nuevo timezone "Mars/Base" wait 1 day send email "x" }\n'
            "on web.visit then enter flow welcom"
        )
    text = str(caught.value)
    assert "unknown segment 'nuevo'" in text and "did you mean 'nuevos'" in text
    assert "unknown time zone 'Mars/Base'" in text
    assert "unknown flow 'welcom'" in text and "did you mean 'welcome'" in text


def test_reload_keeps_contacts_in_their_version_and_new_entrants_get_the_new_one() -> None:
    engine = engine_for(BASIC)
    engine.ingest(join("old", "2026-01-01"))
    changed = BASIC.replace('send sms "second"', 'send push "second-v2"')
    report = engine.reload(compile_(changed))
    assert report.flow_actions == []
    engine.ingest(join("new", "2026-01-02"))
    out = engine.advance("2026-02-01")
    seconds = {a.contact: (a.action, a.version) for a in out if a.step == "4"}
    assert seconds == {"old": ("send_sms", 1), "new": ("send_push", 2)}
    # Comments and blanks are not a new version.
    engine.reload(compile_(changed.replace("wait 4 days", "wait 4 days  # first")))
    out = engine.ingest(join("third", "2026-02-02"))
    assert out[0].version == 2


def test_reload_without_the_flow_takes_its_contacts_out() -> None:
    engine = engine_for(BASIC)
    engine.ingest(join("a", "2026-01-01"))
    report = engine.reload(compile_(""))
    assert log(report.flow_actions) == [
        ("2026-01-01T00:00:00Z", "a", "exit_flow", ("onboarding", "removed"))
    ]
    assert "left flows that can no longer run" in " ".join(report.messages())
    assert engine.advance("2026-03-01") == []


def test_snapshot_mid_flow_gives_the_same_sends(tmp_path: Path) -> None:
    straight = engine_for(BASIC)
    events = [join("a", "2026-01-01"), join("b", "2026-01-03")]
    straight.ingest_many(events)
    expected = log(straight.advance("2026-02-01"))
    first = engine_for(BASIC)
    first.ingest_many(events)
    first.advance("2026-01-06")
    path = tmp_path / "s.snap"
    first.snapshot(path)
    restored = Engine.restore(path, compile_(BASIC), max_future=None)
    got = log(restored.advance("2026-02-01"))
    assert got == [row for row in expected if row[0] > "2026-01-06"]
    # An older version survives a restore too.
    changed = compile_(BASIC.replace('send sms "second"', 'send sms "v2"'))
    again = Engine.restore(path, changed, max_future=None)
    assert [a.args[0] for a in again.advance("2026-02-01") if a.action == "send_sms"] == [
        "second",
        "second",
    ]


def test_the_pure_step_carries_flow_positions() -> None:
    rules = compile_(BASIC)
    result = step(rules, None, join("a", "2026-01-01"))
    assert [a.action for a in result.actions] == ["enter_flow"]
    assert result.next_wake == parse_time("2026-01-05")
    woken = wake(rules, result.state, parse_time("2026-01-05"))
    assert [a.args[0] for a in woken.actions] == ["welcome"]
    assert woken.next_wake == parse_time("2026-01-12")


POLICED = """
segment vip = tagged "vip"
campaign "cc" { for segment vip category "promo" }
policy {
    timezone "America/Bogota"
    email at most 1 per 1 day
    quiet hours 21:00 to 08:00
    over cap hold
}
flow f {
    for segment nuevos
    category "promo"
    send email "first"
    send email "second"
    send email "cross" from campaign "cc"
    notify sales
}
"""


def test_a_held_send_holds_the_flow_and_a_cross_campaign_send_is_skipped() -> None:
    engine = engine_for(POLICED)
    handled: list[Action] = []
    engine.on("*", handled.append)
    out = engine.ingest(join("a", "2026-01-01T03:00:00Z"))  # 22:00 in Bogota: quiet
    out += engine.advance("2026-01-05")
    sends = [
        (format_time(a.time), a.args[0], a.held_until and format_time(a.held_until), a.skipped)
        for a in out
        if a.action == "send_email"
    ]
    assert sends == [
        ("2026-01-01T03:00:00Z", "first", "2026-01-01T13:00:00Z", None),  # quiet hours
        ("2026-01-01T13:00:00Z", "first", None, None),
        ("2026-01-01T13:00:00Z", "second", "2026-01-02T13:00:00Z", None),  # the cap
        ("2026-01-02T13:00:00Z", "second", None, None),
        ("2026-01-02T13:00:00Z", "cross", None, "not in segment vip of campaign cc"),
    ]
    assert [a.args[0] for a in handled if a.action == "send_email"] == ["first", "second"]
    assert out[-1].action == "exit_flow" and out[-2].action == "notify"
    assert all((a.options or {}).get("category") == "promo" for a in out if a.step in ("1", "2"))
