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

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

import msgpack

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
    """What every event writes, laid out right after the object header.

    At a million contacts each object an event touches is a cache miss (and on a
    virtual machine a page walk), so the per-event state is kept in as few cache lines
    as possible:

    - **The first score lives in a slot of its own**, not in a list: most rule sets have
      one or two scores, and a list would be two more objects to reach (the list and
      its item array) and 80 more bytes per contact. Further scores are in
      ``more_scores``; :func:`score_of` and :func:`put_score` read and write any score
      by index.
    - **These slots come first.** CPython places a class's slots in name order, after
      those of its base class; declared on :class:`Contact` they would sit 40 bytes or
      more into the object, a cache line away from the header that every attribute
      read also touches.

    ``benchmarks/cache_misses.py`` counts the difference: 13.3 last-level misses per
    event with a list of scores declared on the contact, 12.8 with that list moved
    here, 11.2 with the first score in a slot (100k contacts, 2 MiB simulated cache).
    """

    __slots__ = ("first_score", "last_activity", "more_scores")

    #: Score 0's value; None is empty. Decaying scores hold a scaled value.
    first_score: Any
    last_activity: float | None
    #: Scores 1, 2, ... by index - 1 (the shared :data:`NO_MORE_SCORES` if there are none).
    more_scores: list[Any]


#: ``more_scores`` of every contact of a program with at most one score: never written,
#: since only scores 1 and up live there.
NO_MORE_SCORES: Final[list[Any]] = []


class Contact(_EverySlot):
    """The mutable state of one contact. The engine owns it; hosts read views."""

    __slots__ = (
        "created",
        "extra",
        "fields",
        "flows",
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
    #: The contact's place in each flow it ran, packed (see engage.flows.record):
    #: bytes, not a dict, so a contact waiting in a flow costs some 80 bytes more.
    flows: bytes | None

    def __init__(self, contact_id: str, created: float, score_count: int) -> None:
        self.id = contact_id
        self.first_score = None
        self.more_scores = [None] * (score_count - 1) if score_count > 1 else NO_MORE_SCORES
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
        self.flows = None

    @classmethod
    def restored(
        cls,
        contact_id: str,
        scores: Sequence[Any],
        fields: list[Any] | None,
        tags: Iterable[str],
        groups: Iterable[str],
        status: str,
        created: float,
        last_activity: float | None,
        segs: int,
        truth: int,
        wake: float | None,
        extra: dict[str, Any] | None,
        flows: bytes | None = None,
    ) -> Contact:
        """A contact with stored state (a snapshot's), each slot set once: restoring a
        million contacts through ``__init__`` would set every slot twice."""
        contact = cls.__new__(cls)
        contact.id = contact_id
        set_score_values(contact, scores)
        contact.fields = fields
        contact.tags = tag_collection(tags)
        contact.groups = tuple(groups)
        contact.status = status
        contact.created = created
        contact.last_activity = last_activity
        contact.segs = segs
        contact.truth = truth
        contact.wake = wake
        contact.extra = extra or None
        contact.flows = flows or None
        return contact

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
        return f"<Contact {self.id!r} scores={score_values(self)} tags={list(self.tags)}>"


def score_of(contact: Contact, index: int) -> Any:
    """The stored value of score ``index`` (None when empty)."""
    return contact.first_score if index == 0 else contact.more_scores[index - 1]


def put_score(contact: Contact, index: int, value: Any) -> None:
    """Store ``value`` as score ``index``."""
    if index == 0:
        contact.first_score = value
    else:
        contact.more_scores[index - 1] = value


def score_values(contact: Contact) -> list[Any]:
    """Every stored score value in index order (one empty score in a program without
    scores: nothing reads it)."""
    return [contact.first_score, *contact.more_scores]


def set_score_values(contact: Contact, values: Sequence[Any]) -> None:
    """Replace every stored score value by ``values``, in index order."""
    contact.first_score = values[0] if values else None
    contact.more_scores = list(values[1:]) if len(values) > 1 else NO_MORE_SCORES


# Keys of ``Contact.extra``: one place that names them all.
CONSENT: Final = "consent"  # dict channel -> True, False or "never" (refuses every message)
UNSUBSCRIBED: Final = "unsub"  # list of [scope, name, channel]
HARD_BOUNCED: Final = "bounced"  # True once an email bounced hard
UNDECLARED: Final = "undeclared"  # dict name -> value, fields no rule declares
HISTORY: Final = "history"  # list of contact-history rows (layout: engage.history.rows)
CHANNEL_ACTIVITY: Final = "channels"  # dict channel -> [last action, at] (engage.history.channels)
ONCE_FIRED: Final = "once"  # list of rule names that fired their `once`
DISARMED: Final = "disarmed"  # list of rule names waiting for `re-arm when`
LAST_FIRED: Final = "fired_at"  # dict rule name -> time of last firing (cooldowns)
LINE_STATE: Final = "lines"  # dict score-line id -> cap bookkeeping
WINDOWS: Final = "windows"  # dict history-atom id -> list of event times
VALUATION_CLASS: Final = "vclass"  # the recency class at the last evaluation
LISTS: Final = "lists"  # list of the subscription lists the contact is on
#: Marketing sends that went out, for the policy's caps: a list of [time, channel,
#: category or None], oldest first, pruned as the longest cap window passes. Kept only
#: when the program's policy has caps (engage.policy.caps).
SENT: Final = "sent"
#: Rule sends held by quiet hours or ``over cap hold``: a list of
#: [release time, priority, rule, verb, args, options, event id, held at], in the order
#: they were held (engage.policy.held).
HELD: Final = "held"


#: The fields of a contact record, in order: the positional form of one contact that
#: snapshots, reloads and the per-contact step write and read. Only this module knows
#: the order; a change of it is a new snapshot format.
RECORD_FIELDS: Final = (
    "id",
    "scores",
    "fields",
    "tags",
    "groups",
    "status",
    "created",
    "last_activity",
    "segs",
    "truth",
    "wake",
    "extra",
    "flows",
)
RECORD_LENGTH: Final = len(RECORD_FIELDS)
#: Records written before flows have no ``flows`` item; they are read as not in any.
LEGACY_RECORD_LENGTH: Final = RECORD_LENGTH - 1


def to_record(contact: Contact) -> list[Any]:
    """The contact as a positional record (compact: no key names per contact), in
    :data:`RECORD_FIELDS` order. Shares the contact's field list and extra dict."""
    return [
        contact.id,
        score_values(contact),
        contact.fields,
        list(contact.tags),
        list(contact.groups),
        contact.status,
        contact.created,
        contact.last_activity,
        contact.segs,
        contact.truth,
        contact.wake,
        contact.extra,
        contact.flows,
    ]


#: Readers of ``extra`` keys whose stored form changed between versions, by key: each
#: takes the stored value and returns the current form (a package that owns a key
#: registers its reader when imported; :mod:`engage.history.rows` does for HISTORY).
EXTRA_DECODERS: dict[str, Callable[[Any], Any]] = {}


def from_record(record: Sequence[Any], list_fields: Sequence[int] = ()) -> Contact:
    """A contact from a record written by :func:`to_record` under the same program.

    ``list_fields`` are the indexes of ``list`` fields: msgpack gives them back as
    lists, and contacts keep them as tuples. The field list is copied, so that a
    reload's contacts never share one with the contacts they replace.
    """
    (cid, scores, fields, tags, groups, status, created, last, segs, truth, wake, extra) = record[
        :LEGACY_RECORD_LENGTH
    ]
    flows = record_flows(record)
    if fields is not None:
        fields = list(fields)
        for i in list_fields:
            value = fields[i]
            if isinstance(value, list):
                fields[i] = tuple(value)
    if extra:
        for key, decode in EXTRA_DECODERS.items():
            if key in extra:
                extra[key] = decode(extra[key])
    return Contact.restored(
        cid, scores, fields, tags, groups, status, created, last, segs, truth, wake, extra, flows
    )


def record_flows(record: Sequence[Any]) -> bytes | None:
    """The ``flows`` value of a contact record (None in records written before flows)."""
    return record[LEGACY_RECORD_LENGTH] if len(record) > LEGACY_RECORD_LENGTH else None


def contact_to_state(contact: Contact) -> dict[str, Any]:
    """The contact as plain data by field name (msgpack-able), independent of any other
    contact."""
    return dict(zip(RECORD_FIELDS, to_record(contact), strict=True))


def contact_from_state(state: dict[str, Any]) -> Contact:
    """Rebuild a contact from :func:`contact_to_state` output."""
    return from_record([state.get(name) for name in RECORD_FIELDS])


#: The version of one contact's state bytes (:func:`encode_state`); a change of
#: :data:`RECORD_FIELDS` or of the envelope bumps it (format 1 had no ``flows``; it is
#: still read).
STATE_FORMAT: Final = 2


def encode_state(contact: Contact, clock: float, decay_refs: Sequence[float | None]) -> bytes:
    """One contact's state as self-contained bytes: its record, the clock it was last
    brought to, and the reference times its decaying scores are scaled against (they
    are program-wide in an engine, so they travel with the contact here).

    Cost: one msgpack pack of the record (about its snapshot size).
    """
    envelope = [STATE_FORMAT, to_record(contact), clock, list(decay_refs)]
    return bytes(msgpack.packb(envelope, use_bin_type=True, default=plain_container))


def decode_state(
    blob: bytes, list_fields: Sequence[int] = ()
) -> tuple[Contact, float, list[float | None]]:
    """``(contact, clock, decay refs)`` from :func:`encode_state` bytes.

    Raises:
        ValueError: not state bytes of this format.
    """
    envelope = msgpack.unpackb(blob, raw=False, strict_map_key=False)
    if (
        not isinstance(envelope, list)
        or len(envelope) != 4
        or envelope[0] not in (1, STATE_FORMAT)
        or not isinstance(envelope[1], list)
        or len(envelope[1]) not in (LEGACY_RECORD_LENGTH, RECORD_LENGTH)
    ):
        raise ValueError(f"not contact state bytes of format {STATE_FORMAT}")
    _, record, clock, refs = envelope
    return from_record(record, list_fields), float(clock), list(refs)


def plain_container(value: Any) -> Any:
    """msgpack's ``default`` for the containers state holds: tuples and sets as lists."""
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot encode a {type(value).__name__}")
