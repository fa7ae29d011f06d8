"""Whether a contact qualifies for a campaign now (LANGUAGE.md section 5).

A send ``from campaign "C"`` goes out only to a contact that qualifies for C: a member
of one of C's segments (every contact, for a campaign without ``for segment``) and, when
C ``requires list "L"``, subscribed to L. (Its unsubscribes are asked by
:func:`engage.policy.consent.marketing_stop`.) A bit test and a list lookup.
"""

from __future__ import annotations

from engage.policy.specs import CampaignSpec
from engage.state.contact import LISTS, Contact


def not_qualified(contact: Contact, campaign: CampaignSpec) -> str | None:
    """Why ``contact`` does not qualify for ``campaign`` now, or None."""
    bits = campaign.segment_bits
    if bits and not contact.segs & bits:
        word = "segments" if len(campaign.segments) > 1 else "segment"
        return f"not in {word} {', '.join(campaign.segments)} of campaign {campaign.name}"
    required = campaign.requires_list
    if required is not None:
        extra = contact.extra
        lists = None if extra is None else extra.get(LISTS)
        if not lists or required not in lists:
            return f"not subscribed to list {required}"
    return None
