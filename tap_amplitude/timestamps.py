"""Amplitude export timestamps to RFC 3339 UTC, including the known colon-date repair."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

# The seven export fields that carry a UTC timestamp as "YYYY-MM-DD HH:MM:SS[.ffffff]".
TIMESTAMP_FIELDS: tuple[str, ...] = (
    "event_time",
    "client_event_time",
    "client_upload_time",
    "server_upload_time",
    "server_received_time",
    "processed_time",
    "user_creation_time",
)

# Amplitude's own layout; the date part may use ':' instead of '-' (May 2022 `processed_time`).
_AMPLITUDE_FORM = re.compile(
    r"(\d{4})[-:](\d{2})[-:](\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?"
)
_valid_dates: dict[str, bool] = {}
_CACHE_LIMIT = 100_000


def _is_real_date(year: str, month: str, day: str) -> bool:
    """Calendar check, cached: exports hold few distinct dates and many rows per date."""
    key = year + month + day
    known = _valid_dates.get(key)
    if known is None:
        try:
            dt.date(int(year), int(month), int(day))
            known = True
        except ValueError:
            known = False
        if len(_valid_dates) < _CACHE_LIMIT:
            _valid_dates[key] = known
    return known


# The usual layout, checked by one regex. Its `YYYY-MM-DD HH` part is validated once and cached
# as the RFC 3339 head `YYYY-MM-DDTHH` ("" when not a real date and hour): exports hold few
# distinct hours, so most values cost a match, a lookup and one string build.
_USUAL_FORM = re.compile(r"\d{4}-\d\d-\d\d [0-2]\d:[0-5]\d:[0-5]\d\.\d{6}", re.ASCII)
_heads: dict[str, str] = {}
# Recent conversions of the usual layout. One event often repeats a value in several fields
# (`server_received_time` = `server_upload_time`), and a batch of events shares its
# `client_upload_time` and each user its `user_creation_time`: a lookup beats a regex match.
_converted: dict[str, str] = {}
_CONVERTED_LIMIT = 65_536


def _head(prefix: str) -> str:
    """`YYYY-MM-DDTHH` for a `YYYY-MM-DD HH` prefix, or "" when it is not a real hour (cached)."""
    head = _heads.get(prefix)
    if head is None:
        real = prefix[11:13] < "24" and _is_real_date(prefix[:4], prefix[5:7], prefix[8:10])
        head = f"{prefix[:10]}T{prefix[11:13]}" if real else ""
        if len(_heads) < _CACHE_LIMIT:
            _heads[prefix] = head
    return head


def to_rfc3339(raw: str) -> str | None:
    """RFC 3339 UTC text for an Amplitude timestamp, or None when it is not a timestamp.

    Zone-less values are UTC (the Export API's documented convention). Values that already
    carry an offset are converted to UTC.
    """
    if _USUAL_FORM.fullmatch(raw) is not None:
        head = _head(raw[:13])
        return f"{head}{raw[13:]}+00:00" if head else None
    match = _AMPLITUDE_FORM.fullmatch(raw)
    if match is not None:
        year, month, day, hour, minute, second, fraction = match.groups()
        if (
            int(hour) > 23  # noqa: PLR2004
            or int(minute) > 59  # noqa: PLR2004
            or int(second) > 59  # noqa: PLR2004
            or not _is_real_date(year, month, day)
        ):
            return None
        if fraction and len(fraction) != 7:  # noqa: PLR2004  '.' + 6 digits
            fraction = fraction.ljust(7, "0")  # older parsers want microseconds
        return f"{year}-{month}-{day}T{hour}:{minute}:{second}{fraction or ''}+00:00"
    return _offset_form_to_utc(raw)


def _offset_form_to_utc(raw: str) -> str | None:
    """Slow path for ISO text with a zone (e.g. `...Z`, `...+02:00`)."""
    text = raw.strip()
    if len(text) < 19 or text[10] not in " T":  # noqa: PLR2004
        return None
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc).isoformat()


@dataclass
class TimestampReport:
    """Unparseable timestamps seen so far: counted per field, first example kept for the log."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, tuple[str | None, Any]] = field(default_factory=dict)

    def add(self, field_name: str, uuid: str | None, raw: Any) -> bool:
        """Count one bad value; True when it is the first for that field (worth a log line)."""
        first = field_name not in self.counts
        self.counts[field_name] = self.counts.get(field_name, 0) + 1
        if first:
            self.examples[field_name] = (uuid, raw)
        return first


def normalize_timestamps(record: dict[str, Any], report: TimestampReport) -> list[str]:
    """Rewrite the seven timestamp fields in place; bad values become null and are reported.

    Returns the names of fields that were nulled in this record (usually empty). The usual
    layout is handled inline: this runs for every exported event.
    """
    nulled: list[str] = []
    usual = _USUAL_FORM.fullmatch
    cached_head = _heads.get
    memo = _converted
    for name in TIMESTAMP_FIELDS:
        raw = record.get(name)
        if raw is None:
            continue
        if raw.__class__ is str:
            known = memo.get(raw)
            if known is not None:
                record[name] = known
                continue
            if usual(raw) is not None:
                head = cached_head(raw[:13])
                if head:
                    known = record[name] = f"{head}{raw[13:]}+00:00"
                    if len(memo) >= _CONVERTED_LIMIT:
                        memo.clear()
                    memo[raw] = known
                    continue
        if raw == "":
            record[name] = None
            continue
        converted = to_rfc3339(raw) if isinstance(raw, str) else None
        if converted is None:
            record[name] = None
            report.add(name, record.get("uuid"), raw)
            nulled.append(name)
        else:
            record[name] = converted
    return nulled
