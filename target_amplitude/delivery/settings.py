"""Delivery settings, with per-endpoint defaults from Amplitude's documented limits.

`PROPERTIES` is the one place each delivery setting's default, bounds and description are
written: the target's `config_jsonschema` lists them, and `DeliverySettings` takes its defaults
from them and checks a directly built instance against the same schema.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from singer_sdk import typing as th

from singer_amplitude.settings_checks import (
    config_error,
    defaults_never_null,
    plain_json,
    schema_defaults,
    schema_errors,
)
from target_amplitude.amplitude import (
    EVENT_PATHS,
    EVENTS,
    EVENTS_PER_USER_SECOND,
    FORM_PATHS,
    GROUP_IDENTIFY,
    IDENTIFY,
    MAX_ITEMS,
    MAX_REQUEST_MB,
    USERMAP,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

# Byte caps with a margin below MAX_REQUEST_MB, whichever way "MB" is read (10**6 or 2**20 bytes).
DEFAULT_BYTES = {"batch": 19_000_000, "httpapi": 900_000, "form": 900_000}
# Amplitude's documented pause after a 429: 30 s on HTTP V2, ~15 s on /batch and /identify.
DEFAULT_THROTTLE_WAIT = {"httpapi": 30.0, "batch": 15.0, "form": 15.0}
MAX_IDENTIFICATIONS = max(cap for endpoint, cap in MAX_ITEMS.items() if endpoint != EVENTS)


def _event_endpoint_about(name: str) -> str:
    """`/batch: 20 MB, 1000 events/s per user`, from Amplitude's limits."""
    return (
        f"{EVENT_PATHS[name]}: {MAX_REQUEST_MB[name]} MB, "
        f"{EVENTS_PER_USER_SECOND[name]} events/s per user"
    )


PROPERTIES = (
    th.Property(
        "event_endpoint",
        th.StringType,
        default="batch",
        allowed_values=list(EVENT_PATHS),
        description=(
            f"Events API: `batch` ({_event_endpoint_about('batch')}; for loads and "
            f"backfills) or `httpapi` ({_event_endpoint_about('httpapi')})."
        ),
    ),
    th.Property(
        "min_id_length",
        th.IntegerType(minimum=1),
        description=(
            "Minimum user_id/device_id length; when set it is sent as `options.min_id_length` "
            "with every events request (Amplitude's default is 5)."
        ),
    ),
    th.Property(
        "events_per_request",
        th.IntegerType(minimum=1, maximum=MAX_ITEMS[EVENTS]),
        default=MAX_ITEMS[EVENTS],
        description=(
            f"Events per request (at most {MAX_ITEMS[EVENTS]}, Amplitude's cap); lowered after "
            "a 413."
        ),
    ),
    th.Property(
        "max_request_bytes",
        th.IntegerType(minimum=1),
        description=(
            "Serialized body bytes per request, measured while filling it. Default "
            f"{DEFAULT_BYTES['batch']:,} for {EVENT_PATHS['batch']} and "
            f"{DEFAULT_BYTES['httpapi']:,} for {EVENT_PATHS['httpapi']} and the form endpoints "
            f"(under {MAX_REQUEST_MB['batch']} MB / {MAX_REQUEST_MB['httpapi']} MB)."
        ),
    ),
    th.Property(
        "identifications_per_request",
        th.IntegerType(minimum=1, maximum=MAX_IDENTIFICATIONS),
        default=500,
        description=(
            f"Identifications per {FORM_PATHS[IDENTIFY]}, {FORM_PATHS[GROUP_IDENTIFY]} (at most "
            f"{MAX_ITEMS[GROUP_IDENTIFY]}) or {FORM_PATHS[USERMAP]} request (at most "
            f"{MAX_ITEMS[IDENTIFY]})."
        ),
    ),
    th.Property(
        "request_timeout",
        th.NumberType(exclusive_minimum=0),
        default=60,
        description="Seconds to wait for an answer; a timeout is retried like a 5xx.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0),
        default=8,
        description=(
            "Retries of a request after 5xx, timeouts or dropped connections (same "
            "insert_ids); past it the run fails without a new STATE (nothing is dropped)."
        ),
    ),
    th.Property(
        "retry_backoff_base_seconds",
        th.NumberType(minimum=0),
        default=1,
        description="First back-off delay; doubles per retry, with jitter.",
    ),
    th.Property(
        "retry_backoff_max_seconds",
        th.NumberType(minimum=0),
        default=120,
        description="Longest back-off delay between two retries.",
    ),
    th.Property(
        "retry_time_budget_seconds",
        th.NumberType(minimum=0),
        default=900,
        description=(
            "Longest time a record may keep failing (5xx or 429) before the run fails "
            "without a new STATE."
        ),
    ),
    th.Property(
        "throttle_wait_seconds",
        th.NumberType(minimum=1),
        description=(
            "Pause of a throttled user/device after a 429 (others go on; at least 1 s). "
            f"Default: Amplitude's documented {DEFAULT_THROTTLE_WAIT['httpapi']:.0f} s for "
            f"httpapi, {DEFAULT_THROTTLE_WAIT['batch']:.0f} s for batch and identify."
        ),
    ),
    th.Property(
        "max_concurrent_requests",
        th.IntegerType(minimum=1),
        default=8,  # measured: see README "Concurrent delivery"
        description=(
            "Requests in flight at once. Records go to lanes by a stable hash of device_id "
            "(else user_id; groups and user mappings by their key); each lane sends in order, "
            "so per-device order holds. Lowered for a while after 429s/5xx; 1 sends one "
            "request at a time."
        ),
    ),
    th.Property(
        "on_rejected",
        th.StringType,
        default="fail",
        allowed_values=["fail", "dead_letter", "skip"],
        description=(
            "Records Amplitude (or local validation) will never accept: `fail` delivers the "
            "rest, emits no further STATE and exits non-zero with a report; `dead_letter` "
            "appends record, payload and reason to `dead_letter_path` and goes on; `skip` logs."
        ),
    ),
    th.Property(
        "on_deferred",
        th.StringType,
        default="fail",
        allowed_values=["fail", "dead_letter"],
        description=(
            "Events of users/devices over Amplitude's daily quota (undeliverable for up to "
            "24 h): `fail` (like on_rejected) or `dead_letter`."
        ),
    ),
    th.Property(
        "dead_letter_path",
        th.StringType,
        default="target-amplitude-dead-letters.jsonl",
        description="JSONL file that `dead_letter` appends to (one line per record).",
    ),
)
SCHEMA = defaults_never_null(th.PropertiesList(*PROPERTIES).to_dict())
DEFAULTS = schema_defaults(SCHEMA)


@dataclass(frozen=True)
class DeliverySettings:
    """The delivery settings of the target; defaults and bounds come from `PROPERTIES`."""

    event_endpoint: str = DEFAULTS["event_endpoint"]
    min_id_length: int | None = None
    events_per_request: int = DEFAULTS["events_per_request"]
    max_request_bytes: int | None = None
    identifications_per_request: int = DEFAULTS["identifications_per_request"]
    request_timeout: float = DEFAULTS["request_timeout"]
    max_retries: int = DEFAULTS["max_retries"]
    retry_backoff_base_seconds: float = DEFAULTS["retry_backoff_base_seconds"]
    retry_backoff_max_seconds: float = DEFAULTS["retry_backoff_max_seconds"]
    retry_time_budget_seconds: float = DEFAULTS["retry_time_budget_seconds"]
    throttle_wait_seconds: float | None = None
    on_rejected: str = DEFAULTS["on_rejected"]
    on_deferred: str = DEFAULTS["on_deferred"]
    dead_letter_path: str = DEFAULTS["dead_letter_path"]
    max_concurrent_requests: int = DEFAULTS["max_concurrent_requests"]

    def __post_init__(self) -> None:
        """Refuse what the schema refuses (Deliverers built in code skip the SDK's check)."""
        values = {
            key: value for key, value in dataclasses.asdict(self).items() if value is not None
        }
        errors = schema_errors(SCHEMA, values)
        if errors:
            raise config_error(errors)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DeliverySettings:
        """Pick the delivery keys out of the target config (unset keys keep their defaults)."""
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            value = config.get(spec.name)
            if value is not None:
                # JSON config files reach us with Decimal numbers (singer-sdk parses them so).
                values[spec.name] = plain_json(value)
        return cls(**values)

    def count_cap(self, endpoint: str) -> int:
        """Items per request for an endpoint."""
        wanted = self.events_per_request if endpoint == EVENTS else self.identifications_per_request
        return min(wanted, MAX_ITEMS[endpoint])

    def byte_cap(self, endpoint: str) -> int:
        """Serialized body bytes per request for an endpoint."""
        default = DEFAULT_BYTES[self.event_endpoint if endpoint == EVENTS else "form"]
        if self.max_request_bytes is None:
            return default
        if endpoint == EVENTS:
            return self.max_request_bytes
        return min(self.max_request_bytes, default)

    def throttle_wait(self, endpoint: str) -> float:
        """Seconds a throttled user/device waits before its events are re-sent."""
        if self.throttle_wait_seconds is not None:
            return float(self.throttle_wait_seconds)
        return DEFAULT_THROTTLE_WAIT[self.event_endpoint if endpoint == EVENTS else "form"]
