"""The Taxonomy API streams: the project's tracking plan (categories, events and properties).

The Taxonomy API is Enterprise only: a 403 skips the stream with a warning instead of failing
the run. Its cost limits (a GET costs 1; at most 4 cost in flight and 7200 per hour per
project) are kept by sending requests one at a time through one sliding-window throttle per
tap run (`taxonomy_max_requests_per_hour`); a 429 is retried with backoff.
`taxonomy_event_properties` asks once per event type of `taxonomy_events` (without a type the
API returns only the shared properties); a type Amplitude answers 400 for (stale or unknown) is
skipped with a warning.
"""

from __future__ import annotations

import json
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from singer_sdk import SchemaDirectory, StreamSchema

from tap_amplitude.client import AmplitudeStream, amplitude_error_text
from tap_amplitude.throttle import SlidingWindowThrottle

if TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

TAXONOMY_COST_PER_HOUR = 7200  # Amplitude: cost units per project per hour; a GET costs 1
BAD_REQUEST = 400
_SCHEMAS = SchemaDirectory(Path(__file__).parent / "schemas")
_THROTTLES: weakref.WeakKeyDictionary[Tap, SlidingWindowThrottle] = weakref.WeakKeyDictionary()


def taxonomy_throttle(tap: Tap) -> SlidingWindowThrottle:
    """The one limiter every Taxonomy request of this tap run passes (created on first use)."""
    throttle = _THROTTLES.get(tap)
    if throttle is None:
        per_hour = int(tap.config["taxonomy_max_requests_per_hour"])
        throttle = SlidingWindowThrottle(per_hour)
        _THROTTLES[tap] = throttle
    return throttle


class UnknownEventTypeError(Exception):
    """Amplitude answered 400 for one event type's properties: that type is skipped."""


class TaxonomyStream(AmplitudeStream):
    """A full-table Taxonomy API list (`{success, data: [...]}`); a 403 skips the stream."""

    records_jsonpath = "$.data[*]"
    skip_on_forbidden = True
    forbidden_hint = "an Enterprise plan (the Taxonomy API is Enterprise only)"
    schema = StreamSchema(_SCHEMAS)

    @property
    def request_throttle(self) -> SlidingWindowThrottle:
        """The run's Taxonomy cost budget (default 7200 per hour)."""
        return taxonomy_throttle(self._tap)

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:  # noqa: ARG002
        """`enum_values` and `classifications` as lists of strings, whatever form they came in.

        Amplitude writes enum values as one comma-separated string; a list column keeps the
        warehouse table typed by one JSON type.
        """
        for key, separator in (("enum_values", ","), ("classifications", None)):
            if key in row:
                row[key] = as_string_list(row[key], separator)
        return row


def as_string_list(value: Any, separator: str | None) -> list[str] | None:
    """None stays None; a list keeps its items (as text); a string is split on `separator`."""
    if value is None:
        return None
    if isinstance(value, list):
        return [item if isinstance(item, str) else json.dumps(item) for item in value]
    if isinstance(value, str):
        parts = value.split(separator) if separator else [value]
        return [part.strip() for part in parts if part.strip()]
    return [json.dumps(value)]


class TaxonomyCategoriesStream(TaxonomyStream):
    """Event categories (`/api/2/taxonomy/category`)."""

    name = "taxonomy_categories"
    path = "/api/2/taxonomy/category"
    primary_keys = ("id",)


class TaxonomyEventsStream(TaxonomyStream):
    """Event types of the plan (`/api/2/taxonomy/event`); each one feeds the properties stream."""

    name = "taxonomy_events"
    path = "/api/2/taxonomy/event"
    primary_keys = ("event_type",)

    def get_child_context(self, record: dict[str, Any], context: Context | None) -> dict:  # noqa: ARG002
        """One `taxonomy_event_properties` request per event type."""
        return {"event_type": record["event_type"]}


class TaxonomyEventPropertiesStream(TaxonomyStream):
    """Properties of each event type (`/api/2/taxonomy/event-property?event_type=...`)."""

    name = "taxonomy_event_properties"
    path = "/api/2/taxonomy/event-property"
    primary_keys = ("event_type", "event_property")
    parent_stream_type = TaxonomyEventsStream
    state_partitioning_keys: tuple[str, ...] = ()  # full table: no bookmark per event type

    def get_url_params(
        self,
        context: Context | None,
        next_page_token: int | None,  # noqa: ARG002
    ) -> dict:
        """The event type, as a query parameter (the API also reads a form field)."""
        return {"event_type": (context or {})["event_type"]}

    def validate_response(self, response: requests.Response) -> None:
        """400 means this event type is unknown to the taxonomy: skip it, not the stream."""
        if response.status_code == BAD_REQUEST:
            raise UnknownEventTypeError(amplitude_error_text(response, self._secrets))
        super().validate_response(response)

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The type's properties; a 400 for the type logs a warning and yields nothing."""
        event_type = (context or {}).get("event_type")
        try:
            yield from super().get_records(context)
        except UnknownEventTypeError as exc:
            self.logger.warning(
                "taxonomy_event_properties: skipping event type %r: Amplitude answered 400 (%s)",
                event_type,
                exc,
            )

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        """Carry the event type asked for when Amplitude leaves it out of an item."""
        if not row.get("event_type"):
            row["event_type"] = (context or {}).get("event_type")
        return super().post_process(row, context)


class TaxonomyUserPropertiesStream(TaxonomyStream):
    """User properties (`/api/2/taxonomy/user-property`); custom ones keep the `gp:` prefix."""

    name = "taxonomy_user_properties"
    path = "/api/2/taxonomy/user-property"
    primary_keys = ("user_property",)


class TaxonomyGroupPropertiesStream(TaxonomyStream):
    """Group properties (`/api/2/taxonomy/group-property`)."""

    name = "taxonomy_group_properties"
    path = "/api/2/taxonomy/group-property"
    primary_keys = ("group_type", "group_property")

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        """`group_type` is part of the key: an item without one gets an empty string."""
        if row.get("group_type") is None:
            row["group_type"] = ""
        return super().post_process(row, context)


TAXONOMY_STREAM_TYPES: list[type[AmplitudeStream]] = [
    TaxonomyCategoriesStream,
    TaxonomyEventsStream,
    TaxonomyEventPropertiesStream,
    TaxonomyUserPropertiesStream,
    TaxonomyGroupPropertiesStream,
]
