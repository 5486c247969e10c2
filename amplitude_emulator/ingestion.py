"""POST /2/httpapi and /batch: validate, throttle, dedupe by insert_id and store (HTTP V2 docs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from amplitude_emulator import identify  # noqa: F401  registers /identify, /groupidentify, /usermap
from amplitude_emulator.event_checks import (
    DEFAULT_MIN_ID_LENGTH,
    GROUP_IDENTIFY,
    IDENTIFY,
    SKIP_USER_PROPERTIES_SYNC,
    EventProblems,
    check_event,
)
from amplitude_emulator.http import Request, Response, route
from amplitude_emulator.ingest_common import (
    PAYLOAD_TOO_LARGE,
    RefusedError,
    bump,
    decoded_body,
    error,
    header,
)
from amplitude_emulator.profile_store import apply_group_properties, apply_identity
from amplitude_emulator.profiles import USER_OPERATORS
from amplitude_emulator.throttle import indices_per_id, record, rejection

if TYPE_CHECKING:
    from amplitude_emulator.state import EmulatorState, Limits, Project


@route("POST", "/2/httpapi")
def http_v2(request: Request, state: EmulatorState) -> Response:
    """HTTP V2: ≤ httpapi_max_events events and ≤ httpapi_max_bytes per request."""
    limits = state.limits
    return upload_events(request, state, limits.httpapi_max_events, limits.httpapi_max_bytes)


@route("POST", "/batch")
def batch(request: Request, state: EmulatorState) -> Response:
    """Batch Event Upload: same body and answers as HTTP V2, larger byte cap."""
    limits = state.limits
    return upload_events(request, state, limits.batch_max_events, limits.batch_max_bytes)


def upload_events(
    request: Request, state: EmulatorState, max_events: int, max_bytes: int
) -> Response:
    """Whole-request semantics: any non-200 answer ingests nothing."""
    try:
        project, payload, size = _open_upload(request, state, max_events, max_bytes)
    except RefusedError as refused:
        return refused.response
    events: list[Any] = payload["events"]
    if state.limits.ack_only:
        with state.lock:
            bump(project, "requests")
            bump(project, "events_received", len(events))
        return _accepted(len(events), size, state.now())
    min_id_length = _min_id_length(payload.get("options"))
    if min_id_length is None:
        return error(400, "Invalid JSON request body")
    problems = EventProblems()
    for index, event in enumerate(events):
        check_event(index, event, min_id_length, problems)
    if problems:
        return Response.json(400, problems.body())
    with state.lock:
        now = state.now()
        ids = indices_per_id(events)
        refusal = rejection(project, ids, state.limits, now)
        if refusal is not None:
            return Response.json(*refusal)
        record(project, ids, now)
        _store(project, events, state.limits, now)
        bump(project, "requests")
        bump(project, "events_received", len(events))
    return _accepted(len(events), size, now)


def _open_upload(
    request: Request, state: EmulatorState, max_events: int, max_bytes: int
) -> tuple[Project, dict[str, Any], int]:
    """Project, parsed body and decompressed size; raises RefusedError with the documented 4xx."""
    body = decoded_body(request)
    if body is not None and not body.strip():
        raise RefusedError(error(400, "Missing request body"))
    if body is not None and len(body) > max_bytes:
        raise RefusedError(Response.json(413, PAYLOAD_TOO_LARGE))
    payload = _json_object(request, body)
    if payload is None or body is None:
        raise RefusedError(error(400, "Invalid JSON request body"))
    for name, kind in (("api_key", str), ("events", list)):
        if not payload.get(name) or not isinstance(payload[name], kind):
            missing = error(400, "Request missing required field", missing_field=name)
            raise RefusedError(missing)
    project = state.project_by_api_key(payload["api_key"])
    if project is None:
        raise RefusedError(error(400, f"Invalid API key: {payload['api_key']}"))
    if len(payload["events"]) > max_events:
        raise RefusedError(Response.json(413, PAYLOAD_TOO_LARGE))
    return project, payload, len(body)


def _json_object(request: Request, body: bytes | None) -> dict[str, Any] | None:
    """The body as a JSON object, or None (undecodable, not JSON, or not declared as JSON)."""
    content_type = header(request, "Content-Type").lower()
    if body is None or (content_type and "json" not in content_type):
        return None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return payload if isinstance(payload, dict) else None


def _accepted(count: int, size: int, now: float) -> Response:
    return Response.json(
        200,
        {
            "code": 200,
            "events_ingested": count,
            "payload_size_bytes": size,
            "server_upload_time": int(now * 1000),
        },
    )


def _min_id_length(options: Any) -> int | None:
    """options.min_id_length, the default when absent, None when malformed."""
    if options is None:
        return DEFAULT_MIN_ID_LENGTH
    if not isinstance(options, dict):
        return None
    value = options.get("min_id_length", DEFAULT_MIN_ID_LENGTH)
    if value is None:
        return DEFAULT_MIN_ID_LENGTH
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return None
    return value


def _store(project: Project, events: list[dict[str, Any]], limits: Limits, now: float) -> None:
    """Store what is not a repeat insert_id, and apply identities to profiles."""
    upload_ms = int(now * 1000)
    seen = project.seen_insert_ids
    window = limits.dedupe_window_seconds
    stored = 0
    for event in events:
        insert_id = event.get("insert_id")
        if insert_id is not None:
            key = (str(event.get("device_id") or event.get("user_id") or ""), str(insert_id))
            first_seen = seen.get(key)
            if first_seen is not None and now - first_seen < window:
                continue
            seen[key] = now
        event["server_upload_time"] = upload_ms
        event.setdefault("time", upload_ms)
        _apply_profiles(project, event)
        project.ingested_events.append(event)
        stored += 1
    bump(project, "events_stored", stored)
    bump(project, "events_deduplicated", len(events) - stored)


def _apply_profiles(project: Project, event: dict[str, Any]) -> None:
    """$identify / $groupidentify events update profiles; plain events $set plain properties.

    An event sent with `$skip_user_properties_sync: true` keeps its own user_properties and
    leaves the profile's alone (Amplitude's backfill guide).
    """
    event_type = event.get("event_type")
    if event_type == GROUP_IDENTIFY:
        bag = event.get("group_properties")
        for group_type, value in (event.get("groups") or {}).items():
            for group_value in value if isinstance(value, list) else [value]:
                apply_group_properties(project, group_type, str(group_value), bag, USER_OPERATORS)
        return
    holder = event
    if event.get(SKIP_USER_PROPERTIES_SYNC) is True and event_type != IDENTIFY:
        holder = {k: v for k, v in event.items() if k != "user_properties"}
    profile = apply_identity(project, holder, operators_allowed=event_type == IDENTIFY)
    if profile is not None:
        event["amplitude_id"] = profile["amplitude_id"]
