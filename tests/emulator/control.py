"""Test-only control API under /__emulator__/: read back what was stored, reset, arm faults."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from tests.emulator.faults import Fault
from tests.emulator.http import Request, Response, route

if TYPE_CHECKING:
    from tests.emulator.state import EmulatorState, Project

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
            }
            for r in state.requests
        ]
    return Response.json(200, rows)


@route("GET", PREFIX + r"/projects/(\d+)/events")
def ingested_events(request: Request, state: EmulatorState) -> Response:
    """Events ingested into a project (after dedupe), in arrival order."""
    project = _project(state, request.path.split("/")[3])
    if project is None:
        return Response.json(404, {"error": "no such project"})
    with state.lock:
        return Response.json(200, list(project.ingested_events))


@route("GET", PREFIX + r"/projects/(\d+)/users")
def user_profiles(request: Request, state: EmulatorState) -> Response:
    """User/device profiles of a project."""
    project = _project(state, request.path.split("/")[3])
    if project is None:
        return Response.json(404, {"error": "no such project"})
    with state.lock:
        return Response.json(200, project.user_profiles)


@route("GET", PREFIX + r"/projects/(\d+)/groups")
def group_profiles(request: Request, state: EmulatorState) -> Response:
    """Group profiles of a project, as a list of {group_type, group_value, group_properties}."""
    project = _project(state, request.path.split("/")[3])
    if project is None:
        return Response.json(404, {"error": "no such project"})
    with state.lock:
        rows = [
            {"group_type": k[0], "group_value": k[1], "group_properties": v}
            for k, v in project.group_profiles.items()
        ]
    return Response.json(200, rows)


@route("GET", PREFIX + r"/projects/(\d+)/usermap")
def user_mappings(request: Request, state: EmulatorState) -> Response:
    """User mappings of a project."""
    project = _project(state, request.path.split("/")[3])
    if project is None:
        return Response.json(404, {"error": "no such project"})
    with state.lock:
        return Response.json(200, project.user_mappings)


@route("GET", PREFIX + r"/projects/(\d+)/counters")
def ingestion_counters(request: Request, state: EmulatorState) -> Response:
    """Ingestion counters of a project (requests, events_received, events_stored, ...)."""
    project = _project(state, request.path.split("/")[3])
    if project is None:
        return Response.json(404, {"error": "no such project"})
    with state.lock:
        return Response.json(200, dict(project.counters))


@route("POST", PREFIX + "/clock")
def shift_clock(request: Request, state: EmulatorState) -> Response:
    """Move the emulator clock: {"advance": seconds} or {"offset": seconds} (EPS, quota, dedupe)."""
    payload: dict[str, Any] = request.json() if request.body else {}
    with state.lock:
        if "offset" in payload:
            state.clock_offset = float(payload["offset"])
        state.clock_offset += float(payload.get("advance", 0))
        return Response.json(200, {"offset": state.clock_offset, "now": state.now()})
