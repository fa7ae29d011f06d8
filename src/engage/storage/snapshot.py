"""Snapshots: the whole state of an engine in one checksummed msgpack file.

Layout (all integers little-endian)::

    b"ENGSNAP\\0"          magic
    u32 format version     (FORMAT_VERSION; a change of layout bumps it)
    u32 header length
    header                 msgpack map: clock, counters, dedupe ids, program tables...
    contact records        one msgpack array per contact (count in the header)
    u32 CRC-32             of every byte before it

The write is atomic: the file is written to a temporary name in the same folder,
flushed and fsynced, renamed over the target, and the folder is fsynced, so a crash
leaves either the old snapshot or the new one, never half of one. Reading checks the
magic, the version and the checksum before trusting a byte, and unpacks with msgpack's
size limits.

The header carries the *tables* of the program that wrote it (score, field, segment and
rule names by position, event-window signatures), so a snapshot can be restored into a
different program: :mod:`engage.storage.migrate` maps state by name.
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
import zlib
from collections.abc import Collection
from itertools import islice
from typing import IO, Any, Final

import msgpack

from engage.errors import SnapshotError
from engage.program import Program
from engage.state.contact import (
    LEGACY_RECORD_LENGTH,
    RECORD_LENGTH,
    Contact,
    plain_container,
    to_record,
)

#: Contact records of this version, and of snapshots written before flows.
_KNOWN_LENGTHS: Final = frozenset({RECORD_LENGTH, LEGACY_RECORD_LENGTH})


MAGIC: Final = b"ENGSNAP\x00"
FORMAT_VERSION: Final = 1
#: Versions this build can read (older layouts are converted on load).
READABLE_VERSIONS: Final = frozenset({1})
_PREAMBLE = struct.Struct("<8sII")
_CRC = struct.Struct("<I")
#: Contact records packed and written at a time (about 650 KB at 80 bytes a record).
_CONTACTS_PER_WRITE: Final = 8192
#: Largest header or contact record accepted when reading (bytes).
MAX_RECORD_BYTES: Final = 256 * 1024 * 1024


class SnapshotData:
    """A snapshot read back: its header and its contact records."""

    def __init__(self, header: dict[str, Any], contacts: list[list[Any]]) -> None:
        self.header = header
        self.contacts = contacts


def program_tables(program: Program) -> dict[str, Any]:
    """Names by position of everything per-contact state refers to by position."""
    return {
        "scores": [
            [s.name, None if s.decay is None else s.decay.half_life] for s in program.scores
        ],
        "decay_refs": [None if s.decay is None else s.decay.ref for s in program.scores],
        "fields": [[f.name, f.type] for f in program.fields],
        "segments": [s.name for s in program.segments],
        "truth_bits": program.truth_table(),
        # The fourth item (an anonymous rule's text) came after format 1's first files;
        # readers take it when present.
        "rules": [[r.name, r.kind, r.cond_text, r.content] for r in program.rules],
        "atoms": [a.signature for a in program.history_atoms],
    }


def write(
    path: str | os.PathLike[str], header: dict[str, Any], contacts: Collection[Contact]
) -> int:
    """Write a snapshot to ``path`` atomically; returns its size in bytes.

    ``header`` is the engine's (:func:`engage.storage.state.snapshot_header`); the
    contacts are written as records (:func:`engage.state.contact.to_record`).
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    header = {**header, "contact_count": len(contacts)}
    packer = msgpack.Packer(default=plain_container, use_bin_type=True)
    header_bytes = packer.pack(header)
    fd, temp = tempfile.mkstemp(prefix=".snapshot-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as handle:
            crc = _write_checked(
                handle, _PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(header_bytes)), 0
            )
            crc = _write_checked(handle, header_bytes, crc)
            # Records are packed and joined by C loops (``map``, ``join``), a batch of
            # contacts at a time (4% fewer instructions than a Python loop per contact).
            packed = map(packer.pack, map(to_record, contacts))
            while chunk := b"".join(islice(packed, _CONTACTS_PER_WRITE)):
                crc = _write_checked(handle, chunk, crc)
            handle.write(_CRC.pack(crc))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_folder(folder)
    return os.path.getsize(target)


def _write_checked(handle: IO[bytes], data: bytes, crc: int) -> int:
    handle.write(data)
    return zlib.crc32(data, crc)


def _fsync_folder(folder: str) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without folder descriptors
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def read(path: str | os.PathLike[str]) -> SnapshotData:
    """Read and verify a snapshot.

    Raises:
        SnapshotError: not a snapshot, a version this build cannot read, a bad checksum
            or a truncated or malformed file — with a message that says which.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            blob = handle.read()
    except OSError as exc:
        raise SnapshotError(f"{name}: cannot read snapshot: {exc.strerror}") from None
    if len(blob) < _PREAMBLE.size + _CRC.size:
        raise SnapshotError(f"{name}: not an engage snapshot (too short)")
    magic, version, header_length = _PREAMBLE.unpack_from(blob)
    if magic != MAGIC:
        raise SnapshotError(f"{name}: not an engage snapshot (bad magic)")
    if version not in READABLE_VERSIONS:
        raise SnapshotError(
            f"{name}: snapshot format version {version} cannot be read by this version of "
            f"engage (it reads {sorted(READABLE_VERSIONS)}); replay the event log into a "
            "fresh state instead"
        )
    (stored_crc,) = _CRC.unpack_from(blob, len(blob) - _CRC.size)
    body = memoryview(blob)[: len(blob) - _CRC.size]
    if zlib.crc32(body) != stored_crc:
        raise SnapshotError(f"{name}: snapshot checksum mismatch: the file is corrupt")
    start = _PREAMBLE.size
    try:
        header = msgpack.unpackb(
            body[start : start + header_length], raw=False, strict_map_key=False
        )
        contacts = _records(body[start + header_length :])
    except (ValueError, msgpack.UnpackException, TypeError) as exc:
        raise SnapshotError(f"{name}: malformed snapshot: {exc}") from None
    if not isinstance(header, dict) or header.get("contact_count") != len(contacts):
        raise SnapshotError(f"{name}: malformed snapshot: contact count does not match")
    return SnapshotData(header, contacts)


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The header of a snapshot alone (its rules, clock, counters), without reading the
    contacts: for tools that need to know what wrote a state folder before opening it.
    The checksum covers the whole file and is not verified here; a restore verifies it.

    Raises:
        SnapshotError: not a snapshot, an unreadable version or a malformed header.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            preamble = handle.read(_PREAMBLE.size)
            if len(preamble) < _PREAMBLE.size:
                raise SnapshotError(f"{name}: not an engage snapshot (too short)")
            magic, version, header_length = _PREAMBLE.unpack(preamble)
            if magic != MAGIC or version not in READABLE_VERSIONS:
                raise SnapshotError(f"{name}: not a snapshot this version of engage reads")
            if header_length > MAX_RECORD_BYTES:
                raise SnapshotError(f"{name}: malformed snapshot: header too long")
            blob = handle.read(header_length)
    except OSError as exc:
        raise SnapshotError(f"{name}: cannot read snapshot: {exc.strerror}") from None
    try:
        header = msgpack.unpackb(blob, raw=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException, TypeError) as exc:
        raise SnapshotError(f"{name}: malformed snapshot: {exc}") from None
    if not isinstance(header, dict):
        raise SnapshotError(f"{name}: malformed snapshot header")
    return header


def _records(data: memoryview) -> list[list[Any]]:
    """The contact records, each checked to be a :data:`RECORD_LENGTH`-item array.

    The records are gathered and checked by C loops (``extend``, ``map``): a Python
    loop per record was a fifth of a restore.
    """
    unpacker = msgpack.Unpacker(
        raw=False,
        strict_map_key=False,
        max_buffer_size=MAX_RECORD_BYTES,
    )
    records: list[list[Any]] = []
    step = 1 << 20
    for offset in range(0, len(data), step):
        unpacker.feed(data[offset : offset + step])
        records.extend(unpacker)
    lengths = set(map(len, records))
    if records and (set(map(type, records)) != {list} or not lengths <= _KNOWN_LENGTHS):
        raise ValueError(f"a contact record is not a {RECORD_LENGTH}-item array")
    return records
