"""The cache-miss counter of ``benchmarks/cache_misses.py``: its parts, without valgrind.

The counting itself needs valgrind and minutes; the suite checks that the simulated
work still runs and that cachegrind's summary is read right.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from cache_misses import main, parse_summary, work

SUMMARY = """\
==1== I   refs:      1,083,291,511
==1== D1  misses:       16,443,568  ( 13,559,083 rd   +   2,884,485 wr)
==1== LLd misses:        3,149,059  (  2,185,986 rd   +     963,073 wr)
==1== LL misses:         3,296,923  (  2,333,850 rd   +     963,073 wr)
"""


def test_summary_is_read_by_label() -> None:
    assert parse_summary(SUMMARY) == {
        "instructions": 1_083_291_511,
        "first_level": 16_443_568,
        "last_level": 3_149_059,  # data misses only: "LL misses" also counts code
    }


def test_a_summary_without_counters_is_an_error() -> None:
    with pytest.raises(ValueError, match="I   refs"):
        parse_summary("==1== no cache simulation\n")


@pytest.mark.parametrize("side", ["engine", "baseline"])
@pytest.mark.parametrize("phase", ["setup", "full"])
def test_simulated_work_runs(side: str, phase: str) -> None:
    work(side, contacts=200, measured=100, phase=phase)


def test_measured_events_must_fit_the_stream(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--contacts", "10", "--measured", "1000"])
    assert "--measured" in capsys.readouterr().err
