"""Decay math: values at the clock, scaled storage, exact crossing moments."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from engage.scoring.decay import Decay

DAY = 86400.0


def test_half_life_halves() -> None:
    decay = Decay(30 * DAY, -math.inf, math.inf)
    stored = decay.scale(80.0, 0.0)
    assert decay.read(stored, 30 * DAY) == 40.0
    assert math.isclose(decay.read(stored, 60 * DAY) or 0, 20.0)


def test_clamp_applies_to_the_value_read() -> None:
    decay = Decay(DAY, 10.0, 100.0)
    stored = decay.scale(400.0, 0.0)
    assert decay.read(stored, 0.0) == 100.0
    assert decay.read(stored, 100 * DAY) == 10.0


def test_rebase_keeps_values() -> None:
    decay = Decay(3600.0, -math.inf, math.inf)
    stored = decay.scale(50.0, 0.0)
    moment = 1000 * 3600.0
    before = decay.read(stored, moment)
    factor = decay.rebase_factor(moment)
    assert math.isclose(decay.read(stored * factor, moment) or 0, before or 0, rel_tol=1e-12)


@given(
    st.floats(0.5, 1000.0),
    st.lists(st.integers(1, 200), min_size=1, max_size=8, unique=True),
    st.floats(0, 40 * DAY),
)
def test_next_crossing_is_the_first_moment_at_or_past_a_breakpoint(
    value: float, points: list[int], now: float
) -> None:
    """From above a breakpoint: the first moment the value reaches it (``<=`` turns
    true). From on it: the first moment strictly past (``<`` turns true)."""
    decay = Decay(7 * DAY, -math.inf, math.inf)
    stored = decay.scale(value, 0.0)
    breakpoints = [float(p) for p in sorted(points)]
    moment = decay.next_crossing(stored, now, breakpoints)
    current = decay.raw(stored, now)
    below = [b for b in breakpoints if 0 < b <= current]
    if not below:
        assert moment is None
        return
    target = max(below)
    assert moment is not None and moment > now
    previous = math.nextafter(moment, -math.inf)
    if current > target:
        assert decay.raw(stored, moment) <= target
        assert previous <= now or decay.raw(stored, previous) > target
    else:
        assert decay.raw(stored, moment) < target
        assert previous <= now or decay.raw(stored, previous) >= target


def test_a_value_that_reads_a_breakpoint_exactly_wakes_twice() -> None:
    """3 halves to exactly 1.5 after one half-life: ``<= 1.5`` turns true then, and
    ``< 1.5`` one float moment later."""
    decay = Decay(DAY, -math.inf, math.inf)
    stored = decay.scale(3.0, 0.0)
    reach = decay.next_crossing(stored, 0.0, [1.5])
    assert reach == DAY
    assert decay.raw(stored, reach) == 1.5
    passing = decay.next_crossing(stored, reach, [1.5])
    assert passing is not None and passing > reach
    assert decay.raw(stored, passing) < 1.5
    assert decay.raw(stored, math.nextafter(passing, -math.inf)) == 1.5


def test_negative_scores_decay_up_toward_zero() -> None:
    decay = Decay(DAY, -math.inf, math.inf)
    stored = decay.scale(-40.0, 0.0)
    moment = decay.next_crossing(stored, 0.0, [-10.0, 5.0])
    assert moment is not None
    assert math.isclose(moment, 2 * DAY, rel_tol=1e-9)
    assert decay.raw(stored, moment) >= -10.0  # reached: -40 quarters to -10 exactly
    assert decay.raw(stored, math.nextafter(moment, -math.inf)) < -10.0
    passing = decay.next_crossing(stored, moment, [-10.0, 5.0])
    assert passing is not None and decay.raw(stored, passing) > -10.0
