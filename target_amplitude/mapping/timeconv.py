"""Turn the time values warehouses and taps emit into Amplitude's integer epoch milliseconds.

Amplitude answers 400 for any `time` that is not an integer of milliseconds, so every accepted
shape is normalised here: ISO 8601 strings (with or without offset, `Z`, space separator, date
only), `datetime`/`date` objects, epoch seconds and epoch milliseconds (told apart by magnitude),
and digit-only strings of either.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

from singer_amplitude.epoch import EPOCH_MS_THRESHOLD

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
ONE_MS = dt.timedelta(milliseconds=1)


class TimeParseError(ValueError):
    """A value that is not a time in any accepted shape."""


def datetime_to_ms(value: dt.datetime) -> int:
    """Exact epoch milliseconds of a datetime (naive means UTC); no float rounding."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return (value - EPOCH) // ONE_MS


def number_to_ms(value: float) -> int:
    """Epoch seconds or milliseconds (auto-detected by magnitude) as integer milliseconds."""
    if not math.isfinite(value):
        raise TimeParseError(f"{value!r} is not a finite epoch number")
    if abs(value) >= EPOCH_MS_THRESHOLD:
        return int(value)
    return round(value * 1000)


def _parse_string(text: str) -> int:
    stripped = text.strip()
    if not stripped:
        raise TimeParseError("empty string")
    digits = stripped[1:] if stripped[0] in "+-" else stripped
    if digits.isdigit():
        return number_to_ms(int(stripped))
    if digits.replace(".", "", 1).isdigit():
        return number_to_ms(float(stripped))
    candidate = stripped
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(candidate)
    except ValueError as exc:
        raise TimeParseError(f"{text!r} is not an ISO 8601 date/time or an epoch number") from exc
    return datetime_to_ms(parsed)


def to_epoch_ms(value: object) -> int:
    """Epoch milliseconds for any accepted time shape; raises TimeParseError otherwise."""
    if isinstance(value, str):
        return _parse_string(value)
    if isinstance(value, bool):
        raise TimeParseError(f"{value!r} is a boolean, not a time")
    if isinstance(value, int):
        return number_to_ms(value)
    if isinstance(value, (float, Decimal)):
        return number_to_ms(float(value))
    if isinstance(value, dt.datetime):
        return datetime_to_ms(value)
    if isinstance(value, dt.date):
        return datetime_to_ms(
            dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
        )
    raise TimeParseError(f"{type(value).__name__} value {value!r} is not a time")
