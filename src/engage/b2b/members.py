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

from collections.abc import Callable
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
    return Membership(account, contributions(program, contact, now))


def contributions(program: B2BProgram, contact: Contact, now: float) -> tuple[Any, ...]:
    """Each roll-up's contribution of a contact: a stored score, or a condition's truth."""
    values: list[Any] = []
    for rollup in program.rollups:
        if rollup.score is not None:
            values.append(score_of(contact, rollup.score))
        elif rollup.where is not None:
            values.append(bool(rollup.where(contact, None, now)))
        else:
            values.append(True)
    return tuple(values)


def reader(program: B2BProgram) -> Callable[[Contact, float], tuple[Any, ...] | None]:
    """A fast form of :func:`membership` for the engine's hot path: ``(account,
    contribution, ...)`` as one plain tuple, or None for a contact without an account.

    Generated once per program (only slot indexes and helper names enter the source,
    never user text): per call a dict look-up for the account and one slot read, or one
    generated condition, per roll-up.
    """
    parts = []
    namespace: dict[str, Any] = {"_UNDECLARED": UNDECLARED}
    for number, rollup in enumerate(program.rollups):
        if rollup.score == 0:
            parts.append("c.first_score")
        elif rollup.score is not None:
            parts.append(f"c.more_scores[{int(rollup.score) - 1}]")
        elif rollup.where is not None:
            namespace[f"_w{number}"] = rollup.where
            parts.append(f"(_w{number}(c, None, now) is True)")
        else:
            parts.append("True")
    source = (
        "def read(c, now):\n"
        "    extra = c.extra\n"
        "    if extra is None:\n"
        "        return None\n"
        "    found = extra.get(_UNDECLARED)\n"
        "    if not found:\n"
        "        return None\n"
        "    account = found.get('account')\n"
        "    if account.__class__ is not str or not account:\n"
        "        return None\n"
        f"    return (account, {''.join(part + ', ' for part in parts)})\n"
    )
    exec(compile(source, "<engage-account-reader>", "exec"), namespace)  # indexes only
    read: Callable[[Contact, float], tuple[Any, ...] | None] = namespace["read"]
    return read


def as_membership(reading: tuple[Any, ...] | None) -> Membership:
    """The record of a :func:`reader` tuple."""
    return NOBODY if reading is None else Membership(reading[0], reading[1:])


def member_delta(contact: str, before: Membership, after: Membership) -> MemberDelta | None:
    """The delta between two memberships, or None when nothing the accounts read moved."""
    if before == after:
        return None
    return MemberDelta(contact, (before.account, after.account), (before.values, after.values))
