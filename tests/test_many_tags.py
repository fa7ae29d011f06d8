"""Contacts with many tags keep them in an insertion-ordered dict (``MANY_TAGS``).

Nothing outside the state writer may tell the two representations apart: the order of
the tags, what conditions read, what rounds see change, dumps, snapshots and restores.
The oracle tests also run with every contact of two tags or more in a dict; these tests
pin the switch-over itself and the readers of the whole tag list.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import engage
from engage.state.contact import MANY_TAGS, tag_collection

T0 = 1_767_225_600.0
TIERS = MANY_TAGS + 8


def tier_rules(extra: str = "") -> engage.Rules:
    lines = ["score {\n    on form.submit +10\n    on email.bounce -10\n}\n"]
    for tier in range(1, TIERS + 1):
        lines.append(f'when score >= {tier * 10} then tag "tier_{tier}"\n')
    lines.append(extra)
    return engage.compile("".join(lines), name="tiers.rules")


def submits(contact: str, count: int, start: int = 0) -> list[dict[str, object]]:
    return [{"contact": contact, "type": "form.submit", "at": T0 + start + n} for n in range(count)]


def test_tags_stay_in_the_order_they_were_added_past_the_switch() -> None:
    engine = engage.Engine(tier_rules())
    actions = engine.ingest_many(submits("a", TIERS))
    assert [a.args[0] for a in actions] == [f"tier_{n}" for n in range(1, TIERS + 1)]
    view = engine.contact("a")
    assert view is not None
    assert view.tags == [f"tier_{n}" for n in range(1, TIERS + 1)]
    # The contact switched to a dict; the dump reads the same.
    contact = engine.state.contacts["a"]
    assert isinstance(contact.tags, dict)
    assert next(iter(engine.dump()))["tags"] == view.tags


def test_tagging_again_and_untagging_a_contact_with_many_tags() -> None:
    rules = tier_rules(
        'rule "drop" when score >= 200 then untag "tier_3", tag "tier_1", tag "late"\n'
    )
    engine = engage.Engine(rules)
    actions = engine.ingest_many(submits("a", TIERS))
    assert [a.action for a in actions if a.rule == "drop"] == ["untag", "tag", "tag"]
    view = engine.contact("a")
    assert view is not None
    want = [f"tier_{n}" for n in range(1, TIERS + 1) if n != 3]
    # tier_1 was there already: tagging it again changes nothing; "late" comes last.
    assert view.tags == [*want[:19], "late", *want[19:]]


def test_conditions_on_the_whole_tag_list_see_a_contact_with_many_tags() -> None:
    rules = tier_rules(
        f'rule "all" when tags contains "tier_{TIERS}" then notify sales\n'
        'rule "gone" when not (tags contains "tier_2") and score > 0 then notify ops\n'
        'rule "two" when score >= 20 then untag "tier_2" each time\n'
    )
    engine = engage.Engine(rules)
    actions = engine.ingest_many(submits("a", TIERS))
    # "gone" holds from the first event on: tier_2 comes and goes within one cascade
    # (its tier rule tags it, "two" takes it away), which is no net change.
    assert [(a.time - T0, a.rule) for a in actions if a.action == "notify"] == [
        (0.0, "gone"),
        (TIERS - 1.0, "all"),
    ]
    view = engine.contact("a")
    assert view is not None
    assert view.tags == [f"tier_{n}" for n in range(1, TIERS + 1) if n != 2]


def test_a_rule_reading_the_tags_as_a_whole_fires_once_per_change() -> None:
    rules = tier_rules('rule "seen" when tags contains "tier_20" then tag "seen"\n')
    engine = engage.Engine(rules)
    actions = engine.ingest_many(submits("a", TIERS))
    assert [a.args[0] for a in actions if a.rule == "seen"] == ["seen"]
    # Falling back below tier 20 takes no tag away: the rule stays quiet.
    bounces = [{"contact": "a", "type": "email.bounce", "at": T0 + 1000 + n} for n in range(TIERS)]
    assert not [a for a in engine.ingest_many(bounces) if a.rule == "seen"]


def test_snapshot_and_restore_keep_many_tags_and_go_on_adding() -> None:
    rules = tier_rules()
    straight = engage.Engine(rules)
    straight.ingest_many(submits("a", MANY_TAGS + 2))
    first = engage.Engine(rules)
    first.ingest_many(submits("a", MANY_TAGS + 2))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.snapshot"
        first.snapshot(path)
        restored = engage.Engine.restore(path, rules)
    assert list(restored.dump()) == list(first.dump())
    assert isinstance(restored.state.contacts["a"].tags, dict)
    rest = submits("a", TIERS - MANY_TAGS - 2, start=100)
    assert restored.ingest_many(rest) == straight.ingest_many(rest)
    assert list(restored.dump()) == list(straight.dump())


def test_tag_collection_picks_the_representation_by_size() -> None:
    few = tag_collection(["a", "b"])
    assert few == ("a", "b")
    many = tag_collection(f"t{n}" for n in range(MANY_TAGS + 1))
    assert isinstance(many, dict)
    assert list(many) == [f"t{n}" for n in range(MANY_TAGS + 1)]
