"""`cohort_members`: the members of each configured cohort, via the Behavioral Cohorts API.

Per cohort id in `cohort_ids` (opt-in: each download uses one of the project's 500 cohort
requests per month): request the cohort (`/api/5/cohorts/request/{id}`, user properties from
`cohort_member_properties`), poll the job with growing waits for at most
`cohort_poll_timeout_seconds`, then fetch `/api/5/cohorts/request/{request_id}/file`. Large
cohorts answer with a 302 to a pre-signed storage URL valid for about a minute: it is fetched
at once with a separate client that sends no Amplitude credentials, and an expired link is
asked for again (the request id stays valid for 7 days). The gzipped CSV is read as it streams.
Single-cohort requests are kept under Amplitude's 60 per 10 minutes; a 429 (another client of
the project used the rest) is retried with backoff, then fails naming that limit.

Full table: the whole membership on every run, with ACTIVATE_VERSION so targets that support
it drop the members who left.
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.parse
import weakref
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import requests
import urllib3
from requests.exceptions import RequestException
from singer_sdk import SchemaDirectory, StreamSchema
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_amplitude.client import AmplitudeStream, amplitude_error_text, auth_failure_message
from tap_amplitude.cohort_csv import CohortFileError, read_members
from tap_amplitude.throttle import SlidingWindowThrottle

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

MAX_POLL_WAIT_SECONDS = 60.0
MAX_LINK_TRIES = 3
REQUESTS_PER_TEN_MINUTES = 60  # single-cohort requests per app (Amplitude's limit)
MONTHLY_QUOTA_NOTE = (
    "Amplitude allows 500 cohort download requests per month per project (Growth and "
    "Enterprise plans); every `cohort_ids` entry uses one per run"
)
IN_PROGRESS = "JOB INPROGRESS"
COMPLETED = "JOB COMPLETED"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
HTTP_OK, HTTP_FORBIDDEN, HTTP_NOT_FOUND, HTTP_TOO_MANY = 200, 403, 404, 429
RATE_NOTE = (
    f"Amplitude allows {REQUESTS_PER_TEN_MINUTES} single-cohort requests per 10 minutes per "
    "app, shared by every client of the project (this run keeps its own requests under it)"
)
_REQUEST_THROTTLES: weakref.WeakKeyDictionary[Tap, SlidingWindowThrottle] = (
    weakref.WeakKeyDictionary()
)


class _NoCredentials(requests.auth.AuthBase):
    """Sends no Authorization header (and keeps `.netrc` out): storage URLs are pre-signed."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        return request


class CohortMembersStream(AmplitudeStream):
    """Members of each cohort in `cohort_ids`; one partition per cohort, full table."""

    name = "cohort_members"
    path = "/api/5/cohorts/request"
    primary_keys = ("cohort_id", "amplitude_id")
    schema = StreamSchema(SchemaDirectory(Path(__file__).parent / "schemas"))
    state_partitioning_keys: tuple[str, ...] = ()  # full table: no bookmark per cohort

    @property
    def cohort_ids(self) -> list[str]:
        """The configured cohort ids, in order, without repeats."""
        return list(dict.fromkeys(str(c) for c in self.config.get("cohort_ids") or []))

    @property
    def partitions(self) -> list[dict[str, Any]]:
        """One partition per configured cohort (none configured: the stream yields nothing)."""
        return [{"cohort_id": cohort_id} for cohort_id in self.cohort_ids]

    @property
    def emit_activate_version_messages(self) -> bool:
        """Always, once cohorts are configured: a run replaces the previous membership."""
        return bool(self.cohort_ids)

    @property
    def bad_request_hint(self) -> str:
        """What shapes the cohort requests."""
        return "Check `cohort_ids` and `cohort_member_properties`."

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Request, poll, download and read one cohort's file."""
        if not context:
            return
        cohort_id = str(context["cohort_id"])
        request_id = self._request_cohort(cohort_id, context)
        self._wait_until_completed(cohort_id, request_id, context)
        extracted_at = dt.datetime.now(dt.timezone.utc).isoformat()
        response = self._download(cohort_id, request_id, context)
        what = f"the file of cohort {cohort_id!r}"
        count = 0
        try:
            response.raw.decode_content = True
            for row in read_members(response.raw, what):
                count += 1
                yield {
                    "cohort_id": cohort_id,
                    "amplitude_id": row.amplitude_id,
                    "user_id": row.user_id,
                    "properties": row.properties,
                    "extracted_at": extracted_at,
                }
        except CohortFileError as exc:
            raise FatalAPIError(str(exc)) from exc
        except (OSError, EOFError, RequestException, urllib3.exceptions.HTTPError) as exc:
            raise FatalAPIError(
                f"The download of cohort {cohort_id!r} broke off after {count} members ({exc}). "
                "The run fails; the members sent so far are incomplete, run again to replace them."
            ) from exc
        finally:
            response.close()
        self.logger.info("cohort_members: cohort %r has %d members", cohort_id, count)

    # --- the three steps ---------------------------------------------------------------------

    def _request_cohort(self, cohort_id: str, context: Context) -> str:
        throttle = _request_throttle(self._tap)
        waited = throttle.acquire()
        if waited:
            self.logger.info("Waited %.1f s for the cohort request limit (60 per 10 min)", waited)
        params: dict[str, Any] = {"props": 0}
        wanted = [str(p) for p in self.config.get("cohort_member_properties") or []]
        if wanted:
            params["props"] = 1
            if "*" not in wanted:
                params["propKeys"] = wanted
        quoted = urllib.parse.quote(cohort_id, safe="")
        response = self._api_get(f"/api/5/cohorts/request/{quoted}", params, context, cohort_id)
        self.logger.info(
            "cohort_members: requested cohort %r (one of the monthly cohort downloads)", cohort_id
        )
        request_id = response.json().get("request_id")
        if not request_id:
            raise FatalAPIError(
                f"Amplitude's answer to the request of cohort {cohort_id!r} has no `request_id`: "
                f"{amplitude_error_text(response, self._secrets)}"
            )
        return str(request_id)

    def _wait_until_completed(self, cohort_id: str, request_id: str, context: Context) -> None:
        budget = float(self.config["cohort_poll_timeout_seconds"])
        wait = float(self.config["cohort_poll_interval_seconds"])
        started = time.monotonic()
        path = f"/api/5/cohorts/request-status/{request_id}"
        while True:
            response = self._api_get(path, {}, context, cohort_id)
            status = response.json().get("async_status")
            if status == COMPLETED:
                return
            if status != IN_PROGRESS:
                raise FatalAPIError(
                    f"Amplitude's download job for cohort {cohort_id!r} ended as {status!r} "
                    f"(request {request_id}); expected {COMPLETED!r}."
                )
            elapsed = time.monotonic() - started
            if elapsed + wait > budget:
                raise FatalAPIError(
                    f"Cohort {cohort_id!r}: Amplitude's download job (request {request_id}) is "
                    f"still in progress after {elapsed:.0f} s, and `cohort_poll_timeout_seconds` "
                    f"is {budget:g}. Jobs commonly take 30-60 s or more; raise the setting, or "
                    "leave `cohort_member_properties` empty (props=0 is faster)."
                )
            self.logger.info(
                "cohort_members: cohort %r job in progress after %.0f s; next check in %.1f s",
                cohort_id,
                elapsed,
                wait,
            )
            time.sleep(wait)
            wait = min(wait * 2, MAX_POLL_WAIT_SECONDS)

    def _download(self, cohort_id: str, request_id: str, context: Context) -> requests.Response:
        """The file's response, streaming; a 302 is followed without credentials."""
        path = f"/api/5/cohorts/request/{request_id}/file"
        for attempt in range(1, MAX_LINK_TRIES + 1):
            response = self._api_get(path, {}, context, cohort_id, stream=True)
            if response.status_code not in REDIRECTS:
                return response
            location = urllib.parse.urljoin(response.url, response.headers.get("Location", ""))
            response.close()
            stored = self._storage_get(location, context)
            if stored.status_code == HTTP_OK:
                return stored
            said = stored.text[:300].strip()
            stored.close()
            if stored.status_code != HTTP_FORBIDDEN:
                raise FatalAPIError(
                    f"The storage link of cohort {cohort_id!r} answered {stored.status_code} "
                    f"({urllib.parse.urlsplit(location).path}): {said}"
                )
            self.logger.warning(
                "cohort_members: the download link of cohort %r expired (attempt %d of %d); "
                "asking Amplitude for a new one",
                cohort_id,
                attempt,
                MAX_LINK_TRIES,
            )
        raise FatalAPIError(
            f"The storage link of cohort {cohort_id!r} (request {request_id}) was refused as "
            f"expired {MAX_LINK_TRIES} times in a row. Links live about a minute: check the "
            "clock and the network path to the storage host."
        )

    # --- HTTP --------------------------------------------------------------------------------

    def _api_get(
        self,
        path: str,
        params: dict[str, Any],
        context: Context,
        cohort_id: str,
        *,
        stream: bool = False,
    ) -> requests.Response:
        """An authenticated GET with the SDK's retries; redirects are returned, not followed."""
        prepared = self.build_prepared_request(
            method="GET", url=f"{self.url_base}{path}", params=params, headers=self.http_headers
        )

        def send(request: requests.PreparedRequest, _: Context | None) -> requests.Response:
            response = self.requests_session.send(
                request, timeout=self.timeout, allow_redirects=False, stream=stream
            )
            self._check(response, cohort_id)
            return response

        return cast("Callable[..., requests.Response]", self.request_decorator(send))(
            prepared, context
        )

    @cached_property
    def _storage_session(self) -> requests.Session:
        """A client of its own for pre-signed URLs: no Amplitude credentials, no SDK headers."""
        session = requests.Session()
        session.auth = _NoCredentials()
        return session

    def _storage_get(self, url: str, context: Context) -> requests.Response:
        """GET the pre-signed URL (streaming); 5xx and network errors are retried."""

        def send(_: requests.PreparedRequest, __: Context | None) -> requests.Response:
            response = self._storage_session.get(url, timeout=self.timeout, stream=True)
            if response.status_code >= 500:  # noqa: PLR2004
                response.close()
                raise RetriableAPIError(f"Storage answered {response.status_code}", response)
            return response

        prepared = requests.Request("GET", url).prepare()
        return cast("Callable[..., requests.Response]", self.request_decorator(send))(
            prepared, context
        )

    def _check(self, response: requests.Response, cohort_id: str) -> None:
        """403 names the monthly quota; 404 the cohort id; 429 the rate (and is retried)."""
        status = response.status_code
        if status == HTTP_TOO_MANY:
            said = amplitude_error_text(response, self._secrets)
            raise RetriableAPIError(
                f"Amplitude answered 429 for cohort {cohort_id!r} ({_path_only(response)}: "
                f"{said}). {RATE_NOTE}; retried with backoff. If it persists, run again in 10 "
                "minutes or list fewer `cohort_ids`.",
                response,
            )
        if status == HTTP_FORBIDDEN:
            said = amplitude_error_text(response, self._secrets)
            raise FatalAPIError(
                f"Amplitude refused the download of cohort {cohort_id!r} with 403 ({said}). "
                f"{MONTHLY_QUOTA_NOTE}. Other causes: the Behavioral Cohorts add-on is missing, "
                f"or {auth_failure_message(dict(self.config), status)}"
            )
        if status == HTTP_NOT_FOUND:
            said = amplitude_error_text(response, self._secrets)
            raise FatalAPIError(
                f"Amplitude answered 404 for cohort {cohort_id!r} ({_path_only(response)}: "
                f"{said}). Check `cohort_ids` against the `cohorts` stream's `id` values."
            )
        self.validate_response(response)


def _path_only(response: requests.Response) -> str:
    return urllib.parse.urlsplit(response.url or "").path or "/"


def _request_throttle(tap: Tap) -> SlidingWindowThrottle:
    """Amplitude's 60 single-cohort requests per 10 minutes, for this tap run."""
    throttle = _REQUEST_THROTTLES.get(tap)
    if throttle is None:
        throttle = SlidingWindowThrottle(REQUESTS_PER_TEN_MINUTES, window_seconds=600.0)
        _REQUEST_THROTTLES[tap] = throttle
    return throttle
