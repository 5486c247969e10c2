"""Dashboard REST list and user endpoints, answered from the seeded export rows of a project.

Routes: `/api/2/events/list`, `/api/2/usersearch`, `/api/2/useractivity`, `/api/2/annotations`,
`/api/3/annotations` (404 when `project.serves_annotations_v3` is False), `/api/3/cohorts`
(403 when `project.cohorts_addon` is False); the chart endpoints `/api/2/users` and
`/api/2/sessions/average` live in `charts.py`. All need Basic auth (see `auth.py`).

User activity follows reference b.5: `offset` counts from the most recent event (or the earliest
with `direction=earliest`), `limit` is at most `state.limits.useractivity_max_limit` (400 above),
and a page never ends inside a session: events of the last event's session that follow it are
appended, so a page can hold more than `limit` events. An unknown but numeric Amplitude ID gets
200 with no events (undocumented).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from amplitude_emulator import charts  # noqa: F401  registers the chart routes
from amplitude_emulator.auth import authenticate
from amplitude_emulator.http import Response, dashboard_error, route

if TYPE_CHECKING:
    from amplitude_emulator.http import Request
    from amplitude_emulator.state import EmulatorState, Project

DIRECTIONS = ("latest", "earliest")


@route("GET", "/api/2/events/list")
def events_list(request: Request, state: EmulatorState) -> Response:
    """Visible event types with this week's totals (hidden ones are left out, as documented)."""
    project = authenticate(request, state)
    if isinstance(project, Response):
        return project
    with state.lock:
        visible = [
            dict(event_type) for event_type in project.event_types if not event_type["hidden"]
        ]
    return Response.json(200, {"data": visible})


@route("GET", "/api/2/annotations")
def annotations_list(request: Request, state: EmulatorState) -> Response:
    """Chart annotations (legacy v2 shape)."""
    project = authenticate(request, state)
    if isinstance(project, Response):
        return project
    with state.lock:
        return Response.json(200, {"data": [dict(item) for item in project.annotations]})


@route("GET", "/api/3/annotations")
def annotations_list_v3(request: Request, state: EmulatorState) -> Response:
    """Chart annotations (v3 shape); 404 when the project is set to serve only v2."""
    project = authenticate(request, state)
    if isinstance(project, Response):
        return project
    if not project.serves_annotations_v3:
        return dashboard_error(404, "Not found", "Not found", kind="not_found")
    with state.lock:
        return Response.json(200, {"data": [dict(item) for item in project.annotations_v3]})


@route("GET", "/api/3/cohorts")
def cohorts_list(request: Request, state: EmulatorState) -> Response:
    """Behavioral cohorts; 403 when the project lacks the add-on."""
    project = authenticate(request, state)
    if isinstance(project, Response):
        return project
    if not project.cohorts_addon:
        return dashboard_error(
            403,
            "Forbidden",
            "This organization does not have access to Behavioral Cohorts",
            kind="forbidden",
        )
    with state.lock:
        return Response.json(200, {"cohorts": [dict(item) for item in project.cohorts]})


def _events_by_user(project: Project) -> dict[int, list[dict[str, Any]]]:
    """Each Amplitude ID's events, oldest first (by event time, then upload order)."""
    by_user: dict[int, list[dict[str, Any]]] = {}
    for row in project.export_rows:
        by_user.setdefault(row["amplitude_id"], []).append(row)
    for events in by_user.values():
        events.sort(key=lambda row: (row["event_time"], row["server_upload_time"], row["uuid"]))
    return by_user


def _latest(events: list[dict[str, Any]]) -> dict[str, Any]:
    return max(events, key=lambda row: row["server_upload_time"])


@route("GET", "/api/2/usersearch")
def user_search(request: Request, state: EmulatorState) -> Response:
    """Users matching an Amplitude ID, a device ID, a user ID or a user ID prefix."""
    project = authenticate(request, state)
    if isinstance(project, Response):
        return project
    term = request.arg("user")
    if not term:
        return dashboard_error(400, "Invalid request", "Parameter 'user' is required")
    with state.lock:
        by_user = _events_by_user(project)
    matches = []
    kinds: set[str] = set()
    for amplitude_id, events in by_user.items():
        kind = _match_kind(term, amplitude_id, events)
        if kind is None:
            continue
        kinds.add(kind)
        latest = _latest(events)
        matches.append(
            {
                "user_id": latest["user_id"],
                "amplitude_id": amplitude_id,
                "last_device_id": latest["device_id"],
                "platform": latest["platform"],
                "country": latest["country"],
                "last_seen": latest["event_time"][:19],
            }
        )
    if not matches:
        return Response.json(200, {"type": "nomatch", "matches": []})
    kind = next(k for k in MATCH_KINDS if k in kinds)
    return Response.json(200, {"matches": matches, "type": kind})


MATCH_KINDS = ("match_amplitude_id", "match_user_or_device_id", "match_user_prefix")


def _match_kind(term: str, amplitude_id: int, events: list[dict[str, Any]]) -> str | None:
    """The documented `type` a search term matches this user as, or None.

    An Amplitude ID gives `match_amplitude_id`, an exact user or device ID
    `match_user_or_device_id`, the start of a user ID `match_user_prefix`.
    """
    user_ids = {row["user_id"] for row in events if row["user_id"]}
    if term == str(amplitude_id):
        return "match_amplitude_id"
    if term in user_ids or term in {row["device_id"] for row in events}:
        return "match_user_or_device_id"
    if any(user_id.startswith(term) for user_id in user_ids):
        return "match_user_prefix"
    return None


def _int_arg(request: Request, name: str, default: int) -> int | None:
    raw = request.arg(name)
    if raw is None or raw == "":
        return default
    return int(raw) if raw.isdigit() else None


@route("GET", "/api/2/useractivity")
def user_activity(request: Request, state: EmulatorState) -> Response:
    """One page of a user's events plus their profile (`userData`) and query `metadata`."""
    project = authenticate(request, state)
    if isinstance(project, Response):
        return project
    user = request.arg("user") or ""
    offset = _int_arg(request, "offset", 0)
    limit = _int_arg(request, "limit", state.limits.useractivity_max_limit)
    direction = request.arg("direction") or "latest"
    if not user.isdigit():
        return dashboard_error(
            400, "Invalid request", f"'user' must be an Amplitude ID, got {user!r}"
        )
    if offset is None:
        return dashboard_error(400, "Invalid request", "'offset' must be a non-negative integer")
    if limit is None or not 1 <= limit <= state.limits.useractivity_max_limit:
        return dashboard_error(
            400,
            "Invalid request",
            f"'limit' must be between 1 and {state.limits.useractivity_max_limit}",
        )
    if direction not in DIRECTIONS:
        return dashboard_error(400, "Invalid request", "'direction' must be latest or earliest")
    with state.lock:
        events = _events_by_user(project).get(int(user), [])
    ordered = events[::-1] if direction == "latest" else events
    page = _complete_sessions(ordered, offset, limit)
    payload = {
        "userData": _user_data(int(user), events),
        "events": [_activity_event(row) for row in page],
        "metadata": {
            "missingData": False,
            "queryIds": [f"emulator-{user}-{offset}-{limit}"],
            "cached": False,
            "timeComputed": int(state.now() * 1000),
            "kronosRuntime": 12,
            "kronosRequestDuration": 15,
            "subCluster": 1,
        },
    }
    return Response.json(200, payload)


def _complete_sessions(
    ordered: list[dict[str, Any]], offset: int, limit: int
) -> list[dict[str, Any]]:
    """`limit` events from `offset`, extended so the page does not cut its last session."""
    page = ordered[offset : offset + limit]
    end = offset + len(page)
    if page and page[-1]["session_id"] != -1:
        session = page[-1]["session_id"]
        while end < len(ordered) and ordered[end]["session_id"] == session:
            page.append(ordered[end])
            end += 1
    return page


def _activity_event(row: dict[str, Any]) -> dict[str, Any]:
    """An export row as user activity shows it (adds `raw_event_type` and `os`)."""
    return {
        **row,
        "raw_event_type": row["event_type"],
        "os": f"{row['os_name']} {row['os_version']}",
    }


def _epoch_ms(raw: str) -> int:
    moment = datetime.strptime(raw[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def _user_data(amplitude_id: int, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The documented `userData` keys plus the camelCase extras real responses carry."""
    if not events:
        return {"canonical_amplitude_id": amplitude_id, "num_events": 0, "merged_amplitude_ids": []}
    latest = _latest(events)
    device_ids = sorted({row["device_id"] for row in events})
    sessions = {row["session_id"] for row in events if row["session_id"] != -1}
    first_seen, last_seen = events[0]["event_time"], events[-1]["event_time"]
    usage_ms = _epoch_ms(last_seen) - _epoch_ms(first_seen)
    return {
        "user_id": latest["user_id"],
        "canonical_amplitude_id": amplitude_id,
        "merged_amplitude_ids": [],
        "merge_times": [],
        "aliasing_user_ids": [],  # seen in real responses (fides dataset); empty without aliasing
        "aliased_user_id": None,
        "aliasing_profiles": [],  # real responses carry it too (fides dataset)
        "num_events": len(events),
        "num_sessions": len(sessions),
        "usage_time": usage_ms,
        "usageTime": usage_ms,
        "first_used": first_seen[:10],
        "last_used": last_seen[:10],
        "firstSeen": _epoch_ms(first_seen),
        "lastSeen": _epoch_ms(last_seen),
        "purchases": 0,
        "revenue": 0,
        "platform": latest["platform"],
        "os": f"{latest['os_name']} {latest['os_version']}",
        "version": latest["version_name"],
        "device": latest["device_family"],
        "device_type": latest["device_type"],
        "carrier": latest["device_carrier"],
        "country": latest["country"],
        "region": latest["region"],
        "city": latest["city"],
        "dma": latest["dma"],
        "language": latest["language"],
        "start_version": latest["start_version"],
        "library": latest["library"],
        "ip_address": latest["ip_address"],
        "paying": latest["paying"],
        "device_ids": device_ids,
        "deviceIds": device_ids,
        "last_device_id": latest["device_id"],
        "last_location": {"lat": latest["location_lat"], "lng": latest["location_lng"]},
        "lastLocationLat": latest["location_lat"],
        "lastLocationLong": latest["location_lng"],
        "properties": dict(latest["user_properties"]),
    }
