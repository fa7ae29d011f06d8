"""Files in and out of ``engage run``: event readers, the dead-letter file, the dump.

Readers turn an events file (JSON Lines, msgpack or CSV, optionally gzip-compressed)
into ``(line, record)`` pairs where a record that cannot even be decoded is a
:class:`~engage.io.readers.BadRecord` with its reason. Nothing here applies events; the
engine does, and rejects what it cannot accept with its own reason.
"""

from engage.io.deadletter import DeadLetter
from engage.io.readers import BadRecord, EventSource, open_events

__all__ = ["BadRecord", "DeadLetter", "EventSource", "open_events"]
