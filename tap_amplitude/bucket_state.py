"""Bucket-mode bookmarks: the first upload hour not yet done, plus the objects read recently.

STATE of a bucket-read stream holds
- `replication_key_value`: the first hour not yet done (RFC 3339 UTC), as the Export API stream
  stores it, so switching `events_source` keeps the position;
- `bucket_seen`: `{hour: {object name: ETag/generation}}` for the hours inside the re-read window
  only, so a rewritten or late object is read again and nothing else is, and STATE stays small.

An hour is done when it has a data object, has a `complete` marker, or is older than the re-read
window (`bucket_lookback_hours` before the current hour): an hour without a file and without a
marker may still be written, so the bookmark waits before it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tap_amplitude.windows import HOUR, floor_hour, format_bookmark, parse_instant

if TYPE_CHECKING:
    from tap_amplitude.bucket_layout import ExportObject

SEEN_KEY = "bucket_seen"


@dataclass(frozen=True)
class ScanPlan:
    """The hours one run lists and reads, and the hour before which hours are settled."""

    first: dt.datetime
    last: dt.datetime
    settled_before: dt.datetime  # hours before it are older than the re-read window

    def hours(self, day: dt.date) -> list[dt.datetime]:
        """The planned hours of one UTC day, in order."""
        start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
        return [
            hour
            for hour in (start + step * HOUR for step in range(24))
            if self.first <= hour <= self.last
        ]


def plan_scan(
    next_hour: dt.datetime,
    now: dt.datetime,
    lookback_hours: int,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> ScanPlan:
    """From min(bookmark, now - lookback) (never before `start`) to the last finished hour.

    The current hour is still being uploaded, so the last hour is the one before it; `end`
    (exclusive, like `end_date`) can stop earlier.
    """
    current = floor_hour(now)
    settled_before = current - lookback_hours * HOUR
    first = min(floor_hour(next_hour), settled_before)
    if start is not None:
        first = max(first, floor_hour(start))
    last = current - HOUR
    if end is not None:
        last = min(last, floor_hour(end) - HOUR)
    return ScanPlan(first=first, last=last, settled_before=settled_before)


@dataclass
class BucketBookmark:
    """The stream's bucket position, read from and written back to its STATE dict."""

    next_hour: dt.datetime
    seen: dict[str, dict[str, str]] = field(default_factory=dict)
    blocked: bool = False  # an earlier hour of this run is not done: the bookmark stays

    @classmethod
    def from_state(
        cls, state: dict[str, Any], default_start: dt.datetime, now: dt.datetime
    ) -> BucketBookmark:
        """The bookmark in `state`, or `default_start` on a first run."""
        value = state.get("replication_key_value")
        next_hour = floor_hour(parse_instant(str(value), now)) if value else default_start
        raw_seen = state.get(SEEN_KEY) or {}
        seen = {
            str(hour): {str(name): str(version) for name, version in names.items()}
            for hour, names in raw_seen.items()
            if isinstance(names, dict)
        }
        return cls(next_hour=floor_hour(next_hour), seen=seen)

    def start_at(self, first: dt.datetime) -> None:
        """A raised `start_date` wins over an older bookmark."""
        self.next_hour = max(self.next_hour, first)

    def is_new(self, obj: ExportObject) -> bool:
        """True when this object (or this version of it) has not been read yet."""
        return self.seen.get(format_bookmark(obj.hour), {}).get(obj.name) != obj.version

    def remember(self, obj: ExportObject) -> None:
        """Record that every row of this version of the object was emitted."""
        self.seen.setdefault(format_bookmark(obj.hour), {})[obj.name] = obj.version

    def close_hour(self, hour: dt.datetime, *, done: bool) -> bool:
        """Move the bookmark past `hour` when it and every earlier hour are done.

        Hours arrive in order; the first hour that is not done holds the bookmark for the rest
        of the run. Returns True when the bookmark moved.
        """
        if self.blocked or hour < self.next_hour:
            return False
        if not done:
            self.blocked = True
            return False
        self.next_hour = hour + HOUR
        return True

    def prune(self, settled_before: dt.datetime) -> None:
        """Forget objects of hours that no later run will list again."""
        horizon = min(self.next_hour, settled_before)
        self.seen = {
            hour: names
            for hour, names in self.seen.items()
            if parse_instant(hour, horizon) >= horizon
        }

    def write(self, state: dict[str, Any], replication_key: str) -> None:
        """Store the bookmark in the stream's STATE dict."""
        state["replication_key"] = replication_key
        state["replication_key_value"] = format_bookmark(self.next_hour)
        state[SEEN_KEY] = {hour: dict(names) for hour, names in sorted(self.seen.items())}
