"""HTTP transport for the Behavioral Cohorts API: JSON bodies, Basic auth, masked secrets.

Like `http.AmplitudeClient`, it sends one request and reports what came back; the cohort writer
decides about retries.
"""

from __future__ import annotations

from typing import Any

from target_amplitude.amplitude import COHORT_HOSTS, DEFAULT_REGION
from target_amplitude.delivery.http import (
    MASK,
    HttpResult,
    ThreadSessions,
    base_url,
    dumps,
    send,
    timeouts,
)
from target_amplitude.delivery.settings import DEFAULTS


class CohortClient:
    """POSTs and GETs against the region's Dashboard REST host (or `cohort_api_url`)."""

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        *,
        region: str = DEFAULT_REGION,
        api_url: str | None = None,
        timeout: float = DEFAULTS["request_timeout"],
    ) -> None:
        """Resolve the base URL once; `api_url` (a proxy or the emulator) overrides the region."""
        self.base = base_url(COHORT_HOSTS, region, api_url)
        self._secrets = [s for s in (secret_key, api_key) if s]
        self._timeout = timeouts(timeout)
        self._sessions = ThreadSessions(auth=(api_key, secret_key))

    def post(self, path: str, body: dict[str, Any]) -> HttpResult:
        """POST a JSON body; transport failures come back with `status=None`."""
        return self._request("POST", path, dumps(body))

    def get(self, path: str) -> HttpResult:
        """GET a path."""
        return self._request("GET", path, None)

    def _request(self, method: str, path: str, body: bytes | None) -> HttpResult:
        return send(
            self._sessions.get(),
            method,
            self.base + path,
            body,
            content_type="application/json",
            timeout=self._timeout,
            mask=self.mask,
        )

    def mask(self, text: str) -> str:
        """Remove both keys from text bound for a log, an error or a dead-letter file."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def close(self) -> None:
        """Close the sessions of every thread that sent something."""
        self._sessions.close()
