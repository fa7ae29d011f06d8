"""``engage diff``: what a rules change would change, over the same events."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engage.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_RULES = ROOT / "examples" / "engagement.rules"
EXAMPLE_EVENTS = ROOT / "examples" / "events.jsonl"

RULES = """\
score {
    on email.open  +1
}
rule "Hot lead"
    when score >= {threshold}
    then notify sales, tag "Hot"
rule "Welcome"
    on form.submit
    then send email "welcome"
on email.open where score >= 1 then tag "Opened"
"""

EVENTS = [
    # ana opens three times: hot at 2 (before) or at 3 (after)
    {"contact": "ana", "type": "email.open", "at": "2026-01-01T10:00:00Z"},
    {"contact": "ana", "type": "email.open", "at": "2026-01-02T10:00:00Z"},
    {"contact": "ana", "type": "email.open", "at": "2026-01-03T10:00:00Z"},
    # bo opens twice: hot before, never after
    {"contact": "bo", "type": "email.open", "at": "2026-01-01T11:00:00Z"},
    {"contact": "bo", "type": "email.open", "at": "2026-01-02T11:00:00Z"},
    # cy opens once and submits a form: the same either way
    {"contact": "cy", "type": "email.open", "at": "2026-01-01T12:00:00Z"},
    {"contact": "cy", "type": "form.submit", "at": "2026-01-01T13:00:00Z"},
]


def _rules(path: Path, threshold: int = 2, text: str = RULES) -> Path:
    path.write_text(text.replace("{threshold}", str(threshold)), encoding="utf-8")
    return path


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    # Grouped by contact, written out of time order: diff sorts as run does.
    records = sorted(EVENTS, key=lambda r: r["contact"], reverse=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _diff_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["diff", *argv, "--json"]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def _rows(report: dict[str, Any]) -> dict[str, tuple[Any, Any, str]]:
    return {row["rule"]: (row["before"], row["after"], row["status"]) for row in report["rules"]}


def test_a_threshold_change_shows_per_rule_counts_and_affected_contacts(
    tmp_path: Path, events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = _rules(tmp_path / "old.rules", 2)
    new = _rules(tmp_path / "new.rules", 3)
    report = _diff_json([str(old), str(new), "--events", str(events)], capsys)
    rows = _rows(report)
    assert rows["Hot lead"] == (2, 1, "changed")
    assert rows["Welcome"] == (1, 1, "same")
    assert rows["new.rules:10"] == (6, 6, "same")  # an anonymous rule, matched by its text
    assert report["rules"][0]["rule"] == "Hot lead"  # changed rows first
    assert report["affected"]["count"] == 2
    assert sorted(report["affected"]["contacts"]) == ["ana", "bo"]
    first = {d["contact"]: d for d in report["differences"]}
    assert first["ana"]["before"]["at"] == "2026-01-02T10:00:00Z"
    assert first["ana"]["after"]["at"] == "2026-01-03T10:00:00Z"
    assert first["ana"]["before"]["action"] == first["ana"]["after"]["action"] == "notify"
    assert first["bo"]["after"] is None
    assert report["actions"] == {"before": 11, "after": 9}
    assert report["records"] == 7


def test_identical_rules_show_no_change(
    tmp_path: Path, events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = _rules(tmp_path / "old.rules")
    new = _rules(tmp_path / "new.rules")
    argv = ["diff", str(old), str(new), "--events", str(events)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "contacts affected: none" in text
    report = _diff_json(argv[1:], capsys)
    assert report["affected"] == {
        "count": 0,
        "actions_differ": 0,
        "state_differs": 0,
        "contacts": [],
    }
    assert report["differences"] == []
    assert {row["status"] for row in report["rules"]} == {"same"}


def test_a_renamed_rule_shows_as_removed_and_added(
    tmp_path: Path, events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = _rules(tmp_path / "old.rules")
    new = _rules(tmp_path / "new.rules", text=RULES.replace('"Welcome"', '"Greeting"'))
    report = _diff_json([str(old), str(new), "--events", str(events)], capsys)
    rows = _rows(report)
    assert rows["Welcome"] == (1, None, "removed")
    assert rows["Greeting"] == (None, 1, "added")
    assert report["affected"]["contacts"] == ["cy"]  # its send names another rule
    assert report["differences"][0]["after"]["rule"] == "Greeting"


def test_an_anonymous_rule_that_moved_keeps_its_counts(
    tmp_path: Path, events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = _rules(tmp_path / "old.rules")
    new = _rules(tmp_path / "new.rules", text="# a comment moves every line\n\n" + RULES)
    report = _diff_json([str(old), str(new), "--events", str(events)], capsys)
    row = next(r for r in report["rules"] if r["rule"] == "new.rules:12")
    assert row == {
        "rule": "new.rules:12",
        "old_name": "old.rules:10",
        "before": 6,
        "after": 6,
        "status": "same",
    }
    assert report["affected"]["count"] == 0


def test_text_report_and_limits(
    tmp_path: Path, events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = _rules(tmp_path / "old.rules", 2)
    new = _rules(tmp_path / "new.rules", 3)
    argv = ["diff", str(old), str(new), "--events", str(events), "--contacts", "1"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("rule"))
    assert header.split() == ["rule", "before", "after", "change"]
    assert next(line for line in lines if line.startswith("Hot lead")).split() == [
        "Hot",
        "lead",
        "2",
        "1",
        "-1",
    ]
    assert "contacts affected: 2" in text
    assert text.count("before: ") == 1  # --contacts 1
    assert "2026-01-02T10:00:00Z  Hot lead: notify sales" in text


def test_a_score_change_without_other_actions_shows_the_state(
    tmp_path: Path, events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet = "score {\n    on email.open  +{threshold}\n}\n"
    old = _rules(tmp_path / "old.rules", 1, quiet)
    new = _rules(tmp_path / "new.rules", 2, quiet)
    report = _diff_json([str(old), str(new), "--events", str(events)], capsys)
    assert report["affected"]["state_differs"] == 3
    assert report["affected"]["actions_differ"] == 0
    ana = next(d for d in report["differences"] if d["contact"] == "ana")
    assert ana["state"]["scores"] == {"before": {"score": 3}, "after": {"score": 6}}


def test_until_and_usage_errors(
    tmp_path: Path, events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = _rules(tmp_path / "old.rules")
    report = _diff_json(
        [str(old), str(old), "--events", str(events), "--until", "2026-02-01"], capsys
    )
    assert report["affected"]["count"] == 0
    assert main(["diff", str(old), str(old), "--events", str(events), "--until", "x"]) == 2
    assert main(["diff", str(old), str(old), "--events", "missing.jsonl"]) == 2
    broken = tmp_path / "broken.rules"
    broken.write_text("rule when then\n", encoding="utf-8")
    assert main(["diff", str(old), str(broken), "--events", str(events)]) == 1


def test_the_command_line_script(tmp_path: Path) -> None:
    new = tmp_path / "new.rules"
    new.write_text(
        EXAMPLE_RULES.read_text(encoding="utf-8").replace("score >= 5", "score >= 8"),
        encoding="utf-8",
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "engage",
            "diff",
            str(EXAMPLE_RULES),
            str(new),
            "--events",
            str(EXAMPLE_EVENTS),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == {
        "records",
        "bad",
        "actions",
        "contacts",
        "rules",
        "affected",
        "differences",
    }
    hot = next(row for row in report["rules"] if row["rule"] == "Hot lead")
    assert hot["before"] > hot["after"]
    assert report["affected"]["count"] > 0
