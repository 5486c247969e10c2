"""Behavioral Cohorts download: request a cohort, poll the job, fetch the gzipped CSV.

Routes (reference amplitude-apis-2.md 2.1):
- `GET /api/5/cohorts/request/{cohort_id}` (`props=1`, repeated `propKeys`): 202
  `{request_id, cohort_id}`; each call uses one of `limits.cohort_downloads_per_month` (beyond
  it: 403 with the Dashboard error body); 403 without the Behavioral Cohorts add-on; 404 unknown;
  429 (Dashboard error body naming the limit) past `limits.cohort_requests_per_window` accepted
  requests in the last `limits.cohort_request_window_seconds` ("60 requests per 10 minutes per
  app"); a refused request uses no quota.
- `GET /api/5/cohorts/request-status/{request_id}`: 202 `JOB INPROGRESS` for
  `limits.cohort_job_seconds`, then 200 `JOB COMPLETED`.
- `GET /api/5/cohorts/request/{request_id}/file`: cohorts up to `limits.cohort_inline_max_members`
  come back inline; larger ones get a 302 to `/__storage__/cohorts/{token}` (a pre-signed
  storage URL, valid `limits.cohort_link_seconds`). The request id stays valid for
  `limits.cohort_request_valid_seconds` (7 days), so the file can be asked for again.
- `GET /__storage__/cohorts/{token}`: the file; like S3 it refuses a request that also carries
  an `Authorization` header (400 InvalidArgument) and an expired link (403 AccessDenied).

The file is a quoted CSV with a header row (`amplitude_id`, `user_id`, then the requested user
properties), gzip-compressed; it is streamed from the cohort store in chunks.
"""

from __future__ import annotations

import csv
import io
import secrets
import zlib
from typing import TYPE_CHECKING, Any

from amplitude_emulator.auth import authenticate
from amplitude_emulator.http import Response, dashboard_error, route

if TYPE_CHECKING:
    from collections.abc import Iterator

    from amplitude_emulator.cohort_store import Member
    from amplitude_emulator.http import Request
    from amplitude_emulator.state import EmulatorState, Project

STORAGE_PREFIX = "/__storage__/cohorts/"
IN_PROGRESS = "JOB INPROGRESS"
COMPLETED = "JOB COMPLETED"
ROWS_PER_CHUNK = 2000


def _s3_error(status: int, code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>"
    )
    return Response(status, body.encode(), {"Content-Type": "application/xml"})


def _forbidden_without_addon(project: Project) -> Response | None:
    if project.cohorts_addon:
        return None
    return dashboard_error(
        403,
        "Forbidden",
        "This organization does not have access to Behavioral Cohorts",
        kind="forbidden",
    )


@route("GET", r"/api/5/cohorts/request/[^/]+")
def request_cohort(request: Request, state: EmulatorState) -> Response:
    """Start a download job for one cohort (counts toward the monthly quota)."""
    project = authenticate(request, state)
    if isinstance(project, Response):
        return project
    refused = _forbidden_without_addon(project)
    if refused is not None:
        return refused
    cohort_id = request.path.rsplit("/", 1)[1]
    with state.lock:
        if not project.cohort_members.has(cohort_id):
            return dashboard_error(404, "Not found", f"Cohort {cohort_id} not found", "not_found")
        quota = state.limits.cohort_downloads_per_month
        if project.cohort_downloads_used >= quota:
            return dashboard_error(
                403,
                "Cohort download limit exceeded",
                f"This project has used its {quota} cohort download requests for this month",
                kind="forbidden",
            )
        throttled = _over_request_rate(project, state)
        if throttled is not None:
            return throttled
        project.cohort_downloads_used += 1
        project.cohort_request_times.append(state.now())
        request_id = secrets.token_hex(12)
        project.cohort_jobs[request_id] = {
            "cohort_id": cohort_id,
            "created_at": state.now(),
            "props": request.arg("props") == "1",
            "prop_keys": list(request.query.get("propKeys", [])),
        }
    return Response.json(202, {"request_id": request_id, "cohort_id": cohort_id})


def _over_request_rate(project: Project, state: EmulatorState) -> Response | None:
    """429 when the app already made the allowed single-cohort requests in the window."""
    limit = state.limits.cohort_requests_per_window
    window = state.limits.cohort_request_window_seconds
    times = project.cohort_request_times
    while times and times[0] <= state.now() - window:
        times.pop(0)
    if len(times) < limit:
        return None
    return dashboard_error(
        429,
        "Too many requests",
        f"Cohort download limits single cohort requests to {limit} requests per "
        f"{window / 60:g} minutes per app",
        kind="rate_limited",
    )


def _job(request: Request, state: EmulatorState, request_id: str) -> dict[str, Any] | Response:
    project = authenticate(request, state)
    if isinstance(project, Response):
        return project
    with state.lock:
        job = project.cohort_jobs.get(request_id)
    valid = state.limits.cohort_request_valid_seconds
    if job is None or state.now() - job["created_at"] > valid:
        return dashboard_error(
            404, "Not found", f"Request {request_id} not found or expired", "not_found"
        )
    return {**job, "project": project, "request_id": request_id}


def _done(job: dict[str, Any], state: EmulatorState) -> bool:
    return state.now() - job["created_at"] >= state.limits.cohort_job_seconds


@route("GET", r"/api/5/cohorts/request-status/[^/]+")
def request_status(request: Request, state: EmulatorState) -> Response:
    """`JOB INPROGRESS` (202) until the job has run `cohort_job_seconds`, then 200 completed."""
    request_id = request.path.rsplit("/", 1)[1]
    job = _job(request, state, request_id)
    if isinstance(job, Response):
        return job
    done = _done(job, state)
    payload = {
        "request_id": request_id,
        "cohort_id": job["cohort_id"],
        "async_status": COMPLETED if done else IN_PROGRESS,
    }
    return Response.json(200 if done else 202, payload)


@route("GET", r"/api/5/cohorts/request/[^/]+/file")
def download_file(request: Request, state: EmulatorState) -> Response:
    """The file inline (small cohorts) or a 302 to a short-lived storage link (large ones)."""
    request_id = request.path.split("/")[-2]
    job = _job(request, state, request_id)
    if isinstance(job, Response):
        return job
    if not _done(job, state):
        return dashboard_error(400, "Bad request", f"Request {request_id} is not completed yet")
    project: Project = job["project"]
    with state.lock:
        size = project.cohort_members.count(job["cohort_id"])
        if size <= state.limits.cohort_inline_max_members:
            return _file_response(project, job)
        token = secrets.token_urlsafe(18)
        expires_in = state.limits.cohort_link_seconds
        project.cohort_links[token] = {**job, "expires_at": state.now() + expires_in}
    host = request.headers.get("Host") or request.headers.get("host") or "127.0.0.1"
    location = (
        f"http://{host}{STORAGE_PREFIX}{token}"
        f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires={int(expires_in)}"
        f"&X-Amz-Signature={secrets.token_hex(32)}"
    )
    return Response(302, b"", {"Location": location})


@route("GET", STORAGE_PREFIX + r"[^/]+")
def storage_object(request: Request, state: EmulatorState) -> Response:
    """The pre-signed object: no Authorization header allowed, and only until it expires."""
    if request.headers.get("Authorization") or request.headers.get("authorization"):
        return _s3_error(
            400,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified",
        )
    token = request.path.rsplit("/", 1)[1]
    with state.lock:
        link = next(
            (p.cohort_links[token] for p in state.projects.values() if token in p.cohort_links),
            None,
        )
    if link is None:
        return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
    if state.now() >= link["expires_at"]:
        return _s3_error(403, "AccessDenied", "Request has expired")
    return _file_response(link["project"], link)


def _columns(project: Project, job: dict[str, Any]) -> list[str]:
    if not job["props"]:
        return []
    return job["prop_keys"] or project.cohort_members.property_keys(job["cohort_id"])


def _file_response(project: Project, job: dict[str, Any]) -> Response:
    cohort_id = job["cohort_id"]
    columns = _columns(project, job)
    members = project.cohort_members.members(cohort_id)
    headers = {
        "Content-Type": "application/gzip",
        "Content-Disposition": f'attachment; filename="{cohort_id}.csv.gz"',
    }
    body = b"".join(_gzipped_csv(members, columns))
    return Response(200, body, headers)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _gzipped_csv(members: Iterator[Member], columns: list[str]) -> Iterator[bytes]:
    """The quoted CSV (header row first), compressed as one gzip stream, chunk by chunk."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    text = io.StringIO()
    writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(["amplitude_id", "user_id", *columns])
    for rows, member in enumerate(members, start=1):
        props = member.properties
        writer.writerow(
            [member.amplitude_id, _cell(member.user_id), *(_cell(props.get(c)) for c in columns)]
        )
        if rows % ROWS_PER_CHUNK == 0:
            yield compressor.compress(text.getvalue().encode("utf-8"))
            text.seek(0)
            text.truncate()
    yield compressor.compress(text.getvalue().encode("utf-8"))
    yield compressor.flush()
