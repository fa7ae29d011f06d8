"""``engage report``: the flows section, sends by outcome, and the ``--csv`` export.

A small scenario is driven through the engine (events, ``engine.advance``) and every
action it returns is watched as the report's replay watches it; the counts per step,
per reason, per version and per send outcome are asserted exactly. Outcomes the engine
does not make yet (skipped and held sends, a second flow version) come from action
records built by hand, read the way the report reads the engine's.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from pathlib import Path
from typing import Any

import pytest

import engage
from engage.actions import Action
from engage.cli import main
from engage.report import export
from engage.report.collect import Facts, Watcher, collect_state
from engage.report.ledgers import HELD_UNRECORDED, SendLedger
from engage.report.sections import build, tables_of
from engage.report.text import render_plain
from engage.timeutil import parse_time

RULES = """\
score { on email.open +1 }
segment nuevos = tagged "new"
flow onboarding {
    for segment nuevos
    exit when tagged "stop"
    goal tagged "Cliente"
    wait 4 days
    send email "welcome"
    wait 7 days
    if score >= 2 { send push "reminder" } else { send sms "reminder" }
    wait until tagged "demo" at most 3 days
    notify sales "done"
}
flow nurture {
    for segment nuevos
    goal tagged "engaged" continue
    wait 1 day
    send email "tips"
    wait 30 days
}
"""

CLOCK = "2026-01-14T12:00:00Z"


def _event(contact: str, kind: str, at: str, **data: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"contact": contact, "type": kind, "at": f"2026-01-{at}:00:00Z"}
    if data:
        record["data"] = data
    return record


#: a and b run the whole onboarding (b opens twice: push; b books a demo: finished);
#: c converts, d exits (and refuses email), g is deleted, e and f join later. Every
#: member also enters nurture, where a reaches its goal and stays (``continue``).
EVENTS = [
    _event("a", "contact.updated", "01T00", tags=["new"]),
    _event("b", "contact.updated", "01T00", tags=["new"]),
    _event("c", "contact.updated", "02T00", tags=["new"]),
    _event("c", "contact.updated", "03T00", tags=["Cliente"]),
    _event("d", "contact.updated", "03T00", tags=["new"], consent={"email": False}),
    _event("a", "contact.updated", "04T00", tags=["engaged"]),
    _event("d", "contact.updated", "06T00", tags=["stop"]),
    _event("b", "email.open", "06T00"),
    _event("b", "email.open", "07T00"),
    _event("g", "contact.updated", "08T00", tags=["new"]),
    _event("g", "contact.deleted", "09T00"),
    _event("e", "contact.updated", "10T00", tags=["new"]),
    _event("f", "contact.updated", "12T00", tags=["new"]),
    _event("b", "contact.updated", "13T00", tags=["demo"]),
]


def _rules() -> engage.Rules:
    return engage.compile(RULES, name="flows.rules")


def _drive(records: list[Action] | None = None) -> Facts:
    """The scenario through an engine, watched as the report's replay watches it;
    ``records`` (built by hand) are watched after it."""
    engine = engage.Engine(_rules(), max_future=None)
    facts = Facts("events", engine)
    watcher = Watcher(facts)
    for record in EVENTS:
        watcher.observe(engine.ingest(record))
        if facts.first is None:
            facts.first = engine.now
    watcher.observe(engine.advance(CLOCK))
    if records:
        watcher.observe(records)
    return facts


@pytest.fixture(scope="module")
def numbers() -> dict[str, Any]:
    return build(_drive())


def _flow(numbers: dict[str, Any], name: str, version: int | None = 1) -> dict[str, Any]:
    (found,) = [f for f in numbers["flows"] if f["flow"] == name and f["version"] == version]
    return found


def _waiting(flow: dict[str, Any]) -> dict[str, int]:
    return {step["step"]: step["waiting"] for step in flow["steps"]}


def _actions(flow: dict[str, Any]) -> dict[str, int | None]:
    return {step["step"]: step["actions"] for step in flow["steps"]}


# -- the flows section --------------------------------------------------------------------


def test_flow_counts_per_step_reason_and_version(numbers: dict[str, Any]) -> None:
    onboarding = _flow(numbers, "onboarding")
    assert onboarding["current"] is True
    assert (onboarding["entered"], onboarding["contacts"], onboarding["inside"]) == (7, 7, 3)
    assert onboarding["left"] == {
        "finished": 1, "exit": 1, "goal": 1, "ended": 0, "removed": 0, "deleted": 1,
    }  # fmt: skip
    assert onboarding["left_total"] == 4
    assert onboarding["converted"] == {"total": 1, "left": 1, "stayed": 0}
    # f waits 4 days, e waits 7 days after its welcome, a waits for a demo
    assert _waiting(onboarding) == {
        "1": 1, "2": 0, "3": 1, "4.1.1": 0, "4.else.1": 0, "5": 1, "6": 0,
    }  # fmt: skip
    assert _actions(onboarding) == {
        "1": None, "2": 3, "3": None, "4.1.1": 1, "4.else.1": 1, "5": None, "6": 1,
    }  # fmt: skip
    texts = {step["step"]: (step["text"], step["kind"], step["at"]) for step in onboarding["steps"]}
    assert texts["5"] == ('wait until tagged "demo" at most 3 days', "wait", 7)
    assert texts["4.else.1"] == ('send sms "reminder"', "action", 6)

    nurture = _flow(numbers, "nurture")
    assert (nurture["entered"], nurture["inside"], nurture["left_total"]) == (7, 6, 1)
    assert nurture["left"]["deleted"] == 1
    assert nurture["converted"] == {"total": 1, "left": 0, "stayed": 1}
    assert _waiting(nurture) == {"1": 0, "2": 0, "3": 6}
    assert _actions(nurture)["2"] == 7  # d's suppressed tips counted: written at the step


def test_flows_in_written_order_and_inside_plus_left_is_entered(numbers: dict[str, Any]) -> None:
    assert [(f["flow"], f["version"]) for f in numbers["flows"]] == [
        ("onboarding", 1),
        ("nurture", 1),
    ]
    for flow in numbers["flows"]:
        assert flow["inside"] + flow["left_total"] == flow["entered"]
        assert flow["inside"] == sum(step["waiting"] for step in flow["steps"])


def _flow_record(verb: str, contact: str, flow: str, version: int, at: str, **extra: Any) -> Action:
    action = Action(parse_time(at), contact, f"flow:{flow}", verb, [flow], None)
    action.version = version
    for name, value in extra.items():
        setattr(action, name, value)
    return action


def test_versions_are_read_from_the_records() -> None:
    """A second version (as a reload makes) and a removed flow are counted apart; a
    version gone from the program shows its steps by path, without text."""
    at = "2026-01-14T13:00:00Z"
    removed = {"reason": "removed"}
    records = [
        _flow_record("enter_flow", "x", "onboarding", 2, at),
        _flow_record("enter_flow", "y", "onboarding", 2, at),
        _flow_record("enter_flow", "y", "onboarding", 2, at),
        _flow_record("send_email", "x", "onboarding", 2, at, step="3.1", args=["v2"]),
        _flow_record("flow_goal", "x", "onboarding", 2, at),
        _flow_record("exit_flow", "y", "onboarding", 2, at, options=removed),
        _flow_record("exit_flow", "z", "gone", 3, at, options={"reason": "sunset"}),
    ]
    numbers = build(_drive(records))
    assert [(f["flow"], f["version"], f["current"]) for f in numbers["flows"]] == [
        ("onboarding", 1, True),
        ("onboarding", 2, False),
        ("nurture", 1, True),
        ("gone", 3, False),
    ]
    assert _flow(numbers, "onboarding")["entered"] == 7  # version 1 as before
    second = _flow(numbers, "onboarding", 2)
    assert (second["entered"], second["contacts"], second["inside"]) == (3, 2, 0)
    assert second["left"]["removed"] == 1 and second["left_total"] == 1
    assert second["converted"] == {"total": 1, "left": 0, "stayed": 1}
    assert second["steps"] == [
        {"step": "3.1", "text": None, "kind": "action", "at": None, "waiting": 0, "actions": 1}
    ]
    gone = _flow(numbers, "gone", 3)
    assert gone["left"]["sunset"] == 1 and gone["left_total"] == 1


def test_a_state_folder_shows_who_is_where_but_no_history() -> None:
    numbers = build(collect_state(_drive().engine))
    onboarding = _flow(numbers, "onboarding")
    assert onboarding["inside"] == 3 and _waiting(onboarding)["5"] == 1
    for key in ("entered", "contacts", "left", "left_total", "converted"):
        assert onboarding[key] is None
    assert all(step["actions"] is None for step in onboarding["steps"])
    assert numbers["sends"] is None
    titles = [table.title for _, tables in tables_of(numbers) for table in tables]
    assert "Flows (entries, leavings and conversions are not kept in a state folder)" in titles


def test_hidden_flow_segments_are_not_shown_as_segments(numbers: dict[str, Any]) -> None:
    assert [row["segment"] for row in numbers["segments"]] == ["nuevos"]
    assert numbers["segments"][0]["now"] == 6  # g was deleted


def test_json_shape(numbers: dict[str, Any]) -> None:
    flow = _flow(numbers, "onboarding")
    assert set(flow) == {
        "flow", "version", "current", "entered", "contacts", "inside", "steps", "left",
        "left_total", "converted",
    }  # fmt: skip
    assert all(
        set(step) == {"step", "text", "kind", "at", "waiting", "actions"} for step in flow["steps"]
    )
    (email,) = [row for row in numbers["sends"] if row["channel"] == "email"]
    assert set(email) == {
        "channel", "sends", "records", "sent", "suppressed", "suppressed_total", "skipped",
        "skipped_total", "held",
    }  # fmt: skip
    assert set(email["held"]) == {
        "total", "by_reason", "released", "held_again", "waiting", "lapsed",
    }  # fmt: skip
    assert set(email["held"]["released"]) == {"total", "sent", "suppressed", "skipped"}
    assert json.loads(json.dumps(numbers, sort_keys=True)) == numbers


# -- sends --------------------------------------------------------------------------------


def test_sends_of_the_scenario(numbers: dict[str, Any]) -> None:
    by_channel = {row["channel"]: row for row in numbers["sends"]}
    assert sorted(by_channel) == ["email", "push", "sms"]
    email = by_channel["email"]
    # tips x7 (d's suppressed), welcome x3 (a, b, e)
    assert (email["sends"], email["records"], email["sent"]) == (10, 10, 9)
    assert email["suppressed"] == {"no consent for email": 1}
    assert email["skipped"] == {} and email["held"]["total"] == 0
    assert by_channel["push"]["sent"] == 1 and by_channel["sms"]["sent"] == 1


def _send(
    contact: str,
    at: str,
    *,
    channel: str = "email",
    rule: str = "Promo",
    args: tuple[str, ...] = ("promo",),
    step: str | None = None,
    suppressed: str | None = None,
    skipped: str | None = None,
    held_until: str | None = None,
    reason: str | None = None,
) -> Action:
    options = None if reason is None else {"held_reason": reason}
    action = Action(parse_time(at), contact, rule, f"send_{channel}", list(args), None, options)
    action.step = step
    action.suppressed = suppressed
    action.skipped = skipped
    action.held_until = None if held_until is None else parse_time(held_until)
    return action


HELD_STREAM = [
    _send("s1", "2026-01-14T12:00:00Z"),
    _send("s2", "2026-01-14T12:00:00Z"),
    _send("u", "2026-01-14T12:00:00Z", suppressed="unsubscribed from email"),
    _send(
        "k", "2026-01-14T12:00:00Z", rule="flow:onboarding", step="4.1.1",
        args=("cc-offer",), skipped="not in segment cc_eligible",
    ),
    # a: held for quiet hours, sent at its release
    _send("a", "2026-01-14T22:00:00Z", held_until="2026-01-15T08:00:00Z", reason="quiet hours"),
    # b: held (no reason written), held again at its release, then suppressed by the cap
    _send("b", "2026-01-14T22:00:00Z", held_until="2026-01-15T08:00:00Z"),
    # e: two identical held sends, released together: one goes, one is refused
    _send("e", "2026-01-14T22:00:00Z", held_until="2026-01-15T08:00:00Z", reason="cap"),
    _send("e", "2026-01-14T22:30:00Z", held_until="2026-01-15T08:00:00Z", reason="cap"),
    _send("a", "2026-01-15T08:00:00Z"),
    _send("b", "2026-01-15T08:00:00Z", held_until="2026-01-16T08:00:00Z"),
    _send("e", "2026-01-15T08:00:00Z"),
    _send("e", "2026-01-15T08:00:00Z", suppressed="no consent for email"),
    _send("b", "2026-01-16T08:00:00Z", suppressed="cap email 3 per 7 days"),
    # a flow's held sms whose contact left the flow before the release: lapsed
    _send(
        "c", "2026-01-15T10:00:00Z", channel="sms", rule="flow:onboarding", step="2",
        held_until="2026-01-15T12:00:00Z", reason="quiet hours",
    ),
    # a push held past the clock: waiting
    _send("d", "2026-01-16T10:00:00Z", channel="push", held_until="2026-02-01T08:00:00Z"),
]  # fmt: skip


def test_held_sends_are_counted_once_with_what_happened_at_release() -> None:
    facts = _drive()
    facts.engine.advance("2026-01-20T00:00:00Z")
    ledger = SendLedger()
    released = [ledger.observe(action) for action in HELD_STREAM]
    # the release records are those of a, b (twice), e (twice)
    assert [i for i, flag in enumerate(released) if flag] == [8, 9, 10, 11, 12]
    facts.sends = ledger
    by_channel = {row["channel"]: row for row in build(facts)["sends"]}
    assert by_channel["email"] == {
        "channel": "email",
        "sends": 8,
        "records": 13,
        "sent": 4,
        "suppressed": {
            "cap email 3 per 7 days": 1,
            "no consent for email": 1,
            "unsubscribed from email": 1,
        },
        "suppressed_total": 3,
        "skipped": {"not in segment cc_eligible": 1},
        "skipped_total": 1,
        "held": {
            "total": 4,
            "by_reason": {"cap": 2, HELD_UNRECORDED: 1, "quiet hours": 1},
            "released": {
                "total": 4,
                "sent": 2,
                "suppressed": {"cap email 3 per 7 days": 1, "no consent for email": 1},
                "skipped": {},
            },
            "held_again": 1,
            "waiting": 0,
            "lapsed": 0,
        },
    }
    sms, push = by_channel["sms"], by_channel["push"]
    assert (sms["sends"], sms["sent"], sms["held"]["lapsed"], sms["held"]["waiting"]) == (
        1,
        0,
        1,
        0,
    )
    assert (push["sends"], push["held"]["waiting"], push["held"]["lapsed"]) == (1, 1, 0)
    for row in by_channel.values():
        held = row["held"]
        assert row["sends"] == (
            row["sent"]
            + row["suppressed_total"]
            + row["skipped_total"]
            + held["waiting"]
            + held["lapsed"]
        )
        assert row["records"] == row["sends"] + held["released"]["total"] + held["held_again"]


def test_held_sends_through_the_watcher_count_a_flow_step_once() -> None:
    """A flow's held send and its release are one action of the step."""
    records = [
        _send(
            "f", "2026-01-14T12:00:00Z", rule="flow:nurture", step="2", args=("tips",),
            held_until="2026-01-14T20:00:00Z",
        ),
        _send("f", "2026-01-14T20:00:00Z", rule="flow:nurture", step="2", args=("tips",)),
    ]  # fmt: skip
    for record in records:
        record.version = 1
    numbers = build(_drive(records))
    assert _actions(_flow(numbers, "nurture"))["2"] == 8  # 7 before, and f's once
    (email,) = [row for row in numbers["sends"] if row["channel"] == "email"]
    assert (email["sends"], email["records"], email["sent"]) == (11, 12, 10)
    assert email["held"]["released"]["sent"] == 1


def test_a_held_flow_send_lapses_when_its_contact_leaves_the_flow() -> None:
    """After the exit, the same step's send on a re-entry is a new send, not the
    release of the held one."""
    flow = {"rule": "flow:onboarding", "step": "2", "args": ("welcome",)}
    stream = [
        _send("r", "2026-01-01T22:00:00Z", held_until="2026-01-02T08:00:00Z", **flow),
        _flow_record("exit_flow", "r", "onboarding", 1, "2026-01-02T01:00:00Z"),
        _send("r", "2026-01-05T10:00:00Z", **flow),
    ]  # fmt: skip
    ledger = SendLedger()
    assert [ledger.observe(action) for action in stream] == [False, False, False]
    counts = ledger.channels["email"]
    assert (counts.sent, counts.released, counts.lapsed) == (1, 0, 1)
    assert ledger.pending(parse_time("2026-01-06T00:00:00Z")) == {"email": (0, 1)}


def test_sends_tables_show_each_outcome() -> None:
    facts = _drive()
    facts.engine.advance("2026-01-20T00:00:00Z")
    ledger = SendLedger()
    for action in HELD_STREAM:
        ledger.observe(action)
    facts.sends = ledger
    lines = {" ".join(line.split()) for line in render_plain(build(facts)).splitlines()}
    assert {
        "email sent 4",
        "email suppressed: cap email 3 per 7 days 1",
        "email suppressed: unsubscribed from email 1",
        "email skipped: not in segment cc_eligible 1",
        "push held, not released 1",
        "sms held, not released 1",
        "email held: quiet hours 1",
        f"email held: {HELD_UNRECORDED} 1",
        "email released: sent 2",
        "email released: suppressed: no consent for email 1",
        "email held again at a release 1",
        "push still held (release after the clock) 1",
        "sms never released (the contact left the flow) 1",
    } <= lines


# -- the CSV export -----------------------------------------------------------------------

EXPECTED_ROWS = [
    ["a", "nurture", "1", "inside", "3", "wait 30 days", "2",
     "2026-01-02T00:00:00Z", "2026-02-01T00:00:00Z", "", "1", "true"],
    ["a", "onboarding", "1", "inside", "5", 'wait until tagged "demo" at most 3 days', "7",
     "2026-01-12T00:00:00Z", "2026-01-15T00:00:00Z", "", "1", "false"],
    ["b", "nurture", "1", "inside", "3", "wait 30 days", "2",
     "2026-01-02T00:00:00Z", "2026-02-01T00:00:00Z", "", "1", "false"],
    ["b", "onboarding", "1", "left", "", "", "", "2026-01-13T00:00:00Z", "", "finished", "1",
     "false"],
    ["c", "nurture", "1", "inside", "3", "wait 30 days", "2",
     "2026-01-03T00:00:00Z", "2026-02-02T00:00:00Z", "", "1", "false"],
    ["c", "onboarding", "1", "left", "", "", "", "2026-01-03T00:00:00Z", "", "goal", "1", "true"],
    ["d", "nurture", "1", "inside", "3", "wait 30 days", "2",
     "2026-01-04T00:00:00Z", "2026-02-03T00:00:00Z", "", "1", "false"],
    ["d", "onboarding", "1", "left", "", "", "", "2026-01-06T00:00:00Z", "", "exit", "1", "false"],
    ["e", "nurture", "1", "inside", "3", "wait 30 days", "2",
     "2026-01-11T00:00:00Z", "2026-02-10T00:00:00Z", "", "1", "false"],
    ["e", "onboarding", "1", "inside", "3", "wait 7 days", "2",
     "2026-01-14T00:00:00Z", "2026-01-21T00:00:00Z", "", "1", "false"],
    ["f", "nurture", "1", "inside", "3", "wait 30 days", "2",
     "2026-01-13T00:00:00Z", "2026-02-12T00:00:00Z", "", "1", "false"],
    ["f", "onboarding", "1", "inside", "1", "wait 4 days", "0",
     "2026-01-12T00:00:00Z", "2026-01-16T00:00:00Z", "", "1", "false"],
]  # fmt: skip


def test_csv_rows() -> None:
    stream = io.StringIO()
    count = export.write(_drive().engine, stream)
    header, *rows = list(csv.reader(io.StringIO(stream.getvalue())))
    assert header == list(export.COLUMNS)
    assert rows == EXPECTED_ROWS and count == len(rows)


# -- the command --------------------------------------------------------------------------


@pytest.fixture
def scenario_files(tmp_path: Path) -> tuple[str, str]:
    rules = tmp_path / "flows.rules"
    rules.write_text(RULES, encoding="utf-8")
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(record) + "\n" for record in EVENTS), encoding="utf-8")
    return str(rules), str(events)


def _report(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["report", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_command_csv_to_a_file_and_to_stdout(
    scenario_files: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules, events = scenario_files
    common = (rules, "--events", events, "--until", CLOCK, "--max-future", "off")
    path = tmp_path / "places.csv"
    code, out, err = _report(capsys, *common, "--csv", str(path))
    assert code == 0, err
    assert "== Flows ==" in out and "Flow steps (waiting now, actions written)" in out
    assert f"wrote {path} (12 rows)" in err
    assert list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))[1:] == EXPECTED_ROWS

    code, out, err = _report(capsys, *common, "--csv", "-")
    assert code == 0, err
    assert out == path.read_text(encoding="utf-8")  # the CSV alone on stdout

    code, _, err = _report(capsys, *common, "--csv", "-", "--json")
    assert code == 2 and "--csv - and --json" in err


def test_command_json_matches_the_driven_engine(
    scenario_files: tuple[str, str], capsys: pytest.CaptureFixture[str], numbers: dict[str, Any]
) -> None:
    rules, events = scenario_files
    code, out, err = _report(
        capsys, rules, "--events", events, "--until", CLOCK, "--max-future", "off", "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["flows"] == numbers["flows"]
    assert report["sends"] == numbers["sends"]


@pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None,
    reason="matplotlib is not installed (pip install 'engage[plots]')",
)
def test_html_page_has_the_flow_tables_and_charts(
    scenario_files: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules, events = scenario_files
    page = tmp_path / "report.html"
    common = (rules, "--events", events, "--until", CLOCK, "--max-future", "off")
    code, _, err = _report(capsys, *common, "--html", str(page))
    assert code == 0, err
    text = page.read_text(encoding="utf-8")
    for title in (
        "Flows",
        "Flows left by reason",
        "Flow steps (waiting now, actions written)",
        "Flows: inside now and left",
        "Flow onboarding v1: waiting at each step",
        "Flow nurture v1: waiting at each step",
    ):
        assert f">{title}<" in text or f'data-chart="{title}"' in text, title
    assert "wait until tagged &quot;demo&quot; at most 3 days" in text
