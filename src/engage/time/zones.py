"""Local time: time zones, wall-clock times of day and windows that span midnight.

The engine's clock is UTC epoch seconds; rule authors think in the contact's local time
("the next 09:00", "quiet hours 21:00 to 08:00", "from 2026-01-01"). This module alone
turns one into the other, through :mod:`zoneinfo` (with the ``tzdata`` package, so a
machine without a system zone database works too).

Daylight-saving changes follow one rule everywhere: a local time that does not exist
(02:30 on a spring-forward night) is read with the offset in force before the gap, so it
lands just after the gap (03:30); a local time that happens twice (01:30 on a fall-back
night) is its first occurrence. Costs: a cached zone lookup, and one or two
``datetime`` conversions per call (a few microseconds): these run per wait or per send,
never per event.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: The zone of contacts, flows and policies that name none.
DEFAULT_ZONE: Final = "UTC"

#: A wall-clock search never needs more than a week and a day (weekdays, DST).
_SEARCH_DAYS: Final = 9


@functools.lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The zone called ``name`` (``"America/Bogota"``, ``"UTC"``).

    Raises:
        ValueError: no such zone.
    """
    if not isinstance(name, str) or not name or len(name) > 64 or ".." in name:
        raise ValueError(f"not a time zone: {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r}") from None


def is_zone(name: object) -> bool:
    """Whether ``name`` names a known time zone."""
    if not isinstance(name, str):
        return False
    try:
        zone(name)
    except ValueError:
        return False
    return True


def parse_clock(text: str) -> int:
    """``"09:00"`` as minutes after midnight (540).

    Raises:
        ValueError: not ``HH:MM`` with HH 00-23 and MM 00-59.
    """
    hours, sep, minutes = text.partition(":")
    if not sep or len(hours) != 2 or len(minutes) != 2:
        raise ValueError(f"not a time of day (HH:MM): {text!r}")
    if not (hours.isdigit() and minutes.isdigit()):
        raise ValueError(f"not a time of day (HH:MM): {text!r}")
    h, m = int(hours), int(minutes)
    if h > 23 or m > 59:
        raise ValueError(f"not a time of day (HH:MM): {text!r}")
    return h * 60 + m


def format_clock(minutes: int) -> str:
    """540 as ``"09:00"``."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _local(moment: float, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(moment, tz)


def _epoch(day: date, minutes: int, tz: ZoneInfo) -> float:
    """The moment a wall clock in ``tz`` shows ``minutes`` after midnight on ``day``
    (the rule of the module's docstring for gaps and repeats)."""
    wall = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=tz)
    return wall.timestamp()


def local_midnight(day: date, tz: ZoneInfo) -> float:
    """The moment ``day`` begins in ``tz`` (``from 2026-01-01`` of a flow)."""
    return _epoch(day, 0, tz)


def minutes_of_day(moment: float, tz: ZoneInfo) -> int:
    """The local wall-clock time of ``moment``, in minutes after midnight."""
    local = _local(moment, tz)
    return local.hour * 60 + local.minute


def next_clock(moment: float, tz: ZoneInfo, minutes: int, *, weekdays: bool = False) -> float:
    """The first moment at or after ``moment`` when the wall clock in ``tz`` shows
    ``minutes`` after midnight (on a Monday to Friday when ``weekdays``).

    ``wait until 09:00`` at 09:00 sharp goes on at once; at 09:00:01 it waits a day.
    """
    start = _local(moment, tz).date()
    for offset in range(_SEARCH_DAYS):
        day = start + timedelta(days=offset)
        if weekdays and day.weekday() >= 5:
            continue
        candidate = _epoch(day, minutes, tz)
        if candidate >= moment:
            return candidate
    raise AssertionError("a wall-clock time always comes within nine days")  # pragma: no cover


def window_end(moment: float, tz: ZoneInfo, start: int, end: int) -> float | None:
    """If the local time of ``moment`` is inside the daily window [start, end) (minutes
    after midnight; a window with ``start > end`` spans midnight), the moment the window
    ends; else None. A window with ``start == end`` is empty.

    ``quiet hours 21:00 to 08:00``: at 23:00 the answer is the next 08:00; at 07:59 it is
    08:00 the same day; at 08:00 it is None.
    """
    if start == end:
        return None
    now = minutes_of_day(moment, tz)
    inside = start <= now < end if start < end else now >= start or now < end
    if not inside:
        return None
    return next_clock(moment, tz, end)

