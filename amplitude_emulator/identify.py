"""Form-encoded /identify, /groupidentify and /usermap: validate a whole request, then apply it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amplitude_emulator.event_checks import (
    DEFAULT_MIN_ID_LENGTH,
    check_ids,
    groups_are_valid,
    truncate_strings,
)
from amplitude_emulator.http import Request, Response, route
from amplitude_emulator.ingest_common import (
    PAYLOAD_TOO_LARGE,
    RefusedError,
    bump,
    decoded_body,
    error,
    form_fields,
    json_field,
)
from amplitude_emulator.profile_store import apply_group_properties, apply_identity
from amplitude_emulator.profiles import (
    GROUP_OPERATORS,
    USER_OPERATORS,
    ProfileError,
    normalize_operations,
)
from amplitude_emulator.throttle import indices_per_id, record, throttle_body

if TYPE_CHECKING:
    from amplitude_emulator.state import EmulatorState, Project

SUCCESS = "success"
IDENTIFY_SCOPE = "identify:"  # identifications are rate-limited apart from events


def _open(
    request: Request, state: EmulatorState, max_bytes: int, too_large_status: int
) -> tuple[Project, dict[str, str]]:
    """The project and form fields of a form-encoded ingestion request (raises RefusedError)."""
    body = decoded_body(request)
    if body is None:
        raise RefusedError(error(400, "missing_event", detail="body does not decompress"))
    if len(body) > max_bytes:
        too_large = {**PAYLOAD_TOO_LARGE, "code": too_large_status}
        raise RefusedError(Response.json(too_large_status, too_large))
    fields = form_fields(request, body) or {}
    api_key = fields.get("api_key")
    if not api_key:
        raise RefusedError(error(400, "Request missing required field", missing_field="api_key"))
    project = state.project_by_api_key(api_key)
    if project is None:
        raise RefusedError(error(400, f"Invalid API key: {api_key}"))
    return project, fields


def _items(fields: dict[str, str], name: str, missing_message: str) -> list[Any]:
    """A field holding one JSON object or a non-empty JSON array, as a list."""
    value = json_field(fields, name)
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and value:
        return value
    why = f"{name} is missing or not a JSON object/array"
    raise RefusedError(error(400, missing_message, detail=why))


def _min_id_length(fields: dict[str, str]) -> int:
    options = json_field(fields, "options")
    value = options.get("min_id_length") if isinstance(options, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return DEFAULT_MIN_ID_LENGTH


@route("POST", "/identify")
@route("GET", "/identify")
def identify(request: Request, state: EmulatorState) -> Response:
    """Apply user_properties operations, groups and device fields to user/device profiles."""
    limits = state.limits
    try:
        project, fields = _open(request, state, limits.identify_max_bytes, 413)
        items = _items(fields, "identification", "missing_event")
        if len(items) > limits.identify_max_items:
            return Response.json(413, PAYLOAD_TOO_LARGE)
        min_id_length = _min_id_length(fields)
        cleaned = [_check_identification(i, item, min_id_length) for i, item in enumerate(items)]
    except RefusedError as refused:
        return refused.response
    with state.lock:
        now = state.now()
        ids = indices_per_id(cleaned)
        throttled = throttle_body(project, ids, limits, now, IDENTIFY_SCOPE)
        if throttled is not None:
            throttled.pop("throttled_events")  # identify 429s name no indices
            return Response.json(429, throttled)
        record(project, ids, now, IDENTIFY_SCOPE)
        for item in cleaned:
            apply_identity(project, item, operators_allowed=True)
        bump(project, "identifications", len(cleaned))
    return Response.text(200, SUCCESS)


def _check_identification(index: int, item: Any, min_id_length: int) -> dict[str, Any]:
    def refuse(why: str) -> RefusedError:
        return RefusedError(error(400, "missing_event", detail=f"identification {index}: {why}"))

    if not isinstance(item, dict):
        raise refuse("not a JSON object")
    item = truncate_strings(item)
    bad_values, _too_short, remaining = check_ids(item, min_id_length)
    if bad_values:
        raise refuse(f"invalid {bad_values[0]}")
    if not remaining:
        raise refuse(f"needs a user_id or device_id of at least {min_id_length} characters")
    if item.get("groups") is not None and not groups_are_valid(item["groups"]):
        raise refuse("groups: at most 5 types with at most 10 values each")
    try:
        normalize_operations(item.get("user_properties"), USER_OPERATORS)
    except ProfileError as exc:
        raise refuse(f"user_properties: {exc}") from None
    return item


@route("POST", "/groupidentify")
def group_identify(request: Request, state: EmulatorState) -> Response:
    """Apply group_properties operations to group profiles (documented answers: 200, 400)."""
    limits = state.limits
    try:
        project, fields = _open(request, state, limits.groupidentify_max_bytes, 400)
        items = _items(fields, "identification", "missing_event")
        if len(items) > limits.groupidentify_max_items:
            cap = limits.groupidentify_max_items
            return error(400, "Too many group identifications", limit=cap)
        cleaned = [_check_group(i, item) for i, item in enumerate(items)]
    except RefusedError as refused:
        return refused.response
    property_count = sum(_property_count(item.get("group_properties")) for item in cleaned)
    if property_count > limits.groupidentify_max_properties:
        return error(400, "Too many group properties", limit=limits.groupidentify_max_properties)
    with state.lock:
        for item in cleaned:
            apply_group_properties(
                project, item["group_type"], item["group_value"], item.get("group_properties")
            )
        bump(project, "group_identifications", len(cleaned))
    return Response.text(200, SUCCESS)


def _check_group(index: int, item: Any) -> dict[str, Any]:
    def refuse(why: str) -> RefusedError:
        return RefusedError(error(400, "missing_event", detail=f"identification {index}: {why}"))

    if not isinstance(item, dict):
        raise refuse("not a JSON object")
    item = truncate_strings(item)
    for name in ("group_type", "group_value"):
        if not isinstance(item.get(name), str) or not item[name]:
            raise refuse(f"{name} must be a non-empty string")
    try:
        normalize_operations(item.get("group_properties"), GROUP_OPERATORS)
    except ProfileError as exc:
        raise refuse(f"group_properties: {exc}") from None
    return item


def _property_count(properties: Any) -> int:
    if not isinstance(properties, dict):
        return 0
    if any(key.startswith("$") for key in properties):
        return sum(len(v) for v in properties.values() if isinstance(v, dict))
    return len(properties)


@route("POST", "/usermap")
def user_map(request: Request, state: EmulatorState) -> Response:
    """Map user_ids to a global_user_id, or unmap them (Portfolio)."""
    limits = state.limits
    try:
        project, fields = _open(request, state, limits.usermap_max_bytes, 413)
        if not fields.get("mapping"):
            return error(400, "Request missing required field", missing_field="mapping")
        items = _items(fields, "mapping", "Invalid mapping")
        if len(items) > limits.usermap_max_items:
            return Response.json(413, PAYLOAD_TOO_LARGE)
        for index, item in enumerate(items):
            _check_mapping(index, item)
    except RefusedError as refused:
        return refused.response
    with state.lock:
        for item in items:
            if item.get("unmap") is True:
                project.user_mappings.pop(item["user_id"], None)
            else:
                project.user_mappings[item["user_id"]] = {"global_user_id": item["global_user_id"]}
    return Response.text(200, SUCCESS)


def _check_mapping(index: int, item: Any) -> None:
    def refuse(why: str) -> RefusedError:
        return RefusedError(error(400, "Invalid mapping", detail=f"mapping {index}: {why}"))

    user_id = item.get("user_id") if isinstance(item, dict) else None
    if not user_id or not isinstance(user_id, str):
        raise refuse("needs a user_id string")
    if item.get("unmap") is True:
        return
    if not isinstance(item.get("global_user_id"), str) or not item["global_user_id"]:
        raise refuse("needs a global_user_id string or unmap: true")
