"""Dashboard REST daily series (`active_users`, `average_session_length`), a row per day+group.

Dates are in the **project's time zone**. Each run re-reads `dashboard_lookback_days` before the
bookmark, because recent figures still change; day windows of 30 days page through the range.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from singer_sdk import typing as th
from singer_sdk.pagination import BaseAPIPaginator

from tap_amplitude.client import AmplitudeStream
from tap_amplitude.windows import parse_instant

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import requests
    from singer_sdk.helpers.types import Context

DEFAULT_HISTORY_DAYS = 30
SERIES_WINDOW_DAYS = 30
PROJECT_TZ_NOTE = "project time zone (Dashboard REST); exports are UTC"


class DayWindowPaginator(BaseAPIPaginator[int]):
    """Walks [first, last] in windows of `window_days`; a token is a window's first day ordinal."""

    def __init__(self, first: dt.date, last: dt.date, window_days: int) -> None:
        """Start at `first`."""
        super().__init__(first.toordinal())
        self.last_ordinal = last.toordinal()
        self.window_days = window_days

    def continue_if_empty(self, response: requests.Response) -> bool:  # noqa: ARG002
        """An all-zero window says nothing about the next one."""
        return True

    def get_next(self, response: requests.Response) -> int | None:  # noqa: ARG002
        """First day of the next window, or None past `last`."""
        following = self.current_value + self.window_days
        return following if following <= self.last_ordinal else None

    def window(self, token: int) -> tuple[dt.date, dt.date]:
        """The (first, last) days of the window that starts at `token`."""
        end = min(token + self.window_days - 1, self.last_ordinal)
        return dt.date.fromordinal(token), dt.date.fromordinal(end)


class DailySeriesStream(AmplitudeStream):
    """A Dashboard REST daily series turned into one row per (date, group).

    Incremental on `date` (project time zone). Each run re-reads `dashboard_lookback_days`
    before the bookmark, because today's and recent figures still change.
    """

    replication_key = "date"
    is_sorted = True
    check_sorted = False  # the lookback re-reads days before the bookmark, by design
    primary_keys = ("date", "group")
    records_jsonpath = "$.data"
    skip_on_forbidden = True
    metric: str = "value"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Paging state for the current context."""
        super().__init__(*args, **kwargs)
        self._paginator: DayWindowPaginator | None = None

    def date_range(self, context: Context | None) -> tuple[dt.date, dt.date]:
        """First and last day to request: bookmark minus lookback, never before `start_date`."""
        now = dt.datetime.now(dt.timezone.utc)
        last = now.date()
        if self.config.get("dashboard_end_date"):
            last = min(last, parse_instant(str(self.config["dashboard_end_date"]), now).date())
        floor_text = self.config.get("dashboard_start_date") or self.config.get("start_date")
        floor = parse_instant(str(floor_text), now).date() if floor_text else None
        starting = self.get_starting_replication_key_value(context)
        if starting and starting != self.config.get("start_date"):  # a bookmark, not the setting
            lookback = int(self.config["dashboard_lookback_days"])
            first = dt.date.fromisoformat(series_day(starting, self.name)) - dt.timedelta(
                days=lookback
            )
        else:
            first = floor or last - dt.timedelta(days=DEFAULT_HISTORY_DAYS)
        if floor:
            first = max(first, floor)
        return first, last

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Rows of every day window from the start day to today."""
        first, last = self.date_range(context)
        if first > last:
            return
        self._paginator = DayWindowPaginator(first, last, SERIES_WINDOW_DAYS)
        yield from super().get_records(context)

    def get_new_paginator(self) -> DayWindowPaginator:
        """The paginator `get_records` prepared for the current sync."""
        if self._paginator is None:
            self._paginator = DayWindowPaginator(*self.date_range(None), SERIES_WINDOW_DAYS)
        return self._paginator

    def get_url_params(
        self,
        context: Context | None,  # noqa: ARG002
        next_page_token: int | None,
    ) -> dict:
        """`start`/`end` (YYYYMMDD) of the current window."""
        paginator = self.get_new_paginator()
        first, last = paginator.window(next_page_token or paginator.current_value)
        return {"start": first.strftime("%Y%m%d"), "end": last.strftime("%Y%m%d")}

    def parse_response(self, response: requests.Response) -> Iterator[dict[str, Any]]:
        """One row per day and group, days ascending."""
        data = response.json().get("data") or {}
        group_by = self.group_by
        for day, group, value in series_rows(data):
            yield {
                "date": series_day(day, self.name),
                "group": group,
                "group_by": group_by,
                self.metric: value,
            }

    @property
    def group_by(self) -> str | None:
        """The group-by property sent to Amplitude, if any."""
        return None

    @property
    def bad_request_hint(self) -> str:
        """The settings behind the request's dates."""
        return "Check `dashboard_start_date`, `dashboard_end_date` and `start_date`."


def _series_schema(metric: str, metric_type: type[th.JSONTypeHelper], about: str) -> dict[str, Any]:
    return th.PropertiesList(
        th.Property("date", th.DateType, required=True, description=f"Day, {PROJECT_TZ_NOTE}."),
        th.Property(
            "group",
            th.StringType,
            required=True,
            description="Group (segment) label; `(all)` without a group-by.",
        ),
        th.Property("group_by", th.StringType, description="The group-by property, if any."),
        th.Property(metric, metric_type, description=about),
    ).to_dict()


class ActiveUsersStream(DailySeriesStream):
    """Daily active users (`/api/2/users?m=active&i=1`), optionally grouped by a property."""

    name = "active_users"
    path = "/api/2/users"
    metric = "active_users"
    schema = _series_schema("active_users", th.IntegerType, "Active users that day.")

    @property
    def group_by(self) -> str | None:
        """`active_users_group_by` (no group-by unless configured)."""
        return self.config.get("active_users_group_by") or None

    @property
    def bad_request_hint(self) -> str:
        """The group-by is the usual culprit (some projects reject `country`)."""
        if self.group_by:
            return (
                f"Check `active_users_group_by` ({self.group_by!r}): the project may not know "
                "that property; leave it unset for one series."
            )
        return super().bad_request_hint

    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict:
        """Active users, daily, plus the optional group-by."""
        params = super().get_url_params(context, next_page_token)
        params.update({"m": "active", "i": 1})
        if self.group_by:
            params["g"] = self.group_by
        return params


class AverageSessionLengthStream(DailySeriesStream):
    """Average session length per day in seconds (`/api/2/sessions/average`)."""

    name = "average_session_length"
    path = "/api/2/sessions/average"
    metric = "average_session_length_seconds"
    schema = _series_schema(
        "average_session_length_seconds", th.NumberType, "Average session length, seconds."
    )


def series_day(value: Any, stream: str) -> str:
    """An x-value or bookmark as `YYYY-MM-DD`: real projects send `2024-07-01T00:00:00` too."""
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text[:10]).isoformat()
    except ValueError as exc:
        msg = f"{stream}: cannot read {value!r} as a day (expected YYYY-MM-DD[THH:MM:SS])"
        raise ValueError(msg) from exc


def series_rows(data: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(date, group, value) from Amplitude's {series, seriesLabels|seriesMeta, xValues}, by date."""
    days: list[str] = [str(day) for day in data.get("xValues") or []]
    series: list[list[Any]] = data.get("series") or []
    labels: list[Any] = data.get("seriesLabels") or data.get("seriesMeta") or []
    if series and len(series) == len(days) != len(series[0]) == len(labels):
        series = [list(column) for column in zip(*series, strict=True)]  # day-major: transpose
    names = [
        _group_name(labels[i] if i < len(labels) else None, i, len(series))
        for i in range(len(series))
    ]
    for day_index, day in enumerate(days):
        for group_index, values in enumerate(series):
            if day_index < len(values):
                yield day, names[group_index], _number(values[day_index])


def _group_name(label: Any, index: int, groups: int) -> str:
    """Readable group label: a string label, the last element of a list, or `(all)`."""
    if isinstance(label, list) and label:
        label = label[-1]
    if isinstance(label, dict):
        label = label.get("label") or label.get("value")
    if isinstance(label, str) and label:
        return label
    return "(all)" if groups == 1 else f"segment {index}"


def _number(value: Any) -> Any:
    """Amplitude sometimes wraps a day's value as {"value": n} or {label: n}."""
    if isinstance(value, dict):
        inner = value.get("value", next(iter(value.values()), None))
        return _number(inner)
    return value
