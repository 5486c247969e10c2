"""Why delivery stops: each error is a `FatalAPIError`, so the run ends without a later STATE."""

from __future__ import annotations

from singer_sdk.exceptions import FatalAPIError


class DeliveryError(FatalAPIError):
    """Delivery cannot go on: the run stops and no STATE is emitted past this point."""


class ConfigurationError(DeliveryError):
    """Amplitude refused the request itself (API key, host, path, body): fix the config."""


class RetriesExhaustedError(DeliveryError):
    """Amplitude kept failing beyond `max_retries` or `retry_time_budget_seconds`."""


class RecordsNotDeliveredError(DeliveryError):
    """Raised at the end of a run in which records were rejected or deferred under policy `fail`."""
