"""Caps and quiet hours against a naive model, over random policies and send streams.

The model is written the slow, obvious way and shares no code with the gate: it keeps
every send that went out (never pruned), counts a cap's window by scanning them all,
finds "the moment the window has room" by trying each candidate moment in turn, and
finds the end of quiet hours by walking forward minute by minute on the local wall
clock (a zone with daylight-saving changes, with streams that cross them). Held sends
are tried again at their release, before any event of that moment, earliest first,
then in the order they were held. The engine runs the same stream through rules; both
must write the same send records (time, template, and how each ended).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

import engage
from engage import Action, Engine
from engage.timeutil import coerce_time, format_time

ZONE = "America/New_York"
#: A week before the spring-forward night of 2026 (8 March).
START = coerce_time("2026-03-03T00:00:00Z")
DAY = 86400.0
#: Quiet windows whose ends are never inside a daylight-saving gap (02:00-03:00).
QUIET_WINDOWS = [(21 * 60, 8 * 60), (22 * 60 + 30, 6 * 60 + 15), (13 * 60, 14 * 60), (0, 1 * 60)]
CHANNELS = ("email", "sms")


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    caps = []
    for scope in ("email", "sms", "any"):
        if draw(st.booleans()):
            caps.append(
                (scope, draw(st.integers(1, 3)), draw(st.sampled_from([3600.0, DAY, 2 * DAY])))
            )
    quiet = draw(st.none() | st.sampled_from(QUIET_WINDOWS))
    return {"caps": caps, "quiet": quiet, "hold": draw(st.booleans())}


@st.composite
def streams(draw: st.DrawFn) -> list[tuple[float, str]]:
    """Sends in time order: (moment, kind) with kind a channel or ``tx``. The gaps are
    often a cap's exact window, so that sends land on window edges."""
    gaps = draw(
        st.lists(
            st.one_of(
                st.sampled_from([0.0, 1800.0, 3600.0, DAY, 2 * DAY]),
                st.integers(1, 96).map(lambda quarters: quarters * 900.0),
            ),
            min_size=1,
            max_size=25,
        )
    )
    kinds = draw(
        st.lists(st.sampled_from(["email", "sms", "tx"]), min_size=len(gaps), max_size=len(gaps))
    )
    moments = [START + sum(gaps[: i + 1]) for i in range(len(gaps))]
    return list(zip(moments, kinds, strict=True))


def rules_text(policy: dict[str, Any]) -> str:
    lines = [f'    timezone "{ZONE}"']
    for scope, limit, window in policy["caps"]:
        lines.append(f"    {scope} at most {limit} per {int(window // 60)} minutes")
    if policy["quiet"] is not None:
        start, end = policy["quiet"]
        lines.append(
            f"    quiet hours {start // 60:02d}:{start % 60:02d} to {end // 60:02d}:{end % 60:02d}"
        )
    lines.append(f"    over cap {'hold' if policy['hold'] else 'drop'}")
    body = "\n".join(lines)
    return f"""
policy {{
{body}
}}
on web.visit where event.kind == "email" then send email "m"
on web.visit where event.kind == "sms" then send sms "m"
on web.visit where event.kind == "tx" then send email "t" transactional
"""


class Naive:
    """The model: one contact, its sends that went out, its held sends."""

    def __init__(self, policy: dict[str, Any]) -> None:
        self.caps: list[tuple[str, int, float]] = policy["caps"]
        self.quiet: tuple[int, int] | None = policy["quiet"]
        self.hold: bool = policy["hold"]
        self.tz = ZoneInfo(ZONE)
        self.sent: list[tuple[float, str]] = []
        self.held: list[tuple[float, int, str, str]] = []  # release, order, channel, template
        self.order = 0
        self.records: list[tuple[str, str, str, str]] = []

    def count(self, scope: str, window: float, moment: float) -> int:
        return sum(1 for t, ch in self.sent if (scope in ("any", ch)) and moment - t < window)

    def over(self, channel: str, moment: float) -> list[tuple[str, int, float]]:
        return [
            cap
            for cap in self.caps
            if cap[0] in ("any", channel) and self.count(cap[0], cap[2], moment) >= cap[1]
        ]

    def in_quiet(self, moment: float) -> bool:
        assert self.quiet is not None
        local = datetime.fromtimestamp(moment, self.tz)
        minute = local.hour * 60 + local.minute
        start, end = self.quiet
        return start <= minute < end if start < end else minute >= start or minute < end

    def quiet_end(self, moment: float) -> float:
        probe = moment
        while self.in_quiet(probe):
            probe = math.floor(probe / 60) * 60 + 60
        return probe

    def decide(self, moment: float, channel: str, template: str, transactional: bool) -> None:
        when = format_time(moment)
        if transactional:
            self.records.append((when, template, channel, "sent"))
            return
        over = self.over(channel, moment)
        if over and not self.hold:
            scope, limit, window = over[0]
            text = f"cap {scope} {limit} per {int(window // 60)} minutes"
            self.records.append((when, template, channel, f"suppressed: {text}"))
            return
        release = moment
        if over:
            candidates = sorted({t + cap[2] for t, _ in self.sent for cap in self.caps})
            release = next(m for m in candidates if m >= moment and not self.over(channel, m))
        if self.quiet is not None and self.in_quiet(release):
            release = self.quiet_end(release)
        if release > moment:
            self.records.append((when, template, channel, f"held until {format_time(release)}"))
            self.held.append((release, self.order, channel, template))
            self.order += 1
            return
        self.sent.append((moment, channel))
        self.records.append((when, template, channel, "sent"))

    def release_until(self, moment: float) -> None:
        while True:
            due = sorted(h for h in self.held if h[0] <= moment)
            if not due:
                return
            first = due[0][0]
            batch = [h for h in due if h[0] == first]
            self.held = [h for h in self.held if h not in batch]
            for release, _, channel, template in batch:
                self.decide(release, channel, template, False)


def engine_records(actions: list[Action]) -> list[tuple[str, str, str, str]]:
    records = []
    for action in actions:
        if not action.action.startswith("send_"):
            continue
        if action.suppressed is not None:
            how = f"suppressed: {action.suppressed}"
        elif action.held_until is not None:
            how = f"held until {format_time(action.held_until)}"
        else:
            assert action.skipped is None
            how = "sent"
        records.append((format_time(action.time), action.args[0], action.action[5:], how))
    return records


@settings(max_examples=150)
@given(policies(), streams())
def test_caps_and_quiet_hours_match_the_naive_model(
    policy: dict[str, Any], stream: list[tuple[float, str]]
) -> None:
    engine = Engine(engage.compile(rules_text(policy), name="p.rules"), max_future=None)
    model = Naive(policy)
    actions: list[Action] = []
    for moment, kind in stream:
        actions += engine.ingest(
            {"contact": "c", "type": "web.visit", "at": moment, "data": {"kind": kind}}
        )
        model.release_until(moment)
        channel = "email" if kind == "tx" else kind
        model.decide(moment, channel, "t" if kind == "tx" else "m", kind == "tx")
    end = stream[-1][0] + 20 * DAY
    actions += engine.advance(end)
    model.release_until(end)
    assert engine_records(actions) == model.records
    assert model.held == []
    engine.check_invariants()


def _model_records(case: tuple[dict[str, Any], list[tuple[float, str]]]) -> list[str]:
    """What the model writes for one generated case: each record's outcome."""
    policy, stream = case
    model = Naive(policy)
    for moment, kind in stream:
        model.release_until(moment)
        channel = "email" if kind == "tx" else kind
        model.decide(moment, channel, "t" if kind == "tx" else "m", kind == "tx")
    model.release_until(stream[-1][0] + 20 * DAY)
    return [record[3] for record in model.records]


@pytest.mark.parametrize(
    "reaches",
    [
        pytest.param(
            lambda records: any(r.startswith("suppressed: cap") for r in records), id="drop"
        ),
        pytest.param(
            lambda records: any(r.startswith("held until") for r in records) and "sent" in records,
            id="hold and release",
        ),
        pytest.param(lambda records: records.count("sent") >= 4, id="many sends"),
    ],
)
def test_the_strategies_reach_every_outcome(reaches: Any) -> None:
    # As tests/test_strategy_coverage.py does for the oracle's strategies.
    cases = st.tuples(policies(), streams())
    find(cases, lambda case: reaches(_model_records(case)), settings=settings(max_examples=2000))


def test_the_strategies_reach_a_send_on_a_window_edge() -> None:
    def on_edge(case: tuple[dict[str, Any], list[tuple[float, str]]]) -> bool:
        policy, stream = case
        windows = {cap[2] for cap in policy["caps"]}
        moments = [moment for moment, kind in stream if kind != "tx"]
        return any(b - a in windows for a in moments for b in moments if b > a)

    find(st.tuples(policies(), streams()), on_edge, settings=settings(max_examples=2000))


def test_the_strategies_reach_quiet_hours_across_the_dst_change() -> None:
    change = coerce_time("2026-03-08T07:00:00Z")

    def across(case: tuple[dict[str, Any], list[tuple[float, str]]]) -> bool:
        policy, stream = case
        return (
            policy["quiet"] is not None
            and any(r.startswith("held until") for r in _model_records(case))
            and stream[-1][0] > change
        )

    find(st.tuples(policies(), streams()), across, settings=settings(max_examples=2000))
