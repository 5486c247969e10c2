"""Make payload values JSON-ready the way Amplitude would take them, fast in the common case.

Long strings are truncated to MAX_STRING_LENGTH characters (Amplitude truncates them anyway),
Decimals become numbers and dates ISO strings; values JSON cannot carry, and objects nested deeper
than MAX_DEPTH levels, are refused. Property bags are first checked at C speed (one orjson
encode); only a bag in doubt gets the exact walk.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal
from typing import Any

import orjson

from target_amplitude.amplitude import MAX_DEPTH, MAX_STRING_LENGTH
from target_amplitude.validation.reasons import TOO_DEEP, UNSERIALIZABLE_VALUE, RecordCheckError

# A JSON string literal longer than the limit, in encoded bytes (never fewer than its characters).
_LONG_STRING = re.compile(rb'"(?:[^"\\]|\\.){%d,}"' % (MAX_STRING_LENGTH + 1))


class JsonReadiness:
    """Cleans payloads in place and counts the strings it truncated."""

    def __init__(self) -> None:
        """Start counting."""
        self.truncated_strings = 0

    def clean_top_level(self, payload: dict[str, Any]) -> None:
        """Make every value JSON-ready: truncate long strings, convert Decimals and datetimes."""
        for key, value in payload.items():
            kind = type(value)
            if kind is str:
                if len(value) > MAX_STRING_LENGTH:
                    payload[key] = self._truncate(value)
                continue
            if kind is int or value is None or kind is bool:
                continue
            if (kind is dict or kind is list) and plainly_json(value):
                continue
            cleaned = self.clean(key, value, 0)
            if cleaned is not value:
                payload[key] = cleaned

    def clean(self, path: str, value: Any, depth: int) -> Any:
        """The value made JSON-ready; returns the same object when nothing needed changing."""
        kind = type(value)
        if kind is str:
            return value if len(value) <= MAX_STRING_LENGTH else self._truncate(value)
        if kind is int or kind is bool or value is None:
            return value
        if kind is float:
            return _finite(path, value)
        if kind is dict:
            return self._clean_dict(path, value, depth)
        if kind is list or kind is tuple:
            return self._clean_list(path, value, depth)
        return self._clean_other(path, value)

    def _truncate(self, value: str) -> str:
        self.truncated_strings += 1
        return value[:MAX_STRING_LENGTH]

    def _clean_dict(self, path: str, value: dict[Any, Any], depth: int) -> dict[Any, Any]:
        if depth >= MAX_DEPTH:
            raise RecordCheckError(TOO_DEEP, path, f"nested deeper than {MAX_DEPTH} levels")
        changed: dict[Any, Any] | None = None
        for key, item in value.items():
            cleaned = self.clean(f"{path}.{key}", item, depth + 1)
            if cleaned is not item:
                if changed is None:
                    changed = dict(value)
                changed[key] = cleaned
        return value if changed is None else changed

    def _clean_list(self, path: str, value: list[Any] | tuple[Any, ...], depth: int) -> Any:
        if depth >= MAX_DEPTH:
            raise RecordCheckError(TOO_DEEP, path, f"nested deeper than {MAX_DEPTH} levels")
        cleaned = [self.clean(path, item, depth + 1) for item in value]
        if type(value) is list and all(a is b for a, b in zip(cleaned, value, strict=True)):
            return value
        return cleaned

    def _clean_other(self, path: str, value: Any) -> Any:
        if isinstance(value, Decimal):
            number = float(value)
            return int(number) if value == value.to_integral_value() else number
        if isinstance(value, (dt.datetime, dt.date, dt.time)):
            return value.isoformat()
        if isinstance(value, (str, int, float)):  # subclasses (enums and the like)
            return self.clean(path, value, 0)
        raise RecordCheckError(
            UNSERIALIZABLE_VALUE, path, f"{type(value).__name__} values cannot be sent as JSON"
        )


def plainly_json(value: dict[str, Any] | list[Any]) -> bool:
    """Fast path (C speed): JSON-encodable, shallow enough, no string over the limit.

    Anything in doubt returns False and gets the exact (slower) walk.
    """
    try:
        encoded = orjson.dumps(value)
    except TypeError:  # Decimal, bytes, ...: the walk converts or names them
        return False
    if encoded.count(b"{") + encoded.count(b"[") > MAX_DEPTH:
        return False
    return len(encoded) <= MAX_STRING_LENGTH or _LONG_STRING.search(encoded) is None


def _finite(path: str, value: float) -> float:
    if not math.isfinite(value):
        raise RecordCheckError(UNSERIALIZABLE_VALUE, path, f"{value!r} is not valid JSON")
    return value
