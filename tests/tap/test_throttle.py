"""The user-API quota arithmetic, on a fake clock, and Retry-After parsing."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime

import pytest

from tap_amplitude.client import MAX_RETRY_AFTER_SECONDS, parse_retry_after
from tap_amplitude.throttle import SlidingWindowThrottle


class FakeClock:
    """A clock that only moves when the throttle sleeps or the test advances it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _throttle(per_hour: int, clock: FakeClock) -> SlidingWindowThrottle:
    return SlidingWindowThrottle(per_hour, clock=clock, sleep=clock.sleep)


def test_requests_within_the_quota_do_not_wait() -> None:
    clock = FakeClock()
    throttle = _throttle(360, clock)
    for _ in range(360):
        assert throttle.acquire() == 0.0
        clock.now += 1
    assert clock.sleeps == []


def test_the_request_over_the_quota_waits_for_the_oldest_to_leave_the_hour() -> None:
    clock = FakeClock()
    throttle = _throttle(3, clock)
    for moment in (0.0, 10.0, 20.0):
        clock.now = moment
        throttle.acquire()
    clock.now = 30.0
    assert throttle.delay_needed() == 3570.0  # first request at 0 leaves the window at 3600
    assert throttle.acquire() == 3570.0
    assert clock.now == 3600.0
    assert throttle.delay_needed() == 10.0  # next one waits for the request sent at 10


def test_no_hour_ever_holds_more_than_the_quota() -> None:
    clock = FakeClock()
    throttle = _throttle(360, clock)
    sent: list[float] = []
    for _ in range(1500):
        throttle.acquire()
        sent.append(clock.now)
        clock.now += 0.5  # the tap would go faster than the quota
    for index, start in enumerate(sent):
        in_window = [t for t in sent[index:] if t < start + 3600]
        assert len(in_window) <= 360


def test_sustained_rate_matches_the_quota() -> None:
    clock = FakeClock()
    throttle = _throttle(360, clock)
    for _ in range(360 * 3):
        throttle.acquire()
    # 3 hours' worth of requests: the first 360 go at once, the other 720 take two more hours.
    assert clock.now == pytest.approx(7200.0)
    assert throttle.seconds_per_request == 10.0
    assert throttle.waited_seconds == pytest.approx(7200.0)


def test_a_quota_below_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="user_api_max_requests_per_hour"):
        SlidingWindowThrottle(0)


def test_retry_after_seconds_and_http_dates_are_read() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 0 ") == 0.0
    now = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)
    later = format_datetime(datetime(2024, 3, 1, 12, 0, 30, tzinfo=timezone.utc), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == 30.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("999999") == MAX_RETRY_AFTER_SECONDS
