"""Export windows: whole UTC hours of `server_upload_time`, planned without touching the network.

Amplitude's `/api/2/export` takes `start` and `end` as inclusive hours (`YYYYMMDDTHH`). A window
here is the same thing: its first and last hour, both inclusive, so the next window starts one
hour after `end` and windows never overlap.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

HOUR = dt.timedelta(hours=1)
MAX_WINDOW_HOURS = 365 * 24  # the Export API's longest accepted range
DEFAULT_START = "30 days ago"  # where `start_date` (and `dashboard_start_date`) unset begin
UTC = dt.timezone.utc

_RELATIVE = re.compile(r"\s*(\d+)\s*(minute|hour|day|week)s?\s+ago\s*", re.IGNORECASE)
_HOUR_PARAM = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})")
_COLON_DATE = re.compile(r"(\d{4}):(\d{2}):(\d{2})([ T].*)")


def floor_hour(instant: dt.datetime) -> dt.datetime:
    """The start of the UTC hour holding `instant`."""
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_param(instant: dt.datetime) -> str:
    """The Export API's hour format, e.g. `20240102T05`."""
    return floor_hour(instant).strftime("%Y%m%dT%H")


def format_bookmark(hour: dt.datetime) -> str:
    """How a bookmark is stored in STATE: RFC 3339 UTC of the next hour to export."""
    return floor_hour(hour).isoformat()


def parse_instant(value: str, now: dt.datetime) -> dt.datetime:
    """A UTC instant from a setting or a bookmark, in any shape this tap has ever accepted.

    Accepted: relative (`30 days ago`, `6 hours ago`), ISO 8601 date or date-time (zone-less =
    UTC), the Export hour form `YYYYMMDDTHH`, and Amplitude's `YYYY-MM-DD HH:MM:SS[.ffffff]`
    including the `YYYY:MM:DD ...` colon-date variant.
    """
    text = value.strip()
    relative = _RELATIVE.fullmatch(text)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2).lower()
        return now.astimezone(UTC) - dt.timedelta(**{unit + "s": amount})
    hour_form = _HOUR_PARAM.fullmatch(text)
    if hour_form:
        year, month, day, hour = (int(part) for part in hour_form.groups())
        return _checked(value, lambda: dt.datetime(year, month, day, hour, tzinfo=UTC))
    colon = _COLON_DATE.fullmatch(text)
    if colon:
        text = f"{colon.group(1)}-{colon.group(2)}-{colon.group(3)}{colon.group(4)}"
    iso = text.replace("Z", "+00:00").replace("z", "+00:00")
    parsed = _checked(value, lambda: dt.datetime.fromisoformat(iso))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _checked(original: str, build: Callable[[], dt.datetime]) -> dt.datetime:
    """Run `build`, turning a ValueError into one that names the value and the accepted forms."""
    try:
        return build()
    except ValueError:
        msg = (
            f"cannot read {original!r} as a date-time: use ISO 8601 (`2024-01-31` or "
            "`2024-01-31T05:00:00Z`), `YYYYMMDDTHH`, or a relative value like `30 days ago`"
        )
        raise ValueError(msg) from None


def last_complete_hour(now: dt.datetime, lag_hours: int) -> dt.datetime:
    """The newest hour H whose data Amplitude has published: H + 1 h + lag <= now."""
    return floor_hour(now - dt.timedelta(hours=lag_hours + 1))


def last_hour_to_export(
    now: dt.datetime, lag_hours: int, end_date: dt.datetime | None = None
) -> dt.datetime:
    """The last hour a run may request: complete per the lag, and before `end_date` if set.

    `end_date` is exclusive: only hours that end at or before it are exported.
    """
    last = last_complete_hour(now, lag_hours)
    if end_date is not None:
        last = min(last, floor_hour(end_date) - HOUR)
    return last


def first_hour_to_export(
    start_date: dt.datetime, bookmark: dt.datetime | None, lookback_hours: int = 0
) -> dt.datetime:
    """Where a run starts: max(bookmark - lookback, start_date), floored to the hour."""
    first = floor_hour(start_date)
    if bookmark is not None:
        first = max(first, floor_hour(bookmark) - dt.timedelta(hours=lookback_hours))
    return first


@dataclass(frozen=True)
class Window:
    """One export request: `start` and `end` are the first and last hour, both included."""

    start: dt.datetime
    end: dt.datetime

    @property
    def hours(self) -> int:
        """How many hours the window spans."""
        return int((self.end - self.start) / HOUR) + 1

    @property
    def next_start(self) -> dt.datetime:
        """The hour after the window: where the next window (and the bookmark) begins."""
        return self.end + HOUR

    @property
    def params(self) -> dict[str, str]:
        """Query parameters for `/api/2/export`."""
        return {"start": hour_param(self.start), "end": hour_param(self.end)}

    @property
    def label(self) -> str:
        """Human-readable span for logs and errors, e.g. `20240101T00..20240101T23`."""
        if self.start == self.end:
            return hour_param(self.start)
        return f"{hour_param(self.start)}..{hour_param(self.end)}"


def next_window(cursor: dt.datetime, size_hours: int, last_hour: dt.datetime) -> Window | None:
    """The window from `cursor`: at most `size_hours` (and 365 days), never past `last_hour`."""
    start = floor_hour(cursor)
    if start > last_hour:
        return None
    size = max(1, min(size_hours, MAX_WINDOW_HOURS))
    return Window(start, min(start + (size - 1) * HOUR, last_hour))


def plan_windows(first: dt.datetime, last_hour: dt.datetime, size_hours: int) -> list[Window]:
    """Every window from `first` to `last_hour` at a fixed size (for logs and tests)."""
    planned: list[Window] = []
    cursor = first
    while (window := next_window(cursor, size_hours, last_hour)) is not None:
        planned.append(window)
        cursor = window.next_start
    return planned


def halved_size(window: Window) -> int:
    """The window size to use after Amplitude rejected `window` as too large."""
    return max(1, window.hours // 2)
