"""The layout of one contact-history row, and reading rows.

A contact may have many rows (one per send and per tracked treatment), so a row is one
flat list, with no key names::

    [campaign, offer, channel, template, status0, at0, status1, at1, ...]

The first four are the treatment (None where not known); then comes the log of status
changes, oldest first, each a status and the moment it was set. The current status is
``row[-2]``; the contact time (when the row was last tracked, as IBM Campaign's Track
sets it) is ``row[-1]``. A row with one status costs a list of six slots (about 100
bytes); a status change adds two. Rows live, oldest first, in the contact's ``extra``
under :data:`~engage.state.contact.HISTORY`, so snapshots, the event log, recovery and
the per-contact step carry them with the rest of the contact.

Rows written before this layout (dicts of status, at, campaign, offer) are read through
:func:`normalize`, which turns them into rows once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final

from engage.state.contact import EXTRA_DECODERS, HISTORY, Contact

CAMPAIGN: Final = 0
OFFER: Final = 1
CHANNEL: Final = 2
TEMPLATE: Final = 3
#: Where the log of status changes starts.
LOG: Final = 4

Row = list[Any]


def new_row(
    campaign: str | None,
    offer: str | None,
    channel: str | None,
    template: str | None,
    status: str,
    at: float,
) -> Row:
    """A row with one status, set at ``at``."""
    return [campaign, offer, channel, template, status, at]


def status_of(row: Sequence[Any]) -> str:
    """The row's current status. O(1)."""
    return str(row[-2])


def contact_time(row: Sequence[Any]) -> float:
    """When the row was last tracked (its contact time). O(1)."""
    return float(row[-1])


def changes(row: Sequence[Any]) -> Iterator[tuple[str, float]]:
    """The row's log of status changes, oldest first: ``(status, at)``."""
    for index in range(LOG, len(row) - 1, 2):
        yield row[index], row[index + 1]


def matches(
    row: Sequence[Any], campaign: str | None, offer: str | None, channel: str | None
) -> bool:
    """Whether the row is of this treatment: each part given must be equal; a part
    left out matches any."""
    return (
        (campaign is None or row[CAMPAIGN] == campaign)
        and (offer is None or row[OFFER] == offer)
        and (channel is None or row[CHANNEL] == channel)
    )


def rows_of(contact: Contact) -> list[Row] | None:
    """The contact's rows (oldest first), or None when it has none. O(1)."""
    extra = contact.extra
    if extra is None:
        return None
    rows: list[Row] | None = extra.get(HISTORY)
    return rows


def version(contact: Contact) -> int:
    """A number that grows with every change of the contact's rows (a new row, a new
    status): what the cascade compares to see that the history changed. O(rows)."""
    rows = rows_of(contact)
    return 0 if not rows else sum(len(row) for row in rows)


def normalize(rows: Any) -> tuple[list[Row], int]:
    """``rows`` as stored rows, and how many entries were dropped as unreadable.

    Accepts the current layout and the dict rows of earlier versions (``status``,
    ``at``, ``campaign``, ``offer``); anything else is dropped and counted, never
    raised: a bad row must not stop a restore. O(rows).
    """
    kept: list[Row] = []
    dropped = 0
    if not isinstance(rows, list):
        return kept, 1
    for row in rows:
        if isinstance(row, dict):
            status, at = row.get("status"), row.get("at")
            if isinstance(status, str) and isinstance(at, int | float):
                kept.append(
                    new_row(row.get("campaign"), row.get("offer"), None, None, status, float(at))
                )
                continue
        elif (
            isinstance(row, list | tuple)
            and len(row) >= LOG + 2
            and (len(row) - LOG) % 2 == 0
            and isinstance(row[-2], str)
            and isinstance(row[-1], int | float)
        ):
            kept.append(list(row))
            continue
        dropped += 1
    return kept, dropped


def row_dict(row: Sequence[Any], format_time: Any) -> dict[str, Any]:
    """A row as people and ``--dump`` read it: the parts that are set, the status, the
    contact time and the log (times through ``format_time``)."""
    out: dict[str, Any] = {}
    for name, index in (("campaign", CAMPAIGN), ("offer", OFFER), ("channel", CHANNEL)):
        if row[index] is not None:
            out[name] = row[index]
    if row[TEMPLATE] is not None:
        out["template"] = row[TEMPLATE]
    out["status"] = status_of(row)
    out["at"] = format_time(contact_time(row))
    out["log"] = [[status, format_time(at)] for status, at in changes(row)]
    return out


def _decode(rows: Any) -> list[Row]:
    """Stored rows as rows: the current layout as it is (O(rows) type tests), older
    layouts converted once (see :func:`normalize`)."""
    if isinstance(rows, list) and all(row.__class__ is list for row in rows):
        return rows
    return normalize(rows)[0]


EXTRA_DECODERS[HISTORY] = _decode
