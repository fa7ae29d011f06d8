"""What history conditions read, and when time alone next changes them.

- ``had status "S" [for campaign "C"] within D``: some row (of campaign C) had status S
  at some moment of the window ``(now - D, now]``. A row holds a status from the change
  that set it until the next change; a status a row still has holds now, so it stays
  true by time (until a change); a status the row left stays true until D after it
  left, and that moment is when the contact is woken.
- ``status for campaign "C"``: the current status of the contact's latest row of C.
- ``count contacts within D``: rows whose current status counts as contact and whose
  contact time is inside the window; each leaves it D after its contact time.

The window is the same half-open ``(now - D, now]`` as ``had EVENT within D``, so the
two agree at the edge. Every reader is O(rows of the contact) and allocates nothing.
"""

from __future__ import annotations

from collections.abc import Collection

from engage.history.rows import CAMPAIGN, LOG, rows_of
from engage.state.contact import Contact


def status_for(contact: Contact, campaign: str) -> str | None:
    """The current status of the latest row of ``campaign``, or None."""
    rows = rows_of(contact)
    if rows:
        for index in range(len(rows) - 1, -1, -1):
            row = rows[index]
            if row[CAMPAIGN] == campaign:
                return str(row[-2])
    return None


def had_status(
    contact: Contact, status: str, campaign: str | None, window: float, now: float
) -> bool:
    """Whether a row (of ``campaign``) had ``status`` at a moment of ``(now - window, now]``."""
    rows = rows_of(contact)
    if not rows:
        return False
    limit = now - window
    for row in rows:
        if campaign is not None and row[CAMPAIGN] != campaign:
            continue
        end = len(row) - 2
        for index in range(LOG, len(row) - 1, 2):
            if row[index] != status or row[index + 1] > now:
                continue
            if index == end or row[index + 3] > limit:
                return True
    return False


def had_status_changes_at(
    contact: Contact, status: str, campaign: str | None, window: float, now: float
) -> float | None:
    """The next moment after ``now`` at which :func:`had_status` turns false by time
    alone, or None (false already, or held by a row that still has the status)."""
    rows = rows_of(contact)
    if not rows:
        return None
    limit = now - window
    latest_end: float | None = None
    for row in rows:
        if campaign is not None and row[CAMPAIGN] != campaign:
            continue
        end = len(row) - 2
        for index in range(LOG, len(row) - 1, 2):
            if row[index] != status or row[index + 1] > now:
                continue
            if index == end:
                return None  # the row still has it: only a change can end it
            left = row[index + 3]
            if left > limit and (latest_end is None or left > latest_end):
                latest_end = left
    return None if latest_end is None else latest_end + window


def count_contacts(contact: Contact, window: float, now: float, counting: Collection[str]) -> int:
    """How many rows count as contact (their status is in ``counting``) with a contact
    time inside ``(now - window, now]``: the ``count contacts within D`` condition and
    the policy cap ``contacts at most N per D``."""
    rows = rows_of(contact)
    if not rows:
        return 0
    limit = now - window
    return sum(1 for row in rows if row[-2] in counting and limit < row[-1] <= now)


def count_contacts_changes_at(
    contact: Contact, window: float, now: float, counting: Collection[str]
) -> float | None:
    """The next moment after ``now`` at which a counted row leaves the window, or None."""
    rows = rows_of(contact)
    if not rows:
        return None
    limit = now - window
    best: float | None = None
    for row in rows:
        at = row[-1]
        if row[-2] in counting and limit < at <= now and (best is None or at < best):
            best = at
    return None if best is None else best + window
