"""Tracking: setting a status on a contact's history rows (IBM Campaign's Track).

One operation, three modes, as the Track process's three logging options:

- ``update``: set the status on the contact's latest row of the treatment (campaign,
  offer, channel: each part given must match); nothing when it has none;
- ``create``: always add a row of the treatment with the status;
- ``both`` (the default): update the latest matching row, else create one.

Setting a row's status to the status it already has changes nothing (no log entry, no
new contact time): that is what makes a batch applied twice change nothing the second
time. Every send that goes out writes a row of its own (:func:`record_send`).

Each call costs a walk back over the contact's rows to the latest match (rows are few
per contact; the latest is usually the last).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

from engage.errors import EventError
from engage.history.rows import Row, matches, new_row
from engage.history.statuses import DEFAULT_TABLE, SENT_STATUS, StatusTable
from engage.state.contact import HISTORY, Contact

Mode = Literal["both", "update", "create"]
#: The tracking modes, as ``engage track --mode`` and ``history.track`` name them.
MODES: Final[tuple[Mode, ...]] = ("both", "update", "create")

#: What :func:`track` did.
UPDATED: Final = "updated"
CREATED: Final = "created"
UNCHANGED: Final = "unchanged"
#: ``update`` mode found no matching row: nothing was done.
NO_ROW: Final = "no row"

Outcome = Literal["updated", "created", "unchanged", "no row"]


def track(
    contact: Contact,
    status: str,
    at: float,
    campaign: str | None = None,
    offer: str | None = None,
    channel: str | None = None,
    mode: Mode = "both",
    template: str | None = None,
) -> Outcome:
    """Set ``status`` on the contact's history as ``mode`` says; returns what it did.

    A status change is logged at ``at``, or at the row's last change if that is later
    (a row's log stays in time order whatever order feeds arrive in).

    Cost: O(rows of the contact) for the walk back; O(1) to change or add the row.
    """
    counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
    track_many(
        {contact.id: contact},
        (contact.id,),
        status,
        at,
        campaign,
        offer,
        channel,
        mode,
        counts,
        template,
    )
    return next(outcome for outcome in OUTCOMES if counts[outcome])


#: Every outcome, in the order :func:`track_many` counts them.
OUTCOMES: Final[tuple[Outcome, ...]] = (UPDATED, CREATED, UNCHANGED, NO_ROW)


def track_many(
    contacts: Mapping[str, Contact],
    ids: Iterable[str],
    status: str,
    at: float,
    campaign: str | None,
    offer: str | None,
    channel: str | None,
    mode: Mode,
    counts: dict[str, int],
    template: str | None = None,
) -> list[str]:
    """:func:`track` for each contact of ``ids`` found in ``contacts``, adding each
    outcome to ``counts``; returns the ids with no contact (in order), left alone.

    The one implementation of tracking (a batch is this loop; :func:`track` calls it
    for one contact): the names it needs are bound once, outside the loop, which is
    what keeps ``engage track`` of a million ids near a plain dict loop.

    Cost per id: a dict lookup, the walk back to the latest matching row, O(1) change.
    """
    missing: list[str] = []
    updated = created = unchanged = no_row = 0
    find = contacts.get
    look_back = mode != "create"
    only_campaign = offer is None and channel is None
    for contact_id in ids:
        contact = find(contact_id)
        if contact is None:
            missing.append(contact_id)
            continue
        extra = contact.extra
        rows = None if extra is None else extra.get(HISTORY)
        if look_back and rows:
            index = len(rows) - 1
            while index >= 0:
                row = rows[index]
                if (
                    (campaign is None or row[0] == campaign)
                    if only_campaign
                    else matches(row, campaign, offer, channel)
                ):
                    break
                index -= 1
            if index >= 0:
                if row[-2] == status:
                    unchanged += 1
                else:
                    last = row[-1]
                    row.append(status)
                    row.append(at if at >= last else last)
                    updated += 1
                continue
        if mode == "update":
            no_row += 1
            continue
        if rows is None:
            rows = contact.more().setdefault(HISTORY, [])
        rows.append(new_row(campaign, offer, channel, template, status, at))
        created += 1
    counts[UPDATED] += updated
    counts[CREATED] += created
    counts[UNCHANGED] += unchanged
    counts[NO_ROW] += no_row
    return missing


def send_channel(verb: str) -> str | None:
    """``email`` for ``send_email``; None for a verb that is not a send."""
    return verb[5:] if verb.startswith("send_") else None


def record_send(contact: Contact, action: Any, now: float, status: str = SENT_STATUS) -> Row | None:
    """The history row of a send that goes out: its campaign (``from campaign``),
    channel, template and ``status`` (``contacted``, or the campaign's ``log sends
    as``), contact time ``now``. A stopped send (suppressed, skipped or held) writes
    nothing and returns None; the engine writes a held send's row when it goes out.

    Cost: O(1) (one list appended).
    """
    if getattr(action, "stopped", False):
        return None
    options = action.options or {}
    args = action.args or ()
    row = new_row(
        options.get("campaign"),
        options.get("offer"),
        send_channel(action.action),
        str(args[0]) if args else None,
        status,
        now,
    )
    contact.more().setdefault(HISTORY, []).append(row)
    return row


#: The most characters a status, campaign, offer or channel of a feed may have.
MAX_PART_LENGTH: Final = 256


def track_request(
    data: Any, statuses: StatusTable | None
) -> tuple[str, str | None, str | None, str | None, Mode]:
    """``(status, campaign, offer, channel, mode)`` of a ``history.track`` event's
    ``data``, the status in its declared spelling.

    Raises:
        EventError: no data, a missing or undeclared status, a part that is not text,
            or a mode other than ``both``, ``update``, ``create``.
    """
    table = statuses or DEFAULT_TABLE
    if not isinstance(data, dict):
        raise EventError("history.track needs data with a 'status'")
    status = data.get("status")
    if not isinstance(status, str) or not status:
        raise EventError("history.track needs a 'status' (text)")
    declared = table.resolve(status)
    if declared is None:
        raise EventError(
            f"unknown status {status!r}; the statuses are "
            + ", ".join(repr(name) for name in table.names)
        )
    parts: list[str | None] = []
    for name in ("campaign", "offer", "channel"):
        value = data.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_PART_LENGTH):
            raise EventError(
                f"history.track: {name!r} must be a text of at most {MAX_PART_LENGTH} characters"
            )
        parts.append(value)
    mode = data.get("mode", "both")
    if mode not in MODES:
        raise EventError(f"history.track: unknown mode {mode!r} (both, update or create)")
    return declared, parts[0], parts[1], parts[2], mode
