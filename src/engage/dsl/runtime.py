"""Helpers that generated condition code calls, with the empty-value rules of the language.

The code generator inlines the common cases (a number compared with a constant); what
needs more care — values of unknown type from events, emptiness of text and lists,
arithmetic that propagates empty — goes through these small functions. They never raise:
a comparison of values of different kinds is false, as the semantics page says.
"""

from __future__ import annotations

import math
from typing import Any

from engage.state.contact import CONSENT, LISTS, Contact

_EMPTY_COLLECTIONS: tuple[object, ...] = ("", (), [])


def empty(value: Any) -> bool:
    """Missing, ``""`` or an empty list."""
    return value is None or (value.__class__ in (str, list, tuple) and not value)


def _comparable(a: Any, b: Any) -> bool:
    if a.__class__ is b.__class__:
        return True
    number = (int, float)
    return (
        isinstance(a, number)
        and isinstance(b, number)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    )


def eq(a: Any, b: Any) -> bool:
    """``a == b``: false unless both are empty or both are the same kind and equal."""
    a_empty = empty(a)
    b_empty = empty(b)
    if a_empty or b_empty:
        return a_empty and b_empty
    if not _comparable(a, b):
        return False
    if a.__class__ is tuple:  # lists read from contacts are tuples
        return list(a) == list(b)
    return bool(a == b)


def ne(a: Any, b: Any) -> bool:
    """``a != b`` is exactly ``not a == b``."""
    return not eq(a, b)


def lt(a: Any, b: Any) -> bool:
    if a is None or b is None or not _comparable(a, b) or a.__class__ in (list, tuple, bool):
        return False
    return bool(a < b)


def le(a: Any, b: Any) -> bool:
    if a is None or b is None or not _comparable(a, b) or a.__class__ in (list, tuple, bool):
        return False
    return bool(a <= b)


def gt(a: Any, b: Any) -> bool:
    return lt(b, a)


def ge(a: Any, b: Any) -> bool:
    return le(b, a)


def between(value: Any, low: Any, high: Any) -> bool:
    """Both ends included; false with any empty side."""
    return le(low, value) and le(value, high)


def in_list(value: Any, items: tuple[Any, ...]) -> bool:
    return any(eq(value, item) for item in items)


def contains(value: Any, part: Any) -> bool:
    """Substring for text, membership for lists; false when either side is empty."""
    if part is None:
        return False
    if value.__class__ is str:
        return part.__class__ is str and part != "" and part in value
    if value.__class__ in (list, tuple):
        return any(eq(item, part) for item in value)
    return False


def startswith(value: Any, part: Any) -> bool:
    return (
        value.__class__ is str and part.__class__ is str and part != "" and value.startswith(part)
    )


def endswith(value: Any, part: Any) -> bool:
    return value.__class__ is str and part.__class__ is str and part != "" and value.endswith(part)


def matches(value: Any, pattern: Any) -> bool:
    """``pattern`` is a compiled RE2 pattern (from the rules, never from event data)."""
    # "" is empty, and text operators on an empty value are false (semantics, 1).
    return value.__class__ is str and value != "" and pattern.search(value) is not None


def _numeric(a: Any, b: Any) -> bool:
    return (
        a is not None
        and b is not None
        and a.__class__ is not bool
        and b.__class__ is not bool
        and isinstance(a, int | float)
        and isinstance(b, int | float)
    )


def add(a: Any, b: Any) -> Any:
    if a.__class__ is str and b.__class__ is str:
        return a + b
    return a + b if _numeric(a, b) else None


def sub(a: Any, b: Any) -> Any:
    return a - b if _numeric(a, b) else None


def mul(a: Any, b: Any) -> Any:
    return a * b if _numeric(a, b) else None


def div(a: Any, b: Any) -> Any:
    if not _numeric(a, b) or b == 0:
        return None
    result = a / b
    return result if math.isfinite(result) else None


def neg(a: Any) -> Any:
    return -a if _numeric(a, 0) else None


def within(moment: Any, window: float, now: float) -> bool:
    """``moment within window``: ``now - moment < window`` (half-open, see semantics)."""
    return moment.__class__ is float and now - moment < window


def older_than(moment: Any, window: float, now: float) -> bool:
    return moment.__class__ is float and now - moment >= window


def consent(contact: Contact, channel: str) -> bool | None:
    """``consent.CHANNEL``: true, false, or None (empty: the contact never answered).

    A refusal of every message on the channel (``"never"``, see
    :func:`engage.policy.consent.refuses_all`) reads as false. Empty is not false:
    ``consent.email is empty`` holds for a contact never asked, and ``not
    consent.email`` / ``consent.email == false`` only for a refusal (the code generator
    writes ``not consent.X`` as a test for false). Whether an empty consent allows a
    marketing send is the policy's question (opt-out by default, ``require consent``).
    """
    extra = contact.extra
    if extra is None:
        return None
    given = extra.get(CONSENT)
    if given is None:
        return None
    value = given.get(channel)
    if value is None or value is True or value is False:
        return value
    return False  # "never": a refusal of every message


def subscribed(contact: Contact, list_name: str) -> bool:
    """``subscribed to "L"``: the contact is on subscription list L."""
    extra = contact.extra
    if extra is None:
        return False
    lists = extra.get(LISTS)
    return lists is not None and list_name in lists


def event_attr(event: Any, path: tuple[str, ...]) -> Any:
    """``event.a.b``: envelope attributes, else a walk down ``data``; missing is empty."""
    if event is None:
        return None
    head = path[0]
    if len(path) == 1 and head in ("type", "id", "contact", "at"):
        return getattr(event, head)
    value: Any = event.data
    for part in path:
        if value.__class__ is not dict:
            return None
        value = value.get(part)
    if value.__class__ is list:
        return tuple(value)
    return value


def truthy(value: Any) -> bool:
    """A bool used as a condition: only ``true`` holds."""
    return value is True
