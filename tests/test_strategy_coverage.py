"""The random programs and streams reach every construct they are meant to test.

The oracle tests are only as good as what their strategies draw: a construct the
generator stopped producing (a typo in a template, a branch made unreachable by a later
edit) would leave its part of the engine unchecked while every test still passed. Each
test here draws a fixed, derandomized sample from one strategy and checks that every
construct shows up in at least a floor share of it. The floors sit well below the
shares measured when they were set, so they fail on a construct gone missing, not on a
small change of weights.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from engage.timeutil import coerce_time
from strategies import inline_operations, inline_rules_text, operations, rules_text

SAMPLE = 200

#: A construct in a rules text, by the pattern that finds it.
CORE_CONSTRUCTS: Mapping[str, str] = {
    "score comparison": r"\b(score|fit) (>=|<=|>|<|==|!=) -?\d",
    "is empty / is not empty": r" is (not )?empty",
    "arithmetic": r"(\+ 1\) \* 2|\w / \w|\w \* 2 - \w|\w \+ \w)",
    "in [...] / not in [...]": r"city (not )?in \[",
    "contains / startswith / endswith": r"city (contains|startswith|endswith) ",
    "not contains / startswith / endswith": r"city not (contains|startswith|endswith) ",
    "matches": r"city matches \"",
    "not matches": r"city not matches \"",
    "not between": r"\b(score|fit|nps) not between ",
    "text equality": r"city (==|!=) \"",
    "tagged": r"\btagged \"",
    "in group": r"\bin group \"",
    "in segment": r"\bin segment s\d",
    "and": r"\band\b",
    "or": r"\bor\b",
    "not": r"\bnot\b",
    "segment": r"^segment s\d = ",
    "on segment enter / exit": r"on segment (enter|exit) ",
    "on score change": r"^(    )?on (score|fit) change",
    "on score change, filtered on the change": r" change where event\.(delta|new|old) ",
    "on tag added": r"^(    )?on tag added",
    'on tag added "T"': r"^(    )?on tag added \"",
    "on an event type": r"^(    )?on (email|web|form|stage)\.",
    "event attribute filter": r"where event\.n ",
    "condition filter": r"where (?!event\.)",
    "cap per window": r"max \d+ per ",
    "cap in total": r"max \d+ total",
    "once (score line)": r"^    on .* once$",
    "clamp": r"^    clamp ",
    "named rule with priority": r'^rule "r\d+" priority -?\d+',
    "anonymous rule": r"^(when|on) ",
    "once (rule)": r"^    then .* once$",
    "cooldown": r"at most once per ",
    "re-arm when": r"re-arm when ",
    "tag": r"then (.*, )?tag \"",
    "untag": r"untag \"",
    "set": r"set (nps|city) = ",
    "set of a score": r"set fit = ",
    "clear of a score": r"clear fit",
    "suspend": r"\bsuspend\b",
    "reactivate": r"\breactivate\b",
    "unsubscribe": r"\bunsubscribe\b",
    "unsubscribe from a campaign": r"unsubscribe from campaign ",
    "unsubscribe on a channel": r"unsubscribe( from \w+ \"\w+\")? channel ",
    "track": r"track \"",
    "track with campaign and offer": r"track \"\w+\" for campaign \"\w+\" offer ",
    "send email": r"send email \"",
    "send sms": r"send sms \"",
    "send from a campaign": r"send \w+ \"\w+\" from campaign ",
    "clear": r"clear (city|nps)",
    "add to a score": r"add \d to (score|fit)",
    "subtract": r"subtract \d from fit",
    "notify": r"notify sales",
    "create task": r"create task ",
    "add to / remove from group": r"(add to|remove from) group ",
    "outside action (do)": r"do hit \d",
}
CORE_ONLY: Mapping[str, str] = {"each time": r"each time"}
TIME_CONSTRUCTS: Mapping[str, str] = {
    "decay": r"decay half-life ",
    "valuation block": r"^valuation \{",
    "last_activity within": r"last_activity within ",
    "last_activity older than": r"last_activity older than ",
    "had ... within": r"\bhad \w+\.\w+ within ",
    "count ... within": r"\bcount \w+\.\w+ within ",
    "valuation is": r"valuation is \"",
    "created within": r"created within ",
}
INLINE_CONSTRUCTS: Mapping[str, str] = {
    "between": r"score between ",
    "fractional points": r"on \w+\.\w+ [+-]\d\.5",
    "taking points away": r"on \w+\.\w+ -",
    "fractional threshold": r"score [<>=!]+ -?\d\.5",
    "each time": r"each time",
    "once": r"then .* once$",
    "re-arm when": r"re-arm when ",
    "a rule reading what threshold rules change": r'^rule "reader"',
    "fit declared first": r"\A[\s\S]*score fit \{[\s\S]*^score \{",
}


def sample(strategy: st.SearchStrategy[Any]) -> list[Any]:
    """:data:`SAMPLE` derandomized draws of ``strategy`` (the same ones every run)."""
    drawn: list[Any] = []

    @settings(
        max_examples=SAMPLE,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy)
    def draw(value: Any) -> None:
        drawn.append(value)

    draw()
    return drawn


def shares(texts: list[str], constructs: Mapping[str, str]) -> dict[str, float]:
    found: Counter[str] = Counter()
    for text in texts:
        for name, pattern in constructs.items():
            if re.search(pattern, text, re.MULTILINE):
                found[name] += 1
    return {name: found[name] / len(texts) for name in constructs}


def assert_reached(measured: dict[str, float], floor: float) -> None:
    missing = {name: share for name, share in measured.items() if share < floor}
    assert not missing, f"constructs the strategy rarely or never draws: {missing}"


def test_core_rules_reach_every_construct() -> None:
    texts = sample(rules_text())
    assert_reached(shares(texts, {**CORE_CONSTRUCTS, **CORE_ONLY}), 0.02)


def test_time_rules_reach_every_construct() -> None:
    texts = sample(rules_text(time=True))
    assert_reached(shares(texts, {**CORE_CONSTRUCTS, **TIME_CONSTRUCTS}), 0.02)


def test_inline_rules_reach_every_construct() -> None:
    assert_reached(shares(sample(inline_rules_text()), INLINE_CONSTRUCTS), 0.02)


def _stream_features(ops: list[tuple[str, Any]]) -> set[str]:
    features: set[str] = set()
    clock = -float("inf")
    ids: set[str] = set()
    for kind, value in ops:
        if kind == "advance":
            features.add("clock move")
            continue
        at = coerce_time(value["at"])
        if at < clock:
            features.add("late event")
        clock = max(clock, at)
        features.add("text time" if isinstance(value["at"], str) else "number time")
        event_id = value.get("id")
        if event_id is None:
            features.add("no id")
        elif event_id in ids:
            features.add("duplicate id")
        else:
            ids.add(event_id)
        features.add(value["type"])
        data = value.get("data")
        if value["type"] == "email.bounce":
            features.add(f"bounce {data['kind']}")
        if value["type"] == "contact.updated":
            features.update(f"update {key}" for key in data)
        elif data and "n" in data:
            features.add("event attribute")
        if value["contact"] != "c1":
            features.add("several contacts")
    return features


def _stream_shares(
    strategy: st.SearchStrategy[list[tuple[str, Any]]], expected: set[str]
) -> dict[str, float]:
    streams = sample(strategy)
    found: Counter[str] = Counter()
    for ops in streams:
        found.update(_stream_features(ops))
    return {name: found[name] / len(streams) for name in expected}


STREAM_FEATURES = {
    "late event",
    "text time",
    "number time",
    "no id",
    "duplicate id",
    "contact.updated",
    "contact.deleted",
    "bounce hard",
    "bounce soft",
    "event attribute",
    "several contacts",
    *(f"update {key}" for key in ("nps", "city", "plan", "score", "fit", "tags")),
}


def test_time_streams_reach_every_feature() -> None:
    expected = {*STREAM_FEATURES, "clock move"}
    assert_reached(_stream_shares(operations(time=True), expected), 0.02)


def test_core_streams_reach_every_feature() -> None:
    assert_reached(_stream_shares(operations(), STREAM_FEATURES), 0.02)


def test_inline_streams_reach_every_feature() -> None:
    expected = {"late event", "no id", "number time", "several contacts", "email.sent"}
    assert_reached(_stream_shares(inline_operations(), expected), 0.02)


def measured_shares() -> dict[str, dict[str, float]]:
    """Every share, for setting floors (``python -c`` from the tests folder)."""
    return {
        "core": shares(sample(rules_text()), {**CORE_CONSTRUCTS, **CORE_ONLY}),
        "time": shares(sample(rules_text(time=True)), {**CORE_CONSTRUCTS, **TIME_CONSTRUCTS}),
        "inline": shares(sample(inline_rules_text()), INLINE_CONSTRUCTS),
        "time streams": _stream_shares(operations(time=True), {*STREAM_FEATURES, "clock move"}),
        "core streams": _stream_shares(operations(), STREAM_FEATURES),
    }
