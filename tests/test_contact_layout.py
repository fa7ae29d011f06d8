"""The contact's memory layout: what the engine relies on for speed at a million contacts.

These are layout facts, not timings: the slots every event writes must share a cache
line with the object header, and a contact must stay one object of a fixed size.
"""

from __future__ import annotations

import ctypes
import platform

import pytest

from engage.state.contact import (
    NO_MORE_SCORES,
    Contact,
    contact_from_state,
    contact_to_state,
    put_score,
    score_of,
    score_values,
    set_score_values,
)

CPYTHON = platform.python_implementation() == "CPython"


def _offset_of(contact: Contact, value: object) -> int | None:
    """Where in ``contact``'s memory a pointer to ``value`` is stored (CPython only)."""
    pointer = ctypes.c_void_p
    for offset in range(16, type(contact).__basicsize__, 8):
        if pointer.from_address(id(contact) + offset).value == id(value):
            return offset
    return None


@pytest.mark.skipif(not CPYTHON, reason="object layout is a CPython matter")
def test_slots_written_per_event_follow_the_header() -> None:
    contact = Contact("c1", 1.0, 3)
    contact.first_score = 12345.25  # floats of their own, so their addresses are unique
    contact.last_activity = 12345.5
    # The header (reference count and type) takes the first 16 bytes; the slots the
    # inline path reads and writes on every event come straight after it.
    offsets = [
        _offset_of(contact, value)
        for value in (contact.first_score, contact.last_activity, contact.more_scores)
    ]
    assert offsets == [16, 24, 32]


def test_contact_has_no_instance_dict() -> None:
    contact = Contact("c1", 1.0, 1)
    assert not hasattr(contact, "__dict__")
    with pytest.raises(AttributeError):
        contact.anything = 1  # type: ignore[attr-defined]


@pytest.mark.skipif(not CPYTHON, reason="object layout is a CPython matter")
def test_contact_size_is_a_header_and_its_slots() -> None:
    # Splitting the slots over a base class adds nothing: one 16-byte header and one
    # pointer per slot. A new slot costs 8 bytes for every contact: the 14th, `flows`,
    # is paid so that a contact waiting in a flow costs bytes, not a dict in `extra`.
    slots = len(Contact.__slots__) + len(Contact.__mro__[1].__slots__)
    assert slots == 14
    assert Contact.__basicsize__ == 16 + 8 * slots


@pytest.mark.parametrize("count", [0, 1, 2, 5])
def test_scores_by_index_whatever_their_number(count: int) -> None:
    contact = Contact("c1", 1.0, count)
    assert score_values(contact) == [None] * max(count, 1)
    for index in range(count):
        put_score(contact, index, index * 10 + 1)
    assert [score_of(contact, index) for index in range(count)] == [
        index * 10 + 1 for index in range(count)
    ]
    if count:
        assert score_values(contact) == [index * 10 + 1 for index in range(count)]
    # One score or none: the first score's slot, and the shared empty list, untouched.
    assert (contact.more_scores is NO_MORE_SCORES) == (count <= 1)
    assert NO_MORE_SCORES == []


@pytest.mark.parametrize("values", [[], [None], [4], [4, None, 2.5]])
def test_score_values_replaced_and_round_tripped(values: list[object]) -> None:
    contact = Contact("c1", 1.0, 0)
    set_score_values(contact, values)
    expected = values or [None]
    assert score_values(contact) == expected
    again = contact_from_state(contact_to_state(contact))
    assert score_values(again) == expected
    assert NO_MORE_SCORES == []


def test_contacts_do_not_share_their_more_scores() -> None:
    first, second = Contact("a", 1.0, 3), Contact("b", 1.0, 3)
    put_score(first, 2, 7)
    assert score_of(second, 2) is None
