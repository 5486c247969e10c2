"""Cohort writes: `/api/3/cohorts/upload` (create or replace) and `/api/3/cohorts/membership`.

As documented (Behavioral Cohorts API) and as Segment's Amplitude Cohorts destination found it:
Basic auth; an upload names `name, app_id, id_type (BY_AMP_ID | BY_USER_ID), ids, owner,
published` and optionally `existing_cohort_id` (its members are then replaced) and
`skip_invalid_ids` (default true); membership updates list `{ids, id_type (BY_ID = amplitude id,
BY_NAME = user id), operation (ADD | REMOVE)}`. At most `limits.cohort_max_ids` (100,000) ids per
request. An id is valid when it names a user the project knows (seeded export rows, ingested
identities); invalid ids are skipped (upload: counted, with a sample; membership: listed in
`skipped_ids`), or refuse the whole request when `skip_invalid_ids` is false. An upload with no
valid id is refused (empty audiences are rejected). A write to a cohort another write still holds
answers 429 (`limits.cohort_write_seconds` is how long each write holds it).

Members go to `project.cohort_members` (`cohort_store.py`, the one store downloads read too);
uploaded cohorts are listed by `/api/3/cohorts` with `type: manual_upload`. Test-only control
routes are in `cohort_control.py`.
"""

from __future__ import annotations

import math
import random
import string
import time
from typing import TYPE_CHECKING, Any

from amplitude_emulator.auth import authenticate
from amplitude_emulator.cohort_store import Member
from amplitude_emulator.http import Response, dashboard_error, route

if TYPE_CHECKING:
    from amplitude_emulator.http import Request
    from amplitude_emulator.state import EmulatorState, Project

UPLOAD_ID_TYPES = {"BY_AMP_ID": "amplitude_id", "BY_USER_ID": "user_id"}
MEMBERSHIP_ID_TYPES = {"BY_ID": "amplitude_id", "BY_NAME": "user_id"}
OPERATIONS = ("ADD", "REMOVE")
IN_PROGRESS = math.inf


class _Refused(Exception):  # noqa: N818  carries the response, not an error of ours
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _bad(message: str, details: str = "") -> _Refused:
    return _Refused(dashboard_error(400, message, details or message, kind="invalid"))


Known = tuple[dict[str, Member], dict[int, Member]]


def _known_users(project: Project) -> Known:
    """Every user the project knows, by user_id and by Amplitude id (profiles carry properties)."""
    by_user: dict[str, Member] = {}
    by_amplitude: dict[int, Member] = {}
    for profile in project.user_profiles.values():
        user_id = profile.get("user_id")
        member = Member(
            profile["amplitude_id"], user_id, dict(profile.get("user_properties") or {})
        )
        by_amplitude.setdefault(member.amplitude_id, member)
        if user_id:
            by_user.setdefault(user_id, member)
    for row in project.export_rows:
        amplitude_id, user_id = row.get("amplitude_id"), row.get("user_id")
        if isinstance(amplitude_id, int) and amplitude_id not in by_amplitude:
            member = Member(amplitude_id, user_id)
            by_amplitude[amplitude_id] = member
            if user_id:
                by_user.setdefault(user_id, member)
    return by_user, by_amplitude


def _resolve(ids: list[Any], kind: str, known: Known) -> tuple[list[Member], list[Any]]:
    """The members the valid ids name (in order, de-duplicated), and the invalid ids."""
    by_user, by_amplitude = known
    matched: dict[int, Member] = {}
    invalid: list[Any] = []
    for raw in ids:
        member: Member | None = None
        if kind == "user_id" and isinstance(raw, str):
            member = by_user.get(raw)
        elif kind == "amplitude_id" and isinstance(raw, (str, int)) and str(raw).isdigit():
            member = by_amplitude.get(int(raw))
        if member is None:
            invalid.append(raw)
        else:
            matched.setdefault(member.amplitude_id, member)
    return list(matched.values()), invalid


def _json_object(request: Request) -> dict[str, Any]:
    try:
        payload = request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad("Invalid JSON body", str(exc)) from exc
    if not isinstance(payload, dict):
        raise _bad("Invalid request", "The body must be a JSON object")
    return payload


def _required(payload: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = payload.get(name)
    if value is None or not isinstance(value, kind) or value == "":
        raise _bad("Invalid request", f"Parameter '{name}' is required ({_type_name(kind)})")
    return value


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _check_count(state: EmulatorState, count: int) -> None:
    cap = state.limits.cohort_max_ids
    if count > cap:
        raise _bad("Too many ids", f"At most {cap} ids per request; got {count}")


def _cohort(project: Project, cohort_id: str) -> dict[str, Any]:
    for cohort in project.cohorts:
        if cohort["id"] == cohort_id:
            return cohort
    raise _Refused(
        dashboard_error(404, "Not found", f"Cohort {cohort_id} not found", kind="not_found")
    )


def _new_cohort_id(project: Project) -> str:
    taken = {cohort["id"] for cohort in project.cohorts} | set(project.cohort_members.cohort_ids())
    rng = random.Random(f"{project.project_id}-{len(taken)}")  # ids are never reused
    while True:
        candidate = "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(7))
        if candidate not in taken:
            return candidate


def _new_cohort(project: Project, cohort_id: str, now: int) -> dict[str, Any]:
    """A `manual_upload` cohort as `/api/3/cohorts` lists it."""
    cohort: dict[str, Any] = {
        "appId": project.project_id,
        "archived": False,
        "definition": {
            "version": 3,
            "countGroup": "User",
            "cohortType": "UNIQUES",
            "andClauses": [],
            "referenceFrameTimeParams": {},
        },
        "description": None,
        "finished": True,
        "id": cohort_id,
        "name": "",
        "owners": [],
        "viewers": [],
        "published": False,
        "size": 0,
        "type": "manual_upload",
        "lastMod": now,
        "createdAt": now,
        "lastComputed": now,
        "hidden": False,
        "metadata": None,
        "view_count": None,
        "popularity": None,
        "last_viewed": None,
        "chart_id": None,
        "edit_id": None,
        "is_predictive": False,
        "is_official_content": False,
        "location_id": None,
        "shortcut_ids": [],
        "syncMetadata": [],
    }
    project.cohorts.append(cohort)
    return cohort


def _claim(state: EmulatorState, project: Project, cohort_id: str) -> None:
    """Mark the cohort as being written, or refuse with 429 if another write holds it."""
    with state.lock:
        if project.cohort_busy_until.get(cohort_id, 0.0) > state.now():
            raise _Refused(
                dashboard_error(
                    429,
                    "Too many requests",
                    f"Cohort {cohort_id} is being updated by another request; retry later",
                    kind="too_many_requests",
                )
            )
        project.cohort_busy_until[cohort_id] = IN_PROGRESS


def _hold_and_release(state: EmulatorState, project: Project, cohort_id: str) -> None:
    """Keep the claim for `cohort_write_seconds` (a write takes time), then drop it."""
    if state.limits.cohort_write_seconds > 0:
        time.sleep(state.limits.cohort_write_seconds)
    with state.lock:
        if project.cohort_busy_until.get(cohort_id) == IN_PROGRESS:
            del project.cohort_busy_until[cohort_id]


@route("POST", "/api/3/cohorts/upload")
def upload(request: Request, state: EmulatorState) -> Response:
    """Create a cohort from ids, or replace an existing cohort's members."""
    project = authenticate(request, state)
    if isinstance(project, Response):
        return project
    try:
        return _upload(request, state, project)
    except _Refused as refused:
        return refused.response


def _upload(request: Request, state: EmulatorState, project: Project) -> Response:
    payload = _json_object(request)
    name = _required(payload, "name", str)
    app_id = _required(payload, "app_id", (int, str))
    id_type = _required(payload, "id_type", str)
    ids = _required(payload, "ids", list)
    owner = _required(payload, "owner", str)
    published = payload.get("published")
    if not isinstance(published, bool):
        raise _bad("Invalid request", "Parameter 'published' is required (bool)")
    if str(app_id) != str(project.project_id):
        raise _bad("Invalid app_id", f"app_id {app_id} is not the project of this API key")
    if id_type not in UPLOAD_ID_TYPES:
        raise _bad("Invalid id_type", f"id_type must be one of {', '.join(UPLOAD_ID_TYPES)}")
    _check_count(state, len(ids))
    existing = payload.get("existing_cohort_id")
    skip_invalid = payload.get("skip_invalid_ids", True) is not False
    with state.lock:
        if existing is not None:
            _cohort(project, str(existing))
        matched, invalid = _resolve(ids, UPLOAD_ID_TYPES[id_type], _known_users(project))
    sample = invalid[: state.limits.cohort_invalid_ids_sample]
    if invalid and not skip_invalid:
        raise _Refused(
            Response.json(
                400,
                {
                    "error": {
                        "http_code": 400,
                        "type": "invalid",
                        "message": "Invalid ids",
                        "metadata": {"invalid_ids_sample": sample, "invalid": len(invalid)},
                    }
                },
            )
        )
    if not matched:
        raise _bad("No valid ids", "The upload must contain at least one id of a known user")
    cohort_id = str(existing) if existing is not None else None
    if cohort_id is not None:
        _claim(state, project, cohort_id)
    try:
        with state.lock:
            now = int(state.now())
            if cohort_id is None:
                cohort_id = _new_cohort_id(project)
                cohort = _new_cohort(project, cohort_id, now)
            else:
                cohort = _cohort(project, cohort_id)
            project.cohort_members.replace(cohort_id, matched)
            size = project.cohort_members.count(cohort_id)
            cohort.update(
                name=name,
                owners=[owner],
                published=published,
                size=size,
                lastMod=now,
                lastComputed=now,
            )
            listed = dict(cohort)
    finally:
        if existing is not None:
            _hold_and_release(state, project, str(existing))
    metadata = {"matched": len(matched), "totals": len(ids), "invalid_ids_sample": sample}
    return Response.json(
        200, {"cohortId": cohort_id, "cohortsById": {cohort_id: listed}, "metadata": metadata}
    )


@route("POST", "/api/3/cohorts/membership")
def membership(request: Request, state: EmulatorState) -> Response:
    """Add ids to, or remove them from, an existing cohort."""
    project = authenticate(request, state)
    if isinstance(project, Response):
        return project
    try:
        return _membership(request, state, project)
    except _Refused as refused:
        return refused.response


def _operations(payload: dict[str, Any]) -> list[tuple[list[Any], str, str]]:
    entries = _required(payload, "memberships", list)
    if not entries:
        raise _bad("Invalid request", "Parameter 'memberships' must list at least one entry")
    parsed = []
    for index, entry in enumerate(entries):
        where = f"memberships[{index}]"
        if not isinstance(entry, dict):
            raise _bad("Invalid request", f"{where} must be an object")
        ids, id_type, operation = entry.get("ids"), entry.get("id_type"), entry.get("operation")
        if not isinstance(ids, list):
            raise _bad("Invalid request", f"{where}.ids is required (list)")
        if id_type not in MEMBERSHIP_ID_TYPES:
            raise _bad("Invalid id_type", f"{where}.id_type must be BY_ID or BY_NAME")
        if operation not in OPERATIONS:
            raise _bad("Invalid operation", f"{where}.operation must be ADD or REMOVE")
        parsed.append((ids, id_type, operation))
    return parsed


def _membership(request: Request, state: EmulatorState, project: Project) -> Response:
    payload = _json_object(request)
    cohort_id = str(_required(payload, "cohort_id", (str, int)))
    count_group = payload.get("count_group", "User")
    if count_group != "User":
        raise _bad("Invalid count_group", "count_group must match the cohort's (User)")
    operations = _operations(payload)
    _check_count(state, sum(len(ids) for ids, _, _ in operations))
    skip_invalid = payload.get("skip_invalid_ids", True) is not False
    with state.lock:
        _cohort(project, cohort_id)
        known = _known_users(project)
    resolved = [
        (_resolve(ids, MEMBERSHIP_ID_TYPES[id_type], known), id_type, operation)
        for ids, id_type, operation in operations
    ]
    if not skip_invalid and any(invalid for (_, invalid), _, _ in resolved):
        raise _bad("Invalid ids", "The request holds invalid ids and skip_invalid_ids is false")
    _claim(state, project, cohort_id)
    try:
        with state.lock:
            store = project.cohort_members
            results = []
            for (matched, invalid), id_type, operation in resolved:
                if operation == "ADD":
                    store.add(cohort_id, matched)
                else:
                    store.remove(cohort_id, [member.amplitude_id for member in matched])
                results.append(
                    {
                        "skipped_ids": [str(raw) for raw in invalid],
                        "id_type": id_type,
                        "operation": operation,
                    }
                )
            cohort = _cohort(project, cohort_id)
            cohort.update(size=store.count(cohort_id), lastMod=int(state.now()))
    finally:
        _hold_and_release(state, project, cohort_id)
    return Response.json(200, {"cohort_id": cohort_id, "memberships_result": results})
