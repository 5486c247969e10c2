"""What the user streams share: their endpoints, and per run the quota, progress, last profile."""

from __future__ import annotations

import datetime as dt
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tap_amplitude.throttle import SlidingWindowThrottle

if TYPE_CHECKING:
    from singer_sdk import Tap

# The user-API endpoints: they share one hourly quota (`user_api_max_requests_per_hour`).
USER_SEARCH_PATH = "/api/2/usersearch"
USER_ACTIVITY_PATH = "/api/2/useractivity"
USER_API_PATHS = (USER_SEARCH_PATH, USER_ACTIVITY_PATH)


@dataclass
class UserRun:
    """What the user streams share during one tap run: quota, progress, last profile seen."""

    throttle: SlidingWindowThrottle
    planned_users: int
    started_at: float = field(default_factory=time.monotonic)
    dispatched: set[int] = field(default_factory=set)
    last_profile: tuple[int, dict[str, Any]] | None = None

    def progress_line(self, now: float | None = None) -> str:
        """`users done / total, ETA` for the log (total grows when a term matches several)."""
        done = len(self.dispatched) - 1
        total = max(self.planned_users, len(self.dispatched))
        elapsed = (time.monotonic() if now is None else now) - self.started_at
        if done <= 0:
            return f"starting user 1 of ~{total}"
        eta = elapsed / done * (total - done)
        return f"{done}/{total} users done, ETA {dt.timedelta(seconds=round(eta))}"


_RUNS: weakref.WeakKeyDictionary[Tap, UserRun] = weakref.WeakKeyDictionary()


def user_run(tap: Tap) -> UserRun:
    """The shared state of this tap's user streams (created on first use)."""
    run = _RUNS.get(tap)
    if run is None:
        config = tap.config
        per_hour = int(config["user_api_max_requests_per_hour"])
        terms, ids = config.get("user_search_terms") or [], config.get("amplitude_ids") or []
        planned = len(terms) + len(ids)
        run = UserRun(throttle=SlidingWindowThrottle(per_hour), planned_users=planned)
        _RUNS[tap] = run
    return run
