"""A contact's contribution to its account, and the delta between two of them.

The per-contact step reports a :class:`MemberDelta` (the account before and after, and
each roll-up's contribution before and after); the account stage applies it to the
account's aggregates. That is all the account stage ever learns about a contact, so it
can run keyed by account on a stream processor (``docs/accounts.md``).

Contributions are what the contact holds: a score's stored value (the scaled value of
a decaying score), or the truth of a ``count ... where`` condition. Reading one costs a
slot read, or one generated condition call, per roll-up.
"""

from __future__ import annotations

from typing import Any

import attrs

from engage.b2b.spec import B2BProgram
from engage.state.contact import UNDECLARED, Contact, score_of


@attrs.frozen(slots=True)
class Membership:
    """The account a contact belongs to (None: none) and its contributions."""

    account: str | None
    values: tuple[Any, ...]


@attrs.frozen(slots=True)
class MemberDelta:
    """What changed for the account stage: ``account`` and ``values`` as
    ``(before, after)`` (a new contact comes from ``(None, ())``, a deleted one goes to
    ``(None, ())``)."""

    contact: str
    account: tuple[str | None, str | None]
    values: tuple[tuple[Any, ...], tuple[Any, ...]]
    #: Per roll-up, the decay reference time its (scaled) values are relative to, None
    #: for a score that does not decay. Set by the per-contact step, whose states each
    #: carry their own reference: a keyed account stage converts ``scaled`` to its own
    #: reference ``r`` as ``scaled * 2 ** ((ref - r) / half_life)``.
    refs: tuple[float | None, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "contact": self.contact,
            "account": list(self.account),
            "values": [list(self.values[0]), list(self.values[1])],
            "refs": list(self.refs),
        }


NOBODY = Membership(None, ())


def account_of(contact: Contact) -> str | None:
    """The contact's account id (``contact.updated`` with ``data.account``), or None."""
    extra = contact.extra
    if extra is None:
        return None
    found = extra.get(UNDECLARED)
    if not found:
        return None
    account = found.get("account")
    return account if isinstance(account, str) and account else None


def membership(program: B2BProgram, contact: Contact, now: float) -> Membership:
    """The contact's account and contributions now: O(number of roll-ups)."""
    account = account_of(contact)
    if account is None:
        return NOBODY
    values: list[Any] = []
    for rollup in program.rollups:
        if rollup.score is not None:
            values.append(score_of(contact, rollup.score))
        elif rollup.where is not None:
            values.append(bool(rollup.where(contact, None, now)))
        else:
            values.append(True)
    return Membership(account, tuple(values))


def member_delta(contact: str, before: Membership, after: Membership) -> MemberDelta | None:
    """The delta between two memberships, or None when nothing the accounts read moved."""
    if before == after:
        return None
    return MemberDelta(contact, (before.account, after.account), (before.values, after.values))
