"""The crash test, small: SIGKILL ``engage run --state`` mid-run, resume, compare dumps.

The large version is ``python benchmarks/crash_test.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from crash_test import FLOW_RULES, crash_test


@pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")
def test_killed_and_resumed_runs_end_byte_identical(tmp_path: Path) -> None:
    report = crash_test(tmp_path, contacts=500, events=12_000, kills=3, seed=11)
    assert report.resumes == 3
    assert report.identical, report.text()


@pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")
def test_killed_and_resumed_runs_with_a_flow_end_byte_identical(tmp_path: Path) -> None:
    # The dump holds each contact's place in the flow (step, since, wait end, entries,
    # why it left), so a wait or a send lost or repeated by a resume would show.
    report = crash_test(tmp_path, contacts=300, events=6_000, kills=2, seed=5, rules=FLOW_RULES)
    assert report.resumes == 2
    assert report.identical, report.text()
