"""One contact's state, kept small because there are millions of them.

A :class:`Contact` holds only the state read on the hot path in slots of its own
(scores, declared fields, tags, groups, status, times, segment and rule bits, next wake
time). Everything rarer (consent, unsubscribes, undeclared fields, rule marks, score-line
caps, event windows, tracked history) lives in one dict, ``extra``, created the first time
a contact needs any of it. With one score, two fields and two tags a contact costs well
under 600 bytes at a million contacts (``engage bench`` measures it).

The state of one contact is separable from all others: :func:`contact_to_state` and
:func:`contact_from_state` turn it into plain msgpack-able values and back, the base of
snapshots and of a future per-key ``step(state, event)`` on a stream processor.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

#: The contact is not suspended.
ACTIVE: Final = "active"
#: The contact was suspended (by an action or by the host); it gets no sends.
SUSPENDED: Final = "suspended"


#: A contact's tags, in the order they were added: a tuple while there are few (small,
#: and cheap to copy), an insertion-ordered dict (tag -> None) from :data:`MANY_TAGS` on.
Tags = tuple[str, ...] | dict[str, None]

#: Past this many tags a contact keeps them in a dict. Adding a tag to a tuple looks
#: through it and copies it; a contact that collects a tier tag every ten points, or an
#: import of hundreds of interests, would pay that at every new tag.
MANY_TAGS: Final = 16


def tag_collection(tags: Iterable[str]) -> Tags:
    """``tags`` (without repeats) in the representation their number calls for."""
    kept = tuple(tags)
    return dict.fromkeys(kept) if len(kept) > MANY_TAGS else kept


class _EverySlot:
    """The two slots every event writes, laid out right after the object header.

    CPython places a class's slots in name order, after those of its base class.
    Declared on :class:`Contact` itself, ``last_activity`` and ``scores`` would sit
    40 bytes or more into the object, a cache line away from the header that every
    attribute read also touches. At a million contacts that line is a cache miss per
    event (cachegrind: 0.5 fewer last-level misses per event on the inline path).
    Here they share the header's line.
    """

    __slots__ = ("last_activity", "scores")

    last_activity: float | None
    #: Score values by score index; None is empty. Decaying scores hold a scaled value.
    scores: list[Any]


class Contact(_EverySlot):
    """The mutable state of one contact. The engine owns it; hosts read views."""

    __slots__ = (
        "created",
        "extra",
        "fields",
        "groups",
        "id",
        "segs",
        "status",
        "tags",
        "truth",
        "wake",
    )

    id: str
    #: Declared field values by field index, or None while the contact has none.
    fields: list[Any] | None
    tags: Tags
    groups: tuple[str, ...]
    status: str
    created: float
    #: Bit k set: member of segment k.
    segs: int
    #: Bit b set: the condition of the rule with truth bit b held at its last evaluation.
    truth: int
    #: The next moment at which time alone may change this contact, or None.
    wake: float | None
    #: Rarely needed state, by name; None until first needed.
    extra: dict[str, Any] | None

    def __init__(self, contact_id: str, created: float, score_count: int) -> None:
        self.id = contact_id
        self.scores = [None] * score_count
        self.fields = None
        self.tags = ()
        self.groups = ()
        self.status = ACTIVE
        self.created = created
        self.last_activity = None
        self.segs = 0
        self.truth = 0
        self.wake = None
        self.extra = None

    def more(self) -> dict[str, Any]:
        """The ``extra`` dict, created on first use."""
        extra = self.extra
        if extra is None:
            extra = self.extra = {}
        return extra

    def get_extra(self, name: str) -> Any:
        extra = self.extra
        return None if extra is None else extra.get(name)

    def __repr__(self) -> str:
        return f"<Contact {self.id!r} scores={self.scores} tags={list(self.tags)}>"


# Keys of ``Contact.extra``: one place that names them all.
CONSENT: Final = "consent"  # dict channel -> bool
UNSUBSCRIBED: Final = "unsub"  # list of [scope, name, channel]
HARD_BOUNCED: Final = "bounced"  # True once an email bounced hard
UNDECLARED: Final = "undeclared"  # dict name -> value, fields no rule declares
FLOWS: Final = "flows"  # list of flow names the contact is in
HISTORY: Final = "history"  # list of tracked history rows
ONCE_FIRED: Final = "once"  # list of rule names that fired their `once`
DISARMED: Final = "disarmed"  # list of rule names waiting for `re-arm when`
LAST_FIRED: Final = "fired_at"  # dict rule name -> time of last firing (cooldowns)
LINE_STATE: Final = "lines"  # dict score-line id -> cap bookkeeping
WINDOWS: Final = "windows"  # dict history-atom id -> list of event times
VALUATION_CLASS: Final = "vclass"  # the recency class at the last evaluation


def contact_to_state(contact: Contact) -> dict[str, Any]:
    """The contact as plain data (msgpack-able), independent of any other contact."""
    return {
        "id": contact.id,
        "scores": list(contact.scores),
        "fields": None if contact.fields is None else list(contact.fields),
        "tags": list(contact.tags),
        "groups": list(contact.groups),
        "status": contact.status,
        "created": contact.created,
        "last_activity": contact.last_activity,
        "segs": contact.segs,
        "truth": contact.truth,
        "wake": contact.wake,
        "extra": contact.extra,
    }


def contact_from_state(state: dict[str, Any]) -> Contact:
    """Rebuild a contact from :func:`contact_to_state` output."""
    contact = Contact(state["id"], state["created"], 0)
    contact.scores = list(state["scores"])
    contact.fields = None if state["fields"] is None else list(state["fields"])
    contact.tags = tag_collection(state["tags"])
    contact.groups = tuple(state["groups"])
    contact.status = state["status"]
    contact.last_activity = state["last_activity"]
    contact.segs = state["segs"]
    contact.truth = state["truth"]
    contact.wake = state["wake"]
    contact.extra = state["extra"]
    return contact
