"""Dashboard REST chart endpoints: `/api/2/users` (active/new) and `/api/2/sessions/average`.

Figures are computed from the project's export rows by `event_time` day (the emulator's project
time zone is UTC). Shapes follow reference b.7: `{"data": {"series", "seriesLabels",
"seriesMeta", "xValues"}}`. A group-by (`g`) outside `GROUP_BY_PROPERTIES` is rejected with
"Invalid chart definition" the way Amplitude rejected `g=country` for some projects (to simulate
exactly that, arm a `status` fault with such a body).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from amplitude_emulator import data
from amplitude_emulator.auth import authenticate
from amplitude_emulator.http import Response, dashboard_error, route

if TYPE_CHECKING:
    from amplitude_emulator.http import Request
    from amplitude_emulator.state import EmulatorState

GROUP_BY_PROPERTIES = {
    "country": "country",
    "city": "city",
    "region": "region",
    "platform": "platform",
    "language": "language",
    "device_type": "device_type",
    "os": "os_name",
    "version": "version_name",
}
INTERVALS = (1, 7, 30)
METRICS = ("active", "new")


def _parse_days(request: Request) -> list[date] | Response:
    """The inclusive list of days between `start` and `end` (YYYYMMDD), or a 400."""
    parsed: list[date] = []
    for name in ("start", "end"):
        raw = request.arg(name) or ""
        try:
            parsed.append(datetime.strptime(raw, "%Y%m%d").replace(tzinfo=timezone.utc).date())
        except ValueError:
            return dashboard_error(
                400, "Invalid request", f"Parameter '{name}' must be a date YYYYMMDD, got {raw!r}"
            )
    start, end = parsed
    if start > end:
        return dashboard_error(400, "Invalid request", "'start' must not be after 'end'")
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


@route("GET", "/api/2/users")
def users(request: Request, state: EmulatorState) -> Response:
    """Active or new users per day, optionally one series per group-by value."""
    project = authenticate(request, state)
    if isinstance(project, Response):
        return project
    days = _parse_days(request)
    if isinstance(days, Response):
        return days
    metric = request.arg("m") or "active"
    interval = request.arg("i") or "1"
    group_by = request.arg("g")
    if metric not in METRICS:
        return dashboard_error(400, "Invalid request", f"'m' must be active or new, got {metric!r}")
    if not interval.isdigit() or int(interval) not in INTERVALS:
        return dashboard_error(400, "Invalid request", f"'i' must be 1, 7 or 30, got {interval!r}")
    if group_by is not None and group_by not in GROUP_BY_PROPERTIES:
        return dashboard_error(400, "Invalid chart definition", f"Invalid user property {group_by}")
    with state.lock:
        rows = list(project.export_rows)
    # Amplitude knows when a user was created even though real rows mostly lack
    # user_creation_time: the seeded users' creation, else a row's, else the first event.
    created = {user.amplitude_id: data.format_time(user.created) for user in data.USERS}
    for row in sorted(rows, key=lambda row: row["event_time"]):
        created.setdefault(row["amplitude_id"], row["user_creation_time"] or row["event_time"])
    # (group label, day) -> amplitude ids active (or new) that day
    daily: dict[tuple[str, date], set[int]] = {}
    for row in rows:
        label = str(row[GROUP_BY_PROPERTIES[group_by]]) if group_by else "0"
        moment = created[row["amplitude_id"]] if metric == "new" else row["event_time"]
        day = date.fromisoformat(moment[:10])
        daily.setdefault((label, day), set()).add(row["amplitude_id"])
    window = int(interval)

    def counts(label: str) -> list[int]:
        return [
            len(
                set().union(
                    *(daily.get((label, day - timedelta(days=k)), set()) for k in range(window))
                )
            )
            for day in days
        ]

    by_label = {label: counts(label) for label in sorted({label for label, _ in daily})}
    by_label = {label: values for label, values in by_label.items() if any(values)}
    if not by_label:
        by_label = {"(none)" if group_by else "0": [0] * len(days)}
    labels, series = list(by_label), list(by_label.values())
    return Response.json(
        200,
        {
            "data": {
                "series": series,
                "seriesLabels": labels if group_by else [0],
                "seriesMeta": [
                    {"segmentIndex": 0, **({"groupByValue": label} if group_by else {})}
                    for label in labels
                ],
                "seriesCollapsed": [[{"setId": "", "value": sum(values)}] for values in series],
                "xValues": [day.isoformat() for day in days],
            }
        },
    )


@route("GET", "/api/2/sessions/average")
def average_session_length(request: Request, state: EmulatorState) -> Response:
    """Average session length in seconds per day (sessions keyed by `session_id`, -1 excluded)."""
    project = authenticate(request, state)
    if isinstance(project, Response):
        return project
    days = _parse_days(request)
    if isinstance(days, Response):
        return days
    with state.lock:
        rows = list(project.export_rows)
    ends: dict[tuple[int, int], float] = {}  # (amplitude id, session id) -> last upload (epoch s)
    for row in rows:
        if row["session_id"] == -1:
            continue
        uploaded = datetime.fromisoformat(row["server_upload_time"][:19] + "+00:00").timestamp()
        key = (row["amplitude_id"], row["session_id"])
        ends[key] = max(ends.get(key, 0.0), uploaded)
    lengths: dict[date, list[float]] = {}
    for (_, session_id), last in ends.items():
        started = datetime.fromtimestamp(session_id / 1000, tz=timezone.utc)
        lengths.setdefault(started.date(), []).append(max(0.0, last - session_id / 1000))
    averages: list[Any] = [
        round(sum(lengths[day]) / len(lengths[day]), 3) if lengths.get(day) else 0 for day in days
    ]
    suffix = "T00:00:00" if project.session_x_values_with_time else ""
    return Response.json(
        200,
        {
            "data": {
                "series": [averages],
                "seriesMeta": [{"segmentIndex": 0}],
                "xValues": [day.isoformat() + suffix for day in days],
            }
        },
    )
