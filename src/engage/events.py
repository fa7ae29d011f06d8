"""Events in: validation and normalisation of event records.

An event record is a mapping with ``contact`` and ``type`` (required), ``at`` (ISO-8601
text, a datetime, or epoch seconds), ``id`` (optional; makes ingestion idempotent) and
``data`` (optional mapping). :func:`normalize` turns a record into an :class:`Event` or
raises :class:`~engage.errors.EventError` with a reason a person can act on. The engine
never lets such an error escape a stream: the record is counted and kept, with its
reason, in ``engine.rejected``.

``contact.updated`` data is validated against the declared fields and scores *before*
anything is applied (:func:`contact_updates`), so a record with one wrong-typed value
changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from engage.errors import EventError
from engage.program import Program
from engage.timeutil import coerce_time

#: Limits on one event record (hostile input: see the limits docs).
MAX_ID_LENGTH: Final = 256
MAX_TYPE_LENGTH: Final = 128
MAX_TEXT_LENGTH: Final = 65536
MAX_DATA_DEPTH: Final = 16
MAX_DATA_ITEMS: Final = 10000

UPDATED: Final = "contact.updated"
DELETED: Final = "contact.deleted"
UNSUBSCRIBE: Final = "unsubscribe"
#: A preference centre's answer for one subscription list (``data``: ``list``,
#: ``subscribed`` true or false; true when left out).
SUBSCRIPTION: Final = "subscription"
#: The consent value of a refusal of every message on a channel, transactional too
#: (``{"consent": {"email": "never"}}``); ``false`` refuses marketing only.
REFUSE_ALL: Final = "never"
BOUNCE: Final = "email.bounce"
#: A feed's tracking of contact history (engage.history.track.track_request).
TRACK: Final = "history.track"

#: Records about an account or a lead, not a contact, and the key that names it (the
#: event's ``contact`` slot holds that key; see docs/accounts.md).
ENTITY_KEYS: Final[dict[str, str]] = {
    "account.updated": "account",
    "lead.created": "lead",
    "lead.updated": "lead",
    "lead.closed": "lead",
}


def envelope_key(event_type: str) -> str:
    """The record key naming what an event is about: ``contact``, ``account`` or ``lead``."""
    return ENTITY_KEYS.get(event_type, "contact")


class Event:
    """A validated event. Engine-made events (``score.change``...) use the same shape."""

    __slots__ = ("at", "contact", "data", "id", "type")

    def __init__(
        self,
        contact: str,
        type_: str,
        at: float | None,
        event_id: str | None,
        data: dict[str, Any] | None,
    ) -> None:
        self.contact = contact
        self.type = type_
        self.at = at
        self.id = event_id
        self.data = data

    def __repr__(self) -> str:
        return f"Event({self.type!r} {self.contact!r} at={self.at} id={self.id!r})"


def _check_value(value: Any, depth: int, budget: list[int]) -> None:
    """Data values: JSON-like, finite numbers, bounded size and depth."""
    budget[0] -= 1
    if budget[0] < 0:
        raise EventError(f"data has more than {MAX_DATA_ITEMS} values")
    if depth > MAX_DATA_DEPTH:
        raise EventError(f"data nested deeper than {MAX_DATA_DEPTH} levels")
    kind = value.__class__
    if kind is str:  # the common case first, without the isinstance chain
        if len(value) > MAX_TEXT_LENGTH:
            raise EventError(f"data holds a text longer than {MAX_TEXT_LENGTH} characters")
        return
    if value is None or kind is int or isinstance(value, bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EventError(f"data holds a non-finite number ({value!r})")
        return
    if isinstance(value, str):
        if len(value) > MAX_TEXT_LENGTH:
            raise EventError(f"data holds a text longer than {MAX_TEXT_LENGTH} characters")
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check_value(item, depth + 1, budget)
        return
    if kind is dict or isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EventError(f"data keys must be text, not {type(key).__name__}")
            _check_value(item, depth + 1, budget)
        return
    raise EventError(f"data holds a value of type {type(value).__name__}")


def normalize(record: Any) -> Event:
    """Validate one event record.

    Raises:
        EventError: the record cannot be accepted; the message is the reason.
    """
    # ``__class__ is dict`` first: the ABC check costs a sixth of a plain event's
    # validation, and nearly every record is a dict.
    if record.__class__ is not dict and not isinstance(record, Mapping):
        raise EventError(f"an event must be an object, not {type(record).__name__}")
    type_ = record.get("type")
    # Account and lead records are keyed by `account` / `lead`, not `contact`.
    key = ENTITY_KEYS.get(type_, "contact") if type_.__class__ is str else "contact"
    contact = record.get(key)
    if not isinstance(contact, str) or not contact:
        raise EventError(f"missing '{key}' (a non-empty text)")
    if len(contact) > MAX_ID_LENGTH:
        raise EventError(f"'{key}' longer than {MAX_ID_LENGTH} characters")
    if not isinstance(type_, str) or not type_:
        raise EventError("missing 'type' (a non-empty text such as 'email.open')")
    if len(type_) > MAX_TYPE_LENGTH:
        raise EventError(f"'type' longer than {MAX_TYPE_LENGTH} characters")
    raw_at = record.get("at")
    at: float | None = None
    if raw_at is not None:
        try:
            at = coerce_time(raw_at)
        except ValueError as exc:
            raise EventError(f"bad 'at': {exc}") from None
    raw_id = record.get("id")
    event_id: str | None
    if raw_id is None:
        event_id = None
    elif isinstance(raw_id, str) and raw_id:
        event_id = raw_id
    elif isinstance(raw_id, int) and not isinstance(raw_id, bool):
        event_id = str(raw_id)
    else:
        raise EventError("'id' must be a non-empty text or an integer")
    if event_id is not None and len(event_id) > MAX_ID_LENGTH:
        raise EventError(f"'id' longer than {MAX_ID_LENGTH} characters")
    data = record.get("data")
    if data is not None:
        if data.__class__ is not dict and not isinstance(data, Mapping):
            raise EventError(f"'data' must be an object, not {type(data).__name__}")
        if data:
            _check_value(data, 0, [MAX_DATA_ITEMS])
            data = dict(data)
        else:
            data = None
    if type_ == UNSUBSCRIBE and data:
        _check_unsubscribe(data)
    elif type_ == SUBSCRIPTION:
        _check_subscription(data)
    return Event(contact, type_, at, event_id, data)


def _check_unsubscribe(data: Mapping[str, Any]) -> None:
    for key in ("campaign", "channel"):
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise EventError(f"unsubscribe: '{key}' must be a non-empty text")
    category = data.get("category")
    if category is not None and not (isinstance(category, str) and category):
        if category is True and data.get("campaign"):
            return  # the campaign's own category, as its unsubscribe link says
        raise EventError(
            "unsubscribe: 'category' must be a non-empty text (or true, beside "
            "'campaign', for the campaign's category)"
        )


def _check_subscription(data: Mapping[str, Any] | None) -> None:
    name = None if data is None else data.get("list")
    if not isinstance(name, str) or not name or len(name) > MAX_ID_LENGTH:
        raise EventError("subscription: 'list' must be a non-empty text")
    subscribed = data.get("subscribed", True) if data is not None else True
    if not isinstance(subscribed, bool):
        raise EventError("subscription: 'subscribed' must be true or false")


def unsubscribe_entries(
    data: Mapping[str, Any] | None, category_of: Mapping[str, str | None] | None = None
) -> list[tuple[str, str | None, str | None]]:
    """Every ``(scope, name, channel)`` an ``unsubscribe`` event's data names: the
    campaign, the category, both (``{"campaign": "C", "category": "K"}``, or
    ``"category": true`` for the campaign's own category, looked up in ``category_of``),
    or everything; on ``data.channel`` or, without one, on every channel."""
    if not data:
        return [("all", None, None)]
    channel = data.get("channel")
    campaign = data.get("campaign")
    category = data.get("category")
    if category is True:
        category = None if category_of is None else category_of.get(campaign or "")
    entries: list[tuple[str, str | None, str | None]] = []
    if campaign:
        entries.append(("campaign", campaign, channel))
    if category:
        entries.append(("category", category, channel))
    return entries or [("all", None, channel)]


def subscription_change(data: Mapping[str, Any] | None) -> tuple[str, bool]:
    """``(list, subscribed)`` of an admitted ``subscription`` event."""
    assert data is not None  # admission refused a subscription without a list
    return str(data["list"]), data.get("subscribed", True) is not False


# -- contact.updated ------------------------------------------------------------------

#: One validated update: (kind, target, value); kind is field, score, undeclared,
#: consent, tag, group or status.
Update = tuple[str, Any, Any]


def field_value(type_name: str, name: str, value: Any) -> Any:
    """The stored form of ``value`` for a declared field, or EventError."""
    if value is None:
        return None
    if type_name == "text":
        if isinstance(value, str):
            return value
    elif type_name == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
    elif type_name == "bool":
        if isinstance(value, bool):
            return value
    elif type_name == "time":
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            try:
                return coerce_time(value)
            except ValueError:
                pass
    elif (
        type_name == "list"
        and isinstance(value, list | tuple)
        and all(isinstance(item, str | int | float) for item in value)
    ):
        return tuple(value)
    raise EventError(f"field {name!r} is {type_name}, got {_describe(value)}")


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def contact_updates(data: Mapping[str, Any] | None, program: Program) -> list[Update]:
    """Validate ``contact.updated`` data into updates; nothing is applied here.

    Raises:
        EventError: a value does not fit its field or score, or a key is malformed.
    """
    updates: list[Update] = []
    if not data:
        return updates
    for name, value in data.items():
        if name in program.field_by_name:
            field = program.field_by_name[name]
            updates.append(("field", field.index, field_value(field.type, name, value)))
        elif name in program.score_by_name:
            if value is not None and (
                not isinstance(value, int | float) or isinstance(value, bool)
            ):
                raise EventError(f"score {name!r} must be a number, got {_describe(value)}")
            updates.append(("score", program.score_by_name[name].index, value))
        elif name == "consent":
            if not isinstance(value, Mapping):
                raise EventError("'consent' must be an object such as {\"email\": false}")
            for channel, given in value.items():
                if not isinstance(channel, str) or not channel or len(channel) > 64:
                    raise EventError("consent channels must be short texts")
                if given is not None and not isinstance(given, bool) and given != REFUSE_ALL:
                    raise EventError(
                        f"consent.{channel} must be true, false, null or {REFUSE_ALL!r} "
                        "(refuses every message, transactional too)"
                    )
                updates.append(("consent", channel, given))
        elif name in ("tags", "groups"):
            if not isinstance(value, list | tuple) or not all(
                isinstance(item, str) and item for item in value
            ):
                raise EventError(f"'{name}' must be a list of non-empty texts")
            kind = "tag" if name == "tags" else "group"
            updates.extend((kind, item, True) for item in value)
        elif name == "status":
            if value not in ("active", "suspended"):
                raise EventError("'status' must be 'active' or 'suspended'")
            updates.append(("status", None, value))
        else:
            if (
                name == "account"
                and value is not None
                and program.b2b is not None
                and (not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH)
            ):
                raise EventError("'account' must be an account id (a non-empty text) or null")
            kept = tuple(value) if isinstance(value, list) else value
            updates.append(("undeclared", name, kept))
    return updates
