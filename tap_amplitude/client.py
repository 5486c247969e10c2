"""AmplitudeStream: host by region, HTTP Basic auth, and Amplitude's error mapping."""

from __future__ import annotations

import datetime as dt
import email.utils
import time
import urllib.parse
from functools import cached_property
from typing import TYPE_CHECKING, Any

import backoff
from singer_sdk import RESTStream
from singer_sdk.authenticators import BasicAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from singer_amplitude.dashboard_api import DASHBOARD_HOSTS
from tap_amplitude.windows import parse_instant

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable

    import requests
    from singer_sdk.helpers.types import Context
    from singer_sdk.streams.rest import RequestFunc

    from tap_amplitude.throttle import SlidingWindowThrottle

MAX_RETRY_AFTER_SECONDS = 3600.0
MAX_EXPONENTIAL_WAIT_SECONDS = 120.0
BODY_EXCERPT_CHARS = 500


class StreamForbiddenError(Exception):
    """A 403 on a stream that needs an add-on or permission: the stream is skipped, not the run."""


class AmplitudeStream(RESTStream[int]):
    """Base of every stream that calls Amplitude's Export or Dashboard REST API.

    Requests are sent one at a time (the SDK syncs streams sequentially), which keeps us far
    below Amplitude's 5 concurrent Dashboard REST requests per project.
    """

    #: True for streams that need a paid add-on or a permission: a 403 skips them with a warning.
    skip_on_forbidden: bool = False
    #: What a 403 on this stream most likely means, for the warning.
    forbidden_hint: str = "a plan add-on or a permission this API key lacks"

    @property
    def bad_request_hint(self) -> str:
        """Which settings shape this stream's requests, for a 400 message."""
        return "Check the settings this stream uses."

    @property
    def url_base(self) -> str:
        """`api_url` when set, else the region's host."""
        override = self.config.get("api_url")
        if override:
            return str(override).rstrip("/")
        return DASHBOARD_HOSTS[self.config["region"]]

    @cached_property
    def authenticator(self) -> BasicAuthenticator:
        """HTTP Basic with the project's API key and secret key."""
        return BasicAuthenticator(
            username=self.config["api_key"], password=self.config["secret_key"]
        )

    @property
    def timeout(self) -> int:
        """Per-request timeout in seconds, from `request_timeout`."""
        return int(self.config["request_timeout"])

    @property
    def request_throttle(self) -> SlidingWindowThrottle | None:
        """A limiter every request of this stream must pass (None: no extra limit)."""
        return None

    # --- errors ------------------------------------------------------------------------------

    def get_new_paginator(self) -> Any:
        """Dashboard REST responses hold everything in one page; paged streams override this."""
        return None

    def validate_response(self, response: requests.Response) -> None:
        """401/403 name the region; 400 shows Amplitude's own reason; 429/5xx are retried."""
        status = response.status_code
        if status in {401, 403}:
            said = amplitude_error_text(response, self._secrets)
            auth_hint = auth_failure_message(dict(self.config), status)
            if status == 403 and self.skip_on_forbidden:  # noqa: PLR2004
                raise StreamForbiddenError(
                    f"Amplitude answered 403 ({said}); this stream needs {self.forbidden_hint}. "
                    f"If every stream fails this way: {auth_hint}"
                )
            raise FatalAPIError(f"{auth_hint} Amplitude said: {said}")
        if status == 429 or status >= 500:  # noqa: PLR2004
            raise RetriableAPIError(self.response_error_message(response), response)
        if status == 400:  # noqa: PLR2004
            said = amplitude_error_text(response, self._secrets)
            raise FatalAPIError(
                f"Amplitude rejected the request of stream '{self.name}' "
                f"({_path_of(response)}) with 400: {said}. {self.bad_request_hint}"
            )
        if 400 <= status < 500:  # noqa: PLR2004
            raise FatalAPIError(self.response_error_message(response))

    def response_error_message(self, response: requests.Response) -> str:
        """Status, path and Amplitude's message; never the query string or the keys."""
        return (
            f"{response.status_code} {response.reason} from Amplitude for stream '{self.name}' "
            f"({_path_of(response)}): {amplitude_error_text(response, self._secrets)}"
        )

    @property
    def _secrets(self) -> list[str]:
        return [str(self.config[key]) for key in ("api_key", "secret_key") if self.config.get(key)]

    # --- retries -----------------------------------------------------------------------------

    def backoff_wait_generator(self) -> Generator[float, Any, None]:
        """`Retry-After` when Amplitude sends one, else exponential backoff with jitter."""
        exponential = backoff.expo(factor=2, max_value=MAX_EXPONENTIAL_WAIT_SECONDS)
        next(exponential)  # python-backoff's expo primes itself with one `send(None)`
        return self.backoff_runtime(value=lambda exc: _wait_for(exc, exponential))

    def backoff_jitter(self, value: float) -> float:
        """Jitter is added inside the wait generator, so `Retry-After` is honoured exactly."""
        return value

    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """The SDK's retries around a request that first passes this stream's throttle."""
        throttle = self.request_throttle
        if throttle is None:
            return super().request_decorator(func)

        def throttled(prepared_request: requests.PreparedRequest, context: Context | None) -> Any:
            waited = throttle.acquire()
            if waited:
                self.logger.info("Waited %.1f s for the user API quota", waited)
            return func(prepared_request, context)

        return super().request_decorator(throttled)

    def compare_start_date(self, value: str, start_date_value: str) -> str:
        """The later of bookmark and `start_date`, reading every accepted form (`30 days ago`)."""
        if not self.is_timestamp_replication_key:
            return value
        now = dt.datetime.now(dt.timezone.utc)
        return max(value, start_date_value, key=lambda text: parse_instant(str(text), now))

    def starting_instant(self, context: Context | None) -> dt.datetime | None:
        """Bookmark of this context, else `start_date` (any accepted form), else None."""
        value = self.get_starting_replication_key_value(context)
        if value in {None, ""}:
            return None
        return parse_instant(str(value), dt.datetime.now(dt.timezone.utc))

    # --- optional streams --------------------------------------------------------------------

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Records of the stream; an optional stream answered 403 yields nothing and warns."""
        try:
            yield from super().get_records(context)
        except StreamForbiddenError as exc:
            self.logger.warning("Skipping stream '%s': %s", self.name, exc)


def _path_of(response: requests.Response) -> str:
    """The URL path only: query strings can carry user ids."""
    return urllib.parse.urlsplit(response.url or "").path or "/"


def _wait_for(exc: Any, exponential: Generator[float, Any, None]) -> float:
    """Seconds to wait before retrying after `exc`."""
    response = getattr(exc, "response", None)
    header = response.headers.get("Retry-After") if response is not None else None
    seconds = parse_retry_after(header)
    if seconds is not None:
        return seconds
    return backoff.random_jitter(next(exponential))


def parse_retry_after(header: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds (delta-seconds or an HTTP date), capped at an hour; else None."""
    if not header:
        return None
    text = header.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def amplitude_error_text(response: requests.Response, secrets: Iterable[str] = ()) -> str:
    """Amplitude's `error.message` and `error.metadata.details`, else a short body excerpt."""
    text = _error_text_from_json(response) or (response.text or "").strip()[:BODY_EXCERPT_CHARS]
    for secret in secrets:
        text = text.replace(secret, "***")
    return text or "(empty body)"


def _error_text_from_json(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        metadata = error.get("metadata")
        details = metadata.get("details") if isinstance(metadata, dict) else None
        parts = [str(part) for part in (error.get("message"), details) if part]
        if parts:
            return ": ".join(parts)
    if isinstance(error, str):
        return error
    return None


def auth_failure_message(config: dict, status: int) -> str:
    """The one message for 401/403 on any endpoint: names the region in use, never the keys."""
    region = config["region"]
    where = config.get("api_url") or DASHBOARD_HOSTS[region]
    return (
        f"Amplitude answered {status}: invalid key or wrong region "
        f"(region={region!r}, host={where}). Check `api_key`/`secret_key` and that `region` "
        "matches the project's data residency."
    )
