"""Test-only control routes for cohort writes (under /__emulator__/projects/<id>/).

Read a cohort's members back, mark a cohort busy as if another writer held it, and register
known users in bulk (uploads accept only ids of users the project knows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from amplitude_emulator.http import Response, route
from amplitude_emulator.profile_store import profile_for

if TYPE_CHECKING:
    from amplitude_emulator.http import Request
    from amplitude_emulator.state import EmulatorState, Project

CONTROL = "/__emulator__/projects/(\\d+)"


def _control_project(state: EmulatorState, project_id: str) -> Project | None:
    return state.projects.get(int(project_id))


@route("GET", CONTROL + "/cohorts/([^/]+)/members")
def members_view(request: Request, state: EmulatorState) -> Response:
    """A cohort's members as Amplitude ids and user ids, and whether a write holds it."""
    _, _, _, project_id, _, cohort_id, _ = request.path.split("/")
    project = _control_project(state, project_id)
    if project is None:
        return Response.json(404, {"error": "no such project"})
    with state.lock:
        if not any(cohort["id"] == cohort_id for cohort in project.cohorts):
            return Response.json(404, {"error": f"no cohort {cohort_id}"})
        members = list(project.cohort_members.members(cohort_id))
        busy = project.cohort_busy_until.get(cohort_id, 0.0) > state.now()
    amplitude_ids = sorted(member.amplitude_id for member in members)
    user_ids = sorted(member.user_id for member in members if member.user_id)
    return Response.json(
        200,
        {
            "cohort_id": cohort_id,
            "amplitude_ids": amplitude_ids,
            "user_ids": user_ids,
            "writing": busy,
        },
    )


@route("POST", CONTROL + "/cohorts/([^/]+)/busy")
def mark_busy(request: Request, state: EmulatorState) -> Response:
    """{"seconds": s}: the cohort answers 429 to writes for s seconds (another writer holds it)."""
    _, _, _, project_id, _, cohort_id, _ = request.path.split("/")
    project = _control_project(state, project_id)
    if project is None:
        return Response.json(404, {"error": "no such project"})
    seconds = float((request.json() if request.body else {}).get("seconds", 1))
    with state.lock:
        project.cohort_busy_until[cohort_id] = state.now() + seconds
    return Response.json(200, {"ok": True})


@route("POST", CONTROL + "/users")
def register_users(request: Request, state: EmulatorState) -> Response:
    """{"user_ids": [...]}: make these users known (as if identified); returns their ids."""
    _, _, _, project_id, _ = request.path.split("/")
    project = _control_project(state, project_id)
    if project is None:
        return Response.json(404, {"error": "no such project"})
    user_ids = request.json().get("user_ids") or []
    with state.lock:
        profiles = [profile_for(project, {"user_id": str(uid)}) for uid in user_ids]
    return Response.json(200, {p["user_id"]: p["amplitude_id"] for p in profiles if p is not None})
