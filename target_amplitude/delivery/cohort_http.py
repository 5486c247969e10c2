"""HTTP transport for the Behavioral Cohorts API: JSON bodies, Basic auth, masked secrets.

Like `http.AmplitudeClient`, it sends one request and reports what came back; the cohort writer
decides about retries.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
import requests

from target_amplitude.amplitude import COHORT_HOSTS
from target_amplitude.delivery.http import MASK, HttpResult, dumps


class CohortClient:
    """POSTs and GETs against `https://amplitude.com` (or the EU host, or `cohort_api_url`)."""

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        *,
        region: str = "us",
        api_url: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        """Resolve the base URL once; `api_url` (a proxy or the emulator) overrides the region."""
        region = (region or "us").lower()
        if region not in COHORT_HOSTS:
            raise ValueError(f"region must be one of {sorted(COHORT_HOSTS)}, got {region!r}")
        self.base = api_url.rstrip("/") if api_url else COHORT_HOSTS[region]
        self._secrets = [s for s in (secret_key, api_key) if s]
        self._auth = (api_key, secret_key)
        self._timeout = (min(10.0, timeout), timeout)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = "target-amplitude"
            session.auth = self._auth
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def post(self, path: str, body: dict[str, Any]) -> HttpResult:
        """POST a JSON body; transport failures come back with `status=None`."""
        return self._request("POST", path, dumps(body))

    def get(self, path: str) -> HttpResult:
        """GET a path."""
        return self._request("GET", path, None)

    def _request(self, method: str, path: str, body: bytes | None) -> HttpResult:
        try:
            response = self._session().request(
                method,
                self.base + path,
                data=body,
                headers={"Content-Type": "application/json", "Accept": "application/json"},
                timeout=self._timeout,
            )
            raw = response.content
        except requests.RequestException as exc:
            return HttpResult(None, error=self.mask(f"{type(exc).__name__}: {exc}"))
        try:
            parsed: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            parsed = None
        text = self.mask(raw[:2000].decode("utf-8", errors="replace"))
        return HttpResult(response.status_code, parsed, text, None, dict(response.headers))

    def mask(self, text: str) -> str:
        """Remove both keys from text bound for a log, an error or a dead-letter file."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def close(self) -> None:
        """Close the sessions of every thread that sent something."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()
