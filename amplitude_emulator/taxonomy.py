"""Taxonomy API read endpoints (reference amplitude-apis-2.md 2.2), built from the seeded data.

Routes, each answering `{"success": true, "data": [...]}`:
`/api/2/taxonomy/category`, `/api/2/taxonomy/event` (`showDeleted=true` adds deleted types),
`/api/2/taxonomy/event-property` (`event_type` as a query or form field; without it only the
shared properties; an unknown or stale type answers 400 "Not found"),
`/api/2/taxonomy/user-property` (custom properties carry the `gp:` prefix) and
`/api/2/taxonomy/group-property`. Hidden items are left out.

Enterprise only: a project with `enterprise=False` answers 403. Cost: a GET costs 1; more than
`limits.taxonomy_max_cost_in_flight` at once, or `limits.taxonomy_cost_per_hour` in the last
hour, answers 429.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from amplitude_emulator.auth import authenticate
from amplitude_emulator.http import Response, dashboard_error, route

if TYPE_CHECKING:
    from collections.abc import Callable

    from amplitude_emulator.http import Request
    from amplitude_emulator.state import EmulatorState, Project

PREFIX = "/api/2/taxonomy"
HOUR_SECONDS = 3600.0
CATEGORIES = ({"id": 412931, "name": "Commerce"}, {"id": 412932, "name": "Engagement"})
EVENT_CATEGORIES = {
    "Add to Cart": "Commerce",
    "Checkout Completed": "Commerce",
    "Page Viewed": "Engagement",
    "Video Played": "Engagement",
}
DELETED_EVENT_TYPE = "Legacy Checkout"
EVENT_SPECIFIC_PROPERTIES: dict[str, list[tuple[str, str, bool]]] = {
    "Checkout Completed": [("order_total", "number", True)],
    "Search Performed": [("query", "string", False)],
}
SHARED_PROPERTIES = (("app_build", "string"),)
CUSTOM_USER_PROPERTY_DELETED = "gp:legacy_tier"
GROUP_PROPERTIES = (("company", "name", "string"), ("company", "plan", "enum"))


def _type_of(values: list[Any]) -> str:
    kinds = {type(value).__name__ for value in values if value is not None}
    if kinds <= {"int", "float"} and kinds:
        return "number"
    if kinds == {"bool"}:
        return "boolean"
    if kinds == {"str"}:
        return "string"
    return "any"


def categories(project: Project, request: Request) -> list[dict[str, Any]] | Response:
    """The project's event categories."""
    return [dict(category) for category in CATEGORIES]


def _event_item(name: str, display: str, *, deleted: bool = False) -> dict[str, Any]:
    category = EVENT_CATEGORIES.get(name)
    item: dict[str, Any] = {
        "event_type": name,
        "category": {"name": category} if category else None,
        "description": f"{name} (seeded by the emulator)" if category else None,
        "display_name": display,
        "is_active": not deleted,
        "is_hidden_from_dropdowns": False,
        "is_hidden_from_persona_results": False,
        "is_hidden_from_pathfinder": False,
        "is_hidden_from_timeline": False,
        "tags": ["checkout"] if category == "Commerce" else [],
        "owner": "owner@example.com" if category else None,
    }
    if deleted:
        item["deleted"] = True
    return item


def events(project: Project, request: Request) -> list[dict[str, Any]] | Response:
    """Event types of the catalog (hidden ones omitted); deleted ones with `showDeleted=true`."""
    items = [
        _event_item(row["value"], row["display"])
        for row in project.event_types
        if not row["hidden"]
    ]
    if request.arg("showDeleted") == "true":
        items.append(_event_item(DELETED_EVENT_TYPE, DELETED_EVENT_TYPE, deleted=True))
    return items


def _property_item(
    name: str, event_type: str | None, kind: str, *, required: bool
) -> dict[str, Any]:
    return {
        "event_property": name,
        "event_type": event_type,
        "description": None,
        "type": kind,
        "regex": None,
        "enum_values": None,
        "is_array_type": kind == "any",
        "is_required": required,
        "is_hidden": False,
        "classifications": [],
    }


def event_properties(project: Project, request: Request) -> list[dict[str, Any]] | Response:
    """Properties of one event type (seen in its rows), or the shared ones without a type."""
    event_type = request.arg("event_type")
    if event_type is None and request.body:
        event_type = request.form().get("event_type")
    if not event_type:
        return [
            _property_item(name, None, kind, required=False) for name, kind in SHARED_PROPERTIES
        ]
    known = {row["value"] for row in project.event_types if not row["hidden"]}
    if event_type not in known or event_type in project.taxonomy_stale_event_types:
        return dashboard_error(400, "Not found", f"Event type {event_type!r} not found")
    values: dict[str, list[Any]] = {}
    for row in project.export_rows:
        if row["event_type"] == event_type:
            for key, value in row["event_properties"].items():
                values.setdefault(key, []).append(value)
    items = [
        _property_item(key, event_type, _type_of(seen), required=False)
        for key, seen in sorted(values.items())
    ]
    items += [
        _property_item(name, event_type, kind, required=required)
        for name, kind, required in EVENT_SPECIFIC_PROPERTIES.get(event_type, [])
    ]
    return items


def user_properties(project: Project, request: Request) -> list[dict[str, Any]] | Response:
    """User properties seen in the rows, custom ones with the `gp:` prefix."""
    values: dict[str, list[Any]] = {}
    for row in project.export_rows:
        for key, value in row["user_properties"].items():
            values.setdefault(f"gp:{key}", []).append(value)
    items: list[dict[str, Any]] = [
        {
            "user_property": name,
            "description": None,
            "type": _type_of(seen),
            "enum_values": None,
            "regex": None,
            "is_array_type": False,
            "is_hidden": False,
            "classifications": [],
            "deleted": False,
        }
        for name, seen in sorted(values.items())
    ]
    if request.arg("showDeleted") == "true":
        items.append({**items[0], "user_property": CUSTOM_USER_PROPERTY_DELETED, "deleted": True})
    return items


def group_properties(project: Project, request: Request) -> list[dict[str, Any]] | Response:
    """Group properties of the seeded `company` group type."""
    return [
        {
            "group_type": group_type,
            "group_property": name,
            "description": None,
            "type": kind,
            "enum_values": "free, pro, enterprise" if kind == "enum" else None,
            "regex": None,
            "is_array_type": False,
            "is_hidden": False,
            "classifications": [],
        }
        for group_type, name, kind in GROUP_PROPERTIES
    ]


def _over_cost(project: Project, state: EmulatorState) -> Response | None:
    """429 when one more GET would exceed the cost in flight or the hourly cost."""
    now = state.now()
    limits = state.limits
    times = project.taxonomy_cost_times
    while times and times[0] <= now - HOUR_SECONDS:
        times.pop(0)
    if project.taxonomy_in_flight >= limits.taxonomy_max_cost_in_flight:
        details = f"More than {limits.taxonomy_max_cost_in_flight} cost in flight"
    elif len(times) >= limits.taxonomy_cost_per_hour:
        details = f"More than {limits.taxonomy_cost_per_hour} cost in the last hour"
    else:
        return None
    return dashboard_error(429, "Too many requests", details, kind="rate_limited")


def _serve(
    read: Callable[[Project, Request], list[dict[str, Any]] | Response],
) -> Callable[[Request, EmulatorState], Response]:
    def handler(request: Request, state: EmulatorState) -> Response:
        project = authenticate(request, state)
        if isinstance(project, Response):
            return project
        if not project.enterprise:
            return dashboard_error(
                403,
                "Forbidden",
                "The Taxonomy API is only available to Enterprise customers",
                kind="forbidden",
            )
        with state.lock:
            refused = _over_cost(project, state)
            if refused is not None:
                return refused
            project.taxonomy_in_flight += 1
            project.taxonomy_cost_times.append(state.now())
        try:
            if state.limits.taxonomy_latency_seconds > 0:
                time.sleep(state.limits.taxonomy_latency_seconds)
            with state.lock:
                data = read(project, request)
        finally:
            with state.lock:
                project.taxonomy_in_flight -= 1
        if isinstance(data, Response):
            return data
        return Response.json(200, {"success": True, "data": data})

    return handler


for _path, _read in (
    ("category", categories),
    ("event", events),
    ("event-property", event_properties),
    ("user-property", user_properties),
    ("group-property", group_properties),
):
    route("GET", f"{PREFIX}/{_path}")(_serve(_read))
