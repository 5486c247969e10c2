"""Request decoding and error bodies shared by the ingestion endpoints."""

from __future__ import annotations

import gzip
import json
import urllib.parse
import zlib
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any

from amplitude_emulator.http import Request, Response

if TYPE_CHECKING:
    from amplitude_emulator.state import Project

PAYLOAD_TOO_LARGE = {"code": 413, "error": "Payload too large"}


def header(request: Request, name: str) -> str:
    """A request header, case-insensitively ('' when absent)."""
    wanted = name.lower()
    for key, value in request.headers.items():
        if key.lower() == wanted:
            return value
    return ""


def decoded_body(request: Request) -> bytes | None:
    """The body after Content-Encoding: gzip (None when it does not decompress)."""
    if "gzip" not in header(request, "Content-Encoding").lower():
        return request.body
    try:
        return gzip.decompress(request.body)
    except (OSError, EOFError, zlib.error):
        return None


class RefusedError(Exception):
    """Validation failed; carries the response to send."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def error(status: int, message: str, **extra: Any) -> Response:
    """An ingestion error body: {code, error, ...}."""
    return Response.json(status, {"code": status, "error": message, **extra})


def bump(project: Project, name: str, amount: int = 1) -> None:
    """Add to a project counter (caller holds the lock)."""
    project.counters[name] = project.counters.get(name, 0) + amount


def form_fields(request: Request, body: bytes) -> dict[str, str] | None:
    """Fields of a urlencoded or multipart form (query string on GET); None if unreadable."""
    if request.method == "GET":
        return {key: values[0] for key, values in request.query.items() if values}
    content_type = header(request, "Content-Type")
    try:
        if content_type.lower().startswith("multipart/form-data"):
            return _multipart_fields(content_type, body)
        if "json" in content_type.lower():
            return None
        parsed = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return None
    return {key: values[0] for key, values in parsed.items()}


def _multipart_fields(content_type: str, body: bytes) -> dict[str, str]:
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if name and isinstance(payload, bytes):
            fields[str(name)] = payload.decode("utf-8")
    return fields


def json_field(fields: dict[str, str], name: str) -> Any:
    """A form field holding JSON, or None when absent or not JSON."""
    raw = fields.get(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None
