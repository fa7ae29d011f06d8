"""Regenerate ``events.jsonl``: a quarter of a B2B team's engagement, seeded.

    python examples/make_events.py > examples/events.jsonl

The stream tells small stories the rules in ``engagement.rules`` react to:

- ``jhon`` opens a few e-mails (4 points), then reaches the demo stage (+3): he crosses
  ``score >= 5`` once — notify sales, a follow-up task, the tag "Caliente" — and keeps
  scoring without firing again;
- ``maria`` becomes enterprise (fit 20), clicks and fills forms until the segment
  ``sales_ready`` takes her in;
- ``pedro`` hard-bounces and is suspended; ``lucia`` unsubscribes;
- two hundred other contacts do what mailing lists do, with a few very active ones and a
  long tail; many go quiet and turn dormant as the quarter passes.

The same seed gives the same file on every machine.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime, timedelta

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CITIES = ("Bogotá", "Medellín", "Cali", "Lima", "Quito", "Santiago", "Ciudad de México")
PLANS = ("free", "team", "business", "enterprise")
URLS = ("/", "/blog/scoring", "/pricing", "/pricing/enterprise", "/docs", "/contact")
TYPES = (
    ("email.sent", 40),
    ("email.open", 25),
    ("web.visit", 17),
    ("email.click", 10),
    ("form.submit", 3),
    ("email.bounce", 2),
    ("stage.reached", 2),
    ("event.attended", 1),
)


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def stories() -> list[tuple[datetime, str, str, dict[str, object] | None]]:
    """The hand-written contacts: (time, contact, type, data)."""
    day = timedelta(days=1)
    return [
        (START, "jhon", "contact.updated", {"city": "Cali", "plan": "team"}),
        (START + 1 * day, "jhon", "email.open", None),
        (START + 2 * day, "jhon", "email.open", None),
        (START + 3 * day, "jhon", "email.open", None),
        (START + 4 * day, "jhon", "email.open", None),
        (START + 6 * day, "jhon", "stage.reached", {"stage": "demo"}),
        (START + 7 * day, "jhon", "email.open", None),
        (START + 2 * day, "maria", "contact.updated", {"city": "Bogotá", "plan": "enterprise"}),
        (START + 3 * day, "maria", "form.submit", {"form": "whitepaper"}),
        (START + 4 * day, "maria", "email.click", {"url": "/pricing"}),
        (START + 5 * day, "maria", "web.visit", {"url": "/pricing/enterprise"}),
        (START + 6 * day, "maria", "event.attended", {"event": "webinar"}),
        (START + 8 * day, "maria", "form.submit", {"form": "demo-request"}),
        (START + 9 * day, "maria", "stage.reached", {"stage": "proposal"}),
        (START + 3 * day, "pedro", "email.open", None),
        (START + 10 * day, "pedro", "email.bounce", {"kind": "hard"}),
        (START + 4 * day, "lucia", "email.click", {"url": "/blog/scoring"}),
        (START + 12 * day, "lucia", "unsubscribe", {"channel": "email"}),
    ]


def crowd(
    rng: random.Random, contacts: int, events: int
) -> list[tuple[datetime, str, str, dict[str, object] | None]]:
    """Mailing-list activity: a power law across contacts, over 80 days."""
    names = [f"c{n:04d}" for n in range(contacts)]
    weights = [1 / (rank + 1) ** 0.9 for rank in range(contacts)]
    kinds = [kind for kind, _ in TYPES]
    kind_weights = [weight for _, weight in TYPES]
    out = []
    for name in names:
        data = {"city": rng.choice(CITIES), "plan": rng.choice(PLANS)}
        if rng.random() < 0.3:
            data["nps"] = rng.randint(0, 10)
        out.append(
            (START + timedelta(minutes=rng.randint(0, 60 * 24 * 20)), name, "contact.updated", data)
        )
    for _ in range(events):
        name = rng.choices(names, weights)[0]
        kind = rng.choices(kinds, kind_weights)[0]
        # Activity thins out over the quarter: later days are less likely.
        offset = timedelta(minutes=int(rng.triangular(0, 60 * 24 * 80, 0)))
        data: dict[str, object] | None = None
        if kind in ("web.visit", "email.click"):
            data = {"url": rng.choice(URLS)}
        elif kind == "email.bounce":
            data = {"kind": "hard" if rng.random() < 0.3 else "soft"}
        elif kind == "stage.reached":
            data = {"stage": rng.choice(("demo", "proposal", "negotiation"))}
        out.append((START + offset, name, kind, data))
    return out


def main() -> None:
    rng = random.Random(20260105)
    records = stories() + crowd(rng, contacts=200, events=2400)
    records.sort(key=lambda item: (item[0], item[1], item[2]))
    for number, (moment, contact, kind, data) in enumerate(records, 1):
        record: dict[str, object] = {
            "id": f"e-{number}",
            "contact": contact,
            "type": kind,
            "at": _at(moment),
        }
        if data:
            record["data"] = data
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
