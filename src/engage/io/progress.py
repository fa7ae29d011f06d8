"""The progress bar ``engage run`` draws on standard error.

The bar is drawn only when standard error is a terminal: in a pipe or a CI log, a
carriage-return animation is noise, so only the summary is written there. On a
terminal it is drawn by ``rich`` when installed (the ``engage[cli]`` extra), else as a
plain one-line bar; either way it is redrawn at most five times a second and erased
when the run ends.
"""

from __future__ import annotations

import time
from typing import IO, Any

from engage.terminal import rich_console

#: Seconds between redraws.
REDRAW = 0.2


class Progress:
    """A one-line progress bar, redrawn at most a few times a second."""

    def __init__(self, stream: IO[str], enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.started = time.monotonic()
        self._last = 0.0
        self._drawn = False
        self._rich = _RichBar.on(stream) if enabled else None

    def update(self, records: int, done_bytes: int, total_bytes: int | None) -> None:
        if not self.enabled:
            return
        moment = time.monotonic()
        if moment - self._last < REDRAW:
            return
        self._last = moment
        elapsed = max(moment - self.started, 1e-9)
        rate = records / elapsed
        self._drawn = True
        if self._rich is not None:
            self._rich.show(records, rate, done_bytes, total_bytes)
            return
        if total_bytes:
            fraction = min(done_bytes / total_bytes, 1.0)
            filled = int(fraction * 30)
            bar = "#" * filled + "-" * (30 - filled)
            text = f"\r[{bar}] {fraction:4.0%}  {records:,} records  {rate:,.0f}/s "
        else:
            text = f"\r{records:,} records  {rate:,.0f}/s "
        self.stream.write(text)
        self.stream.flush()

    def finish(self) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._drawn = False
            return
        if self._drawn:
            self.stream.write("\r" + " " * 72 + "\r")
            self.stream.flush()
            self._drawn = False

    def elapsed(self) -> float:
        return time.monotonic() - self.started


class _RichBar:
    """The bar drawn by rich: no refresh thread (drawn when told), erased at the end."""

    def __init__(self, console: Any) -> None:
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

        self.bar = Progress(
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[records]:,} records  {task.fields[rate]:,.0f}/s"),
            console=console,
            transient=True,
            auto_refresh=False,
        )
        self.task = self.bar.add_task("events", total=None, records=0, rate=0.0)
        self.started = False

    @classmethod
    def on(cls, stream: IO[str]) -> _RichBar | None:
        console = rich_console(stream)
        return None if console is None else cls(console)

    def show(self, records: int, rate: float, done_bytes: int, total_bytes: int | None) -> None:
        if not self.started:
            self.bar.start()
            self.started = True
        self.bar.update(
            self.task,
            completed=done_bytes if total_bytes else records,
            total=total_bytes or None,
            records=records,
            rate=rate,
        )
        self.bar.refresh()

    def stop(self) -> None:
        if self.started:
            self.bar.stop()
            self.started = False
