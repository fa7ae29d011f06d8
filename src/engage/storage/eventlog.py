"""The event log: accepted events, appended before their effects are visible.

Each entry is one frame::

    u32 payload length | u32 CRC-32 of the payload | payload (msgpack)

The payload is ``{"n": sequence, "e": event}`` for an accepted event (already validated:
plain values, epoch-second time) or ``{"n": sequence, "a": moment}`` for a clock move.
Sequence numbers never repeat; a snapshot records the last one it contains, and
recovery replays the frames after it.

A crash can tear the last frame (a short write) or leave garbage after it. Reading stops
at the first frame whose length or checksum does not hold, reports it, and
:func:`repair` cuts the file there: a torn frame is never replayed as data.

Durability is a choice (``fsync``): ``always`` syncs every frame to disk before the
event is applied (nothing acknowledged is ever lost, slowest); ``interval`` syncs at most
every ``interval_ms`` milliseconds (a crash loses at most that window of events, which an
at-least-once feed re-sends and the dedupe window absorbs); ``never`` leaves it to the
operating system.
"""

from __future__ import annotations

import os
import struct
import time
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO, Final, Literal

import msgpack

from engage.state.contact import plain_container

FsyncPolicy = Literal["always", "interval", "never"]
POLICIES: Final = ("always", "interval", "never")
_FRAME = struct.Struct("<II")
#: The largest frame accepted when reading (a longer length field is corruption).
MAX_FRAME_BYTES: Final = 16 * 1024 * 1024


class LogCorruption:
    """Where and why reading a log stopped early."""

    __slots__ = ("offset", "reason")

    def __init__(self, offset: int, reason: str) -> None:
        self.offset = offset
        self.reason = reason

    def __repr__(self) -> str:
        return f"LogCorruption(offset={self.offset}, {self.reason!r})"


class EventLog:
    """An append-only log file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: FsyncPolicy = "interval",
        interval_ms: float = 100.0,
    ) -> None:
        if fsync not in POLICIES:
            raise ValueError(f"fsync must be one of {POLICIES}, not {fsync!r}")
        self.path = os.fspath(path)
        self.policy = fsync
        self.interval = interval_ms / 1000.0
        self._file: BinaryIO = open(self.path, "ab", buffering=1 << 16)  # noqa: SIM115
        self._last_sync = time.monotonic()
        self._packer = msgpack.Packer(use_bin_type=True, default=plain_container)
        self.frames_written = 0

    def append(self, payload: dict[str, Any]) -> None:
        """Append one frame; durable according to the policy when this returns."""
        data = self._packer.pack(payload)
        self._file.write(_FRAME.pack(len(data), zlib.crc32(data)) + data)
        self.frames_written += 1
        policy = self.policy
        if policy == "always":
            self._file.flush()
            os.fsync(self._file.fileno())
        elif policy == "interval":
            now = time.monotonic()
            if now - self._last_sync >= self.interval:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._last_sync = now

    def sync(self) -> None:
        """Flush and fsync now, whatever the policy."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._last_sync = time.monotonic()

    def close(self) -> None:
        if not self._file.closed:
            self.sync()
            self._file.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def read(
    path: str | os.PathLike[str], corruption: list[LogCorruption] | None = None
) -> Iterator[dict[str, Any]]:
    """The intact frames of a log, in order; stops at the first bad one.

    A bad frame (torn, wrong checksum, not msgpack) is recorded in ``corruption``
    (if given) with its offset; nothing after it is read.
    """
    with open(path, "rb") as handle:
        offset = 0
        while True:
            head = handle.read(_FRAME.size)
            if not head:
                return
            if len(head) < _FRAME.size:
                _note(corruption, offset, "torn frame header at the end of the log")
                return
            length, crc = _FRAME.unpack(head)
            if length > MAX_FRAME_BYTES:
                _note(corruption, offset, f"frame length {length} is not plausible")
                return
            data = handle.read(length)
            if len(data) < length:
                _note(corruption, offset, "torn frame at the end of the log")
                return
            if zlib.crc32(data) != crc:
                _note(corruption, offset, "frame checksum mismatch")
                return
            try:
                payload = msgpack.unpackb(data, raw=False, strict_map_key=False)
            except (ValueError, msgpack.UnpackException) as exc:
                _note(corruption, offset, f"frame is not msgpack: {exc}")
                return
            if not isinstance(payload, dict) or "n" not in payload:
                _note(corruption, offset, "frame is not a log entry")
                return
            yield payload
            offset += _FRAME.size + length


def _note(corruption: list[LogCorruption] | None, offset: int, reason: str) -> None:
    if corruption is not None:
        corruption.append(LogCorruption(offset, reason))


def repair(path: str | os.PathLike[str]) -> LogCorruption | None:
    """Cut a log after its last intact frame; returns what was cut, if anything."""
    problems: list[LogCorruption] = []
    for _ in read(path, problems):
        pass
    if not problems:
        return None
    with open(path, "r+b") as handle:
        handle.truncate(problems[0].offset)
        handle.flush()
        os.fsync(handle.fileno())
    return problems[0]
