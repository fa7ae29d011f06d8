"""The crash test, small: SIGKILL ``engage run --state`` mid-run, resume, compare dumps.

The large version is ``python benchmarks/crash_test.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from crash_test import crash_test


@pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")
def test_killed_and_resumed_runs_end_byte_identical(tmp_path: Path) -> None:
    report = crash_test(tmp_path, contacts=500, events=12_000, kills=3, seed=11)
    assert report.resumes == 3
    assert report.identical, report.text()
