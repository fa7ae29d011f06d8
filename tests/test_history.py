"""Contact history: statuses, rows, tracking modes, batches, conditions over time, the
contact profile (docs/history.md)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import engage
from engage import Engine
from engage.cli import main
from engage.dsl.formatter import format_rules
from engage.engine.step import step
from engage.errors import RulesError
from engage.history.batch import Batch, read_ids
from engage.history.conditions import count_contacts
from engage.storage.statedir import StateDir

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)

STATUSES = """
statuses {
    proposed
    contacted      counts as contact
    delivered      counts as contact
    undeliverable
    control
}
"""


def at(hours: float = 0.0, days: float = 0.0) -> str:
    return (T0 + timedelta(hours=hours, days=days)).isoformat().replace("+00:00", "Z")


def ev(contact: str, type_: str, when: str, **data: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"contact": contact, "type": type_, "at": when}
    if data:
        record["data"] = data
    return record


def make(text: str, **options: Any) -> Engine:
    return Engine(engage.compile(text, name="h.rules"), max_future=None, **options)


def statuses_of(engine: Engine, contact: str) -> list[str]:
    view = engine.contact(contact)
    assert view is not None
    return [row["status"] for row in view.history]


# -- the language -----------------------------------------------------------------------


def test_statuses_block_and_history_conditions_check() -> None:
    rules = engage.compile(
        STATUSES
        + 'when had status "contacted" for campaign "C" within 7 days then tag "a"\n'
        + 'when status for campaign "C" is "undeliverable" then tag "b"\n'
        + 'when count contacts within 30 days >= 2 then tag "c"\n',
        name="h.rules",
    )
    assert rules.program.statuses.counting == {"contacted", "delivered"}
    assert rules.program.reads_history


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            STATUSES + 'on x then track "contactd"',
            "h.rules:9:17: error: unknown status 'contactd'",
        ),
        (
            STATUSES + 'when had status "undelivrable" within 2 days then tag "x"',
            "unknown status 'undelivrable'",
        ),
        (
            'when status for campaign "C" is "contacte" then tag "x"',
            "(did you mean 'contacted'?)",
        ),
        ("statuses { a  b  A }", "status 'A' is declared twice"),
        ("statuses { a } statuses { b }", "only one `statuses` block is allowed"),
    ],
)
def test_history_mistakes_are_errors_with_a_place(text: str, message: str) -> None:
    with pytest.raises(RulesError) as caught:
        engage.compile(text, name="h.rules")
    shown = "\n".join(d.format() for d in caught.value.diagnostics)
    assert message in shown
    assert "^" in shown


def test_an_undeclared_status_without_a_statuses_block_is_a_warning() -> None:
    rules = engage.compile('on x then track "won"', name="h.rules")
    assert any("unknown status 'won'" in w.message for w in rules.program.warnings)


def test_fmt_lays_out_statuses_and_is_idempotent() -> None:
    text = 'statuses {  proposed contacted counts as contact "no entregado" }\n'
    text += 'on x then track "proposed" for campaign "C" channel sms only create\n'
    formatted = format_rules(text)
    assert "    contacted       counts as contact\n" in formatted
    assert "only create" in formatted
    assert format_rules(formatted) == formatted


# -- rows, tracking modes ---------------------------------------------------------------


def test_sends_write_rows_and_suppressed_sends_do_not() -> None:
    engine = make(
        STATUSES + 'on a then send email "offer" from campaign "C"\n' + "on b then suspend\n"
    )
    engine.ingest(ev("x", "a", at(0)))
    view = engine.contact("x")
    assert view is not None
    assert view.history == [
        {
            "campaign": "C",
            "channel": "email",
            "template": "offer",
            "status": "contacted",
            "at": at(0),
            "log": [["contacted", at(0)]],
        }
    ]
    engine.ingest(ev("x", "b", at(1)))
    actions = engine.ingest(ev("x", "a", at(2)))
    assert actions[0].suppressed == "suspended"
    assert len(statuses_of(engine, "x")) == 1


def test_track_modes_update_create_both() -> None:
    engine = make(
        STATUSES
        + 'on p then track "proposed" for campaign "C" only create\n'
        + 'on u then track "contacted" for campaign "C" only update\n'
        + 'on b then track "undeliverable" for campaign "C"\n'
        + 'on o then track "contacted" for campaign "D" only update\n'
    )
    engine.ingest(ev("x", "o", at(0)))  # update with no row: nothing
    assert statuses_of(engine, "x") == []
    engine.ingest(ev("x", "p", at(1)))
    engine.ingest(ev("x", "p", at(2)))  # create: a second row
    assert statuses_of(engine, "x") == ["proposed", "proposed"]
    engine.ingest(ev("x", "u", at(3)))  # update: the latest row only
    assert statuses_of(engine, "x") == ["proposed", "contacted"]
    engine.ingest(ev("x", "u", at(4)))  # the same status again: unchanged
    view = engine.contact("x")
    assert view is not None
    assert view.history[1]["log"] == [["proposed", at(2)], ["contacted", at(3)]]
    engine.ingest(ev("x", "b", at(5)))  # both: updates the latest
    assert statuses_of(engine, "x") == ["proposed", "undeliverable"]
    engine.ingest(ev("y", "b", at(5)))  # both: creates where none matches
    assert statuses_of(engine, "y") == ["undeliverable"]


def test_track_spelling_and_channel_match() -> None:
    engine = make(
        STATUSES
        + 'on s then send sms "hi" from campaign "C", send email "hi" from campaign "C"\n'
        + 'on bounce then track "Undeliverable" channel email\n'
    )
    engine.ingest(ev("x", "s", at(0)))
    actions = engine.ingest(ev("x", "bounce", at(1)))
    assert actions[0].args == ["Undeliverable"]  # the action shows what was written
    assert actions[0].options == {"channel": "email"}
    view = engine.contact("x")
    assert view is not None
    assert [(r["channel"], r["status"]) for r in view.history] == [
        ("sms", "contacted"),
        ("email", "undeliverable"),
    ]


def test_history_track_events_and_bad_ones() -> None:
    engine = make(STATUSES)
    engine.ingest(ev("x", "history.track", at(0), status="proposed", campaign="C"))
    engine.ingest(ev("x", "history.track", at(1), status="Contacted", campaign="C", mode="update"))
    assert statuses_of(engine, "x") == ["contacted"]
    bad = [
        ev("x", "history.track", at(2)),
        ev("x", "history.track", at(2), status="lost"),
        ev("x", "history.track", at(2), status="contacted", mode="sometimes"),
        ev("x", "history.track", at(2), status="contacted", campaign=5),
        ev("nobody", "history.track", at(2), status="contacted", mode="update"),
    ]
    for record in bad:
        assert engine.ingest(record) == []
    reasons = [r.reason for r in engine.rejected]
    assert len(reasons) == 5
    assert "needs data" in reasons[0] and "unknown status 'lost'" in reasons[1]
    assert "unknown mode" in reasons[2] and "'campaign'" in reasons[3]
    assert "no contact 'nobody'" in reasons[4]
    assert "nobody" not in engine
    view = engine.contact("x")
    assert view is not None and view.last_activity is None  # tracking is not activity


# -- conditions over time ---------------------------------------------------------------


def test_had_status_turns_false_when_the_window_passes() -> None:
    engine = make(
        STATUSES
        + 'rule "on" when had status "contacted" for campaign "C" within 2 days then tag "h"\n'
        + 'rule "off" when not had status "contacted" for campaign "C" within 2 days '
        + 'then untag "h"\n'
    )
    engine.ingest(ev("x", "history.track", at(0), status="contacted", campaign="C"))
    view = engine.contact("x")
    assert view is not None and view.tags == ["h"]
    # It still has the status: true by time, no wake-up for it.
    engine.advance(at(days=30))
    assert engine.contact("x").tags == ["h"]  # type: ignore[union-attr]
    engine.ingest(ev("x", "history.track", at(days=30, hours=1), status="undeliverable"))
    left = T0 + timedelta(days=30, hours=1)
    assert engine.contact("x")._contact.wake == (left + timedelta(days=2)).timestamp()  # type: ignore[union-attr]
    engine.advance(at(days=32, hours=0.5))
    assert engine.contact("x").tags == ["h"]  # type: ignore[union-attr]
    actions = engine.advance(at(days=40))
    assert [(a.rule, a.at) for a in actions] == [("off", left + timedelta(days=2))]
    assert engine.contact("x").tags == []  # type: ignore[union-attr]
    engine.check_invariants()


def test_count_contacts_drops_on_time_and_only_counting_statuses_count() -> None:
    engine = make(
        STATUSES
        + 'on s then send email "m"\n'
        + 'rule "busy" when count contacts within 7 days >= 2 then tag "busy" '
        + "re-arm when count contacts within 7 days < 2\n"
        + 'rule "calm" when count contacts within 7 days < 2 then untag "busy"\n'
    )
    engine.ingest(ev("x", "s", at(0)))
    engine.ingest(ev("x", "s", at(days=1)))
    assert engine.contact("x").tags == ["busy"]  # type: ignore[union-attr]
    view = engine.contact("x")
    assert view is not None
    assert count_contacts(view._contact, 7 * 86400.0, engine.now or 0.0, {"contacted"}) == 2
    actions = engine.advance(at(days=20))
    assert [(a.rule, a.at) for a in actions] == [("calm", T0 + timedelta(days=7))]
    # An undeliverable row does not count.
    engine.ingest(ev("x", "s", at(days=21)))
    engine.ingest(ev("x", "history.track", at(days=21, hours=1), status="control", mode="create"))
    engine.ingest(ev("x", "history.track", at(days=21, hours=2), status="undeliverable"))
    assert engine.contact("x").tags == []  # type: ignore[union-attr]


def test_status_for_campaign_reads_the_latest_row() -> None:
    engine = make(
        STATUSES + 'when status for campaign "C" is "undeliverable" then tag "u"\n'
        'when status for campaign "C" is empty then tag "none"\n'
    )
    engine.ingest(ev("x", "history.track", at(0), status="contacted", campaign="D"))
    assert engine.contact("x").tags == ["none"]  # type: ignore[union-attr]
    engine.ingest(ev("x", "history.track", at(1), status="undeliverable", campaign="C"))
    assert engine.contact("x").tags == ["none", "u"]  # type: ignore[union-attr]
    assert engine.count('status for campaign "C" is "undeliverable"') == 1


# -- batches ----------------------------------------------------------------------------


def _mail_engine() -> Engine:
    engine = make(STATUSES + 'on list then send email "letter" from campaign "C"\n')
    for name in ("a", "b", "c", "d"):
        engine.ingest(ev(name, "list", at(0)))
    return engine


def test_mail_house_confirmation_list_with_others() -> None:
    engine = make(
        STATUSES + 'on list then track "proposed" for campaign "C" channel email only create\n'
    )
    for name in ("a", "b", "c", "d"):
        engine.ingest(ev(name, "list", at(0)))
    engine.advance(at(days=3))
    result = engine.track_batch(
        Batch("contacted", "C", ["a", "c", "a"], mode="update", others="undeliverable")
    )
    assert (result.listed, result.updated, result.others, result.others_updated) == (2, 2, 2, 2)
    assert [statuses_of(engine, n) for n in "abcd"] == [
        ["contacted"],
        ["undeliverable"],
        ["contacted"],
        ["undeliverable"],
    ]
    view = engine.contact("a")
    assert view is not None and view.history[0]["at"] == at(days=3)


def test_mail_house_undeliverable_list_and_unknown_ids() -> None:
    engine = _mail_engine()
    result = engine.track_batch(Batch("undeliverable", "C", ["b", "zz"], mode="update"))
    assert (result.updated, result.unknown, result.unknown_ids) == (1, 1, ["zz"])
    assert "zz" not in engine
    assert [statuses_of(engine, n) for n in "ab"] == [["contacted"], ["undeliverable"]]
    created = engine.track_batch(Batch("proposed", "C", ["yy"], mode="both"))
    assert (created.unknown, created.created) == (1, 1)
    assert statuses_of(engine, "yy") == ["proposed"]


def test_a_batch_applied_twice_changes_nothing_the_second_time() -> None:
    engine = _mail_engine()
    first = engine.track_batch(Batch("proposed", "C", ["a", "b"], mode="create"))
    assert first.created == 2
    second = engine.track_batch(Batch("proposed", "C", ["b", "a"], mode="create", at=None))
    assert not second.applied and second.created == 0
    assert statuses_of(engine, "a") == ["contacted", "proposed"]
    # Row by row, update and both are idempotent anyway.
    engine.track_batch(Batch("control", "C", ["a"]))
    again = engine.track_batch(Batch("control", "C", ["a", "a"], offer=None))
    assert not again.applied


def test_batch_with_an_unknown_status_changes_nothing() -> None:
    engine = _mail_engine()
    with pytest.raises(ValueError, match="unknown status 'sent'"):
        engine.track_batch(Batch("sent", "C", ["a"]))
    assert statuses_of(engine, "a") == ["contacted"]


def test_ids_files(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("name,Contact\nx,c1\ny,c2\n", "utf-8")
    (tmp_path / "b.csv").write_text("c1,1\nc2,2\n", "utf-8")
    (tmp_path / "c.txt").write_text("# list\nc1\n\n c2 \n", "utf-8")
    assert read_ids(tmp_path / "a.csv") == ["c1", "c2"]
    assert read_ids(tmp_path / "b.csv") == ["c1", "c2"]
    assert read_ids(tmp_path / "c.txt") == ["c1", "c2"]


def test_engage_track_command_on_a_state_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "r.rules"
    rules.write_text(
        STATUSES
        + 'on list then send email "letter" from campaign "C"\n'
        + 'when status for campaign "C" is "undeliverable" then tag "bad"\n',
        "utf-8",
    )
    events = tmp_path / "ev.jsonl"
    events.write_text(
        "".join(json.dumps(ev(n, "list", at(0))) + "\n" for n in ("a", "b", "c")), "utf-8"
    )
    state = str(tmp_path / "st")
    argv = ["run", str(rules), "--events", str(events), "--state", state, "--max-future", "off"]
    assert main(argv) == 0
    ids = tmp_path / "und.csv"
    ids.write_text("id\nb\nnope\n", "utf-8")
    capsys.readouterr()
    track = ["track", "--state", state, "--status", "undeliverable", "--campaign", "C"]
    assert main([*track, "--mode", "update", "--json", str(ids)]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["action"] == "tag" and lines[0]["contact"] == "b"
    assert lines[-1]["updated"] == 1 and lines[-1]["unknown_ids"] == ["nope"]
    assert "1 unknown ids (not tracked): nope" in err
    assert main([*track, "--mode", "update", str(ids)]) == 0
    assert "applied before" in capsys.readouterr().err
    bad = ["track", "--state", state, "--status", "sent", "--campaign", "C", str(ids)]
    assert main(bad) == 2
    folder = StateDir(state, engage.load(str(rules)))
    engine = folder.open()
    assert statuses_of(engine, "b") == ["undeliverable"]
    assert engine.contact("b").tags == ["bad"]  # type: ignore[union-attr]
    folder.close()


def test_a_batch_survives_a_crash_through_the_log(tmp_path: Path) -> None:
    rules = engage.compile(STATUSES + 'on list then send email "l" from campaign "C"\n')
    folder = StateDir(tmp_path, rules, fsync="never")
    engine = folder.open()
    for name in ("a", "b"):
        engine.ingest(ev(name, "list", at(0)))
    engine.track_batch(Batch("undeliverable", "C", ["a"], mode="update", others="control"))
    engine.journal.close()  # a crash: no checkpoint
    again = StateDir(tmp_path, rules).open()
    assert statuses_of(again, "a") == ["undeliverable"]
    assert statuses_of(again, "b") == ["control"]
    repeat = again.track_batch(Batch("undeliverable", "C", ["a"], mode="update", others="control"))
    assert not repeat.applied
    again.journal.close()


# -- state: snapshots, step, deletion ---------------------------------------------------


def test_snapshot_and_step_round_trip_history(tmp_path: Path) -> None:
    text = STATUSES + (
        'on s then send email "m" from campaign "C"\n'
        'rule "h" when had status "contacted" within 1 day then tag "h"\n'
        'rule "n" when not had status "contacted" within 1 day then untag "h"\n'
    )
    engine = make(text)
    engine.ingest(ev("x", "s", at(0)))
    engine.ingest(ev("x", "history.track", at(1), status="undeliverable", campaign="C"))
    engine.ingest(ev("x", "contact.deleted", at(2)))
    engine.ingest(ev("y", "s", at(3)))
    path = tmp_path / "s.engsnap"
    engine.snapshot(path)
    restored = Engine.restore(path, engine.rules)
    assert list(restored.dump()) == list(engine.dump())
    assert restored.deleted_history("x") == engine.deleted_history("x")
    assert restored.state.history.deleted_active == {"x"}
    restored.advance(at(days=3))
    assert restored.contact("y").tags == ["h"]  # type: ignore[union-attr]  # still contacted
    # The per-contact step carries the rows and wakes when the window passes.
    first = step(engine.rules, None, ev("z", "s", at(0)))
    second = step(
        engine.rules, first.state, ev("z", "history.track", at(1), status="control", campaign="C")
    )
    assert second.next_wake == (T0 + timedelta(hours=1, days=1)).timestamp()
    assert second.state is not None and b"control" in second.state


def test_deleted_while_active_comes_back_suspended_and_the_switch() -> None:
    text = STATUSES + "score { on email.open +1 }\n"
    for readd_suspended, expected in ((True, "suspended"), (False, "active")):
        engine = make(text, readd_suspended=readd_suspended)
        engine.ingest(ev("x", "email.open", at(0)))
        engine.ingest(ev("x", "contact.deleted", at(1)))
        engine.ingest(ev("x", "email.open", at(2)))  # the inline path hands it over
        view = engine.contact("x")
        assert view is not None and view.status == expected
        engine.check_invariants()
    # Deleted while suspended: not "deleted while active".
    engine = make(text + "on stop then suspend\n")
    engine.ingest(ev("y", "stop", at(0)))
    engine.ingest(ev("y", "contact.deleted", at(1)))
    assert engine.state.history.deleted_active == set()


def test_channel_activity_on_the_profile_and_dump() -> None:
    engine = make(STATUSES + 'on web.visit then send push "p"\n')
    engine.ingest(ev("x", "email.open", at(0)))
    engine.ingest(ev("x", "email.click", at(1)))
    engine.ingest(ev("x", "web.visit", at(2)))
    engine.ingest(ev("x", "email.bounce", at(3), kind="soft"))
    view = engine.contact("x")
    assert view is not None
    assert view.channels == {
        "email": {"action": "bounce", "at": at(3)},
        "push": {"action": "sent", "at": at(2)},
        "web": {"action": "visit", "at": at(2)},
    }
    assert view.to_dict()["channels"] == view.channels
    plain = make("score { on email.open +1 }")
    assert not plain.channel_activity
    plain.ingest(ev("x", "email.open", at(0)))
    assert "channels" not in next(plain.dump())
    plain.channel_activity = True
    plain.ingest(ev("x", "email.open", at(1)))
    assert next(plain.dump())["channels"] == {"email": {"action": "open", "at": at(1)}}


def test_report_counts_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "r.rules"
    rules.write_text(STATUSES + 'on list then send email "l" from campaign "C"\n', "utf-8")
    events = tmp_path / "ev.jsonl"
    events.write_text("".join(json.dumps(ev(n, "list", at(0))) + "\n" for n in ("a", "b")), "utf-8")
    assert main(["report", str(rules), "--events", str(events), "--json"]) == 0
    numbers = json.loads(capsys.readouterr().out)
    assert numbers["history"]["rows"] == {"C": {"contacted": 2}}
    assert numbers["history"]["channels"] == {"email": {"sent": 2}}
    assert os.path.exists(rules)


def test_rows_of_earlier_snapshots_are_converted_and_bad_ones_dropped() -> None:
    from engage.history.rows import normalize
    from engage.state.contact import from_record

    legacy = [
        {"status": "Tagged", "at": 5.0, "rule": "r", "campaign": "C"},
        ["C", None, "email", "t", "contacted", 1.0],
        "garbage",
        ["too", "short"],
    ]
    rows, dropped = normalize(legacy)
    assert rows == [
        ["C", None, None, None, "Tagged", 5.0],
        ["C", None, "email", "t", "contacted", 1.0],
    ]
    assert dropped == 2
    record = ["x", [None], None, [], [], "active", 0.0, None, 0, 0, None, {"history": legacy[:1]}]
    contact = from_record(record)
    assert contact.extra == {"history": [["C", None, None, None, "Tagged", 5.0]]}
