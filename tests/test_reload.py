"""Reloading rules into a running engine: state is kept by name, changes are reported,
and new or changed ``when`` rules do not fire for contacts that already match unless
asked to backfill (docs/semantics.md section 5).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import engage
from engage import Action, Engine

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)

OLD = """
fields { city: text  nps: number }
score { on email.open +3 }
score fit { on form.submit +1 }
rule "hot" when score >= 5 then do hot
rule "gone" on email.open then do gone
rule "clicks" when count email.click within 7 days >= 2 then do clicky
"""

NEW = """
fields { city: text }
score { on email.open +3 }
rule "hot" when score >= 5 then do hot
rule "big" when score >= 6 then do big
rule "cali" when city == "Cali" then do cali
rule "clicks" when count email.click within 7 days >= 2 then do clicky
"""


def compile_(text: str) -> engage.Rules:
    return engage.compile(text, name="r.rules")


def ev(contact: str, type_: str, when: datetime, **extra: Any) -> dict[str, Any]:
    return {"contact": contact, "type": type_, "at": when, **extra}


def populated() -> Engine:
    engine = Engine(compile_(OLD))
    engine.ingest(ev("a", "email.open", T0, id="e1"))
    engine.ingest(ev("a", "email.open", T0 + DAY, id="e2"))  # 6: hot fired
    engine.ingest(ev("a", "form.submit", T0 + DAY))
    engine.ingest(ev("a", "email.click", T0 + DAY))
    engine.ingest(ev("a", "contact.updated", T0 + DAY, data={"city": "Cali", "nps": 3}))
    engine.ingest(ev("b", "email.open", T0))  # 3
    return engine


def test_reload_keeps_scores_fields_and_history() -> None:
    engine = populated()
    engine.reload(compile_(NEW))
    a = engine.contact("a")
    assert a is not None
    assert a.scores == {"score": 6}
    assert a.fields == {"city": "Cali"}
    assert a.created == T0
    assert a.last_activity == T0 + DAY
    assert engine.contact("b").scores == {"score": 3}  # type: ignore[union-attr]
    assert engine.clock == T0 + DAY
    assert engine.stats.events == 6
    # Scoring goes on from the kept value.
    engine.ingest(ev("b", "email.open", T0 + 2 * DAY))
    assert engine.contact("b").scores == {"score": 6}  # type: ignore[union-attr]
    # The event window kept its click: one more makes two within 7 days.
    actions = engine.ingest(ev("a", "email.click", T0 + 2 * DAY))
    assert [x.action for x in actions] == ["clicky"]
    # Dedupe ids are kept too.
    assert engine.ingest(ev("a", "email.open", T0 + 3 * DAY, id="e1")) == []
    assert engine.stats.duplicates == 1


def test_reload_reports_removed_scores_fields_and_rule_changes() -> None:
    engine = populated()
    report = engine.reload(compile_(NEW))
    assert report.removed_scores == ["fit"]
    assert report.removed_fields == ["nps"]
    assert sorted(report.new_rules) == ["big", "cali"]
    assert report.removed_rules == ["gone"]
    messages = "\n".join(report.messages())
    assert "fit" in messages and "nps" in messages
    assert engine.reload_report is report
    assert "fit" not in engine.contact("a").scores  # type: ignore[union-attr]


def test_new_when_rule_does_not_fire_for_contacts_already_matching() -> None:
    engine = populated()
    report = engine.reload(compile_(NEW))
    assert report.backfilled_actions == []
    # a already has score 6 and city Cali: neither big nor cali fires, now or later.
    assert engine.ingest(ev("a", "email.open", T0 + 2 * DAY)) == []
    assert engine.ingest(ev("a", "contact.updated", T0 + 2 * DAY, data={"city": "Cali"})) == []
    # b did not match: it fires normally when it crosses.
    actions = engine.ingest(ev("b", "email.open", T0 + 2 * DAY))
    assert [(x.contact, x.rule) for x in actions] == [("b", "hot"), ("b", "big")]
    # And a re-arms as usual after dropping below.
    engine.ingest(ev("a", "contact.updated", T0 + 3 * DAY, data={"score": 0, "city": "Lima"}))
    actions = engine.ingest(ev("a", "contact.updated", T0 + 4 * DAY, data={"score": 7}))
    assert [x.rule for x in actions] == ["hot", "big"]


def test_backfill_fires_new_rules_once_for_contacts_already_matching() -> None:
    engine = populated()
    seen: list[Action] = []
    engine.on("*", seen.append)
    report = engine.reload(compile_(NEW), backfill=True)
    got = sorted((x.contact, x.rule, x.action) for x in report.backfilled_actions)
    assert got == [("a", "big", "big"), ("a", "cali", "cali")]
    assert all(x.at == T0 + DAY for x in report.backfilled_actions)
    # The old rule "hot" already fired for a and is not repeated.
    assert all(x.rule != "hot" for x in report.backfilled_actions)
    assert sorted(x.rule for x in seen) == ["big", "cali"]  # handlers got them
    # Once: nothing more on the next events while the conditions keep holding.
    assert engine.ingest(ev("a", "email.open", T0 + 2 * DAY)) == []


def test_changed_condition_counts_as_new() -> None:
    engine = populated()
    changed = NEW.replace('rule "hot" when score >= 5', 'rule "hot" when score >= 2')
    report = engine.reload(compile_(changed))
    assert report.changed_rules == ["hot"]
    # b (score 3) already matches the changed condition: no firing.
    assert engine.ingest(ev("b", "web.visit", T0 + 2 * DAY)) == []
    # With backfill, every contact that matches the changed condition now fires once.
    report = populated().reload(compile_(changed), backfill=True)
    assert sorted((x.contact, x.rule) for x in report.backfilled_actions if x.rule == "hot") == [
        ("a", "hot"),
        ("b", "hot"),
    ]


def test_reload_keeps_handlers_and_same_rules_change_nothing() -> None:
    engine = populated()
    seen: list[str] = []
    engine.on("hot", lambda action: seen.append(action.contact))
    before = list(engine.dump())
    report = engine.reload(compile_(OLD))
    assert report.messages() == []
    assert list(engine.dump()) == before
    engine.ingest(ev("b", "email.open", T0 + 2 * DAY))
    assert seen == ["b"]


def test_restore_into_new_rules_reports_like_reload(tmp_path: Path) -> None:
    engine = populated()
    engine.snapshot(tmp_path / "s")
    restored = Engine.restore(tmp_path / "s", compile_(NEW))
    report = restored.reload_report
    assert report is not None
    assert report.removed_scores == ["fit"]
    assert report.removed_fields == ["nps"]
    assert restored.contact("a").scores == {"score": 6}  # type: ignore[union-attr]
    assert restored.ingest(ev("a", "email.open", T0 + 2 * DAY)) == []


MOVING = """
score { on email.open +3 }
on email.open then do welcome once
when score >= 5 then do hot
when score >= 5 then do hot
"""


def test_anonymous_rules_that_only_moved_keep_their_state(tmp_path: Path) -> None:
    # Two lines above push every anonymous rule down: new names, same rules.
    moved = compile_("# moved down\n\n" + MOVING)
    for how in ("reload", "restore"):
        engine = Engine(compile_(MOVING))
        fired = engine.ingest(ev("a", "email.open", T0))
        fired += engine.ingest(ev("a", "email.open", T0 + DAY))
        assert [x.action for x in fired] == ["welcome", "hot", "hot"]
        if how == "reload":
            target = engine
            report = engine.reload(moved)
        else:
            engine.snapshot(tmp_path / "s")
            target = Engine.restore(tmp_path / "s", moved)
            assert target.reload_report is not None
            report = target.reload_report
        assert report.moved_rules == [
            ("r.rules:3", "r.rules:5"),
            ("r.rules:4", "r.rules:6"),
            ("r.rules:5", "r.rules:7"),
        ]
        assert report.new_rules == [] and report.removed_rules == []
        assert report.changed_rules == []
        assert "rules that moved (their state is kept)" in "\n".join(report.messages())
        # `once` is still spent and both threshold rules are still true: nothing fires.
        assert target.ingest(ev("a", "email.open", T0 + 2 * DAY)) == []


def test_a_moved_rule_whose_text_changed_is_new_not_moved() -> None:
    engine = Engine(compile_(MOVING))
    engine.ingest(ev("a", "email.open", T0))
    report = engine.reload(compile_("\n" + MOVING.replace("do welcome", "do hello")))
    assert ("r.rules:3", "r.rules:4") not in report.moved_rules
    assert "r.rules:3" in report.new_rules or "r.rules:4" in report.new_rules
    assert [x.action for x in engine.ingest(ev("a", "email.open", T0 + DAY))][:1] == ["hello"]
