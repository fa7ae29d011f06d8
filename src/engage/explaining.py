"""``engage explain``: one contact's timeline, for the question "why did (or didn't)
this rule fire for this contact?".

The command line (:mod:`engage.cli`) opens the files and loads the rules; this module
checks the names asked about (a did-you-mean for a typo), builds the timeline
(:mod:`engage.timeline`) and writes it as text (:mod:`engage.timeline_text`) or as one
JSON list of entries (keys documented in ``docs/authoring.md``).
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable, Sequence
from typing import IO, Final

from engage.io.ordering import Placed
from engage.rules import Rules
from engage.timeline import build
from engage.timeline_text import lines, write

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2

#: Close names offered for an unknown contact or rule.
_SUGGESTIONS: Final = 5


def explain(
    rules: Rules,
    rules_files: Sequence[str],
    placed: Iterable[Placed],
    contact: str,
    *,
    rule: str | None,
    until: float | None,
    as_json: bool,
    out: IO[str],
    err: IO[str],
) -> int:
    """Trace ``contact`` through ``placed`` records and write its timeline to ``out``.

    Returns 0, or 2 (with a message on ``err``) for an unknown contact or rule.
    Cost: a replay of every record (see :mod:`engage.timeline`).
    """
    if rule is not None and rule not in rules.program.rule_by_name:
        err.write(f"engage explain: error: no rule named {rule!r}{_hint(rule, rules.rule_names)}\n")
        return EXIT_USAGE
    timeline = build(rules, placed, contact, rule=rule, until=until)
    if not timeline.found:
        err.write(
            f"engage explain: error: no event names contact {contact!r}"
            f"{_hint(contact, timeline.contact_ids)}\n"
        )
        return EXIT_USAGE
    try:
        if as_json:
            out.write(json.dumps([entry.to_dict() for entry in timeline.entries], sort_keys=True))
            out.write("\n")
        else:
            write(lines(timeline, ", ".join(rules_files)), out)
        out.flush()
    except BrokenPipeError:
        _quiet(out)  # read through `| head`: the reader has what it wanted
    return EXIT_OK


def _quiet(out: IO[str]) -> None:
    """Point a closed pipe's descriptor at /dev/null, so that the flush at exit is quiet."""
    try:
        descriptor = out.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


def _hint(name: str, known: Sequence[str]) -> str:
    """``; did you mean ...?`` with the closest known names (case ignored), or ``""``."""
    by_folded = {candidate.casefold(): candidate for candidate in known}
    close = difflib.get_close_matches(name.casefold(), list(by_folded), n=_SUGGESTIONS)
    if not close:
        return ""
    return "; did you mean " + ", ".join(repr(by_folded[match]) for match in close) + "?"
