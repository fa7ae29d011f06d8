"""The contact's memory layout: what the engine relies on for speed at a million contacts.

These are layout facts, not timings: the slots every event writes must share a cache
line with the object header, and a contact must stay one object of a fixed size.
"""

from __future__ import annotations

import ctypes
import platform

import pytest

from engage.state.contact import Contact

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
    contact = Contact("c1", 1.0, 2)
    contact.last_activity = 12345.5  # a float of its own, so its address is unique
    # The header (reference count and type) takes the first 16 bytes; the two slots the
    # inline path writes on every event come straight after it.
    assert {_offset_of(contact, contact.last_activity), _offset_of(contact, contact.scores)} == {
        16,
        24,
    }


def test_contact_has_no_instance_dict() -> None:
    contact = Contact("c1", 1.0, 1)
    assert not hasattr(contact, "__dict__")
    with pytest.raises(AttributeError):
        contact.anything = 1  # type: ignore[attr-defined]


@pytest.mark.skipif(not CPYTHON, reason="object layout is a CPython matter")
def test_contact_size_is_a_header_and_its_slots() -> None:
    # Splitting the slots over a base class adds nothing: one 16-byte header and one
    # pointer per slot. A new slot costs 8 bytes for every contact.
    slots = len(Contact.__slots__) + len(Contact.__mro__[1].__slots__)
    assert Contact.__basicsize__ == 16 + 8 * slots
