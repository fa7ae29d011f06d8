"""The clock counter of ``benchmarks/clock_counts.py``: its parts, without valgrind.

The counting itself needs valgrind and minutes; the suite checks that both sides of the
counted work still run and agree on what fires.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from clock_counts import main, work


def test_both_sides_fire_the_same_number_of_times() -> None:
    engine = work("engine", contacts=300, ticks=40)
    assert engine > 0
    assert work("naive", contacts=300, ticks=40) == engine


def test_sizes_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--ticks", "0"])
    assert "--ticks" in capsys.readouterr().err
