"""HTTP transport for Amplitude's ingestion endpoints: URLs by region, body encoding, masking.

The client sends one request and reports what came back; it never retries (the Deliverer decides,
because only it knows which records a response is about).
"""

from __future__ import annotations

import datetime as dt
import decimal
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import requests

from target_amplitude.amplitude import (
    DEFAULT_REGION,
    EVENT_PATHS,
    EVENTS,
    FORM_FIELDS,
    FORM_PATHS,
    GROUP_IDENTIFY,
    IDENTIFY,
    INGESTION_HOSTS,
    USERMAP,
    USERMAP_HOSTS,
)
from target_amplitude.delivery.settings import DEFAULTS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

# Quoted forms of the JSON array punctuation in a form body ("[", ",", "]").
_FORM_OPEN, _FORM_SEP, _FORM_CLOSE = b"%5B", b"%2C", b"%5D"
MASK = "***"
BODY_EXCERPT_CHARS = 2000  # of a response body, kept for reports and dead letters
CONNECT_TIMEOUT_MAX_SECONDS = 10.0


def _json_default(value: Any) -> Any:
    """Serialize the few non-JSON types a mapped record may still carry."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    raise TypeError(f"cannot serialize {type(value).__name__} into an Amplitude payload")


def dumps(value: Any) -> bytes:
    """Compact JSON, the same bytes every time for the same payload."""
    return orjson.dumps(value, default=_json_default)


@dataclass
class HttpResult:
    """What one request produced: a status and parsed body, or a transport error (status None)."""

    status: int | None
    body: Any = None  # parsed JSON, or None when the body is not JSON
    text: str = ""  # raw body (masked), for reports
    error: str | None = None  # transport failure: timeout, reset, truncated response
    headers: dict[str, str] = field(default_factory=dict)


def base_url(hosts: Mapping[str, str], region: str | None, api_url: str | None) -> str:
    """`api_url` (a proxy or the emulator) when set, else the region's host; a bad region fails."""
    region = (region or DEFAULT_REGION).lower()
    if region not in hosts:
        raise ValueError(f"region must be one of {sorted(hosts)}, got {region!r}")
    return api_url.rstrip("/") if api_url else hosts[region]


def timeouts(timeout: float) -> tuple[float, float]:
    """(connect, read) seconds: a host that does not answer within 10 s is not coming."""
    return (min(CONNECT_TIMEOUT_MAX_SECONDS, timeout), timeout)


class ThreadSessions:
    """One `requests.Session` per thread (sinks may drain in parallel), closed all together."""

    def __init__(self, auth: tuple[str, str] | None = None) -> None:
        """Sessions send `auth` as HTTP Basic when given."""
        self._auth = auth
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def get(self) -> requests.Session:
        """This thread's session, opened on first use."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = "target-amplitude"
            if self._auth is not None:
                session.auth = self._auth
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        """Close the session of every thread that sent something."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()


def send(
    session: requests.Session,
    method: str,
    url: str,
    body: bytes | None,
    *,
    content_type: str,
    timeout: tuple[float, float],
    mask: Callable[[str], str],
) -> HttpResult:
    """One request; a transport failure comes back as a result with `status=None`.

    The body is masked before it is parsed, so no secret reaches a report through either.
    """
    try:
        response = session.request(
            method,
            url,
            data=body,
            headers={"Content-Type": content_type, "Accept": "application/json"},
            timeout=timeout,
        )
        raw = response.content
    except requests.RequestException as exc:
        return HttpResult(None, error=mask(f"{type(exc).__name__}: {exc}"))
    text = mask(raw.decode("utf-8", errors="replace"))
    try:
        parsed: Any = orjson.loads(text) if text else None
    except orjson.JSONDecodeError:
        parsed = None
    return HttpResult(
        response.status_code, parsed, text[:BODY_EXCERPT_CHARS], None, dict(response.headers)
    )


class AmplitudeClient:
    """Builds request bodies from pre-serialized items and POSTs them.

    Items are serialized once (`encode_item`) so the Deliverer can measure request sizes exactly
    while it fills a request, and re-sends reuse the very same bytes (same insert_ids).
    """

    def __init__(
        self,
        api_key: str,
        *,
        region: str = DEFAULT_REGION,
        api_url: str | None = None,
        event_endpoint: str = DEFAULTS["event_endpoint"],
        min_id_length: int | None = None,
        timeout: float = DEFAULTS["request_timeout"],
    ) -> None:
        """Resolve URLs once; `api_url` (a proxy or the emulator) overrides the region hosts."""
        if event_endpoint not in EVENT_PATHS:
            raise ValueError(
                f"event_endpoint must be one of {sorted(EVENT_PATHS)}, got {event_endpoint!r}"
            )
        base = base_url(INGESTION_HOSTS, region, api_url)
        usermap_base = base_url(USERMAP_HOSTS, region, api_url)
        self._api_key = api_key
        self.event_endpoint = event_endpoint
        self._timeout = timeouts(timeout)
        self.urls = {
            EVENTS: base + EVENT_PATHS[event_endpoint],
            IDENTIFY: base + FORM_PATHS[IDENTIFY],
            GROUP_IDENTIFY: base + FORM_PATHS[GROUP_IDENTIFY],
            USERMAP: usermap_base + FORM_PATHS[USERMAP],
        }
        options = {"min_id_length": min_id_length} if min_id_length is not None else None
        self._json_head = b'{"api_key":' + dumps(api_key) + b',"events":['
        self._json_tail = b"]" + (b',"options":' + dumps(options) if options else b"") + b"}"
        self._sessions = ThreadSessions()

    # --- encoding -----------------------------------------------------------------------------

    @staticmethod
    def encode_item(endpoint: str, payload: dict[str, Any]) -> bytes:
        """One payload as it appears inside a request body (JSON, or URL-quoted JSON for forms)."""
        data = dumps(payload)
        if endpoint == EVENTS:
            return data
        return urllib.parse.quote_plus(data).encode("ascii")

    def overhead(self, endpoint: str) -> int:
        """Bytes of a request body around its items (separators are counted per item)."""
        if endpoint == EVENTS:
            return len(self._json_head) + len(self._json_tail)
        return len(self._form_head(endpoint)) + len(_FORM_OPEN) + len(_FORM_CLOSE)

    @staticmethod
    def separator_size(endpoint: str) -> int:
        """Bytes added between two items."""
        return 1 if endpoint == EVENTS else len(_FORM_SEP)

    def _form_head(self, endpoint: str) -> bytes:
        key = urllib.parse.quote_plus(self._api_key).encode("ascii")
        return b"api_key=" + key + b"&" + FORM_FIELDS[endpoint].encode("ascii") + b"="

    def build_body(self, endpoint: str, parts: list[bytes]) -> bytes:
        """The whole request body from encoded items, in order."""
        if endpoint == EVENTS:
            return self._json_head + b",".join(parts) + self._json_tail
        return self._form_head(endpoint) + _FORM_OPEN + _FORM_SEP.join(parts) + _FORM_CLOSE

    # --- sending ------------------------------------------------------------------------------

    def post(self, endpoint: str, body: bytes) -> HttpResult:
        """POST one body; transport failures come back as a result with `status=None`."""
        content_type = (
            "application/json" if endpoint == EVENTS else "application/x-www-form-urlencoded"
        )
        return send(
            self._sessions.get(),
            "POST",
            self.urls[endpoint],
            body,
            content_type=content_type,
            timeout=self._timeout,
            mask=self.mask,
        )

    def mask(self, text: str) -> str:
        """Remove the API key from any text bound for a log, an error or a dead-letter file."""
        if not self._api_key:
            return text
        quoted = urllib.parse.quote_plus(self._api_key)
        return text.replace(self._api_key, MASK).replace(quoted, MASK)

    def close(self) -> None:
        """Close the sessions of every thread that sent something."""
        self._sessions.close()
