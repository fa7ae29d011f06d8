"""What stops a send whatever its campaign, policy caps and quiet hours aside.

Two questions, asked in this order by the gate:

- :func:`contact_stop` — stops every send, transactional ones too: a suspended contact,
  a refusal of every message on the channel (consent ``"never"``), a hard bounce (email).
- :func:`marketing_stop` — stops a marketing send: consent refused (``false``), or
  empty on a channel the policy opts in (``require consent CH``); an unsubscribe whose
  scope covers the send (everything, the send's campaign, the send's category; on every
  channel or on the send's). An unsubscribe from a *declared* campaign or its category
  is a campaign the contact no longer qualifies for: the send is ``skipped``; the rest
  are ``suppressed`` (the reasons read as before campaigns existed).

Each is a few dict lookups and one pass over the contact's unsubscribes (a handful).
"""

from __future__ import annotations

from typing import Final, Literal

from engage.events import REFUSE_ALL
from engage.state.contact import CONSENT, HARD_BOUNCED, SUSPENDED, UNSUBSCRIBED, Contact

#: How a stopped send is written: ``suppressed`` or ``skipped``, and why.
Verdict = tuple[Literal["suppressed", "skipped"], str]

_SUPPRESSED: Final = "suppressed"
_SKIPPED: Final = "skipped"


def contact_stop(contact: Contact, channel: str) -> str | None:
    """Why no message at all may go to ``contact`` on ``channel``, or None."""
    if contact.status == SUSPENDED:
        return "suspended"
    extra = contact.extra
    if extra is None:
        return None
    consent = extra.get(CONSENT)
    if consent is not None and consent.get(channel) == REFUSE_ALL:
        return f"refuses all {channel}"
    if channel == "email" and extra.get(HARD_BOUNCED):
        return "hard bounced"
    return None


def marketing_stop(
    contact: Contact,
    channel: str,
    campaign: str | None,
    category: str | None,
    declared: bool,
    opt_in: bool,
) -> Verdict | None:
    """Why a marketing send may not go out, or None.

    ``declared``: ``campaign`` is a declared campaign (its unsubscribes skip the send);
    ``opt_in``: the policy requires consent on ``channel`` (empty consent stops it).
    """
    extra = contact.extra
    given = None
    if extra is not None:
        consent = extra.get(CONSENT)
        if consent is not None:
            given = consent.get(channel)
    if given is False:
        return (_SUPPRESSED, f"no consent for {channel}")
    if opt_in and given is not True:
        return (_SUPPRESSED, f"no consent for {channel} (required)")
    if extra is None:
        return None
    for scope, name, on_channel in extra.get(UNSUBSCRIBED, ()):
        if on_channel is not None and on_channel != channel:
            continue
        if scope == "all":
            return (
                _SUPPRESSED,
                "unsubscribed" if on_channel is None else f"unsubscribed from {channel}",
            )
        if scope == "campaign" and campaign is not None and name == campaign:
            return (_SKIPPED if declared else _SUPPRESSED, f"unsubscribed from campaign {campaign}")
        if scope == "category" and category is not None and name == category:
            return (_SKIPPED if declared else _SUPPRESSED, f"unsubscribed from category {category}")
    return None
