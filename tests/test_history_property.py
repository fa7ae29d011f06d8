"""History conditions against a naive recomputation, over random tracking and time.

A random stream of ``history.track`` events (any status, campaign and mode), sends
(which write rows) and clock moves runs through an engine whose rules tag a contact
while a history condition holds and untag it while it does not. After every step, each
contact's tags must equal the conditions recomputed from scratch from a naive model of
the rows (kept here, independently of :mod:`engage.history`). A missed or late wake-up,
a wrong window edge or a wrong mode shows up as a tag out of step.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import engage
from engage import Engine

HOUR = 3600.0
T0 = 1_767_607_200.0  # 2026-01-05T10:00:00Z
STATUSES = ("proposed", "contacted", "delivered", "undeliverable")
COUNTING = {"contacted", "delivered"}
CAMPAIGNS = ("A", "B")
CONTACTS = ("x", "y")

#: (name, condition text, naive evaluation over rows at a moment)
CONDITIONS: list[tuple[str, str]] = [
    ("had_c_A", 'had status "contacted" for campaign "A" within 2 hours'),
    ("had_u", 'had status "undeliverable" within 1 day'),
    ("had_p_B", 'had status "proposed" for campaign "B" within 5 hours'),
    ("cnt1", "count contacts within 3 hours >= 1"),
    ("cnt2", "count contacts within 1 day >= 2"),
    ("st_A_u", 'status for campaign "A" is "undeliverable"'),
    ("st_B_empty", 'status for campaign "B" is empty'),
]

RULES = (
    "statuses { proposed  contacted counts as contact  delivered counts as contact  "
    "undeliverable }\n"
    'on mail.A then send email "m" from campaign "A"\n'
    + "".join(
        f'rule "on {name}" when {cond} then tag "{name}"\n'
        f'rule "off {name}" when not ({cond}) then untag "{name}"\n'
        for name, cond in CONDITIONS
    )
)

Row = tuple[str | None, list[tuple[str, float]]]


def naive_track(rows: list[Row], status: str, campaign: str | None, mode: str, at: float) -> None:
    if mode != "create":
        for row_campaign, log in reversed(rows):
            if campaign is None or row_campaign == campaign:
                if log[-1][0] != status:
                    log.append((status, max(at, log[-1][1])))
                return
        if mode == "update":
            return
    rows.append((campaign, [(status, at)]))


def naive_had(
    rows: list[Row], status: str, campaign: str | None, window: float, now: float
) -> bool:
    for row_campaign, log in rows:
        if campaign is not None and row_campaign != campaign:
            continue
        for index, (name, start) in enumerate(log):
            end = log[index + 1][1] if index + 1 < len(log) else None
            if name == status and start <= now and (end is None or end > now - window):
                return True
    return False


def naive_count(rows: list[Row], window: float, now: float) -> int:
    return sum(1 for _, log in rows if log[-1][0] in COUNTING and now - window < log[-1][1] <= now)


def naive_status(rows: list[Row], campaign: str) -> str | None:
    for row_campaign, log in reversed(rows):
        if row_campaign == campaign:
            return log[-1][0]
    return None


def naive_truth(rows: list[Row], now: float) -> dict[str, bool]:
    return {
        "had_c_A": naive_had(rows, "contacted", "A", 2 * HOUR, now),
        "had_u": naive_had(rows, "undeliverable", None, 24 * HOUR, now),
        "had_p_B": naive_had(rows, "proposed", "B", 5 * HOUR, now),
        "cnt1": naive_count(rows, 3 * HOUR, now) >= 1,
        "cnt2": naive_count(rows, 24 * HOUR, now) >= 2,
        "st_A_u": naive_status(rows, "A") == "undeliverable",
        "st_B_empty": naive_status(rows, "B") is None,
    }


operation = st.one_of(
    st.tuples(
        st.just("track"),
        st.sampled_from(CONTACTS),
        st.sampled_from(STATUSES),
        st.sampled_from((*CAMPAIGNS, None)),
        st.sampled_from(("both", "update", "create")),
        st.integers(0, 5 * 60),
    ),
    st.tuples(st.just("send"), st.sampled_from(CONTACTS), st.integers(0, 3 * 60)),
    st.tuples(st.just("advance"), st.integers(1, 30 * 60)),
    # To the engine's next timer, or a second before it: the window edges themselves.
    st.tuples(st.just("edge"), st.sampled_from((0.0, -1.0))),
    st.tuples(st.just("edge"), st.just(0.0)),  # drawn more often: edges are the point
)


def run(ops: list[Any]) -> None:
    engine = Engine(engage.compile(RULES, name="p.rules"), max_future=None)
    rows: dict[str, list[Row]] = {}
    now = T0
    for op in ops:
        kind = op[0]
        if kind == "advance":
            now += op[1] * 60.0
            engine.advance(now)
        elif kind == "edge":
            timer = engine.next_timer()
            if timer is None or timer.timestamp() + op[1] <= now:
                continue
            now = timer.timestamp() + op[1]
            engine.advance(now)
        elif kind == "send":
            now += op[2] * 60.0
            engine.ingest({"contact": op[1], "type": "mail.A", "at": now})
            rows.setdefault(op[1], []).append(("A", [("contacted", now)]))
        else:
            _, contact, status, campaign, mode, minutes = op
            now += minutes * 60.0
            data: dict[str, Any] = {"status": status, "mode": mode}
            if campaign is not None:
                data["campaign"] = campaign
            engine.ingest({"contact": contact, "type": "history.track", "at": now, "data": data})
            if contact in engine or contact in rows:
                naive_track(rows.setdefault(contact, []), status, campaign, mode, now)
        for contact, contact_rows in rows.items():
            view = engine.contact(contact)
            assert view is not None
            expected = sorted(
                name for name, holds in naive_truth(contact_rows, now).items() if holds
            )
            assert sorted(view.tags) == expected, (contact, now, contact_rows)
    engine.check_invariants()


@settings(max_examples=150)
@given(st.lists(operation, min_size=1, max_size=25))
def test_history_conditions_match_a_naive_recomputation(ops: list[Any]) -> None:
    run(ops)


def test_the_operations_reach_every_kind_and_mode() -> None:
    """The strategy still draws every operation and mode (see test_strategy_coverage)."""
    seen: Counter[str] = Counter()

    @settings(max_examples=200, database=None)
    @given(operation)
    def draw(op: Any) -> None:
        seen[op[0]] += 1
        if op[0] == "track":
            seen[op[4]] += 1
            seen[f"campaign {op[3]}"] += 1

    draw()
    for key in ("track", "send", "advance", "both", "update", "create", "campaign None"):
        assert seen[key] >= 5, (key, seen)
    assert seen["edge"] >= 2, seen  # hypothesis draws the last alternatives less often
