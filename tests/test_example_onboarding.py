"""The bundled onboarding example (seed 001's campaign flow) gives exactly its sends.

``examples/onboarding.rules`` with ``examples/onboarding.jsonl``: five contacts through
one flow — two who finish it (one opened the first e-mail, one did not), one who
converts (goal), one whose account closes (exit when), and one in Madrid whose
``wait until 09:00 on weekdays`` falls on the Monday after the spring-forward change.
The test pins who gets what, when, and at which step, both through the library and
through ``engage run``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import engage
from engage.cli import main

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "examples" / "onboarding.rules"
EVENTS = ROOT / "examples" / "onboarding.jsonl"

#: (at, contact, action, args, step or reason) of every action, in output order.
EXPECTED: list[tuple[str, str, str, list[Any], str | None]] = [
    ("2026-03-02T15:30:00Z", "ana", "enter_flow", ["onboarding"], None),
    ("2026-03-02T15:30:00Z", "ben", "enter_flow", ["onboarding"], None),
    ("2026-03-03T10:00:00Z", "carla", "enter_flow", ["onboarding"], None),
    ("2026-03-03T10:00:00Z", "dario", "enter_flow", ["onboarding"], None),
    # The first message: 4 days after entry.
    ("2026-03-06T15:30:00Z", "ana", "send_email", ["welcome"], "2"),
    ("2026-03-06T15:30:00Z", "ben", "send_email", ["welcome"], "2"),
    ("2026-03-07T10:00:00Z", "carla", "send_email", ["welcome"], "2"),
    ("2026-03-07T10:00:00Z", "dario", "send_email", ["welcome"], "2"),
    # Carla activates a card: tagged "Cliente", the goal; she leaves converted and the
    # `on flow goal` rule tells sales.
    ("2026-03-09T16:00:00Z", "carla", "tag", ["Cliente"], None),
    ("2026-03-09T16:00:00Z", "carla", "exit_flow", ["onboarding"], "goal"),
    ("2026-03-09T16:00:00Z", "carla", "notify", ["sales"], None),
    # Dario's account closes while he waits: `exit when` takes him out at that moment.
    ("2026-03-10T12:00:00Z", "dario", "exit_flow", ["onboarding"], "exit"),
    ("2026-03-10T12:00:00Z", "dario", "tag", ["Onboarding-stopped"], None),
    # The second message: 7 days after the first; then the branch (Ana opened).
    ("2026-03-13T15:30:00Z", "ana", "send_email", ["products"], "4"),
    ("2026-03-13T15:30:00Z", "ana", "send_push", ["card-offer"], "5.1.1"),
    ("2026-03-13T15:30:00Z", "ben", "send_email", ["products"], "4"),
    ("2026-03-13T15:30:00Z", "ben", "send_sms", ["card-offer"], "5.else.1"),
    # Friday 13th at 10:30 in Bogota: the next weekday 09:00 is Monday 16th, 14:00 UTC.
    ("2026-03-16T14:00:00Z", "ana", "send_email", ["tips-b"], "7.b.1"),
    ("2026-03-16T14:00:00Z", "ana", "export_pdf", ["welcome-pack"], "8"),
    ("2026-03-16T14:00:00Z", "ana", "call_webhook", ["https://crm.example/hooks/onboarded"], "9"),
    ("2026-03-16T14:00:00Z", "ana", "send_email", ["cc-offer"], "10"),
    ("2026-03-16T14:00:00Z", "ana", "exit_flow", ["onboarding"], "finished"),
    ("2026-03-16T14:00:00Z", "ben", "send_email", ["tips-a"], "7.a.1"),
    ("2026-03-16T14:00:00Z", "ben", "export_pdf", ["welcome-pack"], "8"),
    ("2026-03-16T14:00:00Z", "ben", "call_webhook", ["https://crm.example/hooks/onboarded"], "9"),
    ("2026-03-16T14:00:00Z", "ben", "send_email", ["cc-offer"], "10"),
    ("2026-03-16T14:00:00Z", "ben", "exit_flow", ["onboarding"], "finished"),
    ("2026-03-17T15:30:00Z", "elena", "enter_flow", ["onboarding"], None),
    ("2026-03-21T15:30:00Z", "elena", "send_email", ["welcome"], "2"),
    ("2026-03-28T15:30:00Z", "elena", "send_email", ["products"], "4"),
    ("2026-03-28T15:30:00Z", "elena", "send_sms", ["card-offer"], "5.else.1"),
    # Elena's own zone wins over the flow's: Sunday 29th is skipped (weekdays), and on
    # Monday 30th 09:00 in Madrid is already summer time (UTC+2): 07:00 UTC, not 08:00.
    ("2026-03-30T07:00:00Z", "elena", "send_email", ["tips-b"], "7.b.1"),
    ("2026-03-30T07:00:00Z", "elena", "export_pdf", ["welcome-pack"], "8"),
    ("2026-03-30T07:00:00Z", "elena", "call_webhook", ["https://crm.example/hooks/onboarded"], "9"),
    ("2026-03-30T07:00:00Z", "elena", "send_email", ["cc-offer"], "10"),
    ("2026-03-30T07:00:00Z", "elena", "exit_flow", ["onboarding"], "finished"),
]


def _shape(record: dict[str, Any]) -> tuple[str, str, str, list[Any], str | None]:
    detail = record.get("step") or (record.get("options") or {}).get("reason")
    if record["rule"] != "flow:onboarding":
        detail = None
    return record["at"], record["contact"], record["action"], record["args"], detail


def _events() -> list[dict[str, Any]]:
    return [json.loads(line) for line in EVENTS.read_text("utf-8").splitlines() if line]


def test_the_example_checks_clean() -> None:
    assert main(["check", str(RULES)]) == 0


def test_the_library_gives_the_expected_actions() -> None:
    engine = engage.Engine(engage.load(RULES), max_future=None)
    actions = engine.ingest_many(_events())
    assert not engine.rejected and not engine.problems
    assert [_shape(a.to_dict()) for a in actions] == EXPECTED


def test_the_cross_campaign_send_is_skipped_for_those_who_do_not_qualify() -> None:
    engine = engage.Engine(engage.load(RULES), max_future=None)
    offers = {a.contact: a.skipped for a in engine.ingest_many(_events()) if a.args == ["cc-offer"]}
    # Ana opened an e-mail in the last 30 days: she qualifies; Ben and Elena do not.
    assert offers == {
        "ana": None,
        "ben": "not in segment cc_eligible of campaign credit-cards",
        "elena": "not in segment cc_eligible of campaign credit-cards",
    }
    assert [a.args for a in engine.outbox if a.args == ["cc-offer"]] == [["cc-offer"]]


def test_flow_sends_carry_the_category_and_the_version() -> None:
    engine = engage.Engine(engage.load(RULES), max_future=None)
    sends = [a for a in engine.ingest_many(_events()) if a.action.startswith("send_")]
    own = [a for a in sends if a.args != ["cc-offer"]]
    assert own and all(a.options == {"category": "onboarding"} for a in own)
    # The cross-campaign send names its campaign (its category is the campaign's) and
    # carries the campaign's unsubscribe link for the mailer.
    offers = [a for a in sends if a.args == ["cc-offer"]]
    assert offers and all((a.options or {})["campaign"] == "credit-cards" for a in offers)
    assert all(a.version == 1 and a.rule == "flow:onboarding" for a in sends)
    assert all(a.suppressed is None and a.held_until is None for a in sends)
    assert [a.skipped is None for a in offers] == [True, False, False]


def test_engage_run_prints_the_expected_actions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(RULES), "--events", str(EVENTS), "--max-future", "off"]) == 0
    out = capsys.readouterr().out
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [_shape(r) for r in records] == EXPECTED


def test_replaying_the_events_twice_sends_nothing_twice() -> None:
    engine = engage.Engine(engage.load(RULES), max_future=None)
    first = engine.ingest_many(_events())
    again = engine.ingest_many(_events())  # the same ids: duplicates
    assert len(first) == len(EXPECTED)
    assert again == []
