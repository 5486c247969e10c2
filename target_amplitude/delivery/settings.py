"""Delivery settings (issue #6), with per-endpoint defaults from Amplitude's documented limits."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from target_amplitude.amplitude import EVENTS, MAX_ITEMS

if TYPE_CHECKING:
    from collections.abc import Mapping

POLICIES_REJECTED = ("fail", "dead_letter", "skip")
POLICIES_DEFERRED = ("fail", "dead_letter")
# Byte caps with a margin below 20 MB (/batch) and 1 MB (the rest), whichever way "MB" is read.
DEFAULT_BYTES = {"batch": 19_000_000, "httpapi": 900_000, "form": 900_000}
# Amplitude's documented pause after a 429: 30 s on HTTP V2, ~15 s on /batch and /identify.
DEFAULT_THROTTLE_WAIT = {"httpapi": 30.0, "batch": 15.0, "form": 15.0}
DEFAULT_CONCURRENCY = 8  # measured: see README "Concurrent delivery" (1 = one request at a time)
INT_SETTINGS = frozenset(
    {
        "min_id_length",
        "events_per_request",
        "max_request_bytes",
        "identifications_per_request",
        "max_retries",
        "max_concurrent_requests",
    }
)
FLOAT_SETTINGS = frozenset(
    {
        "request_timeout",
        "retry_backoff_base_seconds",
        "retry_backoff_max_seconds",
        "retry_time_budget_seconds",
        "throttle_wait_seconds",
    }
)


@dataclass(frozen=True)
class DeliverySettings:
    """The `# --- delivery` settings of the target, with defaults."""

    event_endpoint: str = "batch"
    min_id_length: int | None = None
    events_per_request: int = 2000
    max_request_bytes: int | None = None
    identifications_per_request: int = 500
    request_timeout: float = 60.0
    max_retries: int = 8
    retry_backoff_base_seconds: float = 1.0
    retry_backoff_max_seconds: float = 120.0
    retry_time_budget_seconds: float = 900.0
    throttle_wait_seconds: float | None = None
    on_rejected: str = "fail"
    on_deferred: str = "fail"
    dead_letter_path: str = "target-amplitude-dead-letters.jsonl"
    max_concurrent_requests: int = DEFAULT_CONCURRENCY

    def __post_init__(self) -> None:
        """Refuse values the schema would refuse, for Deliverers built directly in code."""
        if self.event_endpoint not in ("batch", "httpapi"):
            raise ValueError(
                f"event_endpoint must be batch or httpapi, not {self.event_endpoint!r}"
            )
        if self.on_rejected not in POLICIES_REJECTED:
            raise ValueError(f"on_rejected must be one of {POLICIES_REJECTED}")
        if self.on_deferred not in POLICIES_DEFERRED:
            raise ValueError(f"on_deferred must be one of {POLICIES_DEFERRED}")
        if self.events_per_request < 1 or self.identifications_per_request < 1:
            raise ValueError("events_per_request and identifications_per_request must be >= 1")
        if self.max_concurrent_requests < 1:
            raise ValueError(
                f"max_concurrent_requests must be >= 1, got {self.max_concurrent_requests}"
            )
        if self.max_retries < 0 or self.retry_time_budget_seconds < 0:
            raise ValueError("max_retries and retry_time_budget_seconds must be >= 0")
        if self.request_timeout <= 0 or (self.max_request_bytes or 1) < 1:
            raise ValueError("request_timeout and max_request_bytes must be positive")
        if self.throttle_wait_seconds is not None and self.throttle_wait_seconds < 1:
            raise ValueError("throttle_wait_seconds must be >= 1 (Amplitude asks for 15-30 s)")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DeliverySettings:
        """Pick the delivery keys out of the target config (unset keys keep their defaults)."""
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            value = config.get(spec.name)
            if value is None:
                continue
            # JSON config files reach us with Decimal numbers (singer-sdk parses them so).
            if spec.name in INT_SETTINGS:
                value = int(value)
            elif spec.name in FLOAT_SETTINGS:
                value = float(value)
            values[spec.name] = value
        return cls(**values)

    def count_cap(self, endpoint: str) -> int:
        """Items per request for an endpoint."""
        wanted = self.events_per_request if endpoint == EVENTS else self.identifications_per_request
        return max(1, min(wanted, MAX_ITEMS[endpoint]))

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
