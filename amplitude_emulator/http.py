"""Request/response values and the route table shared by every emulator endpoint module."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from amplitude_emulator.faults import Fault
    from amplitude_emulator.state import EmulatorState


@dataclass
class Request:
    """One parsed HTTP request as the endpoint handlers see it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    fault: Fault | None = None

    def arg(self, name: str) -> str | None:
        """First value of a query parameter, or None."""
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        """Body parsed as JSON (raises ValueError on bad JSON)."""
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        """Body parsed as application/x-www-form-urlencoded (first value of each field)."""
        parsed = urllib.parse.parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
        return {key: values[0] for key, values in parsed.items()}

    def basic_auth(self) -> tuple[str, str] | None:
        """(username, password) from an HTTP Basic Authorization header, or None."""
        header = self.headers.get("Authorization") or self.headers.get("authorization")
        if not header or not header.lower().startswith("basic "):
            return None
        try:
            decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        user, _, password = decoded.partition(":")
        return user, password


@dataclass
class Response:
    """What a handler returns: a status, headers and a body (bytes, a file, or chunks)."""

    status: int
    body: bytes | Path | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_length: int | None = None

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        """A JSON response."""
        body = json.dumps(payload).encode("utf-8")
        return cls(status, body, {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "text/plain") -> Response:
        """A plain-text (or HTML) response."""
        return cls(status, text.encode("utf-8"), {"Content-Type": content_type})


Handler = Callable[[Request, "EmulatorState"], Response]


@dataclass(frozen=True)
class Route:
    """A method and a path pattern (regex, full match) bound to a handler."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler


ROUTES: list[Route] = []


def route(method: str, path_regex: str) -> Callable[[Handler], Handler]:
    """Register a handler for METHOD and a full-match path regex."""

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method.upper(), re.compile(path_regex), handler))
        return handler

    return register


def find_route(method: str, path: str) -> tuple[Route | None, bool]:
    """The route for this request, and whether the path exists under another method."""
    path_known = False
    for candidate in ROUTES:
        if candidate.pattern.fullmatch(path):
            path_known = True
            if candidate.method == method:
                return candidate, True
    return None, path_known


def dashboard_error(
    status: int, message: str, details: str = "", kind: str = "invalid"
) -> Response:
    """Amplitude's Dashboard REST error body shape."""
    return Response.json(
        status,
        {
            "error": {
                "http_code": status,
                "type": kind,
                "message": message,
                "metadata": {"details": details},
            }
        },
    )
