"""Test-only control API under /__emulator__/: read back what was stored, reset, arm faults."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from amplitude_emulator.faults import Fault
from amplitude_emulator.http import Request, Response, route

if TYPE_CHECKING:
    from collections.abc import Callable

    from amplitude_emulator.state import EmulatorState, Project

PREFIX = "/__emulator__"


def _project(state: EmulatorState, project_id: str) -> Project | None:
    return state.projects.get(int(project_id)) if project_id.isdigit() else None


@route("POST", PREFIX + "/reset")
def reset(request: Request, state: EmulatorState) -> Response:
    """Reseed everything; optional JSON body {"seed": int}."""
    payload = request.json() if request.body else {}
    state.reset(payload.get("seed"))
    return Response.json(200, {"ok": True, "seed": state.seed})


@route("POST", PREFIX + "/faults")
def add_fault(request: Request, state: EmulatorState) -> Response:
    """Arm a fault: {"kind", "path", "method", "times", "status", "body", "delay", "headers"}."""
    try:
        fault = Fault.from_json(request.json())
    except (TypeError, ValueError) as exc:
        return Response.json(400, {"error": str(exc)})
    state.add_fault(fault)
    return Response.json(200, {"ok": True})


@route("DELETE", PREFIX + "/faults")
def clear_faults(request: Request, state: EmulatorState) -> Response:
    """Disarm every fault."""
    with state.lock:
        state.faults.clear()
    return Response.json(200, {"ok": True})


@route("GET", PREFIX + "/limits")
def get_limits(request: Request, state: EmulatorState) -> Response:
    """Current limits."""
    return Response.json(200, dataclasses.asdict(state.limits))


@route("POST", PREFIX + "/limits")
def set_limits(request: Request, state: EmulatorState) -> Response:
    """Change limits: a JSON object of Limits fields."""
    payload: dict[str, Any] = request.json()
    names = {f.name for f in dataclasses.fields(state.limits)}
    unknown = set(payload) - names
    if unknown:
        return Response.json(400, {"error": f"unknown limits {sorted(unknown)}"})
    with state.lock:
        for key, value in payload.items():
            setattr(state.limits, key, value)
    return Response.json(200, dataclasses.asdict(state.limits))


@route("GET", PREFIX + "/requests")
def requests_log(request: Request, state: EmulatorState) -> Response:
    """The request log (method, path, query, status, body size, time)."""
    with state.lock:
        rows = [
            {
                "method": r.method,
                "path": r.path,
                "query": r.query,
                "status": r.status,
                "body_size": r.body_size,
                "at": r.at,
                "received_at": r.received_at,
            }
            for r in state.requests
        ]
    return Response.json(200, rows)


def _group_rows(project: Project) -> list[dict[str, Any]]:
    return [
        {"group_type": key[0], "group_value": key[1], "group_properties": properties}
        for key, properties in project.group_profiles.items()
    ]


# What a project holds, by the name under /__emulator__/projects/<id>/: ingested events (after
# dedupe, in arrival order), user/device profiles, group profiles, user mappings and counters.
PROJECT_VIEWS: dict[str, Callable[[Project], Any]] = {
    "events": lambda project: list(project.ingested_events),
    "users": lambda project: project.user_profiles,
    "groups": _group_rows,
    "usermap": lambda project: project.user_mappings,
    "counters": lambda project: dict(project.counters),
}


@route("GET", PREFIX + r"/projects/(\d+)/(events|users|groups|usermap|counters)")
def project_view(request: Request, state: EmulatorState) -> Response:
    """Read back one of PROJECT_VIEWS for a project."""
    _, _, _, project_id, view = request.path.split("/")
    project = _project(state, project_id)
    if project is None:
        return Response.json(404, {"error": "no such project"})
    with state.lock:
        return Response.json(200, PROJECT_VIEWS[view](project))


@route("POST", PREFIX + "/clock")
def shift_clock(request: Request, state: EmulatorState) -> Response:
    """Move the emulator clock: {"advance": seconds} or {"offset": seconds} (EPS, quota, dedupe)."""
    payload: dict[str, Any] = request.json() if request.body else {}
    with state.lock:
        if "offset" in payload:
            state.clock_offset = float(payload["offset"])
        state.clock_offset += float(payload.get("advance", 0))
        return Response.json(200, {"offset": state.clock_offset, "now": state.now()})
