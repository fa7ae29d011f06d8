"""The report's time axis: buckets of a day, a week or a month, chosen by the span.

The replay samples the engine at every UTC midnight (cheap: a few indexed counts per
day); once the span is known, the days are grouped into the buckets shown. A bucket
is half-open, ``[start, end)``, and starts at a UTC midnight (weeks on Mondays, months
on the 1st); the last one ends at the report's clock and holds what happened at that
moment too. Quantities "over time" are sampled at each bucket's end.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime
from typing import Final, Literal

import attrs

from engage.timeutil import format_time

DAY: Final = 86_400.0
Unit = Literal["day", "week", "month"]

#: The longest span shown per day, then per week; longer spans are shown per month.
DAYS_SHOWN_PER_DAY: Final = 31
DAYS_SHOWN_PER_WEEK: Final = 26 * 7


def day_of(moment: float) -> int:
    """The UTC day number (days since 1970-01-01) of an epoch time."""
    return int(moment // DAY)


def unit_for(first: float, last: float) -> Unit:
    """The bucket size for a span: a day up to a month, a week up to half a year."""
    days = (last - first) / DAY
    if days <= DAYS_SHOWN_PER_DAY:
        return "day"
    if days <= DAYS_SHOWN_PER_WEEK:
        return "week"
    return "month"


def unit_start(day: int, unit: Unit) -> int:
    """The first day of the bucket of ``unit`` that holds ``day``."""
    if unit == "day":
        return day
    if unit == "week":
        return day - (day + 3) % 7  # 1970-01-01 was a Thursday; weeks start on Monday
    date = datetime.fromtimestamp(day * DAY, UTC)
    return day_of(datetime(date.year, date.month, 1, tzinfo=UTC).timestamp())


def next_unit_start(day: int, unit: Unit) -> int:
    """The first day of the bucket after the one that holds ``day``."""
    if unit == "day":
        return day + 1
    if unit == "week":
        return unit_start(day, unit) + 7
    date = datetime.fromtimestamp(day * DAY, UTC)
    year, month = (date.year + 1, 1) if date.month == 12 else (date.year, date.month + 1)
    return day_of(datetime(year, month, 1, tzinfo=UTC).timestamp())


@attrs.frozen
class Bucket:
    """One bucket: its first day, and the moment it ends (where samples are taken).

    ``end_day`` is the midnight that closes it, or None for the last bucket, which
    ends at the clock.
    """

    start_day: int
    end: float
    end_day: int | None

    def to_dict(self) -> dict[str, str]:
        return {
            "start": format_time(self.start_day * DAY)[:10],
            "end": format_time(self.end),
        }


@attrs.frozen
class Timeline:
    """The buckets from the first event to the clock, and where a time falls."""

    unit: Unit
    buckets: tuple[Bucket, ...]
    starts: tuple[int, ...] = attrs.field(init=False)

    @starts.default
    def _starts(self) -> tuple[int, ...]:
        return tuple(bucket.start_day for bucket in self.buckets)

    @classmethod
    def spanning(cls, first: float, last: float) -> Timeline:
        """Buckets from ``first`` to ``last`` (epoch seconds); O(number of buckets)."""
        unit = unit_for(first, last)
        buckets = []
        start = unit_start(day_of(first), unit)
        while True:
            end_day = next_unit_start(start, unit)
            if end_day * DAY >= last:
                buckets.append(Bucket(start, last, None))
                break
            buckets.append(Bucket(start, end_day * DAY, end_day))
            start = end_day
        return cls(unit, tuple(buckets))

    def index_of_day(self, day: int) -> int:
        """The bucket that holds a day (days past the clock go to the last one);
        O(log buckets)."""
        return max(bisect.bisect_right(self.starts, day) - 1, 0)

    def to_list(self) -> list[dict[str, str]]:
        return [bucket.to_dict() for bucket in self.buckets]
