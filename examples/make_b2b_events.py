"""Write examples/b2b-events.jsonl: a month of a B2B team's accounts, leads and activity.

Deterministic (a fixed seed); run from the repository root:
``python examples/make_b2b_events.py``.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2026, 3, 2, 9, tzinfo=UTC)
ACCOUNTS = {
    "acme": ("manufacturing", "gold"),
    "globex": ("retail", "silver"),
    "initech": ("software", "gold"),
    "umbrella": ("health", "bronze"),
}
TYPES = [("email.open", 6), ("email.click", 2), ("web.visit", 3), ("form.submit", 1)]


def main() -> None:
    rng = random.Random(16)
    records = []
    number = 0

    def add(record: dict, at: datetime) -> None:
        nonlocal number
        number += 1
        records.append({"id": f"b-{number}", **record, "at": at.strftime("%Y-%m-%dT%H:%M:%SZ")})

    for account, (industry, tier) in ACCOUNTS.items():
        add(
            {
                "account": account,
                "type": "account.updated",
                "data": {"industry": industry, "tier": tier},
            },
            START,
        )
    contacts = []
    for i in range(24):
        contact = f"p{i:03d}"
        account = list(ACCOUNTS)[i % len(ACCOUNTS)]
        plan = "enterprise" if i % 5 == 0 else "team"
        add(
            {
                "contact": contact,
                "type": "contact.updated",
                "data": {"account": account, "plan": plan, "title": "buyer"},
            },
            START + timedelta(minutes=i),
        )
        contacts.append(contact)
    add(
        {
            "lead": "L-100",
            "type": "lead.created",
            "data": {"contact": "p001", "topic": "analytics", "source": "webinar"},
        },
        START + timedelta(hours=1),
    )
    add(
        {
            "lead": "L-101",
            "type": "lead.created",
            "data": {"account": "initech", "topic": "platform", "source": "event"},
        },
        START + timedelta(hours=1),
    )
    add(
        {
            "lead": "L-102",
            "type": "lead.created",
            "data": {"topic": "unknown", "source": "trade show"},
        },
        START + timedelta(hours=1),
    )
    names = [name for name, _ in TYPES]
    weights = [weight for _, weight in TYPES]
    for day in range(30):
        for _ in range(12):
            contact = rng.choice(contacts)
            kind = rng.choices(names, weights)[0]
            at = START + timedelta(days=day, minutes=rng.randrange(60, 600))
            record = {"contact": contact, "type": kind}
            if kind == "web.visit":
                record["data"] = {"url": rng.choice(["/pricing", "/blog", "/docs"])}
            add(record, at)
        if day == 10:
            add(
                {"contact": "p005", "type": "contact.updated", "data": {"account": "acme"}},
                START + timedelta(days=day, hours=12),
            )
        if day == 20:
            add(
                {"lead": "L-100", "type": "lead.closed", "data": {}},
                START + timedelta(days=day, hours=12),
            )
    records.sort(key=lambda r: r["at"])
    path = Path(__file__).with_name("b2b-events.jsonl")
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


if __name__ == "__main__":
    main()
