"""The bundled B2B example end to end: accounts and leads replayed into a state folder,
then the mail-house confirmation list tracked in one batch (seed 000's pattern)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engage.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RULES = str(EXAMPLES / "b2b.rules")
EVENTS = str(EXAMPLES / "b2b-events.jsonl")
LIST = str(EXAMPLES / "b2b-mailhouse.csv")


def test_the_mail_house_list_is_tracked_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "state")
    assert main(["check", RULES]) == 0
    assert main(["run", RULES, "--events", EVENTS, "--state", state, "--max-future", "off"]) == 0
    proposed = [
        json.loads(line)["contact"]
        for line in capsys.readouterr().out.splitlines()
        if '"action": "track"' in line
    ]
    batch = ["track", "--state", state, "--status", "contacted", "--campaign", "spring-letter"]
    batch += ["--others", "undeliverable", "--rules", RULES, "--json", LIST]
    assert main(batch) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[-1])
    listed = {"p020", "p018", "p012"}
    assert listed <= set(proposed)
    assert (first["updated"], first["created"], first["unknown_ids"]) == (3, 1, ["zz99"])
    assert first["others_updated"] == len(set(proposed) - listed)
    # The same list again changes nothing.
    assert main(batch) == 0
    again = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (again["applied"], again["updated"], again["created"]) == (False, 0, 0)
