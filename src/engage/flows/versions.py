"""Flow versions: contacts finish the version they entered.

An engine keeps, per flow name, the text of every version it has run
(``EngineState.flow_versions``: name -> texts, version N at index N - 1; snapshots carry
it). Loading rules (a reload, a restore) compares each flow's text, comments and blanks
aside, with its latest version: a different text is a new version, which new entrants
get. Contacts inside an older version keep running it: that version's text is compiled
again, beside the new rules, under a name no rules file can write, and runs *retired*
(nobody enters it). A version that no longer compiles against the new rules (it reads a
segment or a field that is gone) cannot run: its contacts leave with reason
``removed``, as do the contacts of a flow that is no longer in the rules.

Costs: at a reload, one scan of the contacts' flow records and, only when an older
version is in use, one more compile of the program. Nothing per event.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final

from engage.errors import EngageError
from engage.flows.record import unpack
from engage.flows.spec import FlowSpec
from engage.program import Program
from engage.rules import Rules, compile_sources

#: The source name of the retained versions' text in messages.
RETAINED_SOURCE: Final = "<flow versions>"
_COMMENT_OR_STRING: Final = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*')
_FLOW_HEAD: Final = re.compile(r"\A(\s*flow\s+)(\w+)")


def fingerprint(text: str) -> str:
    """A flow's text with comments dropped and blanks collapsed: what tells versions
    apart (re-indenting or commenting a flow is not a new version)."""
    kept = _COMMENT_OR_STRING.sub(lambda m: "" if m.group().startswith("#") else m.group(), text)
    return " ".join(kept.split())


def retained_name(name: str, version: int) -> str:
    """The name an older version is compiled under (a name no author writes)."""
    return f"{name}__v{version}__retired"


class Versions:
    """The version numbers of one program's flows, and the older versions it keeps.

    Attributes:
        current: the version number of each flow of the rules, by name.
        retained: compiled older versions still in use, by (name, version).
        program: the program to run: the rules' own, or compiled with the retained
            versions beside them.
    """

    __slots__ = ("current", "program", "retained")

    def __init__(
        self, program: Program, current: dict[str, int], retained: dict[tuple[str, int], FlowSpec]
    ) -> None:
        self.program = program
        self.current = current
        self.retained = retained


def in_use(flow_blobs: Iterable[bytes | None]) -> set[tuple[str, int]]:
    """The (flow, version) pairs some contact is inside, from their ``flows`` values."""
    found: set[tuple[str, int]] = set()
    for blob in flow_blobs:
        if blob:
            found.update(
                (record.name, record.version) for record in unpack(blob).values() if record.inside
            )
    return found


def assign(rules: Rules, history: dict[str, list[str]], used: set[tuple[str, int]]) -> Versions:
    """Number the flows of ``rules`` against ``history`` (updated in place: a changed
    flow gets a new version) and compile the older versions ``used`` still needs."""
    current: dict[str, int] = {}
    for flow in rules.program.flows:
        texts = history.setdefault(flow.name, [])
        if not texts or fingerprint(texts[-1]) != fingerprint(flow.text):
            texts.append(flow.text)
        current[flow.name] = len(texts)
    needed = sorted(
        (name, version)
        for name, version in used
        if name in current
        and current[name] != version
        and 1 <= version <= len(history.get(name, ()))
    )
    if not needed:
        return Versions(rules.program_for_engine(), current, {})
    sources = [(f.path, f.source) for f in rules.files]
    combined = _compile_with(sources, history, needed)
    if combined is None:
        return Versions(rules.program_for_engine(), current, {})
    compiled, kept = combined
    retained: dict[tuple[str, int], FlowSpec] = {}
    for name, version in kept:
        spec = compiled.flow_by_name[retained_name(name, version)]
        spec.name = name
        spec.rule = f"flow:{name}"
        spec.retired = True
        retained[name, version] = spec
    return Versions(compiled, current, retained)


def _compile_with(
    sources: list[tuple[str, str]],
    history: dict[str, list[str]],
    needed: Sequence[tuple[str, int]],
) -> tuple[Program, list[tuple[str, int]]] | None:
    """The program of ``sources`` with the ``needed`` versions beside it: all of them
    if they compile together, else each that compiles alone (the others are dropped)."""

    def attempt(versions: Sequence[tuple[str, int]]) -> Program | None:
        text = "\n".join(
            _renamed(history[name][version - 1], name, version) for name, version in versions
        )
        try:
            return compile_sources([*sources, (RETAINED_SOURCE, text)]).program_for_engine()
        except EngageError:
            return None

    program = attempt(needed)
    if program is not None:
        return program, list(needed)
    kept = [pair for pair in needed if attempt([pair]) is not None]
    if not kept:
        return None
    program = attempt(kept)
    return None if program is None else (program, kept)


def _renamed(text: str, name: str, version: int) -> str:
    return _FLOW_HEAD.sub(lambda m: m.group(1) + retained_name(name, version), text, count=1)
