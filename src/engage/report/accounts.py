"""The report's accounts-and-leads section (``docs/accounts.md``).

Numbers: accounts and their members, leads scored, unscorable (open, with neither a
contact nor an account: Dynamics cannot score those either), qualified and closed, the
ids of the first unscorable leads, and the top accounts by their first roll-up. None
when the rules declare neither accounts nor leads (the section then shows nothing).
Cost: a pass over the accounts and the leads, and a sort of the accounts.
"""

from __future__ import annotations

from typing import Any, Final

from engage.report.model import Chart, Table

#: How many accounts the top list shows, and how many unscorable lead ids are listed.
TOP: Final = 10
LISTED: Final = 20


def numbers(facts: Any, timeline: Any) -> dict[str, Any] | None:
    engine = facts.engine
    store = engine.entities
    if store is None:
        return None
    now = engine.now or 0.0
    rollups = [r.name for r in store.program.rollups]
    ranked = []
    for account in store.accounts.values():
        values = store.account_values(account, now)
        key = values.get(rollups[0]) if rollups else account.members
        ranked.append((-(key if isinstance(key, int | float) else float("-inf")), account.id))
    ranked.sort()
    top = []
    for _, account_id in ranked[:TOP]:
        account = store.accounts[account_id]
        values = store.account_values(account, now)
        top.append(
            {
                "account": account_id,
                "members": account.members,
                **{k: None if v is None else round(v, 6) for k, v in values.items()},
            }
        )
    unscorable = sorted(
        lead.id for lead in store.leads.values() if not lead.closed and not lead.scorable
    )
    return {
        **store.counts(),
        "ranked_by": rollups[0] if rollups else "members",
        "roll_ups": rollups,
        "top_accounts": top,
        "unscorable_ids": unscorable[:LISTED],
    }


def tables(value: dict[str, Any] | None, meta: dict[str, Any]) -> list[Table]:
    if value is None:
        return []
    counts = Table(
        "Accounts and leads",
        ("", "count"),
        (
            ("accounts", value["accounts"]),
            ("leads", value["leads"]),
            ("  scored", value["leads_scored"]),
            ("  unscorable (no contact, no account)", value["leads_unscorable"]),
            ("  qualified", value["leads_qualified"]),
            ("  closed", value["leads_closed"]),
        ),
    )
    out = [counts]
    if value["top_accounts"]:
        columns = ("account", "members", *value["roll_ups"])
        rows = tuple(tuple(row.get(column) for column in columns) for row in value["top_accounts"])
        out.append(Table(f"Top accounts by {value['ranked_by']}", columns, rows))
    if value["unscorable_ids"]:
        out.append(
            Table(
                "Unscorable leads",
                ("lead",),
                tuple((lead,) for lead in value["unscorable_ids"]),
            )
        )
    return out


def charts(value: dict[str, Any] | None, meta: dict[str, Any]) -> list[Chart]:
    return []
