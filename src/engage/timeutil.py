"""Moments and durations: parsing and printing, in one place.

Inside the engine a moment is a float: seconds since the Unix epoch, UTC. Floats keep the
hot path free of datetime objects; they are turned back into ISO-8601 text only when an
action or a dump is written.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Final

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

#: Seconds in each duration unit the language accepts (singular and plural).
DURATION_UNITS: Final[dict[str, int]] = {
    "second": 1,
    "seconds": 1,
    "minute": 60,
    "minutes": 60,
    "hour": 3600,
    "hours": 3600,
    "day": 86400,
    "days": 86400,
    "week": 7 * 86400,
    "weeks": 7 * 86400,
    "month": 30 * 86400,
    "months": 30 * 86400,
    "year": 365 * 86400,
    "years": 365 * 86400,
}

#: Moments outside these bounds are refused: they are typos or hostile input, and they
#: keep float arithmetic (decay, windows) far away from overflow.
MIN_TIME: Final = -62135596800.0  # 0001-01-01T00:00:00Z
MAX_TIME: Final = 253402300799.0  # 9999-12-31T23:59:59Z
#: How far after the host's clock an event time may be, by default (a device with a
#: wrong clock must not move the engine's clock to 2099 for everyone).
DEFAULT_MAX_FUTURE: Final = 86_400.0


def parse_time(text: str) -> float:
    """Parse an ISO-8601 moment; a moment without zone is UTC.

    Accepts ``2026-01-01``, ``2026-01-01T09:00``, ``2026-01-01T09:00:00Z``,
    ``2026-01-01 09:00:00+02:00`` and fractions of a second.

    Raises:
        ValueError: the text is not such a moment.
    """
    if not isinstance(text, str) or not text or len(text) > 64:
        raise ValueError(f"not an ISO-8601 time: {text!r}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO-8601 time: {text!r}") from None
    return datetime_to_epoch(moment)


def datetime_to_epoch(moment: datetime) -> float:
    """Seconds since the epoch of a datetime; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return delta.days * 86400.0 + delta.seconds + delta.microseconds / 1e6


def coerce_time(value: object) -> float:
    """Turn an event's ``at`` (ISO text, datetime, or epoch seconds) into epoch seconds.

    Raises:
        ValueError: the value is none of those, or is not finite, or is out of range.
    """
    if value.__class__ is float:  # the common case first, without the isinstance chain
        seconds: float = value
    elif isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = parse_time(value)
    elif isinstance(value, datetime):
        seconds = datetime_to_epoch(value)
    else:
        raise ValueError(f"not a time: {value!r}")
    if not MIN_TIME <= seconds <= MAX_TIME:  # also refuses NaN and infinities
        raise ValueError(f"time out of range: {value!r}")
    return seconds


def epoch_to_datetime(seconds: float) -> datetime:
    """The aware UTC datetime of an epoch moment."""
    return _EPOCH + timedelta(seconds=seconds)


def format_time(seconds: float) -> str:
    """ISO-8601 UTC with a ``Z``: whole seconds, or microseconds when there is a fraction."""
    whole = math.floor(seconds)
    micros = round((seconds - whole) * 1e6)
    if micros >= 1_000_000:
        whole += 1
        micros -= 1_000_000
    moment = _EPOCH + timedelta(seconds=whole)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if micros:
        text += f".{micros:06d}"
    return text + "Z"


def duration_seconds(amount: float, unit: str) -> float:
    """Seconds in ``amount`` ``unit`` (``days``, ``hours``...).

    Raises:
        KeyError: the unit is not one of :data:`DURATION_UNITS`.
    """
    return float(amount) * DURATION_UNITS[unit]


def format_duration(seconds: float) -> str:
    """A short human form of a duration, in the largest unit that divides it."""
    for unit, size in (("weeks", 604800), ("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit[:-1] if count == 1 else unit}"
    count_s = int(seconds) if float(seconds).is_integer() else seconds
    return f"{count_s} second" if count_s == 1 else f"{count_s} seconds"


_SHORT_UNITS: Final = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> float:
    """Seconds in a duration written for a command line: ``90s``, ``5m``, ``2h``,
    ``1d``, ``1w``, a bare number of seconds, or the language's ``2 hours``.

    Raises:
        ValueError: not a duration, or negative.
    """
    cleaned = text.strip().lower()
    amount_text, unit = cleaned, "s"
    if cleaned and cleaned[-1] in _SHORT_UNITS:
        amount_text, unit = cleaned[:-1], cleaned[-1]
    parts = cleaned.split()
    try:
        if len(parts) == 2:
            seconds = duration_seconds(float(parts[0]), parts[1])
        else:
            seconds = float(amount_text) * _SHORT_UNITS[unit]
    except (KeyError, ValueError):
        raise ValueError(f"not a duration: {text!r} (write 90s, 5m, 2h, 1d or '2 hours')") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be zero or more: {text!r}")
    return seconds
