"""Whether to draw with ``rich``: only on a terminal, and only when it is installed.

``rich`` is an optional extra (``pip install engage[cli]``): the command line works
without it, in plain text, and an embedding host never imports it (this module imports
it only when asked for a console). In a pipe or a CI log the plain text is the stable,
greppable form, so rich is used only when the stream is a terminal.
"""

from __future__ import annotations

import importlib.util
from typing import IO, Any


def rich_available() -> bool:
    """True when ``rich`` can be imported (a lookup, nothing is imported)."""
    return importlib.util.find_spec("rich") is not None


def rich_console(stream: IO[str], *, force: bool = False) -> Any | None:
    """A ``rich.console.Console`` writing to ``stream`` when it is a terminal (or
    ``force``) and rich is installed; None otherwise. Importing rich costs some tens
    of milliseconds, paid only here."""
    if not rich_available():
        return None
    if not force:
        try:
            if not stream.isatty():
                return None
        except (AttributeError, ValueError):
            return None
    from rich.console import Console

    return Console(file=stream, force_terminal=force or None, highlight=False)


def write_lines(lines: list[str], stream: IO[str]) -> None:
    """Write a summary: its first line in bold through rich on a terminal, plain
    otherwise; the text is the same either way."""
    console = rich_console(stream)
    if console is None:
        stream.write("\n".join(lines) + "\n")
        return
    from rich.text import Text

    for index, line in enumerate(lines):
        console.print(Text(line, style="bold" if index == 0 else ""), soft_wrap=True)
