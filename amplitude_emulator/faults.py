"""Faults a test can arm for the next matching requests, with realistic bodies per status."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# kind -> what happens
#   status        respond with `status` and `body` (or the realistic default body for that status)
#   slow          sleep `delay` seconds, then answer normally (longer than the client's timeout)
#   drop          send headers and part of the body, then close the connection
#   truncate      200 whose body is the first half of the real body (a truncated zip)
#   notzip        200 with an HTML page instead of the zip (proxy / rate-limit page)
#   corrupt_line     export only: one gzip member gets a line that is not JSON
#   truncate_member  export only: one gzip member is cut short (the zip itself is whole)
#   corrupt_crc      export only: one gzip member's CRC-32 trailer is wrong
KINDS = (
    "status",
    "slow",
    "drop",
    "truncate",
    "notzip",
    "corrupt_line",
    "truncate_member",
    "corrupt_crc",
)

DEFAULT_BODIES: dict[int, Any] = {
    429: {
        "code": 429,
        "error": "Too many requests for some devices and users",
        "eps_threshold": 30,
        "throttled_devices": {},
        "throttled_users": {},
        "throttled_events": [],
    },
    500: {"code": 500, "error": "Internal Server Error"},
    502: "<html><body><h1>502 Bad Gateway</h1></body></html>",
    503: {"code": 503, "error": "Service Unavailable"},
    504: "<html><body><h1>504 Gateway Time-out</h1></body></html>",
}


@dataclass
class Fault:
    """One armed fault: which requests it hits, how many times, and what it does."""

    kind: str
    path: str = ".*"  # regex, full match against the request path
    method: str | None = None
    times: int = 1
    status: int = 500
    body: Any = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    remaining: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {KINDS}")
        self.remaining = self.times
        self._pattern = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request."""
        if self.method and self.method.upper() != method.upper():
            return False
        return self._pattern.fullmatch(path) is not None

    def response_body(self) -> Any:
        """The body to send for a `status` fault."""
        if self.body is not None:
            return self.body
        return DEFAULT_BODIES.get(self.status, {"code": self.status, "error": "injected"})

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> Fault:
        """Build from the control API's JSON body."""
        allowed = {"kind", "path", "method", "times", "status", "body", "delay", "headers"}
        unknown = set(payload) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}")
        return cls(**payload)
