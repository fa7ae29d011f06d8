"""Accounts and leads: roll-ups kept from contacts' deltas, leads scored from their
contact or account, sticky qualification, rules fired per account and per lead, and
their state through snapshots, the event log and reloads (docs/accounts.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import engage
from engage import Engine
from engage.engine.step import step
from engage.errors import RulesError
from engage.storage.statedir import StateDir

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
HOUR = 3600.0
DAY = 86400.0

RULES = """
fields { plan: text }
score { on email.open +1  on form.submit +10  decay half-life 2 days }
score fit { on web.visit +5  clamp 0 to 100 }
account fields { tier: text  industry: text }
lead fields { topic: text }
account score engagement = sum of score over contacts
account score best = max of score over contacts
account score worst = min of fit over contacts
account score mean = avg of fit over contacts
account score champions = count of contacts where fit >= 10
account score size = count of contacts
lead score interest {
    on email.open   +2  where event.url contains "/pricing"
    on form.submit  +20
    on web.visit    +1  max 2 per 1 day
    decay half-life 10 days
}
segment gold = account.tier == "gold" and fit >= 5
when account.best >= 30 then notify "key accounts"
when lead.interest >= 40 then qualify lead, notify sales "Sales-ready lead"
"""


def rules(text: str = RULES) -> engage.Rules:
    return engage.compile(text, name="b2b.rules")


def event(contact: str, type_: str, at: float, **data: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"contact": contact, "type": type_, "at": at}
    if data:
        record["data"] = data
    return record


def account_event(account: str, at: float, **data: Any) -> dict[str, Any]:
    return {"account": account, "type": "account.updated", "at": at, "data": data}


def lead_event(lead: str, type_: str, at: float, **data: Any) -> dict[str, Any]:
    return {"lead": lead, "type": f"lead.{type_}", "at": at, "data": data}


def engine(text: str = RULES) -> Engine:
    return Engine(rules(text), max_future=None)


# -- roll-ups against a naive recomputation -----------------------------------------------

_ACCOUNTS = ["a", "b", "c", None]
_CONTACTS = [f"c{i}" for i in range(8)]

_step = st.one_of(
    st.tuples(st.just("move"), st.sampled_from(_CONTACTS), st.sampled_from(_ACCOUNTS)),
    st.tuples(
        st.just("event"),
        st.sampled_from(_CONTACTS),
        st.sampled_from(["email.open", "form.submit", "web.visit"]),
    ),
    st.tuples(st.just("set"), st.sampled_from(_CONTACTS), st.integers(-5, 60)),
    st.tuples(st.just("delete"), st.sampled_from(_CONTACTS), st.none()),
    st.tuples(st.just("wait"), st.none(), st.sampled_from([HOUR, DAY, 30 * DAY])),
)


@given(st.lists(_step, max_size=40))
def test_rollups_equal_a_naive_recomputation_under_moves_scores_deletions_and_time(
    steps: list[tuple[str, Any, Any]],
) -> None:
    """After every step, each account's roll-ups (sum, max, min, avg, count where,
    count) equal those recomputed from scratch over the contacts (check_invariants)."""
    eng = engine()
    now = T0
    for kind, contact, arg in steps:
        now += 60.0
        if kind == "move":
            eng.ingest(event(contact, "contact.updated", now, account=arg))
        elif kind == "event":
            eng.ingest(event(contact, arg, now))
        elif kind == "set":
            eng.ingest(event(contact, "contact.updated", now, fit=arg))
        elif kind == "delete":
            eng.ingest(event(contact, "contact.deleted", now))
        else:
            now += arg
            eng.advance(now)
        eng.check_invariants()
    assert not eng.problems


def test_sum_of_a_decaying_score_decays_exactly_as_time_passes() -> None:
    eng = engine()
    for i, contact in enumerate(["x", "y", "z"]):
        eng.ingest(event(contact, "contact.updated", T0 + i, account="acme"))
        eng.ingest(event(contact, "form.submit", T0 + 10 + i))
    store = eng.entities
    assert store is not None
    account = store.accounts["acme"]
    at_start = store.account_values(account, eng.now or 0)["engagement"]
    assert at_start == pytest.approx(30, rel=1e-4)
    eng.advance(T0 + 10 + 2 * DAY)  # one half-life later
    values = store.account_values(account, eng.now or 0)
    contacts = sum(view.scores["score"] for view in eng.contacts())
    assert values["engagement"] == pytest.approx(contacts, rel=1e-12)
    assert values["engagement"] == pytest.approx(15, rel=1e-3)
    assert values["best"] == pytest.approx(max(v.scores["score"] for v in eng.contacts()))
    # Far enough for the engine to rebase its decay (500 half-lives): still exact.
    eng.advance(T0 + 1200 * DAY)
    eng.ingest(event("x", "form.submit", T0 + 1200 * DAY))
    eng.check_invariants()
    assert store.account_values(account, eng.now or 0)["engagement"] == pytest.approx(10)


def test_a_move_and_a_deletion_move_the_contribution() -> None:
    eng = engine()
    eng.ingest(event("x", "contact.updated", T0, account="a", fit=20))
    eng.ingest(event("y", "contact.updated", T0, account="a", fit=4))
    store = eng.entities
    assert store is not None
    read = lambda account: store.account_values(store.accounts[account], T0)  # noqa: E731
    assert read("a")["mean"] == 12 and read("a")["champions"] == 1 and read("a")["size"] == 2
    eng.ingest(event("x", "contact.updated", T0 + 1, account="b"))
    assert read("a")["worst"] == 4 and read("a")["size"] == 1 and read("a")["champions"] == 0
    assert read("b")["champions"] == 1 and read("b")["worst"] == 20
    eng.ingest(event("y", "contact.deleted", T0 + 2))
    assert read("a")["size"] == 0 and read("a")["mean"] is None
    eng.check_invariants()


# -- account rules --------------------------------------------------------------------------


def test_an_account_rule_fires_once_per_account_crossing_not_per_contact() -> None:
    eng = engine()
    out = []
    for i, contact in enumerate(["x", "y", "z"]):
        out += eng.ingest(event(contact, "contact.updated", T0 + i, account="acme"))
    for i in range(4):  # x passes 30: the account's best crosses 30
        out += eng.ingest(event("x", "form.submit", T0 + 10 + i))
    for i in range(4):  # y and z too: the account stays above, no new firing
        out += eng.ingest(event("y", "form.submit", T0 + 20 + i))
        out += eng.ingest(event("z", "form.submit", T0 + 30 + i))
    fired = [a.to_dict() for a in out if a.rule == "b2b.rules:20"]
    assert len(fired) == 1
    assert fired[0]["account"] == "acme" and fired[0]["contact"] == "x"
    assert fired[0]["args"] == ["key accounts"]
    # Everyone leaves: the condition turns false; a new member above 30 crosses again.
    for i, contact in enumerate(["x", "y", "z"]):
        eng.ingest(event(contact, "contact.updated", T0 + 40 + i, account="other"))
    again = eng.ingest(event("w", "contact.updated", T0 + 50, account="acme", score=35))
    assert [a.account for a in again if a.action == "notify"] == ["acme"]


def test_contact_conditions_read_the_account_of_the_contact() -> None:
    eng = engine()
    eng.ingest(account_event("acme", T0, tier="gold"))
    eng.ingest(event("x", "contact.updated", T0 + 1, account="acme", fit=10))
    eng.ingest(event("y", "contact.updated", T0 + 1, fit=10))
    assert eng.select("in segment gold") == ["x"]
    assert eng.count('account.tier == "gold"') == 1
    eng.ingest(event("x", "contact.updated", T0 + 2, account="beta"))
    assert eng.select("in segment gold") == []


# -- leads ----------------------------------------------------------------------------------


def test_leads_with_a_contact_with_only_an_account_and_with_neither() -> None:
    eng = engine()
    eng.ingest(event("x", "contact.updated", T0, account="acme"))
    eng.ingest(event("y", "contact.updated", T0, account="acme"))
    eng.ingest(lead_event("L-contact", "created", T0 + 1, contact="x", topic="crm"))
    eng.ingest(lead_event("L-account", "created", T0 + 1, account="acme"))
    eng.ingest(lead_event("L-none", "created", T0 + 1, topic="?"))
    eng.ingest(event("x", "form.submit", T0 + 2))
    eng.ingest(event("y", "form.submit", T0 + 3))
    eng.ingest(event("y", "email.open", T0 + 4))  # no /pricing url: the `where` fails
    store = eng.entities
    assert store is not None
    now = eng.now or 0
    scores = {lead: store.lead_scores(store.leads[lead], now)["interest"] for lead in store.leads}
    assert scores["L-contact"] == pytest.approx(20, rel=1e-5)  # x's event only
    assert scores["L-account"] == pytest.approx(40, rel=1e-5)  # x's and y's
    assert scores["L-none"] is None  # never silently 0
    summary = eng.summary()
    assert summary["leads_unscorable"] == 1 and summary["leads_scored"] == 2


def test_lead_score_lines_keep_their_caps_and_closed_leads_are_not_scored() -> None:
    eng = engine()
    eng.ingest(lead_event("L", "created", T0, contact="x"))
    for i in range(5):
        eng.ingest(event("x", "web.visit", T0 + i))
    store = eng.entities
    assert store is not None
    assert store.lead_scores(store.leads["L"], T0 + 5)["interest"] == pytest.approx(2, rel=1e-5)
    eng.ingest(lead_event("L", "closed", T0 + 10))
    eng.ingest(event("x", "form.submit", T0 + 20))
    assert store.lead_scores(store.leads["L"], T0 + 20)["interest"] < 3
    assert eng.summary()["leads_closed"] == 1


def test_qualification_is_sticky_and_lead_actions_carry_the_lead() -> None:
    eng = engine()
    eng.ingest(lead_event("L", "created", T0, contact="x"))
    out = []
    for i in range(3):  # 20 + 20 + 20, a little decayed: past 40 at the third
        out += eng.ingest(event("x", "form.submit", T0 + 1 + i))
    verbs = [(a.action, a.lead, a.contact) for a in out]
    assert verbs == [("qualify_lead", "L", "x"), ("notify", "L", "x")]
    store = eng.entities
    assert store is not None
    lead = store.leads["L"]
    assert lead.qualified == T0 + 3
    eng.advance(T0 + 100 * DAY)  # the score decays far below 40
    assert store.lead_scores(lead, T0 + 100 * DAY)["interest"] < 1
    assert lead.qualified == T0 + 3 and eng.summary()["leads_qualified"] == 1
    # Rising again fires the rule again; the lead was qualified once and stays so.
    again = []
    for i in range(3):
        again += eng.ingest(event("x", "form.submit", T0 + 100 * DAY + i))
    assert [a.action for a in again] == ["qualify_lead", "notify"]
    assert lead.qualified == T0 + 3


def test_bad_account_and_lead_records_are_rejected_with_their_reason() -> None:
    eng = engine()
    eng.ingest(lead_event("L", "created", T0, contact=17))
    eng.ingest(account_event("acme", T0, tier=3))
    eng.ingest({"type": "lead.created", "at": T0, "data": {}})
    eng.ingest(event("x", "contact.updated", T0, account=["a"]))
    reasons = [r.reason for r in eng.rejected]
    assert len(reasons) == 4
    assert "'contact' must be a non-empty text" in reasons[0]
    assert "account.tier" in reasons[1]
    assert "missing 'lead'" in reasons[2]
    assert "'account' must be an account id" in reasons[3]
    assert eng.entities is not None and "L" not in eng.entities.leads
    # Rules without accounts or leads refuse such records instead of making a contact.
    plain = Engine(engage.compile("score { on email.open +1 }"), max_future=None)
    plain.ingest(account_event("acme", T0, tier="gold"))
    assert len(plain) == 0 and "declare no accounts or leads" in plain.rejected[0].reason


# -- state ----------------------------------------------------------------------------------


def _stream() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = [
        account_event("acme", T0, tier="gold"),
        lead_event("L1", "created", T0, contact="c0"),
        lead_event("L2", "created", T0, account="acme"),
        lead_event("L3", "created", T0),
    ]
    for i in range(60):
        at = T0 + i * HOUR
        contact = f"c{i % 5}"
        if i % 7 == 0:
            records.append(event(contact, "contact.updated", at, account=["acme", "beta"][i % 2]))
        else:
            records.append(event(contact, ["form.submit", "web.visit", "email.open"][i % 3], at))
    return records


def _entities(eng: Engine) -> Any:
    store = eng.entities
    assert store is not None
    now = eng.now or 0
    return (
        {a: store.account_values(s, now) | s.fields for a, s in store.accounts.items()},
        {lead: (store.lead_scores(s, now), s.qualified) for lead, s in store.leads.items()},
    )


def _same(got: Any, want: Any) -> bool:
    """Equal, floats within rounding (a rebuilt sum adds in another order)."""
    if isinstance(want, dict):
        return (
            isinstance(got, dict)
            and got.keys() == want.keys()
            and all(_same(got[k], want[k]) for k in want)
        )
    if isinstance(want, tuple | list):
        return len(got) == len(want) and all(_same(g, w) for g, w in zip(got, want, strict=True))
    if isinstance(want, float):
        return bool(got == pytest.approx(want, rel=1e-12))
    return bool(got == want)


def test_snapshot_restore_and_reload_keep_accounts_and_leads(tmp_path: Path) -> None:
    records = _stream()
    reference = engine()
    expected = reference.ingest_many(records)
    first = engine()
    got = first.ingest_many(records[:30])
    first.snapshot(tmp_path / "s.engsnap")
    restored = Engine.restore(tmp_path / "s.engsnap", rules(), max_future=None)
    restored.check_invariants()
    got += restored.ingest_many(records[30:])
    assert [a.to_dict() for a in got] == [a.to_dict() for a in expected]
    assert _same(_entities(restored), _entities(reference))
    restored.reload(rules(RULES + "\nsegment extra = fit >= 1\n"))
    restored.check_invariants()
    assert _same(_entities(restored), _entities(reference))


def test_a_state_folder_recovers_accounts_and_leads_from_the_log(tmp_path: Path) -> None:
    records = _stream()
    reference = engine()
    reference.ingest_many(records)
    folder = tmp_path / "state"
    first = StateDir(folder, rules(), fsync="always")
    eng = first.open()
    eng.max_future = None
    eng.ingest_many(records)
    first.close(checkpoint=False)
    second = StateDir(folder, rules())
    recovered = second.open()
    assert second.recovery.snapshot is None
    recovered.check_invariants()
    assert _same(_entities(recovered), _entities(reference))
    second.close()


def test_the_step_reports_the_member_delta_and_fires_no_account_rule() -> None:
    compiled = rules()
    result = step(compiled, None, event("x", "contact.updated", T0, account="acme", score=50))
    delta = result.deltas.account
    assert delta is not None and delta.account == (None, "acme")
    assert not result.actions  # the account stage, keyed by account, fires account rules
    later = step(compiled, result.state, event("x", "contact.updated", T0 + 1, account="b"))
    assert later.deltas.account is not None
    assert later.deltas.account.account == ("acme", "b")
    assert later.deltas.account.refs[0] is not None  # the decaying score's reference


# -- language ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("account score e = sum of scroe over contacts", "did you mean 'score'"),
        ('segment s = account.teir == "x"', "did you mean 'account.tier'"),
        ("when lead.interst >= 1 then notify sales", "did you mean 'lead.interest'"),
        ('when account.e >= 1 then tag "x"', "an account rule cannot change a contact"),
        ("when score >= 1 then qualify lead", "`qualify lead` is an action of lead rules"),
        ("segment s = lead.interest >= 1", "lead values are read by lead rules"),
        (
            "account score r = count of contacts where last_activity within 7 days",
            "cannot change by time alone",
        ),
    ],
)
def test_checker_errors_point_at_the_problem(text: str, message: str) -> None:
    base = (
        "score { on email.open +1 }\naccount fields { tier: text }\n"
        "account score e = sum of score over contacts\n"
        "lead score interest { on email.open +1 }\n"
    )
    with pytest.raises(RulesError) as caught:
        engage.compile(base + text, name="x.rules")
    assert message in str(caught.value)
    assert "x.rules:5:" in str(caught.value)


def test_rules_without_accounts_keep_their_paths() -> None:
    text = 'score { on email.open +1 }\nwhen score >= 3 then tag "x"'
    plain = Engine(engage.compile(text))
    assert plain.entities is None and "email.open" in plain.inline_types
    assert "_wake" not in vars(plain)


def test_the_formatter_is_stable_on_accounts_and_leads() -> None:
    from engage.dsl.formatter import format_rules

    once = format_rules(RULES, "b2b.rules")
    assert format_rules(once, "b2b.rules") == once
    assert "account score champions = count of contacts where fit >= 10" in once


def test_a_reordered_feed_keeps_accounts_and_leads_like_a_sorted_one() -> None:
    records = _stream()
    shuffled = [*records[:4], records[5], records[4], *records[6:]]
    reference = engine()
    reference.ingest_many(records)
    held = Engine(rules(), max_future=None, max_out_of_order=3 * HOUR)
    held.ingest_many(shuffled)
    held.flush()
    held.check_invariants()
    assert _same(_entities(held), _entities(reference))
    assert held.summary()["reordered"] == 1


def test_an_internal_error_of_the_stage_is_a_problem_not_a_crash() -> None:
    eng = engine()
    store = eng.entities
    assert store is not None

    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    store.move = broken  # type: ignore[method-assign]
    eng.ingest(event("x", "contact.updated", T0, account="acme"))
    eng.ingest(event("y", "email.open", T0 + 1))
    assert len(eng) == 2 and "boom" in eng.problems[0].message
