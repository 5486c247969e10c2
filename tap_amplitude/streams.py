"""Dashboard REST list streams (event types, annotations, cohorts) and the stream registry.

Time zones: Dashboard REST results (dates of annotations and of the daily series in
`dashboard_series`) are in the **project's time zone**; Export API data (`events`) is UTC.
Every schema here stays open (`additional_properties`): keys Amplitude adds later are kept.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError

from singer_amplitude.dashboard_api import COHORTS_PATH
from singer_amplitude.epoch import EPOCH_MS_THRESHOLD
from tap_amplitude.client import AmplitudeStream
from tap_amplitude.dashboard_series import (
    PROJECT_TZ_NOTE,
    ActiveUsersStream,
    AverageSessionLengthStream,
    series_day,
)
from tap_amplitude.events import EventsStream
from tap_amplitude.user_streams import UserActivityStream, UserProfilesStream, UserSearchStream

if TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from singer_sdk.helpers.types import Context

ANNOTATIONS_V3_PATH = "/api/3/annotations"
ANNOTATIONS_V2_PATH = "/api/2/annotations"
COHORT_EPOCH_FIELDS = ("lastMod", "createdAt", "lastComputed")

BOOL_OR_INT = th.CustomType({"type": ["boolean", "integer", "null"]})
ANY_JSON = th.CustomType(
    {"type": ["array", "object", "string", "number", "boolean", "null"], "items": {}}
)


class EventTypesStream(AmplitudeStream):
    """Visible event types with this week's totals (`/api/2/events/list`); full table.

    Keyed by `value` (the raw event name): it is always present, while `id` is not part of the
    documented shape; `id` is kept as a column where Amplitude returns it.
    """

    name = "event_types"
    path = "/api/2/events/list"
    records_jsonpath = "$.data[*]"
    primary_keys = ("value",)
    schema = th.PropertiesList(
        th.Property(
            "value",
            th.StringType,
            required=True,
            description="Raw event name, as `event_type` in exports.",
        ),
        th.Property("id", th.IntegerType, description="Amplitude's id, where returned."),
        th.Property("name", th.StringType),
        th.Property("display", th.StringType, description="Display name."),
        th.Property(
            "totals",
            th.NumberType,
            description="Event count of the CURRENT WEEK (not history).",
        ),
        th.Property(
            "totals_delta",
            th.NumberType,
            description="Change of the current week's total against last week (real rows "
            "carry floats such as `-1.0`).",
        ),
        th.Property("non_active", th.BooleanType),
        th.Property("deleted", th.BooleanType),
        th.Property("hidden", th.BooleanType),
        th.Property("flow_hidden", th.BooleanType),
        th.Property("autohidden", th.BooleanType),
        th.Property("in_waitroom", th.BooleanType),
        th.Property(
            "waitroom_approved",
            th.BooleanType,
            description="Approved out of the waitroom; often null in real rows.",
        ),
        th.Property("timeline_hidden", BOOL_OR_INT),
        additional_properties=True,
    ).to_dict()


class AnnotationNotFoundError(FatalAPIError):
    """`/api/3/annotations` answered 404: the project still serves only the v2 endpoint."""


class AnnotationsStream(AmplitudeStream):
    """Chart annotations: `/api/3/annotations`, falling back to `/api/2/annotations` on 404.

    Amplitude's docs replaced v2 (`{id, date, label, details}`) with v3 (`{id, start, end,
    details, category {id, name}, label, chart_id}`) in December 2025. One schema covers both:
    v3 rows also get `date` (the day of `start`) so a table keyed on it keeps working; v2 rows
    leave the v3 columns null. `api_version` says which endpoint a row came from.
    Dates are in the project time zone.
    """

    name = "annotations"
    path = ANNOTATIONS_V3_PATH
    records_jsonpath = "$.data[*]"
    primary_keys = ("id",)
    skip_on_forbidden = True
    schema = th.PropertiesList(
        th.Property("id", th.IntegerType, required=True),
        th.Property(
            "date",
            th.DateType,
            description=f"Annotated day (v2; the day of `start` in v3), {PROJECT_TZ_NOTE}.",
        ),
        th.Property("start", th.StringType, description="Start, ISO 8601 (v3 only)."),
        th.Property("end", th.StringType, description="End, ISO 8601 (v3 only)."),
        th.Property("label", th.StringType),
        th.Property("details", th.StringType, description="Nullable in v3."),
        th.Property(
            "category",
            th.ObjectType(th.Property("id", th.IntegerType), th.Property("name", th.StringType)),
            description="Annotation category (v3 only).",
        ),
        th.Property(
            "chart_id",
            th.StringType,
            description="Chart the annotation belongs to (v3 only; a number is sent as text).",
        ),
        th.Property("api_version", th.IntegerType, description="3 or 2: the endpoint read."),
        additional_properties=True,
    ).to_dict()

    def validate_response(self, response: requests.Response) -> None:
        """A 404 on v3 means "use v2"; any other answer is checked as usual."""
        if response.status_code == 404 and self.path == ANNOTATIONS_V3_PATH:  # noqa: PLR2004
            raise AnnotationNotFoundError(self.response_error_message(response))
        super().validate_response(response)

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """v3 rows, or v2 rows when v3 answers 404."""
        self.path = ANNOTATIONS_V3_PATH
        try:
            yield from super().get_records(context)
        except AnnotationNotFoundError:
            self.logger.info(
                "annotations: %s answered 404; reading %s", ANNOTATIONS_V3_PATH, ANNOTATIONS_V2_PATH
            )
            self.path = ANNOTATIONS_V2_PATH
            yield from super().get_records(context)

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:  # noqa: ARG002
        """Fill `date` from v3's `start` and note the endpoint."""
        version = 3 if self.path == ANNOTATIONS_V3_PATH else 2
        if version == 3 and not row.get("date") and isinstance(row.get("start"), str):  # noqa: PLR2004
            row["date"] = series_day(row["start"], self.name)
        if row.get("chart_id") is not None:
            row["chart_id"] = str(row["chart_id"])
        return {**row, "api_version": version}


class CohortsStream(AmplitudeStream):
    """Behavioral cohort metadata (`/api/3/cohorts`, members are not downloaded)."""

    name = "cohorts"
    path = COHORTS_PATH
    records_jsonpath = "$.cohorts[*]"
    primary_keys = ("id",)
    skip_on_forbidden = True
    forbidden_hint = "the Behavioral Cohorts add-on (or a permission this API key lacks)"
    schema = th.PropertiesList(
        th.Property("id", th.StringType, required=True),
        th.Property("appId", th.IntegerType),
        th.Property("name", th.StringType),
        th.Property("description", th.StringType),
        th.Property("archived", th.BooleanType),
        th.Property("published", th.BooleanType),
        th.Property("finished", th.BooleanType),
        th.Property("hidden", th.BooleanType),
        th.Property("size", th.IntegerType),
        th.Property("type", th.StringType),
        th.Property("owners", th.ArrayType(th.StringType)),
        th.Property("viewers", th.ArrayType(th.StringType)),
        th.Property("definition", th.ObjectType()),
        th.Property("lastMod", th.DateTimeType, description="RFC 3339 (Amplitude: epoch seconds)."),
        th.Property(
            "createdAt",
            th.DateTimeType,
            description="RFC 3339 (Amplitude: epoch seconds); often null.",
        ),
        th.Property(
            "lastComputed", th.DateTimeType, description="RFC 3339 (Amplitude: epoch seconds)."
        ),
        th.Property("last_viewed", th.IntegerType),
        th.Property("view_count", th.IntegerType),
        th.Property("popularity", th.NumberType),
        th.Property("chart_id", th.StringType),
        th.Property("edit_id", th.StringType),
        th.Property("location_id", th.StringType),
        th.Property("is_predictive", th.BooleanType),
        th.Property("is_official_content", th.BooleanType),
        th.Property("shortcut_ids", th.ArrayType(th.StringType)),
        th.Property("metadata", ANY_JSON),
        th.Property("syncMetadata", ANY_JSON),
        additional_properties=True,
    ).to_dict()

    def get_url_params(
        self,
        context: Context | None,  # noqa: ARG002
        next_page_token: int | None,  # noqa: ARG002
    ) -> dict:
        """Ask for sync metadata too; it is part of the listing."""
        return {"includeSyncInfo": "true"}

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:  # noqa: ARG002
        """Epoch-second timestamps as RFC 3339 (UTC); nulls stay null."""
        for key in COHORT_EPOCH_FIELDS:
            if key in row:
                row[key] = epoch_to_rfc3339(row[key], f"cohort {row.get('id')!r} field {key!r}")
        return row


def epoch_to_rfc3339(value: Any, what: str) -> str | None:
    """Epoch seconds (or milliseconds, read by magnitude) as RFC 3339 UTC; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        msg = f"{what}: expected epoch seconds, got {value!r}"
        raise TypeError(msg)
    try:
        seconds = float(value)
    except ValueError as exc:
        msg = f"{what}: expected epoch seconds, got {value!r}"
        raise ValueError(msg) from exc
    if abs(seconds) >= EPOCH_MS_THRESHOLD:  # milliseconds (older captures, the old emulator)
        seconds /= 1000
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


STREAM_TYPES: list[type[AmplitudeStream]] = [
    EventsStream,
    EventTypesStream,
    UserSearchStream,
    UserActivityStream,
    UserProfilesStream,
    AnnotationsStream,
    CohortsStream,
    ActiveUsersStream,
    AverageSessionLengthStream,
]

__all__ = ["STREAM_TYPES", "AmplitudeStream"]
