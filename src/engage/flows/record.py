"""Each contact's place in its flows, packed into one ``bytes`` value.

``Contact.flows`` holds one record per flow the contact ever entered, concatenated:
a fixed 32-byte part and the flow's name. A million contacts waiting in a flow is a
million such values, so they are bytes (about 80 bytes for one flow, with the object
header) rather than dicts or objects (several hundred). They are unpacked into
:class:`FlowRecord` objects only while the driver works on the contact.

This module alone knows the layout. Layout of one record (little-endian):

====== ===== ============================================================
offset type  meaning
====== ===== ============================================================
0      u8    state: 1 inside, 2 left; bit 0x80: converted (goal reached)
1      u8    why it left (see :data:`REASONS`), 0 while inside
2      u16   the flow version it entered
4      u16   the instruction it is at (inside)
6      u16   how many times it entered (the cohort of ``split`` reads it)
8      f64   when it entered (this time)
16     f64   since when it is at this instruction (inside) / when it left
24     f64   when its wait ends (NaN: not waiting on time)
32     u8    the length of the flow name in bytes, then the name (UTF-8)
====== ===== ============================================================
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from typing import Final

_FIXED: Final = struct.Struct("<BBHHHdddB")
_INSIDE: Final = 1
_LEFT: Final = 2
_CONVERTED: Final = 0x80
_MAX_COUNT: Final = 0xFFFF
_MAX_NAME: Final = 255

#: Why a contact left a flow, by code (codes are stored; never renumber).
REASONS: Final = ("", "finished", "exit", "goal", "ended", "removed", "deleted")
_REASON_CODE: Final = {name: code for code, name in enumerate(REASONS) if name}


class FlowRecord:
    """One contact's place in one flow, unpacked (see the module docstring)."""

    __slots__ = (
        "converted",
        "entered",
        "entries",
        "inside",
        "name",
        "pc",
        "reason",
        "since",
        "version",
        "wake",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.inside = False
        self.converted = False
        self.reason = ""
        self.version = 0
        self.pc = 0
        self.entries = 0
        self.entered = 0.0
        self.since = 0.0
        #: When the current wait ends, or None.
        self.wake: float | None = None

    def enter(self, version: int, now: float) -> None:
        """Start (again) at the first instruction."""
        self.inside = True
        self.converted = False
        self.reason = ""
        self.version = version
        self.pc = 0
        self.entries = min(self.entries + 1, _MAX_COUNT)
        self.entered = now
        self.since = now
        self.wake = None

    def move(self, pc: int, now: float) -> None:
        """Go to instruction ``pc`` (not waiting yet)."""
        self.pc = pc
        self.since = now
        self.wake = None

    def leave(self, reason: str, now: float) -> None:
        self.inside = False
        self.reason = reason
        self.since = now
        self.wake = None
        if reason == "goal":
            self.converted = True

    def __repr__(self) -> str:
        where = f"at {self.pc} v{self.version}" if self.inside else f"left ({self.reason})"
        return f"<FlowRecord {self.name!r} {where}>"


def unpack(blob: bytes | None) -> dict[str, FlowRecord]:
    """Every record of a ``Contact.flows`` value, by flow name (written order kept)."""
    records: dict[str, FlowRecord] = {}
    if not blob:
        return records
    offset = 0
    size = _FIXED.size
    while offset < len(blob):
        state, reason, version, pc, entries, entered, since, wake, length = _FIXED.unpack_from(
            blob, offset
        )
        offset += size
        name = blob[offset : offset + length].decode()
        offset += length
        record = FlowRecord(name)
        record.inside = state & 0x7F == _INSIDE
        record.converted = bool(state & _CONVERTED)
        record.reason = REASONS[reason] if reason < len(REASONS) else ""
        record.version = version
        record.pc = pc
        record.entries = entries
        record.entered = entered
        record.since = since
        record.wake = None if math.isnan(wake) else wake
        records[name] = record
    return records


def pack(records: dict[str, FlowRecord]) -> bytes | None:
    """The ``Contact.flows`` value of ``records`` (None when there are none)."""
    if not records:
        return None
    parts = []
    for record in records.values():
        name = record.name.encode()[:_MAX_NAME]
        state = (_INSIDE if record.inside else _LEFT) | (_CONVERTED if record.converted else 0)
        parts.append(
            _FIXED.pack(
                state,
                _REASON_CODE.get(record.reason, 0),
                min(record.version, _MAX_COUNT),
                min(record.pc, _MAX_COUNT),
                record.entries,
                record.entered,
                record.since,
                math.nan if record.wake is None else record.wake,
                len(name),
            )
        )
        parts.append(name)
    return b"".join(parts)


def inside(blob: bytes | None) -> Iterator[FlowRecord]:
    """The records of the flows the contact is inside now."""
    return (record for record in unpack(blob).values() if record.inside)
