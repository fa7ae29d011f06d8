"""The progress bar and the summary ``engage run`` prints on standard error.

The bar is drawn only when standard error is a terminal: in a pipe or a CI log, a
carriage-return animation is noise, so only the summary is written there.
"""

from __future__ import annotations

import time
from typing import IO


class Progress:
    """A one-line progress bar, redrawn at most a few times a second."""

    def __init__(self, stream: IO[str], enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.started = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def update(self, records: int, done_bytes: int, total_bytes: int | None) -> None:
        if not self.enabled:
            return
        moment = time.monotonic()
        if moment - self._last < 0.2:
            return
        self._last = moment
        elapsed = max(moment - self.started, 1e-9)
        rate = records / elapsed
        if total_bytes:
            fraction = min(done_bytes / total_bytes, 1.0)
            filled = int(fraction * 30)
            bar = "#" * filled + "-" * (30 - filled)
            text = f"\r[{bar}] {fraction:4.0%}  {records:,} records  {rate:,.0f}/s "
        else:
            text = f"\r{records:,} records  {rate:,.0f}/s "
        self.stream.write(text)
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * 72 + "\r")
            self.stream.flush()
            self._drawn = False

    def elapsed(self) -> float:
        return time.monotonic() - self.started
