"""``engage bench --only accounts``: what accounts and leads cost, with baselines.

Two measures, each beside its baseline in the same run:

- **Per-event cost.** The realistic rules (:data:`~engage.bench.rulesets.REALISTIC_RULES`)
  with accounts and leads declared (:data:`B2B_RULES`: three roll-ups, a lead score, an
  account rule and a lead rule; 50 contacts per account, a lead for every 10th contact
  and an account-only lead for one account in ten) against the same rules without them, on the
  same events and the same memberships (``data.account`` is sent to both: without
  accounts it is an undeclared field). Setup records are applied before the clock
  starts; the ratio is ns/event with over ns/event without (target: at most 1.3).
- **A contact move in a big account.** One account of N contacts (N from 1k to 100k)
  with sum, count, max and min roll-ups; a contact moved out and back, many times. The
  engine's cost per move against a naive recomputation of the same four roll-ups over
  the account's members (what a system without incremental roll-ups pays): the first
  should stay flat (O(log n)), the second grow with N.

Time is taken as everywhere in the harness (:mod:`engage.bench.timing`): collector off
in the timed section, best of the repeats, engine and baseline interleaved.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import engage
from engage.bench.generator import START, realistic_events
from engage.bench.rulesets import REALISTIC_RULES
from engage.bench.timing import timed

#: What a B2B team adds to the realistic rules for accounts and leads.
B2B_RULES = (
    REALISTIC_RULES
    + """
account fields { tier: text  industry: text }
lead fields { topic: text }
account score total_engagement = sum of engagement over contacts
account score top_intent = max of intent over contacts
account score hot = count of contacts where in segment hot_leads

lead score interest {
    on email.open      +2
    on web.visit       +5    where event.url contains "/pricing"
    on form.submit     +20
    decay half-life 60 days
}

when account.total_engagement >= 500 then notify "key accounts"
when lead.interest >= 100 then qualify lead, notify sales "Sales-ready lead"
"""
)

MOVE_RULES = """
score { on email.open +1 }
account score total = sum of score over contacts
account score members = count of contacts
account score best = max of score over contacts
account score worst = min of score over contacts
"""

#: Contacts per account in the per-event measure.
PER_ACCOUNT = 50

Progress = Callable[[str], None]


def _quiet(line: str) -> None:
    pass


def _setup(contacts: int, with_leads: bool) -> list[dict[str, Any]]:
    """Memberships (and leads), a day before the activity starts."""
    at = START - 86_400.0
    accounts = max(1, contacts // PER_ACCOUNT)
    records: list[dict[str, Any]] = []
    for i in range(accounts):
        if with_leads and i % 10 == 0:
            records.append(
                {"type": "account.updated", "account": f"a{i}", "at": at, "data": {"tier": "std"}}
            )
            records.append(
                {"type": "lead.created", "lead": f"la{i}", "at": at, "data": {"account": f"a{i}"}}
            )
    for i in range(contacts):
        contact = f"c{i:07d}"
        records.append(
            {
                "contact": contact,
                "type": "contact.updated",
                "at": at,
                "data": {"account": f"a{i % accounts}"},
            }
        )
        if with_leads and i % 10 == 0:
            records.append(
                {"type": "lead.created", "lead": f"l{i}", "at": at, "data": {"contact": contact}}
            )
    return records


def per_event(
    *,
    contacts: int,
    events_per_contact: int,
    repeat: int,
    seed: int,
    zipf: float,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """ns/event of the realistic rules with and without accounts and leads."""
    total = contacts * events_per_contact
    progress(f"  accounts: generating {total:,} events for {contacts:,} contacts")
    events = realistic_events(contacts, total, seed=seed, zipf=zipf)
    plain_rules = engage.compile(REALISTIC_RULES, name="realistic.rules")
    b2b_rules = engage.compile(B2B_RULES, name="b2b.rules")
    plain_setup = _setup(contacts, with_leads=False)
    b2b_setup = _setup(contacts, with_leads=True)
    with_times: list[float] = []
    without_times: list[float] = []
    counts: dict[str, Any] = {}
    for number in range(repeat):
        progress(f"  accounts: repeat {number + 1}/{repeat}")
        plain = engage.Engine(plain_rules, max_future=None)
        plain.ingest_many(plain_setup)
        seconds, _ = timed(partial(plain.ingest_many, events))
        without_times.append(seconds)
        b2b = engage.Engine(b2b_rules, max_future=None)
        b2b.ingest_many(b2b_setup)
        seconds, actions = timed(partial(b2b.ingest_many, events))
        with_times.append(seconds)
        if number == 0:
            b2b.check_invariants()
            counts = {
                **b2b.entities.counts(),  # type: ignore[union-attr]
                "account_actions": sum(1 for a in actions if a.account is not None),
                "lead_actions": sum(1 for a in actions if a.lead is not None),
            }
    best_with, best_without = min(with_times), min(without_times)
    return {
        "contacts": contacts,
        "events": total,
        "events_per_contact": events_per_contact,
        "per_account": PER_ACCOUNT,
        "with_ns_per_event": best_with / total * 1e9,
        "without_ns_per_event": best_without / total * 1e9,
        "ratio": best_with / best_without,
        "with_repeats": with_times,
        "without_repeats": without_times,
        "counts": counts,
    }


def _naive(values: Sequence[float]) -> tuple[float, int, float, float]:
    """The four roll-ups recomputed over every member (the baseline's move)."""
    total = 0.0
    best = worst = values[0]
    for value in values:
        total += value
        best = max(best, value)
        worst = min(worst, value)
    return total, len(values), best, worst


def move(
    *,
    sizes: Sequence[int],
    moves: int,
    naive_moves: int,
    repeat: int,
    seed: int,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Cost of moving one contact out of an account of N contacts and back."""
    rules = engage.compile(MOVE_RULES, name="move.rules")
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for size in sizes:
        progress(f"  accounts: a move in an account of {size:,} contacts")
        values = [float(rng.randrange(1, 1000)) for _ in range(size)]
        engine = engage.Engine(rules, max_future=None)
        engine.ingest_many(
            {
                "contact": f"c{i:07d}",
                "type": "contact.updated",
                "at": START,
                "data": {"account": "big", "score": value},
            }
            for i, value in enumerate(values)
        )
        picks = [f"c{rng.randrange(size):07d}" for _ in range(moves)]
        engine_times = []
        naive_times = []
        at = START
        for _ in range(repeat):
            stream = []
            for contact in picks:
                at += 1.0
                stream.append(
                    {
                        "contact": contact,
                        "type": "contact.updated",
                        "at": at,
                        "data": {"account": "elsewhere"},
                    }
                )
                stream.append(
                    {
                        "contact": contact,
                        "type": "contact.updated",
                        "at": at,
                        "data": {"account": "big"},
                    }
                )
            seconds, _ = timed(partial(engine.ingest_many, stream))
            engine_times.append(seconds / (2 * moves))
            members = dict(enumerate(values))

            def naive_run(members: dict[int, float] = members) -> None:
                for k in range(naive_moves):
                    kept = members.pop(k)  # out: recompute the account
                    _naive(list(members.values()))
                    members[k] = kept  # back: recompute again
                    _naive(list(members.values()))

            seconds, _ = timed(naive_run)
            naive_times.append(seconds / (2 * naive_moves))
        engine.check_invariants()
        rows.append(
            {
                "contacts": size,
                "engine_us_per_move": min(engine_times) * 1e6,
                "naive_us_per_move": min(naive_times) * 1e6,
                "engine_repeats": engine_times,
                "naive_repeats": naive_times,
            }
        )
    first, last = rows[0], rows[-1]
    engine_first: float = first["engine_us_per_move"]
    naive_first: float = first["naive_us_per_move"]
    return {
        "rows": rows,
        "moves": moves,
        "engine_growth": last["engine_us_per_move"] / engine_first,
        "naive_growth": last["naive_us_per_move"] / naive_first,
        "size_growth": last["contacts"] / first["contacts"],
    }


def accounts(config: dict[str, Any], progress: Progress = _quiet) -> dict[str, Any]:
    """Both measures at the configured sizes."""
    return {
        "per_event": per_event(
            contacts=config["accounts_contacts"],
            events_per_contact=config["accounts_events_per_contact"],
            repeat=config["repeat"],
            seed=config["seed"],
            zipf=config["zipf"],
            progress=progress,
        ),
        "move": move(
            sizes=config["accounts_move_sizes"],
            moves=config["accounts_moves"],
            naive_moves=config["accounts_naive_moves"],
            repeat=config["repeat"],
            seed=config["seed"],
            progress=progress,
        ),
    }


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 16's two targets for accounts and leads."""
    per = result["per_event"]
    mv = result["move"]
    return [
        {
            "target": f"accounts: ns/event with accounts and leads / without "
            f"({per['contacts']:,} contacts)",
            "want": "<= 1.3",
            "value": per["ratio"],
            "met": per["ratio"] <= 1.3,
        },
        {
            "target": f"accounts: a move's cost at {mv['rows'][-1]['contacts']:,} / at "
            f"{mv['rows'][0]['contacts']:,} contacts in the account (O(log n))",
            "want": "<= 2",
            "value": mv["engine_growth"],
            "met": mv["engine_growth"] <= 2,
        },
    ]


def markdown(result: dict[str, Any]) -> list[str]:
    """The report's section."""
    per = result["per_event"]
    mv = result["move"]
    counts = per["counts"]
    lines = [
        "## Accounts and leads",
        "",
        f"Realistic rules with and without accounts and leads: {per['contacts']:,} contacts "
        f"({per['per_account']} per account), {per['events']:,} events; "
        f"{counts.get('accounts', 0):,} accounts, {counts.get('leads', 0):,} leads "
        f"({counts.get('leads_qualified', 0):,} qualified), "
        f"{counts.get('account_actions', 0):,} account and "
        f"{counts.get('lead_actions', 0):,} lead actions.",
        "",
        "| side | ns/event | best of |",
        "|---|---:|---:|",
        f"| with accounts and leads | {per['with_ns_per_event']:,.0f} "
        f"| {len(per['with_repeats'])} |",
        f"| the same rules without them | {per['without_ns_per_event']:,.0f} "
        f"| {len(per['without_repeats'])} |",
        "",
        f"ratio **{per['ratio']:.3f}** (target <= 1.3).",
        "",
        f"A contact moved out of an account and back ({mv['moves']:,} moves each way), "
        "four roll-ups (sum, count, max, min):",
        "",
        "| contacts in the account | engine us/move | naive recomputation us/move |",
        "|---:|---:|---:|",
    ]
    for row in mv["rows"]:
        lines.append(
            f"| {row['contacts']:,} | {row['engine_us_per_move']:,.1f} "
            f"| {row['naive_us_per_move']:,.1f} |"
        )
    lines += [
        "",
        f"Growth over {mv['size_growth']:,.0f}x the contacts: engine "
        f"**{mv['engine_growth']:.2f}x**, naive **{mv['naive_growth']:.1f}x**.",
        "",
    ]
    return lines
