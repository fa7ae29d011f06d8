"""Per-channel activity on the contact profile (the "Canales" of emBlue's profile).

For each channel (email, sms, push, web) the contact keeps the last action and when:
``sent``, ``open``, ``click``, ``bounce``... taken from the event type
(``email.open`` -> email, open) and from the sends that go out (``sent``). Stored in the
contact's ``extra`` under :data:`~engage.state.contact.CHANNEL_ACTIVITY` as
``{channel: [action, at]}``; nothing reads it in conditions (``had email.open within D``
does that), so recording it never starts a rule evaluation.

Recording costs a dict lookup and a short split per event, so engines record it only
when asked (:attr:`engage.Engine.channel_activity`, on by default when the rules use
history features): a rule set without them keeps its per-event path as it was.
"""

from __future__ import annotations

from typing import Any, Final

from engage.state.contact import CHANNEL_ACTIVITY, Contact

#: The channels the profile shows.
PROFILE_CHANNELS: Final = frozenset({"email", "sms", "push", "web"})


def record(contact: Contact | None, event_type: str, at: float) -> None:
    """Note ``event_type`` (``email.open``) as the channel's last action at ``at``, if
    it is a channel's event and not older than what is noted. O(1)."""
    if contact is None:
        return
    channel, dot, verb = event_type.partition(".")
    if not dot or channel not in PROFILE_CHANNELS:
        return
    store: dict[str, Any] = contact.more().setdefault(CHANNEL_ACTIVITY, {})
    last = store.get(channel)
    if last is None or last[1] <= at:
        store[channel] = [verb, at]


def activity(contact: Contact) -> dict[str, tuple[str, float]]:
    """``{channel: (last action, when)}`` of the contact."""
    extra = contact.extra
    store = None if extra is None else extra.get(CHANNEL_ACTIVITY)
    if not store:
        return {}
    return {channel: (str(v[0]), float(v[1])) for channel, v in sorted(store.items())}
