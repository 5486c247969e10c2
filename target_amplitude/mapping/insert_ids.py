"""Deterministic `insert_id`s, so a re-run of the same sync is absorbed by Amplitude's dedupe.

Amplitude ignores an event whose `insert_id` it saw (per device) within 7 days. A random id would
defeat that on every retry and every re-run, so the id is a hash of what identifies the row:
the stream, its key properties (or the whole record when it has none), the event type and time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any

import orjson

INSERT_ID_HEX_CHARS = 32  # 128 bits: collisions are out of reach, and far below MAX_STRING_LENGTH


def _json_default(value: Any) -> Any:
    """Canonical forms for values orjson does not encode itself."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return repr(value)


def canonical_json(value: Any) -> bytes:
    """Sorted-key JSON: the same record always hashes the same, whatever its key order."""
    return orjson.dumps(
        value, default=_json_default, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    )


def derive_insert_id(
    stream: str,
    identity: Any,
    event_type: str | None,
    time_ms: int | None,
) -> str:
    """Hex digest of (stream, identity, event_type, time_ms).

    `identity` is the key-property values (a list) or the whole record; pass the record before any
    field the target adds, so the id does not change between runs.
    """
    digest = hashlib.sha256(canonical_json([stream, identity, event_type, time_ms]))
    return digest.hexdigest()[:INSERT_ID_HEX_CHARS]
