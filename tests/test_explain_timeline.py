"""``engage explain``: one contact's timeline, every rule fired or why not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engage.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_RULES = ROOT / "examples" / "engagement.rules"
EXAMPLE_EVENTS = ROOT / "examples" / "events.jsonl"

RULES = """\
score {
    on email.open   +1
    on email.bounce -1
    on email.click  +3   max 4 per 1 day
    on web.visit    +2   where event.url contains "/pricing"
}
rule "Hot lead"
    when score >= 5
    then notify sales
rule "Nudge"
    when score >= 1
    then do nudge
    at most once per 1 day
rule "Alert"
    when score >= 2
    then do alert
    re-arm when score < 1
rule "First open"
    on email.open
    then do welcome
    once
rule "Pricing"
    on web.visit where event.url contains "/pricing"
    then do pricing
rule "Lapsed"
    when valuation is "frequent"
    then do lapsed
"""

# ana's story, one step every ten minutes on 2026-01-01 (score after each step):
ANA = [
    ("a1", "10:00", "email.open", None),  # 1: Nudge and First open fire
    ("a2", "10:10", "email.open", None),  # 2: Alert fires (and disarms)
    ("a3", "10:20", "email.bounce", None),  # 1
    ("a4", "10:30", "email.open", None),  # 2: Alert crosses again, but is disarmed
    ("a5", "10:40", "email.bounce", None),  # 1
    ("a6", "10:50", "email.bounce", None),  # 0: Alert re-arms
    ("a7", "11:00", "email.open", None),  # 1: Nudge crosses again, in its cooldown
    ("a8", "12:00", "email.click", None),  # 4: +3 of the day's 4; Alert fires again
    ("a9", "12:10", "email.click", None),  # 5: +1 (capped); Hot lead fires
    ("a10", "12:20", "email.click", None),  # 5: capped; Hot lead held already
    ("a11", "13:00", "web.visit", {"url": "/blog"}),  # 5: filtered out
    ("a12", "13:10", "web.visit", {"url": "/pricing"}),  # 7: Pricing fires
    ("a1", "13:20", "email.open", None),  # a duplicate id: not applied
]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    rules = tmp_path / "t.rules"
    rules.write_text(RULES, encoding="utf-8")
    records: list[dict[str, Any]] = []
    for event_id, clock, event_type, data in ANA:
        record: dict[str, Any] = {
            "id": event_id,
            "contact": "ana",
            "type": event_type,
            "at": f"2026-01-01T{clock}:00Z",
        }
        if data is not None:
            record["data"] = data
        records.append(record)
    records += [
        {"id": "b1", "contact": "bob", "type": "email.open", "at": "2026-01-01T10:05:00Z"},
        {"id": "b2", "contact": "bob", "type": "email.open", "at": "2026-01-20T10:05:00Z"},
    ]
    events = tmp_path / "events.jsonl"
    # Grouped by contact, bob first: explain applies them in time order, as run does.
    records.sort(key=lambda record: record["contact"], reverse=True)
    events.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return rules, events


def _json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    assert main([*argv, "--json"]) == 0
    entries: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return entries


def _timeline(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], *more: str
) -> list[dict[str, Any]]:
    rules, events = files
    argv = ["explain", str(rules), "--events", str(events), "--contact", "ana", *more]
    return _json(argv, capsys)


def _step(entries: list[dict[str, Any]], event_id: str) -> dict[str, Any]:
    return next(e for e in entries if e["event"] and e["event"]["id"] == event_id)


def _rule(entry: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in entry["rules"] if r["rule"] == name)


def test_every_event_of_the_contact_in_time_order(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    entries = _timeline(files, capsys)
    events = [e for e in entries if e["kind"] == "event"]
    assert [e["event"]["id"] for e in events] == [event_id for event_id, *_ in ANA]
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)


def test_an_edge_rule_that_fired_and_its_actions(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    step = _step(_timeline(files, capsys), "a9")
    hot = _rule(step, "Hot lead")
    assert hot["status"] == "fired"
    assert hot["fired"] == 1
    assert hot["reads"] == {"score": [4, 5]}
    [action] = [a for a in step["actions"] if a["rule"] == "Hot lead"]
    assert action["action"] == "notify"
    assert action["args"] == ["sales"]
    assert action["why"]["event"] == "a9"


def test_a_condition_false_shows_the_values_read(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    hot = _rule(_step(_timeline(files, capsys), "a1"), "Hot lead")
    assert hot["status"] == "condition-false"
    assert hot["reason"] == "condition false: score >= 5"
    assert hot["reads"] == {"score": 1}  # a new contact: nothing before


def test_held_already_cooldown_disarmed_and_once(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    entries = _timeline(files, capsys)
    assert _rule(_step(entries, "a10"), "Hot lead")["status"] == "held"
    assert _rule(_step(entries, "a2"), "Nudge")["status"] == "held"
    cooling = _rule(_step(entries, "a7"), "Nudge")
    assert cooling["status"] == "cooldown"
    assert "quiet until 2026-01-02T10:00:00Z" in cooling["reason"]
    assert _rule(_step(entries, "a2"), "Alert")["status"] == "fired"
    assert _rule(_step(entries, "a4"), "Alert")["status"] == "disarmed"
    assert _rule(_step(entries, "a8"), "Alert")["status"] == "fired"  # re-armed at a6
    assert _rule(_step(entries, "a1"), "First open")["status"] == "fired"
    assert _rule(_step(entries, "a2"), "First open")["status"] == "fired-already"


def test_on_rules_other_event_types_and_filters(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    entries = _timeline(files, capsys)
    other = _rule(_step(entries, "a3"), "First open")
    assert other["status"] == "not-this-event"
    assert "email.open" in other["reason"]
    blog = _rule(_step(entries, "a11"), "Pricing")
    assert blog["status"] == "filter-false"
    assert blog["reason"] == 'filter false: event.url contains "/pricing"'
    assert _rule(_step(entries, "a12"), "Pricing")["status"] == "fired"


def test_score_lines_applied_capped_and_filtered(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    entries = _timeline(files, capsys)

    def line(event_id: str) -> tuple[Any, Any, Any, str, str]:
        [score] = _step(entries, event_id)["scores"]
        [only] = score["lines"]
        return score["before"], score["after"], only["given"], only["status"], only["line"]

    assert line("a8") == (1, 4, 3, "applied", f"{files[0]}:4")
    assert line("a9") == (4, 5, 1, "partly-capped", f"{files[0]}:4")
    assert line("a10") == (5, 5, 0, "capped", f"{files[0]}:4")
    assert line("a11") == (5, 5, 0, "filtered-out", f"{files[0]}:5")
    assert line("a12") == (5, 7, 2, "applied", f"{files[0]}:5")
    [score] = _step(entries, "a12")["scores"]
    assert score["other"] == 0
    assert score["lines"][0]["text"] == 'on web.visit +2 where event.url contains "/pricing"'


def test_a_duplicate_event_is_not_applied(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    last = [e for e in _timeline(files, capsys) if e["kind"] == "event"][-1]
    assert last["note"] == "not applied: a duplicate event id"
    assert last["scores"] == []
    assert last["actions"] == []


def test_a_wake_up_fires_a_rule_at_its_own_moment(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    entries = _timeline(files, capsys, "--until", "2026-02-01")
    [wake] = [e for e in entries if e["kind"] == "wake-up"]
    # Fifteen days after the last activity (13:10), before bob's event of the 20th.
    assert wake["at"] == "2026-01-16T13:10:00Z"
    assert wake["event"] is None
    assert wake["changes"] == {"valuation": ["new", "frequent"]}
    lapsed = _rule(wake, "Lapsed")
    assert lapsed["status"] == "fired"
    assert lapsed["reads"] == {"valuation": ["new", "frequent"]}
    [action] = wake["actions"]
    assert (action["rule"], action["action"], action["at"]) == ("Lapsed", "lapsed", wake["at"])
    assert _rule(wake, "Pricing")["status"] == "not-this-event"
    assert _rule(wake, "Hot lead")["status"] == "held"


def test_without_until_no_wake_up_after_the_last_event(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # bob's event on the 20th moves the clock past ana's wake-up: it is in the timeline.
    assert [e["at"] for e in _timeline(files, capsys) if e["kind"] == "wake-up"] == [
        "2026-01-16T13:10:00Z"
    ]


def test_rule_filters_rules_and_actions(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    entries = _timeline(files, capsys, "--rule", "Alert")
    assert {r["rule"] for e in entries for r in e["rules"]} == {"Alert"}
    assert {a["rule"] for e in entries for a in e["actions"]} == {"Alert"}
    assert [e["event"]["id"] for e in entries if e["actions"]] == ["a2", "a8"]


def test_json_keys_are_stable(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    entries = _timeline(files, capsys, "--until", "2026-02-01")
    for entry in entries:
        assert set(entry) == {
            "kind", "at", "event", "source", "note", "scores", "changes", "rules", "actions"
        }  # fmt: skip
        for rule in entry["rules"]:
            assert set(rule) == {"rule", "status", "reason", "fired", "reads"}
        for score in entry["scores"]:
            assert set(score) == {"score", "before", "after", "lines", "other"}
            for line in score["lines"]:
                assert set(line) == {"line", "text", "points", "given", "status", "reason"}
    first = entries[0]
    assert first["event"] == {"id": "a1", "type": "email.open", "data": None}
    assert first["source"] == "events.jsonl:3"


def test_text_output_reads_as_a_timeline(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rules, events = files
    argv = ["explain", str(rules), "--events", str(events), "--contact", "ana"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("ana: 13 events, 1 wake-up")
    assert "2026-01-01T12:10:00Z  event email.click  id a9" in out
    assert "+1  partly capped" in out
    assert "condition false: score >= 5  [score: 1 -> 2]" in out
    assert 'Hot lead: notify "sales"' in out
    assert "bob" not in out


def test_unknown_contact_suggests_close_ids(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rules, events = files
    assert main(["explain", str(rules), "--events", str(events), "--contact", "anna"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no event names contact 'anna'; did you mean 'ana'?" in captured.err


def test_unknown_rule_suggests_close_names(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rules, events = files
    argv = ["explain", str(rules), "--events", str(events), "--contact", "ana"]
    assert main([*argv, "--rule", "hot leed"]) == 2
    assert "no rule named 'hot leed'; did you mean 'Hot lead'?" in capsys.readouterr().err


def test_usage_errors(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    rules, events = files
    argv = ["explain", str(rules), "--events", str(events), "--contact", "ana"]
    assert main([*argv, "--until", "someday"]) == 2
    assert "bad --until time" in capsys.readouterr().err
    missing = ["explain", str(rules), "--events", str(events) + ".missing", "--contact", "ana"]
    assert main(missing) == 2
    with pytest.raises(SystemExit):
        main(["explain", str(rules), "--events", str(events)])  # no --contact


def test_the_bundled_example(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["explain", str(EXAMPLE_RULES), "--events", str(EXAMPLE_EVENTS), "--contact", "jhon"]
    entries = _json([*argv, "--until", "2026-06-30"], capsys)
    demo = _step(entries, "e-408")
    assert _rule(demo, "Hot lead")["status"] == "fired"
    assert _rule(demo, "Hot lead")["reads"] == {"score": [3.690496, 6.690496]}
    assert [line["status"] for line in demo["scores"][0]["lines"]] == ["applied"]
    assert _rule(_step(entries, "e-474"), "Hot lead")["status"] == "held"
    fit = _step(entries, "e-1")["scores"][0]
    assert (fit["score"], fit["lines"][0]["status"]) == ("fit", "filtered-out")
    dormant = next(e for e in entries if e["kind"] == "wake-up" and e["actions"])
    assert dormant["at"] == "2026-02-26T09:00:00Z"
    assert [a["action"] for a in dormant["actions"]] == ["send_email"]
    assert main(argv) == 0
    assert "FIRED" in capsys.readouterr().out
