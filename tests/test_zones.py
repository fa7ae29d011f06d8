"""Local wall-clock times: zones, DST changes, windows across midnight."""

from __future__ import annotations

from datetime import date

import pytest

from engage.time import zones
from engage.timeutil import format_time, parse_time

NEW_YORK = zones.zone("America/New_York")
BOGOTA = zones.zone("America/Bogota")


def test_unknown_zone_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        zones.zone("Mars/Olympus")
    assert not zones.is_zone("Mars/Olympus")
    assert zones.is_zone("Europe/Madrid")
    assert not zones.is_zone(3)


@pytest.mark.parametrize("text", ["9:00", "24:00", "09:60", "ab:cd", "0900"])
def test_bad_clock_text(text: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        zones.parse_clock(text)


def test_clock_round_trip() -> None:
    assert zones.parse_clock("09:05") == 545
    assert zones.format_clock(545) == "09:05"


def test_next_clock_same_day_later_and_exact() -> None:
    at = parse_time("2026-03-02T08:00:00-05:00")  # Monday 08:00 in Bogota
    assert format_time(zones.next_clock(at, BOGOTA, 9 * 60)) == "2026-03-02T14:00:00Z"
    exact = parse_time("2026-03-02T09:00:00-05:00")
    assert zones.next_clock(exact, BOGOTA, 9 * 60) == exact
    after = exact + 1
    assert format_time(zones.next_clock(after, BOGOTA, 9 * 60)) == "2026-03-03T14:00:00Z"


def test_next_clock_on_weekdays_skips_the_weekend() -> None:
    friday_evening = parse_time("2026-03-06T18:00:00-05:00")
    moment = zones.next_clock(friday_evening, BOGOTA, 9 * 60, weekdays=True)
    assert format_time(moment) == "2026-03-09T14:00:00Z"  # Monday 09:00


def test_next_clock_across_spring_forward() -> None:
    # 2026-03-08: New York jumps from 02:00 EST to 03:00 EDT.
    before = parse_time("2026-03-07T12:00:00-05:00")
    nine = zones.next_clock(before + 16 * 3600, NEW_YORK, 9 * 60)
    assert format_time(nine) == "2026-03-08T13:00:00Z"  # 09:00 EDT
    # 02:30 does not exist that night: it lands just after the gap (03:30 EDT).
    gap = zones.next_clock(parse_time("2026-03-08T00:00:00-05:00"), NEW_YORK, 150)
    assert format_time(gap) == "2026-03-08T07:30:00Z"


def test_next_clock_across_fall_back_takes_the_first_occurrence() -> None:
    # 2026-11-01: 01:30 happens twice in New York; the first is 05:30Z (EDT).
    moment = zones.next_clock(parse_time("2026-11-01T00:00:00-04:00"), NEW_YORK, 90)
    assert format_time(moment) == "2026-11-01T05:30:00Z"


def test_window_across_midnight() -> None:
    start, end = zones.parse_clock("21:00"), zones.parse_clock("08:00")
    late = parse_time("2026-03-02T23:00:00-05:00")
    assert format_time(zones.window_end(late, BOGOTA, start, end) or 0) == "2026-03-03T13:00:00Z"
    early = parse_time("2026-03-03T07:59:00-05:00")
    assert format_time(zones.window_end(early, BOGOTA, start, end) or 0) == "2026-03-03T13:00:00Z"
    assert zones.window_end(parse_time("2026-03-03T08:00:00-05:00"), BOGOTA, start, end) is None
    assert zones.window_end(parse_time("2026-03-03T20:59:00-05:00"), BOGOTA, start, end) is None
    assert zones.window_end(late, BOGOTA, start, start) is None


def test_window_inside_one_day() -> None:
    start, end = zones.parse_clock("12:00"), zones.parse_clock("14:00")
    noon = parse_time("2026-03-03T12:30:00-05:00")
    assert format_time(zones.window_end(noon, BOGOTA, start, end) or 0) == "2026-03-03T19:00:00Z"
    assert zones.window_end(noon + 7200, BOGOTA, start, end) is None


def test_quiet_hours_end_across_a_dst_night() -> None:
    # Quiet 21:00-08:00 in New York on the spring-forward night: 08:00 EDT is 12:00Z.
    late = parse_time("2026-03-07T22:00:00-05:00")
    end = zones.window_end(late, NEW_YORK, 21 * 60, 8 * 60)
    assert format_time(end or 0) == "2026-03-08T12:00:00Z"


def test_local_midnight() -> None:
    assert format_time(zones.local_midnight(date(2026, 1, 1), BOGOTA)) == "2026-01-01T05:00:00Z"
