"""User Search -> User Activity / User Profiles: one Amplitude user at a time, under one quota.

`user_search` has one partition per configured search term; each match (and each configured
`amplitude_ids` entry) becomes a child context `{"amplitude_id": N}` for `user_activity` and
`user_profiles`. Both endpoints share Amplitude's 360 requests/hour quota, enforced by one
`SlidingWindowThrottle` per tap run.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import urllib.parse
from importlib import resources
from typing import TYPE_CHECKING, Any

from singer_sdk import typing as th
from singer_sdk.exceptions import AbortedSyncFailedException, AbortedSyncPausedException
from singer_sdk.pagination import BaseAPIPaginator

from tap_amplitude.client import AmplitudeStream
from tap_amplitude.timestamps import TimestampReport, normalize_timestamps, to_rfc3339
from tap_amplitude.user_run import USER_ACTIVITY_PATH, USER_SEARCH_PATH, UserRun, user_run

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import requests
    from singer_sdk.helpers.types import Context

    from tap_amplitude.throttle import SlidingWindowThrottle

MAX_ACTIVITY_PAGE_SIZE = 1000
USER_API_MAX_TRIES = 8  # waits of 2..120 s: about four minutes before giving up


class UserApiStream(AmplitudeStream):
    """A stream on the User Search / User Activity endpoints: every request passes the quota."""

    def backoff_max_tries(self) -> int:
        """More patience than the default 5: a spent hourly quota answers 429 for a while."""
        return USER_API_MAX_TRIES

    @property
    def run(self) -> UserRun:
        """Shared state of the user streams."""
        return user_run(self._tap)

    @property
    def request_throttle(self) -> SlidingWindowThrottle:
        """The run's user-API quota (default 360 requests per hour)."""
        return self.run.throttle


class UserSearchStream(UserApiStream):
    """Matches of each configured search term (`/api/2/usersearch`); full table.

    `nomatch` yields no row and a log line. Configured `amplitude_ids` skip the search and go
    straight to the child streams.
    """

    name = "user_search"
    path = USER_SEARCH_PATH
    records_jsonpath = "$.matches[*]"
    primary_keys = ("search_term", "amplitude_id")
    schema = th.PropertiesList(
        th.Property(
            "search_term",
            th.StringType,
            required=True,
            description="The configured term (user id, device id or amplitude id).",
        ),
        th.Property("amplitude_id", th.IntegerType, required=True),
        th.Property(
            "match_type",
            th.StringType,
            description="The response `type`: `match_amplitude_id`, `match_user_or_device_id` "
            "or `match_user_prefix`.",
        ),
        th.Property("user_id", th.StringType),
        th.Property("last_device_id", th.StringType),
        th.Property("platform", th.StringType),
        th.Property("country", th.StringType),
        th.Property(
            "last_seen",
            th.StringType,
            description="As Amplitude returns it (zone not documented; kept verbatim).",
        ),
    ).to_dict() | {"additionalProperties": True}

    @property
    def partitions(self) -> list[dict[str, Any]]:
        """One partition per search term, then one per configured Amplitude ID."""
        terms = [{"search_term": str(term)} for term in self.config.get("user_search_terms") or []]
        ids = [{"configured_amplitude_id": int(i)} for i in self.config.get("amplitude_ids") or []]
        return terms + ids

    def get_url_params(
        self,
        context: Context | None,
        next_page_token: int | None,  # noqa: ARG002
    ) -> dict:
        """The search term."""
        return {"user": (context or {})["search_term"]}

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Matches of a term; for a configured Amplitude ID, sync its children directly."""
        if not context:  # no terms and no ids configured
            return
        if "configured_amplitude_id" in context:
            self._sync_user(int(context["configured_amplitude_id"]))
            return
        yield from super().get_records(context)

    def parse_response(self, response: requests.Response) -> Iterator[dict[str, Any]]:
        """Each match with the response `type`; `nomatch` logs and yields nothing."""
        body = response.json()
        match_type = body.get("type")
        matches = body.get("matches") or []
        if match_type == "nomatch" or not matches:
            term = _query_value(response, "user")
            self.logger.info("user_search: no user matches %r (type=%s)", term, match_type)
            return
        for match in matches:
            yield {**match, "match_type": match_type}

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        """Carry the search term the row answers."""
        row["search_term"] = (context or {}).get("search_term")
        return row

    def generate_child_contexts(
        self,
        record: dict[str, Any],
        context: Context | None,  # noqa: ARG002
    ) -> Iterable[dict[str, Any] | None]:
        """`{"amplitude_id": N}` once per user per run (terms can match the same user)."""
        amplitude_id = record.get("amplitude_id")
        if amplitude_id is None or int(amplitude_id) in self.run.dispatched:
            return
        yield from self._claim(int(amplitude_id))

    def _claim(self, amplitude_id: int) -> Iterator[dict[str, Any]]:
        """Mark a user as handled this run and log progress when a child will read it."""
        self.run.dispatched.add(amplitude_id)
        if any(child.selected or child.has_selected_descendents for child in self.child_streams):
            self.logger.info("user streams: %s", self.run.progress_line())
        yield {"amplitude_id": amplitude_id}

    def _sync_user(self, amplitude_id: int) -> None:
        """Children of one configured Amplitude ID, as the SDK syncs children of a record."""
        if amplitude_id in self.run.dispatched:
            return
        for child_context in self._claim(amplitude_id):
            for child in self.child_streams:
                if child.selected or child.has_selected_descendents:
                    try:
                        child.sync(context=copy.copy(child_context))
                    except (AbortedSyncFailedException, AbortedSyncPausedException):
                        continue


def _user_activity_schema() -> dict[str, Any]:
    """The `events` schema (same fields, RFC 3339 timestamps) plus user-activity extras."""
    text = resources.files("tap_amplitude").joinpath("schemas/events.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    schema["description"] = "One user's events (User Activity API); timestamps RFC 3339 UTC."
    schema["properties"].update(
        {
            "raw_event_type": {"type": ["string", "null"]},
            "os": {"type": ["string", "null"]},
        }
    )
    schema["required"] = ["uuid", "amplitude_id"]
    schema["additionalProperties"] = True
    return schema


class UserActivityPaginator(BaseAPIPaginator[int]):
    """Offsets from the most recent event, `limit` at a time.

    A page can hold more than `limit` events (Amplitude completes the last session), so the
    next page overlaps; rows are de-duplicated by `uuid`. Paging stops at a short page, past
    `num_events`, at a page with nothing new, or once the page reaches the user's bookmark.
    """

    def __init__(self, limit: int, bookmark: dt.datetime | None) -> None:
        """Start at offset 0."""
        super().__init__(0)
        self.limit = limit
        self.bookmark = bookmark
        self._seen: set[str] = set()

    def has_more(self, response: requests.Response) -> bool:
        """Whether another page can hold events this run still needs."""
        body = response.json()
        events: list[dict[str, Any]] = body.get("events") or []
        total = (body.get("userData") or {}).get("num_events")
        uuids = {str(event.get("uuid")) for event in events}
        new = uuids - self._seen
        self._seen |= uuids
        if len(events) < self.limit or not new:
            return False
        if isinstance(total, int) and self.current_value + self.limit >= total:
            return False
        return not (self.bookmark and any(_uploaded(e) < self.bookmark for e in events))

    def get_next(self, response: requests.Response) -> int:  # noqa: ARG002
        """The next offset: `limit` further back in time."""
        return self.current_value + self.limit


def _query_value(response: requests.Response, name: str) -> str | None:
    """A query parameter of the request that produced `response`."""
    values = urllib.parse.parse_qs(urllib.parse.urlsplit(response.url or "").query).get(name)
    return values[0] if values else None


def _uploaded(event: dict[str, Any]) -> dt.datetime:
    """`server_upload_time` of a raw or converted event (missing ones count as very old)."""
    raw = event.get("server_upload_time")
    text = to_rfc3339(raw) if isinstance(raw, str) else None
    if text is None:
        return dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return dt.datetime.fromisoformat(text)


class UserActivityStream(UserApiStream):
    """A user's events (`/api/2/useractivity`), newest first, incremental per user.

    Bookmark per Amplitude ID = latest `server_upload_time` seen; a re-run pages from the most
    recent event back to the bookmark only. Events uploaded late with an `event_time` older than
    that page are left to the `events` (Export) stream.
    """

    name = "user_activity"
    path = USER_ACTIVITY_PATH
    records_jsonpath = "$.events[*]"
    primary_keys = ("uuid",)
    replication_key = "server_upload_time"
    parent_stream_type = UserSearchStream
    ignore_parent_replication_key = True
    schema = _user_activity_schema()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Paging state of the current user."""
        super().__init__(*args, **kwargs)
        self._bookmark: dt.datetime | None = None
        self._timestamp_report = TimestampReport()

    @property
    def page_size(self) -> int:
        """`user_activity_page_size` (its schema bounds it by Amplitude's 1000)."""
        return int(self.config["user_activity_page_size"])

    def get_new_paginator(self) -> UserActivityPaginator:
        """Offset paging that stops at the current user's bookmark."""
        return UserActivityPaginator(self.page_size, self._bookmark)

    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict:
        """User, offset from the most recent event, page size, newest first."""
        return {
            "user": (context or {})["amplitude_id"],
            "offset": next_page_token or 0,
            "limit": self.page_size,
            "direction": "latest",
        }

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """New events of one user, each once, RFC 3339 timestamps."""
        self._bookmark = self.starting_instant(context)
        seen: set[str] = set()
        for event in super().get_records(context):
            uuid = str(event.get("uuid"))
            if uuid in seen:
                continue
            seen.add(uuid)
            if self._bookmark and _uploaded(event) < self._bookmark:
                continue
            for name in normalize_timestamps(event, self._timestamp_report):
                if self._timestamp_report.counts[name] == 1:
                    self.logger.warning("user_activity: unparseable %s in event %s", name, uuid)
            yield event

    def parse_response(self, response: requests.Response) -> Iterator[dict[str, Any]]:
        """The page's events; `userData` is kept for `user_profiles`."""
        body = response.json()
        amplitude_id = _query_value(response, "user")
        if amplitude_id and isinstance(body.get("userData"), dict):
            self.run.last_profile = (int(amplitude_id), body["userData"])
        yield from body.get("events") or []


class UserProfilesStream(UserApiStream):
    """One row per user from User Activity's `userData` (full table, keyed by amplitude id).

    Reuses the response `user_activity` just fetched for the same user; asks for one event
    itself only when `user_activity` is not selected.
    """

    name = "user_profiles"
    path = USER_ACTIVITY_PATH
    records_jsonpath = "$.userData"
    primary_keys = ("amplitude_id",)
    parent_stream_type = UserSearchStream
    state_partitioning_keys: tuple[str, ...] = ()
    schema = th.PropertiesList(
        th.Property(
            "amplitude_id",
            th.IntegerType,
            required=True,
            description="The Amplitude ID that was queried.",
        ),
        th.Property("canonical_amplitude_id", th.IntegerType),
        th.Property("merged_amplitude_ids", th.ArrayType(th.IntegerType)),
        th.Property("user_id", th.StringType),
        th.Property("num_events", th.IntegerType),
        th.Property("num_sessions", th.IntegerType),
        th.Property("usage_time", th.IntegerType),
        th.Property("first_used", th.DateType, description="Project time zone."),
        th.Property("last_used", th.DateType, description="Project time zone."),
        th.Property("firstSeen", th.IntegerType, description="Epoch milliseconds."),
        th.Property("lastSeen", th.IntegerType, description="Epoch milliseconds."),
        th.Property("purchases", th.NumberType),
        th.Property("revenue", th.NumberType),
        th.Property("platform", th.StringType),
        th.Property("country", th.StringType),
        th.Property("device_ids", th.ArrayType(th.StringType)),
        th.Property("last_location", th.ObjectType()),
        th.Property("properties", th.ObjectType(), description="User properties (open)."),
        th.Property("usageTime", th.IntegerType),
        th.Property("merge_times", th.ArrayType(th.IntegerType)),
        th.Property("deviceIds", th.ArrayType(th.StringType)),
        th.Property("last_device_id", th.StringType),
        th.Property("lastLocationLat", th.NumberType),
        th.Property("lastLocationLong", th.NumberType),
        th.Property("os", th.StringType),
        th.Property("version", th.StringType),
        th.Property("start_version", th.StringType),
        th.Property("device", th.StringType),
        th.Property("device_type", th.StringType),
        th.Property("carrier", th.StringType),
        th.Property("region", th.StringType),
        th.Property("city", th.StringType),
        th.Property("dma", th.StringType),
        th.Property("language", th.StringType),
        th.Property("library", th.StringType),
        th.Property("ip_address", th.StringType),
        th.Property("paying", th.CustomType({"type": ["boolean", "string", "null"]})),
        th.Property("aliasing_user_ids", th.ArrayType(th.StringType)),
        th.Property("aliased_user_id", th.StringType),
        th.Property(
            "aliasing_profiles",
            th.CustomType({"type": ["array", "null"], "items": {}}),
            description="Profiles aliased to this user (shape undocumented; kept whole).",
        ),
    ).to_dict() | {"additionalProperties": True}

    def get_url_params(
        self,
        context: Context | None,
        next_page_token: int | None,  # noqa: ARG002
    ) -> dict:
        """The smallest page: only `userData` is wanted."""
        return {"user": (context or {})["amplitude_id"], "limit": 1}

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The profile `user_activity` just read, else one request of our own."""
        amplitude_id = int((context or {})["amplitude_id"])
        cached = self.run.last_profile
        if cached is not None and cached[0] == amplitude_id:
            self.run.last_profile = None
            yield dict(cached[1])
            return
        yield from super().get_records(context)

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        """Key the row by the queried Amplitude ID."""
        row["amplitude_id"] = int((context or {})["amplitude_id"])
        return row
