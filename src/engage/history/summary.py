"""History in ``engage report``: rows per campaign and status, and the profile's
channels (contacts by each channel's last action).

:func:`history_numbers` gives the JSON value of the report's ``history`` key;
:func:`history_tables` lays it out. Cost: one pass over the contacts and their rows.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from engage.history.rows import CAMPAIGN, rows_of
from engage.state.contact import CHANNEL_ACTIVITY, Contact

#: How rows without a campaign are listed.
NO_CAMPAIGN = "(none)"


def history_numbers(contacts: Any, deleted_active: int = 0) -> dict[str, Any]:
    """``{"rows": {campaign: {status: rows}}, "contacts_with_rows": n, "rows_total": n,
    "channels": {channel: {action: contacts}}, "deleted_while_active": n}`` for
    ``contacts`` (an iterable of :class:`~engage.state.contact.Contact`)."""
    by_campaign: dict[str, Counter[str]] = defaultdict(Counter)
    channels: dict[str, Counter[str]] = defaultdict(Counter)
    with_rows = total = 0
    for contact in contacts:
        rows = rows_of(contact)
        if rows:
            with_rows += 1
            total += len(rows)
            for row in rows:
                by_campaign[row[CAMPAIGN] or NO_CAMPAIGN][str(row[-2])] += 1
        for channel, (action, _) in _channels(contact).items():
            channels[channel][action] += 1
    return {
        "rows": {c: dict(sorted(n.items())) for c, n in sorted(by_campaign.items())},
        "rows_total": total,
        "contacts_with_rows": with_rows,
        "channels": {c: dict(sorted(n.items())) for c, n in sorted(channels.items())},
        "deleted_while_active": deleted_active,
    }


def _channels(contact: Contact) -> dict[str, tuple[str, float]]:
    extra = contact.extra
    store = None if extra is None else extra.get(CHANNEL_ACTIVITY)
    return {} if not store else {k: (str(v[0]), float(v[1])) for k, v in store.items()}


def history_tables(value: dict[str, Any]) -> list[tuple[str, tuple[str, ...], tuple[Any, ...]]]:
    """``(title, columns, rows)`` tables of :func:`history_numbers` output."""
    tables: list[tuple[str, tuple[str, ...], tuple[Any, ...]]] = []
    rows = tuple(
        (campaign, status, count)
        for campaign, statuses in value["rows"].items()
        for status, count in statuses.items()
    )
    if rows:
        tables.append(("History rows by campaign and status", ("campaign", "status", "rows"), rows))
    channel_rows = tuple(
        (channel, action, count)
        for channel, actions in value["channels"].items()
        for action, count in actions.items()
    )
    if channel_rows:
        tables.append(
            (
                "Contacts by channel and last action",
                ("channel", "last action", "contacts"),
                channel_rows,
            )
        )
    return tables
