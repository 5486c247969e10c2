"""Per-id rate limits: EPS over a window, the daily quota, and silenced (spam-flagged) devices."""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from amplitude_emulator.state import Limits, Project

DAY_SECONDS = 24 * 3600
IdIndices = dict[tuple[str, str], list[int]]  # ("user"|"device", id) -> request indices


def indices_per_id(items: list[dict[str, Any]]) -> IdIndices:
    """Which request items carry each user_id and each device_id."""
    found: IdIndices = {}
    for index, item in enumerate(items):
        user_id = item.get("user_id")
        if user_id:
            found.setdefault(("user", user_id), []).append(index)
        device_id = item.get("device_id")
        if device_id:
            found.setdefault(("device", device_id), []).append(index)
    return found


def rejection(
    project: Project, ids: IdIndices, limits: Limits, now: float, scope: str = ""
) -> tuple[int, dict[str, Any]] | None:
    """(status, body) when the request must be refused: 400 silenced, else 429 throttled."""
    throttled = throttle_body(project, ids, limits, now, scope)
    silenced = {ident for kind, ident in ids if kind == "device"} & set(limits.silenced_devices)
    if silenced:
        silenced_events = sorted(
            {
                i
                for (kind, ident), mine in ids.items()
                if kind == "device" and ident in silenced
                for i in mine
            }
        )
        body: dict[str, Any] = {
            "code": 400,
            "error": "Events silenced for device_id",
            "eps_threshold": limits.eps_cap,
            "silenced_devices": sorted(silenced),
            "silenced_events": silenced_events,
            "throttled_devices": {},
            "throttled_events": [],
        }
        if throttled:
            body.update({k: v for k, v in throttled.items() if k not in ("code", "error")})
        return 400, body
    return (429, throttled) if throttled else None


def throttle_body(
    project: Project, ids: IdIndices, limits: Limits, now: float, scope: str
) -> dict[str, Any] | None:
    """The 429 body when this request would push an id over the EPS cap or its daily quota."""
    if limits.eps_cap is None and limits.daily_quota is None:
        return None
    window = limits.eps_window_seconds
    throttled: dict[str, dict[str, float]] = {"user": {}, "device": {}}
    over_quota: dict[str, dict[str, int]] = {"user": {}, "device": {}}
    indices: set[int] = set()
    for (kind, ident), mine in ids.items():
        times = project.id_event_times.get(f"{scope}{kind}:{ident}", [])
        eps = (len(times) - bisect.bisect_left(times, now - window) + len(mine)) / window
        day = len(times) - bisect.bisect_left(times, now - DAY_SECONDS) + len(mine)
        over_day = limits.daily_quota is not None and day > limits.daily_quota
        if over_day:
            over_quota[kind][ident] = day
        if over_day or (limits.eps_cap is not None and eps > limits.eps_cap):
            throttled[kind][ident] = eps
            indices.update(mine)
    if not indices:
        return None
    body: dict[str, Any] = {
        "code": 429,
        "error": "Too many requests for some devices and users",
        "eps_threshold": limits.eps_cap,
        "throttled_devices": throttled["device"],
        "throttled_users": throttled["user"],
        "throttled_events": sorted(indices),
    }
    if over_quota["user"]:
        body["exceeded_daily_quota_users"] = over_quota["user"]
    if over_quota["device"]:
        body["exceeded_daily_quota_devices"] = over_quota["device"]
    return body


def record(project: Project, ids: IdIndices, now: float, scope: str = "") -> None:
    """Remember when each id sent items (kept for a day, the longest window measured)."""
    for (kind, ident), mine in ids.items():
        times = project.id_event_times.setdefault(f"{scope}{kind}:{ident}", [])
        if times and times[0] < now - DAY_SECONDS:
            del times[: bisect.bisect_left(times, now - DAY_SECONDS)]
        times.extend([now] * len(mine))
