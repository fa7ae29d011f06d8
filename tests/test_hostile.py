"""Hostile input: limits with clear errors, linear-time patterns, bad numbers and
oversized records rejected without stopping the stream, and host handlers that raise.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import engage
from engage import Action, Engine, LimitExceededError, RulesError
from engage.dsl.parser import MAX_NESTING, MAX_RULES_CHARS
from engage.events import MAX_DATA_DEPTH, MAX_DATA_ITEMS, MAX_ID_LENGTH, MAX_TEXT_LENGTH
from engage.rules import MAX_RULES_FILE_BYTES

SCORE = "score { on a +1 }\n"


def errors_of(text: str) -> str:
    with pytest.raises(RulesError) as caught:
        engage.compile(text, name="h.rules")
    return str(caught.value)


# -- rules limits ---------------------------------------------------------------------------


def test_oversized_rules_text_raises_limit_exceeded() -> None:
    text = "#" * (MAX_RULES_CHARS + 1)
    with pytest.raises(LimitExceededError, match="limit") as caught:
        engage.compile(text, name="big.rules")
    assert "big.rules" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_oversized_rules_file_raises_limit_exceeded(tmp_path: Path) -> None:
    path = tmp_path / "big.rules"
    path.write_bytes(b"#" * (MAX_RULES_FILE_BYTES + 1))
    with pytest.raises(LimitExceededError, match=r"big\.rules"):
        engage.load(path)


@pytest.mark.parametrize(
    "condition",
    [
        "(" * 200 + "score >= 1" + ")" * 200,
        "(" * 5000 + "score >= 1" + ")" * 5000,
        "not " * 2000 + "score >= 1",
        "score" + " + 1" * 3000 + " >= 1",
        "-" * 3000 + "score >= 1",
    ],
    ids=["parens-200", "parens-5000", "not-chain", "plus-chain", "minus-chain"],
)
def test_deep_nesting_is_a_clear_error_not_a_crash(condition: str) -> None:
    message = errors_of(SCORE + f"when {condition} then do x\n")
    assert f"nested more than {MAX_NESTING} levels" in message
    assert "h.rules:2:" in message


def test_nesting_under_the_limit_is_fine() -> None:
    rules = engage.compile(SCORE + "when " + "(" * 20 + "score >= 1" + ")" * 20 + " then do x\n")
    engine = Engine(rules)
    assert [a.action for a in engine.ingest({"contact": "c", "type": "a", "at": 0})] == ["x"]


def test_overlong_string_literal_is_a_clear_error() -> None:
    message = errors_of('fields { c: text }\nwhen c == "' + "x" * 10_001 + '" then do x\n')
    assert "text longer than 10,000 characters" in message
    assert "h.rules:2:" in message


def test_overlong_or_invalid_pattern_is_a_check_error() -> None:
    message = errors_of('fields { c: text }\nwhen c matches "' + "x" * 1001 + '" then do x\n')
    assert "pattern longer than 1000 characters" in message
    message = errors_of('fields { c: text }\nwhen c matches "(a)\\\\1" then do x\n')
    assert "back-references" in message


def test_garbage_rules_text_gives_syntax_errors_only() -> None:
    for text in ["{" * 50_000, '"' * 50_001, "\x00\x01\x02", "rule rule rule"]:
        with pytest.raises(RulesError) as caught:
            engage.compile(text)
        assert caught.value.diagnostics


# -- patterns -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("^(a+)+$", "a" * 50_000 + "b", False),
        ("^(a+)+$", "a" * 50_000, True),
        ("(a|aa)*c", "a" * 50_000, False),
        ("^(a|a?)+$", "a" * 30_000 + "!", False),
        ("(x+x+)+y", "x" * 40_000 + "y", True),
    ],
)
def test_catastrophic_patterns_complete_and_are_correct(
    pattern: str, text: str, expected: bool
) -> None:
    engine = Engine(
        engage.compile(f'on web.visit where event.url matches "{pattern}" then do hit\n')
    )
    actions = engine.ingest({"contact": "c", "type": "web.visit", "at": 0, "data": {"url": text}})
    assert bool(actions) is expected


# -- bad records ----------------------------------------------------------------------------

BAD_RECORDS: list[tuple[Any, str]] = [
    ({"contact": "c", "type": "t", "at": 1, "data": {"x": math.nan}}, "non-finite"),
    ({"contact": "c", "type": "t", "at": 1, "data": {"x": math.inf}}, "non-finite"),
    ({"contact": "c", "type": "t", "at": 1, "data": {"x": [1, {"y": -math.inf}]}}, "non-finite"),
    ({"contact": "c", "type": "t", "at": math.nan}, "bad 'at'"),
    ({"contact": "c", "type": "t", "at": math.inf}, "bad 'at'"),
    ({"contact": "c", "type": "t", "at": "yesterday"}, "bad 'at'"),
    ({"contact": "c", "type": "t", "at": 1, "data": {"x": "y" * (MAX_TEXT_LENGTH + 1)}}, "longer"),
    ({"contact": "c" * (MAX_ID_LENGTH + 1), "type": "t", "at": 1}, "'contact' longer"),
    ({"contact": "c", "type": "t" * 200, "at": 1}, "'type' longer"),
    ({"contact": "c", "type": "t", "at": 1, "id": "i" * 300}, "'id' longer"),
    (
        {"contact": "c", "type": "t", "at": 1, "data": {"l": list(range(MAX_DATA_ITEMS + 1))}},
        "more than",
    ),
    ({"contact": "c", "type": "t", "at": 1, "data": "text"}, "'data' must be an object"),
    ({"contact": "c", "type": "t", "at": 1, "data": {"x": object()}}, "type object"),
    ({"contact": "", "type": "t", "at": 1}, "missing 'contact'"),
    ({"contact": "c", "at": 1}, "missing 'type'"),
    (["not", "a", "mapping"], "must be an object"),
    (
        {"contact": "c", "type": "contact.updated", "at": 1, "data": {"score": math.nan}},
        "non-finite",
    ),
]


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        value = {"k": value}
    return value


BAD_RECORDS.append(
    ({"contact": "c", "type": "t", "at": 1, "data": _nested(MAX_DATA_DEPTH + 2)}, "deeper")
)


def _cases() -> list[Any]:
    return [
        pytest.param(record, fragment, mode)
        for record, fragment in BAD_RECORDS
        for mode in ("ingest", "ingest_many")
    ]


@pytest.mark.parametrize(("record", "fragment", "mode"), _cases())
def test_bad_records_are_rejected_with_a_reason_and_the_stream_goes_on(
    record: Any, fragment: str, mode: str
) -> None:
    engine = Engine(engage.compile("score { on t +1 }\n"))
    good = {"contact": "ok", "type": "t", "at": 2}
    if mode == "ingest":
        engine.ingest(record)
        engine.ingest(good)
    else:
        engine.ingest_many([record, good])
    assert engine.stats.rejected == 1
    (rejected,) = engine.rejected
    assert fragment in rejected.reason
    assert rejected.position == 1
    assert rejected.record is record
    assert engine.contact_ids() == ["ok"]
    assert engine.contact("ok").scores == {"score": 1}  # type: ignore[union-attr]
    assert engine.stats.events == 1


# -- handlers that raise ----------------------------------------------------------------------

NOTIFY = """
score { on email.open +5 }
rule "hot" when score >= 5 then tag "Hot", notify sales, do crm.sync
"""


def test_handler_exception_marks_the_action_failed_and_the_stream_continues() -> None:
    engine = Engine(engage.compile(NOTIFY))
    calls: list[str] = []
    broken = {"on": True}

    def notify(action: Action) -> None:
        calls.append(action.contact)
        if broken["on"]:
            raise RuntimeError("mail server down")

    synced: list[str] = []
    engine.on("notify", notify)
    engine.on("crm.sync", lambda action: synced.append(action.contact))
    actions = engine.ingest({"contact": "a", "type": "email.open", "at": 0})
    assert [a.action for a in actions] == ["tag", "notify", "crm.sync"]
    failed = actions[1]
    assert failed.status == "failed"
    assert failed.error == "RuntimeError: mail server down"
    assert failed.to_dict()["status"] == "failed"
    assert "mail server down" in failed.to_dict()["error"]
    assert engine.failed == [failed]
    # The other handler still ran, the state action applied, the stream goes on.
    assert synced == ["a"]
    assert engine.contact("a").tags == ["Hot"]  # type: ignore[union-attr]
    engine.ingest({"contact": "b", "type": "email.open", "at": 1})
    assert calls == ["a", "b"]
    assert synced == ["a", "b"]
    assert len(engine.failed) == 2
    assert engine.summary()["failed_actions"] == 2

    # Retrying while still broken keeps them failed.
    again = engine.retry_failed()
    assert [a.contact for a in again] == ["a", "b"]
    assert len(engine.failed) == 2
    # Fixed: retry succeeds, nothing left.
    broken["on"] = False
    assert engine.retry_failed() == []
    assert engine.failed == []
    after = failed.to_dict()  # written without status/error once delivered
    assert "status" not in after and "error" not in after
    assert calls == ["a", "b", "a", "b", "a", "b"]


def test_wildcard_handler_that_raises() -> None:
    engine = Engine(engage.compile(NOTIFY))

    def boom(action: Action) -> None:
        raise ValueError(action.action)

    engine.on("*", boom)
    actions = engine.ingest({"contact": "a", "type": "email.open", "at": 0})
    # State actions never go to handlers; both outside actions failed.
    assert [a.action for a in engine.failed] == ["notify", "crm.sync"]
    assert actions[0].status == "ok"


def test_state_action_that_cannot_apply_is_written_as_failed() -> None:
    engine = Engine(
        engage.compile(
            """
fields { nps: number }
on survey then set nps = event.answer, tag "Answered"
"""
        )
    )
    actions = engine.ingest({"contact": "a", "type": "survey", "at": 0, "data": {"answer": "ten"}})
    record = actions[0].to_dict()
    assert record["action"] == "set"
    assert record["status"] == "failed"
    assert "number" in record["error"]
    assert engine.contact("a").fields == {}  # type: ignore[union-attr]
    assert engine.contact("a").tags == ["Answered"]  # type: ignore[union-attr]
    actions = engine.ingest({"contact": "a", "type": "survey", "at": 1, "data": {"answer": 10}})
    assert actions[0].status == "ok"
    assert engine.contact("a").fields == {"nps": 10}  # type: ignore[union-attr]


def test_retry_calls_only_the_handlers_that_did_not_take_the_action() -> None:
    engine = Engine(engage.compile(NOTIFY))
    calls: list[str] = []
    state = {"fail": True}

    def first(action: Any) -> None:
        calls.append("first")

    def second(action: Any) -> None:
        calls.append("second")
        if state["fail"]:
            raise RuntimeError("down")

    engine.on("notify", first)
    engine.on("notify", second)
    engine.ingest({"contact": "c", "type": "email.open", "at": 1})
    assert calls == ["first", "second"]
    assert len(engine.failed) == 1
    state["fail"] = False
    assert engine.retry_failed() == []
    assert calls == ["first", "second", "second"]


@pytest.mark.parametrize("mode", ["ingest", "ingest_many"])
def test_contact_limit_refuses_new_contacts_as_bad_records(mode: str) -> None:
    engine = Engine(engage.compile("score { on t +1 }\n"), max_contacts=2)
    records = [{"contact": name, "type": "t", "at": n} for n, name in enumerate("abcab", 1)]
    if mode == "ingest":
        for record in records:
            engine.ingest(record)
    else:
        engine.ingest_many(records)
    assert engine.contact_ids() == ["a", "b"]
    assert engine.stats.rejected == 1
    assert "contact limit" in engine.rejected[0].reason
    assert engine.contact("a").scores == {"score": 2}  # type: ignore[union-attr]
