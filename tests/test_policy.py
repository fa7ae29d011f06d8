"""Campaigns, contact policies, consent, unsubscribe scopes, lists and the send gate.

LANGUAGE.md sections 5 and 6 end to end through the public API: every test compiles a
small rules text, feeds events and checks the send records (``suppressed``,
``skipped``, ``held_until``), what reaches handlers, and the state that carries held
sends and cap counters through snapshots and the per-contact step.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import engage
from engage import Action, Engine
from engage.dsl import ast
from engage.dsl.formatter import format_rules
from engage.dsl.parser import parse
from engage.engine.step import step
from engage.engine.step import wake as step_wake
from engage.errors import RulesCheckError, Span
from engage.policy.gate import SendGate, contact_zone
from engage.state.contact import HELD, SENT
from engage.timeutil import coerce_time

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # a Monday; 05:00 in Bogotá
S = Span(0, 0, 0, 0)  # spans are not compared


def make(text: str) -> Engine:
    return Engine(engage.compile(text, name="t.rules"), max_future=None)


def at(hours: float = 0.0, days: float = 0.0) -> str:
    moment = T0 + timedelta(hours=hours, days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def ev(contact: str, type_: str, when: str, **data: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"contact": contact, "type": type_, "at": when}
    if data:
        record["data"] = data
    return record


def update(contact: str, when: str, **data: Any) -> dict[str, Any]:
    return ev(contact, "contact.updated", when, **data)


def sends(actions: list[Action]) -> list[Action]:
    return [a for a in actions if a.action.startswith("send_")]


def outcome(action: Action) -> str:
    """How a send ended, in one word and its reason."""
    if action.suppressed is not None:
        return f"suppressed: {action.suppressed}"
    if action.skipped is not None:
        return f"skipped: {action.skipped}"
    if action.held_until is not None:
        return f"held until {action.to_dict()['held_until']}"
    return "sent"


def outcomes(actions: list[Action]) -> list[tuple[str, str]]:
    return [(a.args[0], outcome(a)) for a in sends(actions)]


# -- the language: parse, check, format ---------------------------------------------------

CAMPAIGNS = """
segment eligible = tagged "eligible"
campaign "credit-cards" {
    for segment eligible
    category "cross-sell"
    priority 5
    log sends as "proposed"
    requires list "offers"
    unsubscribe link category and campaign, channel only
}
policy {
    timezone "America/Bogota"
    email at most 3 per 7 days
    sms at most 1 per 1 day
    any at most 5 per 7 days
    category "promotions" at most 2 per 7 days
    category "promotions" priority 2
    contacts at most 4 per 30 days
    quiet hours 21:00 to 08:00
    over cap drop
    require consent sms
}
"""


def test_campaign_and_policy_blocks_parse_into_their_nodes() -> None:
    decls = parse(CAMPAIGNS).decls
    campaign, policy = decls[1], decls[2]
    assert campaign == ast.CampaignDecl(
        "credit-cards",
        ("eligible",),
        "cross-sell",
        5,
        "proposed",
        "offers",
        ast.UnsubscribeLink(True, True, True, S),
        S,
    )
    assert isinstance(policy, ast.PolicyBlock)
    assert policy.timezone == "America/Bogota"
    assert [(c.scope, c.category, c.limit, c.window.text) for c in policy.caps] == [
        ("email", None, 3, "7 days"),
        ("sms", None, 1, "1 day"),
        ("any", None, 5, "7 days"),
        ("category", "promotions", 2, "7 days"),
        ("contacts", None, 4, "30 days"),
    ]
    assert policy.quiet is not None and (policy.quiet.start, policy.quiet.end) == ("21:00", "08:00")
    assert policy.over_cap == "drop"
    assert policy.require_consent == ("sms",)
    assert policy.category_priorities[0].priority == 2


def test_new_actions_and_the_subscribed_condition_parse() -> None:
    (rule,) = parse(
        'when subscribed to "news" then send email "r" from campaign "C" transactional, '
        'unsubscribe from campaign "C" and category channel email, '
        'unsubscribe from category "K", unsubscribe channel sms, unsubscribe, '
        'subscribe to list "L", unsubscribe from list "L"'
    ).decls
    assert isinstance(rule, ast.RuleDecl)
    assert isinstance(rule.trigger, ast.WhenTrigger)
    assert rule.trigger.condition == ast.Subscribed("news", S)
    send, both, category, channel, everything, join, leave = rule.actions
    assert isinstance(send, ast.SendAction) and send.transactional and send.campaign == "C"
    assert isinstance(both, ast.UnsubscribeAction) and both.and_category
    assert (both.scope, both.scope_name, both.channel) == ("campaign", "C", "email")
    assert isinstance(category, ast.UnsubscribeAction) and category.scope == "category"
    assert isinstance(channel, ast.UnsubscribeAction) and channel.channel == "sms"
    assert isinstance(everything, ast.UnsubscribeAction) and everything.scope == "all"
    assert join == ast.ListAction("subscribe_to_list", "L", S)
    assert leave == ast.ListAction("unsubscribe_from_list", "L", S)


def test_policy_compiles_into_its_spec() -> None:
    program = engage.compile(CAMPAIGNS, name="t.rules").program_for_engine()
    policy = program.policy
    assert policy is not None
    assert policy.zone_name == "America/Bogota"
    assert [cap.text for cap in policy.caps] == [
        "cap email 3 per 7 days",
        "cap sms 1 per 1 day",
        "cap any 5 per 7 days",
        "cap category promotions 2 per 7 days",
    ]
    # `contacts at most` is stored for contact history, not enforced by the gate yet.
    assert [(c.scope, c.limit) for c in policy.contact_caps] == [("contacts", 4)]
    assert policy.quiet == (21 * 60, 8 * 60)
    assert policy.require_consent == {"sms"}
    assert policy.category_priority == {"promotions": 2}
    campaign = program.campaigns["credit-cards"]
    assert (campaign.category, campaign.priority, campaign.log_status) == (
        "cross-sell",
        5,
        "proposed",
    )
    assert campaign.unsubscribe_link("email") == {
        "campaign": "credit-cards",
        "category": "cross-sell",
        "channel": "email",
    }


def test_formatter_lays_out_campaigns_and_policies_and_is_idempotent() -> None:
    text = (
        'campaign "c" {   for segment a ,b\n category "x"   # why\n priority 5 }\n'
        "policy { quiet hours 21:00 to 08:00   over cap hold }\n"
        'segment a = tagged "a"\nsegment b = tagged "b"\n'
    )
    formatted = format_rules(text)
    assert formatted.startswith(
        'campaign "c" {\n    for segment a, b\n    category "x"  # why\n    priority 5\n}\n\n'
        "policy {\n    quiet hours 21:00 to 08:00\n    over cap hold\n}\n"
    )
    assert format_rules(formatted) == formatted
    assert parse(formatted).decls == parse(text).decls


def check_errors(text: str) -> list[tuple[int, int, str]]:
    with pytest.raises(RulesCheckError) as caught:
        engage.compile(text, name="t.rules")
    return [
        (d.span.line, d.span.column, d.message)
        for d in caught.value.diagnostics
        if d.severity == "error"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            'campaign "cards" { }\nwhen tagged "a" then send email "r" from campaign "card"',
            (2, 22, "unknown campaign 'card' (did you mean 'cards'?)"),
            id="unknown campaign in a send",
        ),
        pytest.param(
            'campaign "cc" { category "x" }\nwhen tagged "a" then unsubscribe from campaign "dd"',
            (2, 22, "unknown campaign 'dd'"),
            id="unknown campaign in an unsubscribe",
        ),
        pytest.param(
            'policy { timezone "America/Bogot" }',
            (1, 19, "unknown time zone 'America/Bogot' (did you mean 'America/Bogota'?)"),
            id="unknown zone",
        ),
        pytest.param(
            "policy { quiet hours 9:00 to 08:00 }",
            (
                1,
                22,
                "not a time of day: '9:00' (write HH:MM, from 00:00 to 23:59) "
                "(did you mean '09:00'?)",
            ),
            id="bad HH:MM",
        ),
        pytest.param(
            "policy { quiet hours 21:00 to 24:00 }",
            (1, 31, "not a time of day: '24:00' (write HH:MM, from 00:00 to 23:59)"),
            id="hour out of range",
        ),
        pytest.param(
            "policy { email at most 1 per 1 day }\npolicy { sms at most 1 per 1 day }",
            (2, 1, "only one `policy` block is allowed (the first is at line 1)"),
            id="two policy blocks",
        ),
        pytest.param(
            'segment nuevos = tagged "n"\ncampaign "c" { for segment nuevo }',
            (2, 28, "campaign 'c': unknown segment 'nuevo' (did you mean 'nuevos'?)"),
            id="unknown segment of a campaign",
        ),
        pytest.param(
            'campaign "c" { category "x" }\ncampaign "c" { category "y" }',
            (2, 10, "campaign 'c' is declared twice (first at line 1)"),
            id="campaign declared twice",
        ),
        pytest.param(
            "policy { email at most 0 per 7 days }",
            (1, 10, "a cap is a whole number of sends, at least 1"),
            id="cap of zero",
        ),
        pytest.param(
            'campaign "c" { }\nwhen tagged "a" then unsubscribe from campaign "c" and category',
            (2, 22, "campaign 'c' has no `category`"),
            id="and category of a campaign without one",
        ),
    ],
)
def test_checker_refuses_with_line_column_and_suggestion(
    text: str, expected: tuple[int, int, str]
) -> None:
    assert expected in check_errors(text)


def test_campaign_names_are_free_labels_while_no_campaign_is_declared() -> None:
    # Files written before campaigns existed keep working (their sends are not skipped).
    engine = make('on web.visit then send email "w" from campaign "spring"')
    assert outcomes(engine.ingest(ev("a", "web.visit", at()))) == [("w", "sent")]


# -- caps ----------------------------------------------------------------------------------

CAP_RULES = """
policy {
    email at most 3 per 7 days
}
on web.visit then send email "news"
on form.submit then send email "receipt" transactional
"""


def test_caps_at_their_edge() -> None:
    engine = make(CAP_RULES)
    got = []
    for hours in (0, 1, 2, 3):
        got += outcomes(engine.ingest(ev("a", "web.visit", at(hours))))
    assert got == [
        ("news", "sent"),
        ("news", "sent"),
        ("news", "sent"),
        ("news", "suppressed: cap email 3 per 7 days"),
    ]
    # Exactly 7 days after the first send, it has left the window (half-open).
    assert outcomes(engine.ingest(ev("a", "web.visit", at(0, days=7)))) == [("news", "sent")]
    # ... and the window is full again until the second one leaves.
    assert outcomes(engine.ingest(ev("a", "web.visit", at(0.5, days=7)))) == [
        ("news", "suppressed: cap email 3 per 7 days")
    ]
    assert outcomes(engine.ingest(ev("a", "web.visit", at(1, days=7)))) == [("news", "sent")]


def test_transactional_sends_are_not_capped_and_not_counted() -> None:
    engine = make(CAP_RULES)
    for hours in (0, 1, 2):
        engine.ingest(ev("a", "web.visit", at(hours)))
    assert outcomes(engine.ingest(ev("a", "form.submit", at(3)))) == [("receipt", "sent")]
    log = engine.state.contacts["a"].extra[SENT]  # type: ignore[index]
    assert len(log) == 3


def test_channel_any_and_category_caps() -> None:
    engine = make(
        """
campaign "promo" { category "promotions" }
policy {
    sms at most 1 per 1 day
    any at most 2 per 1 day
    category "promotions" at most 1 per 1 day
}
on web.visit then send sms "s", send email "e", send email "p" from campaign "promo", send push "x"
"""
    )
    assert outcomes(engine.ingest(ev("a", "web.visit", at()))) == [
        ("s", "sent"),
        ("e", "sent"),
        ("p", "suppressed: cap any 2 per 1 day"),
        ("x", "suppressed: cap any 2 per 1 day"),
    ]
    assert outcomes(engine.ingest(ev("a", "web.visit", at(days=1)))) == [
        ("s", "sent"),
        ("e", "sent"),
        ("p", "suppressed: cap any 2 per 1 day"),
        ("x", "suppressed: cap any 2 per 1 day"),
    ]


def test_no_policy_keeps_no_counters() -> None:
    engine = make('on web.visit then send email "news"')
    engine.ingest(ev("a", "web.visit", at()))
    extra = engine.state.contacts["a"].extra or {}
    assert SENT not in extra and HELD not in extra  # only the send's history row
    assert not engine.program.has_timers


# -- priority, hold and release ------------------------------------------------------------

PRIORITY_RULES = """
campaign "news" { category "newsletters" priority 1 }
campaign "promo" { category "promotions" }
policy {
    email at most 1 per 1 day
    category "promotions" priority 5
    over cap HOLD_OR_DROP
}
on web.visit then send email "n" from campaign "news"
on web.visit then send email "p" from campaign "promo"
on form.submit then send email "plain"
"""


def test_the_higher_priority_wins_the_last_slot() -> None:
    engine = make(PRIORITY_RULES.replace("HOLD_OR_DROP", "drop"))
    assert outcomes(engine.ingest(ev("a", "web.visit", at()))) == [
        ("n", "suppressed: cap email 1 per 1 day"),
        ("p", "sent"),  # category priority 5 beats campaign priority 1
    ]


def test_hold_then_release_in_priority_order() -> None:
    engine = make(PRIORITY_RULES.replace("HOLD_OR_DROP", "hold"))
    handled: list[str] = []
    engine.on("send_email", lambda action: handled.append(action.args[0]))
    assert outcomes(engine.ingest(ev("a", "form.submit", at()))) == [("plain", "sent")]
    assert outcomes(engine.ingest(ev("a", "web.visit", at(1)))) == [
        ("n", "held until 2026-01-06T10:00:00Z"),
        ("p", "held until 2026-01-06T10:00:00Z"),
    ]
    assert handled == ["plain"]
    assert engine.next_timer() == T0 + timedelta(days=1)
    released = engine.advance(at(days=1))
    # Released together: the higher priority takes the slot, the other waits a day more.
    assert [(a.time, a.args[0], outcome(a)) for a in released] == [
        (coerce_time(at(days=1)), "p", "sent"),
        (coerce_time(at(days=1)), "n", "held until 2026-01-07T10:00:00Z"),
    ]
    assert released[0].to_dict().get("held_until") is None
    assert handled == ["plain", "p"]
    released = engine.advance(at(days=3))
    assert [(a.args[0], outcome(a)) for a in released] == [("n", "sent")]
    assert handled == ["plain", "p", "n"]
    assert HELD not in (engine.state.contacts["a"].extra or {})
    assert engine.next_timer() is None


def test_consent_is_checked_again_at_release() -> None:
    engine = make(PRIORITY_RULES.replace("HOLD_OR_DROP", "hold"))
    engine.ingest(ev("a", "form.submit", at()))
    engine.ingest(ev("a", "web.visit", at(1)))
    engine.ingest(update("a", at(2), consent={"email": False}))
    released = engine.advance(at(days=2))
    assert [(a.args[0], outcome(a)) for a in released] == [
        ("p", "suppressed: no consent for email"),
        ("n", "suppressed: no consent for email"),
    ]


def test_held_sends_and_cap_counters_survive_a_snapshot(tmp_path: Path) -> None:
    text = PRIORITY_RULES.replace("HOLD_OR_DROP", "hold")
    engine = make(text)
    engine.ingest(ev("a", "form.submit", at()))
    engine.ingest(ev("a", "web.visit", at(1)))
    path = tmp_path / "state.snap"
    engine.snapshot(path)
    restored = Engine.restore(path, engage.compile(text, name="t.rules"), max_future=None)
    assert restored.next_timer() == T0 + timedelta(days=1)
    assert [(a.args[0], outcome(a)) for a in restored.advance(at(days=1))] == [
        ("p", "sent"),
        ("n", "held until 2026-01-07T10:00:00Z"),
    ]
    # The counter came through too: a plain send the same day is over the cap.
    assert outcomes(restored.ingest(ev("a", "form.submit", at(1, days=1)))) == [
        ("plain", "held until 2026-01-07T10:00:00Z")
    ]


def test_the_per_contact_step_carries_held_sends_and_counters() -> None:
    rules = engage.compile(PRIORITY_RULES.replace("HOLD_OR_DROP", "hold"), name="t.rules")
    first = step(rules, None, ev("a", "form.submit", at()))
    assert outcomes(first.actions) == [("plain", "sent")]
    second = step(rules, first.state, ev("a", "web.visit", at(1)))
    assert [outcome(a) for a in second.actions] == ["held until 2026-01-06T10:00:00Z"] * 2
    assert second.next_wake == coerce_time(at(days=1))
    assert second.state is not None
    woken = step_wake(rules, second.state, coerce_time(at(days=1)))
    assert [(a.args[0], outcome(a)) for a in woken.actions] == [
        ("p", "sent"),
        ("n", "held until 2026-01-07T10:00:00Z"),
    ]
    assert woken.next_wake == coerce_time(at(days=2))
    assert woken.state is not None
    last = step_wake(rules, woken.state, coerce_time(at(days=2)))
    assert [(a.args[0], outcome(a)) for a in last.actions] == [("n", "sent")]
    assert last.next_wake is None


# -- quiet hours ---------------------------------------------------------------------------

QUIET = """
fields { timezone: text }
policy {
    timezone "America/Bogota"
    quiet hours 21:00 to 08:00
}
on web.visit then send email "m"
on form.submit then send email "receipt" transactional
"""


def test_quiet_hours_across_midnight_in_the_policy_zone() -> None:
    engine = make(QUIET)
    # 23:00 in Bogotá (UTC-5) is 04:00Z the next day: held until 08:00 there, 13:00Z.
    actions = engine.ingest(ev("a", "web.visit", "2026-01-06T04:00:00Z"))
    assert outcomes(actions) == [("m", "held until 2026-01-06T13:00:00Z")]
    # Transactional sends ignore quiet hours.
    assert outcomes(engine.ingest(ev("a", "form.submit", "2026-01-06T04:30:00Z"))) == [
        ("receipt", "sent")
    ]
    released = engine.advance("2026-01-06T13:00:00Z")
    assert [(a.to_dict()["at"], outcome(a)) for a in released] == [("2026-01-06T13:00:00Z", "sent")]
    # 07:59 local: a minute to go; 08:00 local: out of quiet hours.
    assert outcomes(engine.ingest(ev("b", "web.visit", "2026-01-07T12:59:00Z"))) == [
        ("m", "held until 2026-01-07T13:00:00Z")
    ]
    actions = engine.ingest(ev("c", "web.visit", "2026-01-07T13:00:00Z"))
    # b's held send is released first (a wake-up due at the event's time fires before it).
    assert [(a.contact, outcome(a)) for a in actions] == [("b", "sent"), ("c", "sent")]
    assert outcomes(engine.ingest(ev("c", "web.visit", "2026-01-07T20:59:00Z"))) == [("m", "sent")]
    assert outcomes(engine.ingest(ev("c", "web.visit", "2026-01-08T02:00:00Z"))) == [
        ("m", "held until 2026-01-08T13:00:00Z")
    ]


@pytest.mark.parametrize(
    ("sent_at", "held_until"),
    [
        # 22:00 EST on 7 March; the clocks spring forward that night: 08:00 EDT is 12:00Z.
        ("2026-03-08T03:00:00Z", "2026-03-08T12:00:00Z"),
        # 22:00 EDT on 31 October; they fall back that night: 08:00 EST is 13:00Z.
        ("2026-11-01T02:00:00Z", "2026-11-01T13:00:00Z"),
    ],
)
def test_quiet_hours_across_a_dst_change_in_the_contacts_zone(
    sent_at: str, held_until: str
) -> None:
    engine = make(QUIET)
    engine.ingest(update("ny", "2026-03-01T00:00:00Z", timezone="America/New_York"))
    assert outcomes(engine.ingest(ev("ny", "web.visit", sent_at))) == [
        ("m", f"held until {held_until}")
    ]
    released = engine.advance(held_until)
    assert [(a.to_dict()["at"], outcome(a)) for a in released] == [(held_until, "sent")]


def test_contact_zone_reads_the_field_then_the_policy_then_utc() -> None:
    engine = make(QUIET)
    engine.ingest(update("ny", at(), timezone="America/New_York"))
    engine.ingest(update("bad", at(), timezone="Mars/Olympus"))
    program = engine.program
    contacts = engine.state.contacts
    assert contact_zone(contacts["ny"], program).key == "America/New_York"
    assert contact_zone(contacts["bad"], program).key == "America/Bogota"
    undeclared = make('policy { quiet hours 21:00 to 08:00 }\non web.visit then tag "x"')
    undeclared.ingest(update("u", at(), timezone="Europe/Madrid"))
    undeclared.ingest(ev("v", "web.visit", at()))
    assert contact_zone(undeclared.state.contacts["u"], undeclared.program).key == "Europe/Madrid"
    assert contact_zone(undeclared.state.contacts["v"], undeclared.program).key == "UTC"


# -- consent ---------------------------------------------------------------------------------

CONSENT = """
POLICY
on web.visit then send email "m", send sms "s"
on form.submit then send email "receipt" transactional
"""


@pytest.mark.parametrize(
    ("policy", "consent", "expected"),
    [
        ("", None, ["sent", "sent"]),
        ("", {"email": True}, ["sent", "sent"]),
        ("", {"email": False}, ["suppressed: no consent for email", "sent"]),
        (
            "policy { require consent sms }",
            None,
            ["sent", "suppressed: no consent for sms (required)"],
        ),
        ("policy { require consent sms }", {"sms": True}, ["sent", "sent"]),
        (
            "policy { require consent sms }",
            {"sms": False},
            ["sent", "suppressed: no consent for sms"],
        ),
    ],
)
def test_consent_under_opt_out_and_opt_in(
    policy: str, consent: dict[str, bool] | None, expected: list[str]
) -> None:
    engine = make(CONSENT.replace("POLICY", policy))
    if consent is not None:
        engine.ingest(update("a", at(), consent=consent))
    assert [outcome(a) for a in sends(engine.ingest(ev("a", "web.visit", at(1))))] == expected


def test_a_refusal_of_every_message_stops_transactional_sends_too() -> None:
    engine = make(CONSENT.replace("POLICY", ""))
    engine.ingest(update("a", at(), consent={"email": False}))
    assert outcomes(engine.ingest(ev("a", "form.submit", at(1)))) == [("receipt", "sent")]
    engine.ingest(update("a", at(2), consent={"email": "never"}))
    assert engine.contact("a").consent == {"email": "never"}  # type: ignore[union-attr]
    assert outcomes(engine.ingest(ev("a", "form.submit", at(3)))) == [
        ("receipt", "suppressed: refuses all email")
    ]
    assert outcomes(engine.ingest(ev("a", "web.visit", at(4)))) == [
        ("m", "suppressed: refuses all email"),
        ("s", "sent"),
    ]


def test_consent_never_reads_as_false_in_conditions() -> None:
    engine = make('rule "r" when not consent.email then tag "refused"')
    actions = engine.ingest(update("a", at(), consent={"email": "never"}))
    assert [a.args for a in actions] == [["refused"]]
    engine.ingest(update("b", at(), consent={"email": "maybe"}))
    assert engine.rejected[-1].reason.startswith("consent.email must be")


def test_transactional_sends_stop_at_suspension_and_hard_bounces() -> None:
    engine = make(CONSENT.replace("POLICY", ""))
    engine.ingest(ev("a", "email.bounce", at(), kind="hard"))
    assert outcomes(engine.ingest(ev("a", "form.submit", at(1)))) == [
        ("receipt", "suppressed: hard bounced")
    ]
    engine.ingest(update("b", at(), status="suspended"))
    assert outcomes(engine.ingest(ev("b", "form.submit", at(1)))) == [
        ("receipt", "suppressed: suspended")
    ]


# -- unsubscribe scopes ----------------------------------------------------------------------

SCOPES = """
campaign "promo" { category "promotions" }
campaign "flash" { category "promotions" }
campaign "news" { category "newsletters" }
on web.visit then send email "p" from campaign "promo", send email "f" from campaign "flash",
    send email "n" from campaign "news", send sms "ps" from campaign "promo", send email "plain"
on form.submit then ACTION
"""

SCOPE_CASES = [
    pytest.param(
        'unsubscribe from campaign "promo"',
        {"campaign": "promo"},
        [
            "skipped: unsubscribed from campaign promo",
            "sent",
            "sent",
            "skipped: unsubscribed from campaign promo",
            "sent",
        ],
        id="campaign",
    ),
    pytest.param(
        'unsubscribe from campaign "promo" and category',
        {"campaign": "promo", "category": True},
        [
            "skipped: unsubscribed from campaign promo",
            "skipped: unsubscribed from category promotions",
            "sent",
            "skipped: unsubscribed from campaign promo",
            "sent",
        ],
        id="campaign and category",
    ),
    pytest.param(
        'unsubscribe from category "promotions" channel email',
        {"category": "promotions", "channel": "email"},
        [
            "skipped: unsubscribed from category promotions",
            "skipped: unsubscribed from category promotions",
            "sent",
            "sent",
            "sent",
        ],
        id="category on one channel",
    ),
    pytest.param(
        "unsubscribe channel email",
        {"channel": "email"},
        ["suppressed: unsubscribed from email"] * 3
        + ["sent", "suppressed: unsubscribed from email"],
        id="everything on one channel",
    ),
    pytest.param(
        "unsubscribe",
        {},
        ["suppressed: unsubscribed"] * 5,
        id="everything",
    ),
]


@pytest.mark.parametrize(("action", "data", "expected"), SCOPE_CASES)
def test_unsubscribe_scopes_from_actions(action: str, data: Any, expected: list[str]) -> None:
    engine = make(SCOPES.replace("ACTION", action))
    engine.ingest(ev("a", "form.submit", at()))
    assert [outcome(a) for a in sends(engine.ingest(ev("a", "web.visit", at(1))))] == expected


@pytest.mark.parametrize(("action", "data", "expected"), SCOPE_CASES)
def test_unsubscribe_scopes_from_events(action: str, data: Any, expected: list[str]) -> None:
    engine = make(SCOPES.replace("ACTION", 'tag "x"'))
    record = ev("a", "unsubscribe", at())
    if data:
        record["data"] = data
    engine.ingest(record)
    assert engine.rejected == []
    assert [outcome(a) for a in sends(engine.ingest(ev("a", "web.visit", at(1))))] == expected


def test_marketing_sends_carry_their_campaigns_unsubscribe_link() -> None:
    engine = make(
        """
campaign "promo" { category "promotions" unsubscribe link category and campaign, all channels }
campaign "news" { category "newsletters" }
on web.visit then send email "p" from campaign "promo", send sms "n" from campaign "news",
    send email "r" from campaign "news" transactional
"""
    )
    links = [
        (a.options or {}).get("unsubscribe") for a in engine.ingest(ev("a", "web.visit", at()))
    ]
    assert links == [
        {"campaign": "promo", "category": "promotions"},
        {"campaign": "news", "channel": "sms"},
        None,
    ]


def test_a_bad_unsubscribe_scope_is_a_bad_record() -> None:
    engine = make(SCOPES.replace("ACTION", 'tag "x"'))
    engine.ingest(ev("a", "unsubscribe", at(), category=True))
    engine.ingest(ev("a", "unsubscribe", at(), campaign=3))
    assert len(engine.rejected) == 2


# -- subscription lists and campaign qualification -----------------------------------------

LISTS = """
segment eligible = tagged "eligible"
campaign "offers" { for segment eligible requires list "offers" }
rule "joined" on segment enter eligible then subscribe to list "offers"
rule "left" on tag added "stop" then unsubscribe from list "offers"
rule "reader" when subscribed to "offers" then tag "reader"
on web.visit then send email "o" from campaign "offers"
"""


def test_lists_from_actions_and_campaign_qualification() -> None:
    engine = make(LISTS)
    assert outcomes(engine.ingest(ev("a", "web.visit", at()))) == [
        ("o", "skipped: not in segment eligible of campaign offers")
    ]
    actions = engine.ingest(update("a", at(1), tags=["eligible"]))
    assert [a.action for a in actions] == ["subscribe_to_list", "tag"]
    assert engine.contact("a").lists == ["offers"]  # type: ignore[union-attr]
    assert engine.contact("a").to_dict()["lists"] == ["offers"]  # type: ignore[union-attr]
    assert outcomes(engine.ingest(ev("a", "web.visit", at(2)))) == [("o", "sent")]
    engine.ingest(update("a", at(3), tags=["stop"]))
    assert engine.contact("a").lists == []  # type: ignore[union-attr]
    assert outcomes(engine.ingest(ev("a", "web.visit", at(4)))) == [
        ("o", "skipped: not subscribed to list offers")
    ]


def test_subscription_events_from_a_preference_centre() -> None:
    engine = make(LISTS)
    engine.ingest(update("a", at(), tags=["eligible"]))
    engine.ingest(ev("a", "subscription", at(1), list="offers", subscribed=False))
    assert engine.contact("a").lists == []  # type: ignore[union-attr]
    assert outcomes(engine.ingest(ev("a", "web.visit", at(2)))) == [
        ("o", "skipped: not subscribed to list offers")
    ]
    actions = engine.ingest(ev("a", "subscription", at(3), list="offers", subscribed=True))
    assert [a.rule for a in actions] == ["reader"]  # subscribed again: a new edge
    assert outcomes(engine.ingest(ev("a", "web.visit", at(4)))) == [("o", "sent")]
    engine.ingest(ev("a", "subscription", at(5)))
    engine.ingest(ev("a", "subscription", at(5), list="x", subscribed="yes"))
    assert len(engine.rejected) == 2


def test_a_stopped_send_reaches_no_handler_but_stays_in_the_stream() -> None:
    engine = make(LISTS)
    handled: list[Action] = []
    engine.on("*", handled.append)
    actions = engine.ingest(ev("a", "web.visit", at()))
    assert outcomes(actions) == [("o", "skipped: not in segment eligible of campaign offers")]
    assert handled == []
    assert engine.outbox == []


def test_the_gate_alone_settles_a_flow_send_without_keeping_it() -> None:
    # The flow interpreter calls the gate with its own actions (step set): a held flow
    # send is the flow's to keep, not the contact's held list.
    engine = make(QUIET)
    engine.ingest(ev("a", "form.submit", "2026-01-06T04:00:00Z"))
    contact = engine.state.contacts["a"]
    gate = SendGate(engine.program)
    now = coerce_time("2026-01-06T04:00:00Z")
    action = Action(now, "a", "flow:onboarding", "send_email", ["welcome"], None)
    action.step = "s1"
    gate.settle(contact, [action], now)
    assert action.held_until == coerce_time("2026-01-06T13:00:00Z")
    assert gate.next_release(contact) is None
    assert gate.release(contact, coerce_time("2026-01-06T13:00:00Z")) == []


def test_a_reload_to_rules_without_a_policy_still_releases_held_sends() -> None:
    engine = make(QUIET)
    engine.ingest(ev("a", "web.visit", "2026-01-06T04:00:00Z"))
    engine.reload(engage.compile('on web.visit then send email "m"', name="t.rules"))
    assert not engine.program.has_timers
    released = engine.advance("2026-01-07T00:00:00Z")
    # Tried again at its release under the new rules: no quiet hours any more.
    assert [(a.to_dict()["at"], outcome(a)) for a in released] == [("2026-01-06T13:00:00Z", "sent")]


def test_explain_and_diff_texts_show_skipped_and_held_sends() -> None:
    from engage.diffing import _action_text
    from engage.timeline_text import _action as timeline_action

    record = {
        "at": "2026-01-06T04:00:00Z",
        "rule": "r",
        "action": "send_email",
        "args": ["m"],
        "held_until": "2026-01-06T13:00:00Z",
    }
    assert "[held until 2026-01-06T13:00:00Z]" in timeline_action(record)
    assert "[held_until 2026-01-06T13:00:00Z]" in _action_text(record)
    assert "[skipped: x]" in timeline_action({**record, "held_until": None, "skipped": "x"})


def test_contacts_cap_counts_history_rows_that_count_as_contact() -> None:
    engine = make('policy { contacts at most 2 per 7 days }\non web.visit then send email "news"\n')
    out = []
    for day in (1, 2, 3):
        out += engine.ingest(ev("a", "web.visit", f"2026-01-0{day}T10:00:00Z"))
    assert [a.suppressed for a in out] == [None, None, "cap contacts 2 per 7 days"]
    # Eight days after the first, one row has left the window: room for one more.
    later = engine.ingest(ev("a", "web.visit", "2026-01-09T10:00:01Z"))
    assert [a.suppressed for a in later] == [None]
