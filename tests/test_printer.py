"""Canonical condition text: what identifies event windows across programs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

import engage
from engage.dsl import ast
from engage.dsl.parser import parse
from engage.dsl.printer import condition_text, window_signature
from engage.storage import snapshot
from strategies import rules_text

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DAY = 86_400.0

WINDOW_RULES = """
rule "busy" when count web.visit where event.url contains "/pricing" and event.n > 1
    within 30 days >= 3 then tag "busy"
"""


def _conditions(text: str) -> list[ast.Expr]:
    found: list[ast.Expr] = []
    for decl in parse(text, "t.rules").decls:
        condition = getattr(decl, "condition", None)
        trigger = getattr(decl, "trigger", None)
        if condition is not None:
            found.append(condition)
        if trigger is not None:
            for name in ("condition", "where"):
                part = getattr(trigger, name, None)
                if part is not None:
                    found.append(part)
    return found


def test_layout_comments_and_parentheses_do_not_change_the_signature() -> None:
    plain = _conditions('segment s = had web.visit where event.url contains "/p" within 7 days')
    spaced = _conditions(
        'segment s = had web.visit\n   where ((event.url contains "/p"))  # pricing\n'
        "   within 1 week"
    )
    assert condition_text(plain[0]) == condition_text(spaced[0])


@settings(max_examples=60, deadline=None)
@given(rules_text(time=True))
def test_canonical_text_reads_back_as_itself(text: str) -> None:
    """Printing, parsing the print and printing again gives the same text: the print
    is in the language's own syntax, and every node kind has one."""
    for condition in _conditions(text):
        printed = condition_text(condition)
        again = _conditions(f"segment s = {printed}")
        assert condition_text(again[0]) == printed


def test_an_unknown_node_is_refused_not_guessed() -> None:
    with pytest.raises(TypeError, match="no canonical text"):
        condition_text(object())  # type: ignore[arg-type]


def _visits(contact: str, start: float, count: int) -> list[dict[str, Any]]:
    return [
        {
            "contact": contact,
            "type": "web.visit",
            "at": start + n * 60,
            "data": {"url": "/pricing", "n": 2},
        }
        for n in range(count)
    ]


def test_windows_survive_a_rename_of_syntax_tree_classes(tmp_path: Path) -> None:
    """A snapshot written before a node class is renamed restores its event windows."""
    rules = engage.compile(WINDOW_RULES, name="w.rules")
    engine = engage.Engine(rules)
    engine.ingest_many(_visits("c1", T0, 2))
    path = tmp_path / "state.engsnap"
    engine.snapshot(path)
    # Rename the classes the filter is made of, as a refactoring would, and compile
    # the same text again.
    renamed = (ast.TextMatch, ast.Compare, ast.EventAttr, ast.And)
    try:
        for cls in renamed:
            cls.__name__ += "Node"
            cls.__qualname__ += "Node"
        again = engage.compile(WINDOW_RULES, name="w.rules")
    finally:
        for cls in renamed:
            cls.__name__ = cls.__name__.removesuffix("Node")
            cls.__qualname__ = cls.__qualname__.removesuffix("Node")
    legacy = again.program_for_engine().history_atoms[0].legacy_signature
    assert "CompareNode" in legacy, "the old signature would have changed"
    restored = engage.Engine.restore(path, again)
    assert restored.reload_report is not None
    assert restored.reload_report.messages() == []
    actions = restored.ingest_many(_visits("c1", T0 + DAY, 1))
    assert [(a.action, a.args) for a in actions] == [("tag", ["busy"])]


def test_snapshots_with_the_old_signatures_still_restore_their_windows(tmp_path: Path) -> None:
    rules = engage.compile(WINDOW_RULES, name="w.rules")
    engine = engage.Engine(rules)
    engine.ingest_many(_visits("c1", T0, 2))
    path = tmp_path / "state.engsnap"
    engine.snapshot(path)
    data = snapshot.read(path)
    atoms = rules.program_for_engine().history_atoms
    # What the previous format wrote: the repr() of the filter's syntax tree.
    data.header["tables"]["atoms"] = [atom.legacy_signature for atom in atoms]
    assert data.header["tables"]["atoms"] != [atom.signature for atom in atoms]
    old = tmp_path / "old.engsnap"
    header = {k: v for k, v in data.header.items() if k != "contact_count"}
    from engage.state.contact import from_record

    snapshot.write(old, header, [from_record(r) for r in data.contacts])
    restored = engage.Engine.restore(old, engage.compile(WINDOW_RULES, name="w.rules"))
    actions = restored.ingest_many(_visits("c1", T0 + DAY, 1))
    assert [(a.action, a.args) for a in actions] == [("tag", ["busy"])]


def test_window_signature_names_type_filter_and_length() -> None:
    assert window_signature("email.open", None, 604800.0) == "email.open||604800"
