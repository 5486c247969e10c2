"""A sliding-window request limiter for Amplitude's per-hour quotas (User Activity / User Search).

Amplitude allows 360 user-search and user-activity queries per project per hour. A sliding window
of the last `max_requests` send times guarantees the cap holds in *every* 3600-second interval
(so also in every clock hour), whatever Amplitude's own window is. The clock and the sleep are
injected so tests can check the arithmetic without waiting.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable  # noqa: TC003  dataclass fields are resolved at runtime
from dataclasses import dataclass, field

HOUR_SECONDS = 3600.0


@dataclass
class SlidingWindowThrottle:
    """Blocks `acquire()` until one more request fits in the last `window_seconds`."""

    max_requests: int
    window_seconds: float = HOUR_SECONDS
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _sent_at: deque[float] = field(default_factory=deque, init=False, repr=False)
    waited_seconds: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        """Reject a quota that could never let a request through."""
        if self.max_requests < 1:
            raise ValueError(
                f"user_api_max_requests_per_hour must be at least 1, got {self.max_requests}"
            )

    def delay_needed(self) -> float:
        """Seconds to wait before the next request may be sent (0 when it fits now)."""
        now = self.clock()
        while self._sent_at and self._sent_at[0] <= now - self.window_seconds:
            self._sent_at.popleft()
        if len(self._sent_at) < self.max_requests:
            return 0.0
        return self._sent_at[0] + self.window_seconds - now

    def acquire(self) -> float:
        """Wait (if needed) until a request fits, record it, and return the seconds waited."""
        waited = 0.0
        while (delay := self.delay_needed()) > 0:
            self.sleep(delay)
            waited += delay
        self._sent_at.append(self.clock())
        self.waited_seconds += waited
        return waited

    @property
    def seconds_per_request(self) -> float:
        """Sustained spacing the quota allows (used for ETA estimates)."""
        return self.window_seconds / self.max_requests
