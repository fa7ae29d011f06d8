"""The dead-letter output: every record that was not accepted, with where and why.

One JSON object per line::

    {"source": "events.jsonl", "line": 17, "reason": "missing 'contact' ...",
     "record": {...}}

``record`` is the decoded record when there is one, else the raw text. Nothing a user
sends is dropped silently: a record is either applied, counted as a duplicate, or
written here (and counted in the summary).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import IO, Any


def _plain(value: Any) -> Any:
    """JSON cannot hold everything msgpack can: show the rest as text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class DeadLetter:
    """Counts bad records by reason and writes them to a file when one is given."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.count = 0
        self.reasons: Counter[str] = Counter()
        self._handle: IO[str] | None = None
        if path == "-":
            self._handle = sys.stderr
        elif path is not None:
            self._handle = open(path, "w", encoding="utf-8")  # noqa: SIM115

    def write(self, source: str, line: int, reason: str, record: Any) -> None:
        self.count += 1
        self.reasons[_reason_kind(reason)] += 1
        if self._handle is None:
            return
        entry = {"source": source, "line": line, "reason": reason, "record": record}
        try:
            text = json.dumps(entry, default=_plain, allow_nan=True)
        except (ValueError, TypeError, RecursionError):
            entry["record"] = repr(record)[:2000]
            text = json.dumps(entry)
        self._handle.write(text + "\n")

    def close(self) -> None:
        if self._handle is not None and self._handle is not sys.stderr:
            self._handle.close()
        self._handle = None


def _reason_kind(reason: str) -> str:
    """The reason without its particulars, for the summary's breakdown."""
    head = reason.split(":", 1)[0].split(",", 1)[0]
    return head if len(head) <= 60 else head[:57] + "..."
