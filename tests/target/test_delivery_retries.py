"""Retries (5xx, timeouts, dropped connections) and 429 holds, on a fake clock (issue #6)."""

from __future__ import annotations

import time

import pytest

from amplitude_emulator.faults import Fault
from target_amplitude.amplitude import EVENTS
from target_amplitude.delivery.errors import RetriesExhaustedError
from tests.delivery_support import (
    FakeClock,
    dead_letters,
    event_item,
    make_deliverer,
    posted_bodies,
    posted_insert_ids,
    stored_events,
    stored_insert_ids,
)


def _wait_for_requests(emulator, path: str, count: int) -> None:
    """Let a slow or dropped request finish on the server before reading what it stored."""
    deadline = time.monotonic() + 10
    while len(posted_bodies(emulator, path)) < count and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_with_backoff_and_identical_insert_ids(emulator, tmp_path, status):
    clock = FakeClock()
    deliverer = make_deliverer(emulator, tmp_path, clock)
    emulator.state.add_fault(Fault(kind="status", status=status, path="/batch", times=2))
    items = [event_item(i) for i in range(30)]
    deliverer.deliver(EVENTS, items)
    attempts = posted_insert_ids(emulator)
    assert len(attempts) == 3
    assert attempts[0] == attempts[1] == attempts[2]
    assert stored_insert_ids(emulator) == attempts[0]
    assert 0.5 <= clock.sleeps[0] <= 1.0
    assert 1.0 <= clock.sleeps[1] <= 2.0
    assert deliverer.summary()["events"]["retries"] == 60


def test_backoff_doubles_with_jitter_up_to_the_cap(emulator, tmp_path):
    clock = FakeClock()
    deliverer = make_deliverer(
        emulator, tmp_path, clock, retry_backoff_base_seconds=1, retry_backoff_max_seconds=4
    )
    emulator.state.add_fault(Fault(kind="status", status=500, path="/batch", times=6))
    deliverer.deliver(EVENTS, [event_item(1)])
    ceilings = [1, 2, 4, 4, 4, 4]
    assert len(clock.sleeps) == 6
    assert all(c / 2 <= slept <= c for slept, c in zip(clock.sleeps, ceilings, strict=True))
    assert len(set(clock.sleeps)) > 1  # jittered, not a fixed ladder


def test_timeouts_are_retried_and_insert_ids_absorb_the_duplicate(emulator, tmp_path):
    deliverer = make_deliverer(emulator, tmp_path, request_timeout=0.3)
    emulator.state.add_fault(Fault(kind="slow", delay=1.0, path="/batch"))
    items = [event_item(i) for i in range(10)]
    deliverer.deliver(EVENTS, items)
    _wait_for_requests(emulator, "/batch", 2)
    attempts = posted_insert_ids(emulator)
    assert len(attempts) == 2
    assert attempts[0] == attempts[1]
    # The slow request was stored too once it finished: the repeat insert_ids were dropped.
    assert sorted(stored_insert_ids(emulator)) == sorted(attempts[0])


def test_dropped_connections_are_retried_without_duplicates(emulator, tmp_path):
    deliverer = make_deliverer(emulator, tmp_path)
    emulator.state.add_fault(Fault(kind="drop", path="/batch", times=2))
    items = [event_item(i) for i in range(10)]
    deliverer.deliver(EVENTS, items)
    attempts = posted_insert_ids(emulator)
    assert len(attempts) == 3
    assert attempts[0] == attempts[1] == attempts[2]
    assert stored_insert_ids(emulator) == attempts[0]  # stored on the first try, deduped after


def test_exhausted_retries_fail_the_delivery_and_drop_nothing(emulator, tmp_path):
    deliverer = make_deliverer(emulator, tmp_path, max_retries=3)
    emulator.state.add_fault(Fault(kind="status", status=503, path="/batch", times=50))
    with pytest.raises(RetriesExhaustedError, match="after 4 failed attempts"):
        deliverer.deliver(EVENTS, [event_item(i) for i in range(5)])
    assert len(posted_bodies(emulator, "/batch")) == 4
    assert stored_insert_ids(emulator) == []
    assert dead_letters(tmp_path) == []


def test_the_time_budget_bounds_retries_before_the_try_count(emulator, tmp_path):
    clock = FakeClock()
    deliverer = make_deliverer(
        emulator,
        tmp_path,
        clock,
        max_retries=100,
        retry_backoff_base_seconds=10,
        retry_time_budget_seconds=60,
    )
    emulator.state.add_fault(Fault(kind="status", status=500, path="/batch", times=100))
    with pytest.raises(RetriesExhaustedError, match="retry_time_budget_seconds=60"):
        deliverer.deliver(EVENTS, [event_item(1)])
    assert len(posted_bodies(emulator, "/batch")) < 8


def _throttle_body(indices: list[int], user: str, **extra) -> dict:
    return {
        "code": 429,
        "error": "Too many requests for some devices and users",
        "eps_threshold": 1000,
        "throttled_devices": {},
        "throttled_users": {user: 1500},
        "throttled_events": indices,
        **extra,
    }


def test_429_holds_only_the_throttled_user_and_keeps_its_order(emulator, tmp_path):
    clock = FakeClock()
    deliverer = make_deliverer(emulator, tmp_path, clock)
    users = ["user-heavy" if i % 3 == 0 else f"user-light-{i:03d}" for i in range(30)]
    items = [event_item(i, user=user) for i, user in enumerate(users)]
    heavy = [i for i, user in enumerate(users) if user == "user-heavy"]
    body = _throttle_body(heavy, "user-heavy")
    emulator.state.add_fault(Fault(kind="status", status=429, path="/batch", body=body))
    deliverer.deliver(EVENTS, items)
    first, second, third = posted_insert_ids(emulator)
    ids = [item.payload["insert_id"] for item in items]
    assert second == [ids[i] for i in range(30) if i not in heavy]  # the others go on at once
    assert third == [ids[i] for i in heavy]  # after the pause, in the original order
    assert clock.sleeps == [15.0]  # /batch's documented pause, on the fake clock
    summary = deliverer.summary()["events"]
    assert summary["throttled_ids"] == 1
    assert summary["acknowledged"] == 30
    assert len(first) == 30


def test_later_events_of_a_held_user_wait_behind_it(emulator, tmp_path):
    """Per-user order: a held user's later events (not in the 429) must not overtake it."""
    clock = FakeClock()
    deliverer = make_deliverer(emulator, tmp_path, clock, events_per_request=4)
    users = ["user-heavy", "user-other1", "user-other2", "user-other3", "user-heavy", "user-other4"]
    items = [event_item(i, user=user) for i, user in enumerate(users)]
    emulator.state.add_fault(
        Fault(kind="status", status=429, path="/batch", body=_throttle_body([0], "user-heavy"))
    )
    deliverer.deliver(EVENTS, items)
    heavy_order = [e["insert_id"] for e in stored_events(emulator) if e["user_id"] == "user-heavy"]
    assert heavy_order == ["ins-0000000", "ins-0000004"]
    assert posted_insert_ids(emulator)[1] == [
        "ins-0000001",
        "ins-0000002",
        "ins-0000003",
        "ins-0000005",
    ]


def test_httpapi_pauses_throttled_ids_for_30_seconds(emulator, tmp_path):
    clock = FakeClock()
    deliverer = make_deliverer(emulator, tmp_path, clock, event_endpoint="httpapi")
    emulator.state.add_fault(
        Fault(kind="status", status=429, path="/2/httpapi", body=_throttle_body([0], "user-0000"))
    )
    deliverer.deliver(EVENTS, [event_item(0, user="user-0000"), event_item(1, user="user-0001")])
    assert clock.sleeps == [30.0]
    assert len(stored_insert_ids(emulator)) == 2


def test_a_real_eps_cap_is_met_by_holding_and_shrinking_the_heavy_users_requests(
    emulator, tmp_path
):
    """The emulator's own EPS limit, with the fake clock sliding the emulator's window too."""
    emulator.state.limits.eps_cap = 1.0  # 30 events per 30 s window per id
    clock = FakeClock(emulator)
    deliverer = make_deliverer(emulator, tmp_path, clock)
    users = ["user-heavy" if i % 2 == 0 else f"user-light-{i:03d}" for i in range(120)]
    items = [event_item(i, user=user) for i, user in enumerate(users)]
    deliverer.deliver(EVENTS, items)
    stored = stored_events(emulator)
    assert len(stored) == 120
    heavy = [e["insert_id"] for e in stored if e["user_id"] == "user-heavy"]
    assert heavy == [
        item.payload["insert_id"] for item in items if item.payload["user_id"] == "user-heavy"
    ]
    assert posted_insert_ids(emulator)[1] == [
        item.payload["insert_id"] for item in items if item.payload["user_id"] != "user-heavy"
    ]
    assert all(slept == 15.0 for slept in clock.sleeps)


def test_a_429_naming_nothing_pauses_the_whole_request(emulator, tmp_path):
    clock = FakeClock()
    deliverer = make_deliverer(emulator, tmp_path, clock)
    emulator.state.add_fault(Fault(kind="status", status=429, path="/batch", times=2))
    deliverer.deliver(EVENTS, [event_item(i) for i in range(8)])
    assert [len(ids) for ids in posted_insert_ids(emulator)] == [8, 8, 4, 4]  # halved on repeat
    assert clock.sleeps == [15.0, 15.0]
    assert len(stored_insert_ids(emulator)) == 8


@pytest.mark.parametrize("policy", ["dead_letter", "fail"])
def test_users_over_the_daily_quota_are_deferred_under_on_deferred(emulator, tmp_path, policy):
    clock = FakeClock()
    deliverer = make_deliverer(emulator, tmp_path, clock, on_deferred=policy)
    users = ["user-spammy" if i < 3 else f"user-ok-{i:04d}" for i in range(8)]
    items = [event_item(i, user=user) for i, user in enumerate(users)]
    body = _throttle_body(
        [0, 1, 2], "user-spammy", exceeded_daily_quota_users={"user-spammy": 500001}
    )
    emulator.state.add_fault(Fault(kind="status", status=429, path="/batch", body=body))
    deliverer.deliver(EVENTS, items)
    assert stored_insert_ids(emulator) == [item.payload["insert_id"] for item in items[3:]]
    assert clock.sleeps == []  # nothing waits for a 24 h quota
    assert deliverer.summary()["events"]["deferred"] == 3
    if policy == "dead_letter":
        lines = dead_letters(tmp_path)
        assert [(line["kind"], line["reason"]) for line in lines] == [
            ("deferred", "exceeded_daily_quota")
        ] * 3
        assert not deliverer.failed
    else:
        assert deliverer.failed
        assert "deferred events id=0: exceeded_daily_quota" in deliverer.report()


def test_a_throttled_user_that_never_clears_fails_within_the_time_budget(emulator, tmp_path):
    clock = FakeClock()
    deliverer = make_deliverer(emulator, tmp_path, clock, retry_time_budget_seconds=100)
    body = _throttle_body([0], "user-0000")
    emulator.state.add_fault(Fault(kind="status", status=429, path="/batch", body=body, times=50))
    with pytest.raises(RetriesExhaustedError, match="throttled"):
        deliverer.deliver(EVENTS, [event_item(0, user="user-0000")])
    assert stored_insert_ids(emulator) == []


def test_a_429_naming_only_ids_outside_the_request_pauses_the_request(emulator, tmp_path):
    clock = FakeClock()
    deliverer = make_deliverer(emulator, tmp_path, clock)
    body = _throttle_body([], "user-not-in-this-request")
    emulator.state.add_fault(Fault(kind="status", status=429, path="/batch", body=body))
    deliverer.deliver(EVENTS, [event_item(i) for i in range(4)])
    assert clock.sleeps == [15.0]
    assert len(stored_insert_ids(emulator)) == 4
