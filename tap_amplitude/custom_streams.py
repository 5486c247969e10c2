"""Streams declared in the `custom_streams` setting: any GET endpoint under the API host.

The equivalent of an integration platform's "manual configuration": a name, a path, query
params, a JSONPath to the records and primary keys. Same auth, region, error mapping and
retries as every stream; the user-API quota applies when the path is a user endpoint. The
schema is declared in the setting or inferred from a sample of the endpoint's records.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import ConfigValidationError

from tap_amplitude.client import AmplitudeStream
from tap_amplitude.user_run import USER_API_PATHS, user_run

if TYPE_CHECKING:
    from collections.abc import Sequence

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_amplitude.throttle import SlidingWindowThrottle

SAMPLE_RECORDS = 100
_NAME = re.compile(r"[a-z][a-z0-9_]*")

_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),  # before int: bool is an int subclass
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (dict, "object"),
    (list, "array"),
)


class CustomStreamsError(ConfigValidationError, ValueError):
    """A `custom_streams` entry the setting's schema cannot refuse (a duplicate or bad name)."""

    def __init__(self, message: str) -> None:
        """The message is also the one listed error, which the command line prints."""
        super().__init__(message, errors=[message])


class CustomStream(AmplitudeStream):
    """One `custom_streams` entry: a single GET whose records sit at `records_path`."""

    def __init__(self, tap: Tap, spec: dict[str, Any]) -> None:
        """Build from a validated `custom_streams` entry."""
        self.spec = spec
        path = str(spec["path"])
        super().__init__(
            tap=tap,
            name=str(spec["name"]),
            schema=spec.get("schema") or None,
            path=path if path.startswith("/") else f"/{path}",
        )
        self._declared_schema = bool(spec.get("schema"))

    @property
    def records_jsonpath(self) -> str:
        """`records_path` of the entry (default: the top-level array)."""
        return str(self.spec.get("records_path") or "$[*]")

    @property
    def primary_keys(self) -> Sequence[str]:
        """`primary_keys` of the entry."""
        return tuple(self.spec.get("primary_keys") or ())

    @primary_keys.setter
    def primary_keys(self, value: Any) -> None:
        """Catalog overrides are accepted (the SDK applies them on catalog input)."""
        self.spec["primary_keys"] = list(value or ())

    @property
    def schema(self) -> dict[str, Any]:
        """The declared schema, else one inferred from a sample of the endpoint (cached)."""
        if self._schema is None:
            sample = list(itertools.islice(self.request_records(None), SAMPLE_RECORDS))
            self._schema = infer_schema(sample, self.primary_keys)
            self.logger.info(
                "custom stream '%s': schema inferred from %d sample records", self.name, len(sample)
            )
        return self._schema

    @property
    def bad_request_hint(self) -> str:
        """Point at the entry that built the request."""
        return f"Check the `custom_streams` entry '{self.name}' (path and params)."

    @property
    def request_throttle(self) -> SlidingWindowThrottle | None:
        """User Activity / User Search paths share the user-API quota."""
        if self.path and self.path.startswith(USER_API_PATHS):
            return user_run(self._tap).throttle
        return None

    def get_url_params(
        self,
        context: Context | None,  # noqa: ARG002
        next_page_token: int | None,  # noqa: ARG002
    ) -> dict:
        """`params` of the entry."""
        return dict(self.spec.get("params") or {})


def build_custom_streams(tap: Tap) -> list[CustomStream]:
    """One stream per `custom_streams` entry; names must be unique and not shadow a built-in."""
    specs: list[dict[str, Any]] = list(tap.config.get("custom_streams") or [])
    built: list[CustomStream] = []
    seen: set[str] = set()
    for spec in specs:
        name = str(spec.get("name") or "")
        if not _NAME.fullmatch(name) or name in seen:
            raise CustomStreamsError(
                f"custom_streams: name {name!r} must be unique snake_case "
                "(letters, digits, underscores, starting with a letter)"
            )
        if not spec.get("path"):
            raise CustomStreamsError(
                f"custom_streams: entry {name!r} needs a `path` (e.g. /api/2/...)"
            )
        seen.add(name)
        built.append(CustomStream(tap, dict(spec)))
    return built


def infer_schema(records: list[dict[str, Any]], primary_keys: Sequence[str]) -> dict[str, Any]:
    """A JSON schema that accepts every sampled record: observed types plus null, objects open."""
    types: dict[str, set[str]] = {}
    for record in records:
        for key, value in record.items():
            types.setdefault(key, set()).add(_json_type(value))
    for key in primary_keys:
        types.setdefault(key, {"string"})
    properties = {key: _property(sorted(seen - {"null"})) for key, seen in types.items()}
    return {"type": "object", "properties": properties, "additionalProperties": True}


def _json_type(value: Any) -> str:
    for python_type, json_type in _JSON_TYPES:
        if isinstance(value, python_type):
            return json_type
    if value is None:
        return "null"
    return "number"  # Decimal and other numerics from the SDK's JSON parser


def _property(seen: list[str]) -> dict[str, Any]:
    if not seen:
        return {"type": ["string", "null"]}  # only nulls sampled; declare a schema to be exact
    if set(seen) == {"integer", "number"}:
        seen = ["number"]
    schema: dict[str, Any] = {"type": [*seen, "null"]}
    if "object" in seen:
        schema["additionalProperties"] = True
    if "array" in seen:
        schema["items"] = {}
    return schema
