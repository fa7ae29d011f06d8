"""Times and durations in and out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from engage.timeutil import coerce_time, format_duration, format_time, parse_time


def test_iso_forms() -> None:
    assert parse_time("2026-01-05T10:00:00Z") == datetime(2026, 1, 5, 10, tzinfo=UTC).timestamp()
    assert parse_time("2026-01-05T10:00:00") == parse_time("2026-01-05T10:00:00Z")
    assert parse_time("2026-01-05") == datetime(2026, 1, 5, tzinfo=UTC).timestamp()
    assert parse_time("2026-01-05T12:00:00+02:00") == parse_time("2026-01-05T10:00:00Z")


def test_coerce_accepts_numbers_and_datetimes() -> None:
    moment = datetime(2026, 1, 5, 5, tzinfo=timezone(timedelta(hours=-5)))
    assert coerce_time(moment) == parse_time("2026-01-05T10:00:00Z")
    assert coerce_time(1_700_000_000) == 1_700_000_000.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "yesterday", True, None, [], 1e20])
def test_coerce_refuses(bad: object) -> None:
    with pytest.raises(ValueError):
        coerce_time(bad)


def test_format() -> None:
    assert format_time(parse_time("2026-01-05T10:00:00Z")) == "2026-01-05T10:00:00Z"
    assert format_time(0.25) == "1970-01-01T00:00:00.250000Z"
    assert format_duration(2 * 86400) == "2 days"
    assert format_duration(3600) == "1 hour"
    assert format_duration(90) == "90 seconds"
