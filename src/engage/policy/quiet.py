"""Quiet hours, local to the contact (LANGUAGE.md section 6).

A contact's time zone is its ``timezone`` field (declared or not) when that names a
zone, else the policy's ``timezone``, else UTC. During quiet hours a marketing send is
held until the window ends, in that zone, across daylight-saving changes and windows
that span midnight (:func:`engage.time.zones.window_end`). Cost: a field read, a cached
zone lookup and one or two ``datetime`` conversions per send decided in a policy with
quiet hours.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from engage.program import Program
from engage.state.contact import UNDECLARED, Contact
from engage.time.zones import DEFAULT_ZONE, is_zone, window_end, zone

#: The contact field that names a contact's own time zone.
TIMEZONE_FIELD = "timezone"


def own_zone_name(contact: Contact, program: Program) -> str | None:
    """The zone the contact's own ``timezone`` field names (declared or undeclared), or
    None when it names none (flows fall back on their own zone, then the policy's)."""
    value = None
    field = program.field_by_name.get(TIMEZONE_FIELD)
    if field is not None:
        fields = contact.fields
        if fields is not None:
            value = fields[field.index]
    else:
        extra = contact.extra
        undeclared = None if extra is None else extra.get(UNDECLARED)
        if undeclared:
            value = undeclared.get(TIMEZONE_FIELD)
    return value if value.__class__ is str and is_zone(value) else None


def contact_zone(contact: Contact, program: Program) -> ZoneInfo:
    """The contact's time zone: its ``timezone`` field, the policy's, or UTC."""
    own = own_zone_name(contact, program)
    if own is not None:
        return zone(own)
    policy = program.policy
    return policy.zone if policy is not None else zone(DEFAULT_ZONE)


def quiet_until(program: Program, contact: Contact, moment: float) -> float | None:
    """When quiet hours end, if ``moment`` is inside them for this contact; else None."""
    policy = program.policy
    if policy is None or policy.quiet is None:
        return None
    start, end = policy.quiet
    return window_end(moment, contact_zone(contact, program), start, end)
