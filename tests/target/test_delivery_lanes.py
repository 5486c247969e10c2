"""Concurrent delivery in identity lanes (issue 11), through the emulator.

Per-device order under 16 lanes and injected faults; STATE never passes an unacknowledged record
while a lane is held; kill -9 mid-run and a re-run from the last STATE store each event once.
"""

from __future__ import annotations

import io
import json
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from amplitude_emulator.faults import Fault
from target_amplitude.delivery.lanes import AdaptiveLimit, LanePipeline, lane_of
from target_amplitude.delivery.pending import Item
from tests.amplitude_target_runs import config_for, run_target, schema_message
from tests.delivery_support import BASE_MS, stored_events
from tests.target.test_delivery_crash_safety import (
    _config,
    _kill_when,
    _run,
    _start,
    _states,
    _stored_ids,
    _write_input,
)

if TYPE_CHECKING:
    from pathlib import Path

    from amplitude_emulator import Emulator

STREAMS = {"orders": {"object": "event", "event_type": {"const": "Order Completed"}}}


def _lines(total: int, devices: int, state_every: int) -> str:
    """SCHEMA, `total` orders spread over `devices` devices, a STATE every `state_every`."""
    out = [schema_message("orders", ["id", "device_id", "user_id", "time"], ["id"])]
    for index in range(total):
        record = {
            "id": index,
            "device_id": f"device-{index % devices:03d}",
            "user_id": f"user-{index % devices:03d}",
            "time": BASE_MS + index,
        }
        out.append({"type": "RECORD", "stream": "orders", "record": record})
        if (index + 1) % state_every == 0:
            out.append({"type": "STATE", "value": {"last_id": index}})
    return "".join(json.dumps(line) + "\n" for line in out)


def _ids_by_device(emulator: Emulator) -> dict[str, list[int]]:
    """Stored order ids per device, in the order Amplitude received them."""
    found: dict[str, list[int]] = {}
    for event in stored_events(emulator):
        found.setdefault(event["device_id"], []).append(event["event_properties"]["id"])
    return found


def test_per_device_arrival_order_equals_input_order_with_16_lanes_and_faults(emulator):
    throttled = {
        "code": 429,
        "error": "Too many requests for some devices and users",
        "eps_threshold": 1000,
        "throttled_devices": {"device-003": 1200, "device-017": 1100},
        "throttled_users": {},
        "throttled_events": [],
    }
    faults = [
        Fault("status", path="/batch", status=429, body=throttled, times=3),
        Fault("status", path="/batch", status=503, times=4),
        Fault("drop", path="/batch", times=3),
    ]
    for fault in faults:
        fault.headers = {"Retry-After": "0.1"} if fault.status == 429 else {}
        emulator.state.add_fault(fault)
    config = config_for(
        emulator,
        STREAMS,
        max_concurrent_requests=16,
        events_per_request=50,
        retry_backoff_base_seconds=0.01,
    )

    _, target = run_target(config, _lines(3000, devices=60, state_every=500))

    with emulator.state.lock:
        statuses = [r.status for r in emulator.state.requests if r.path == "/batch"]
        assert not emulator.state.faults  # every injected fault was hit
    assert statuses.count(429) == 3
    assert statuses.count(503) == 4
    by_device = _ids_by_device(emulator)
    assert len(by_device) == 60
    for device, ids in by_device.items():
        assert ids == sorted(ids), f"{device} received out of order"
    assert sorted(i for ids in by_device.values() for i in ids) == list(range(3000))
    # Repeated 429/503 lowered the effective concurrency for a while.
    assert target.pipeline.limit.lowest < 16


class _StateSnapshots(io.StringIO):
    """stdout that records, when each STATE line is written, which ids Amplitude stored."""

    def __init__(self, emulator: Emulator) -> None:
        super().__init__()
        self.emulator = emulator
        self.seen: list[tuple[int, set[int]]] = []

    def write(self, text: str) -> int:
        if text.startswith('{"last_id"'):
            stored = {event["event_properties"]["id"] for event in stored_events(self.emulator)}
            self.seen.append((json.loads(text)["last_id"], stored))
        return super().write(text)


def test_state_never_covers_an_unacknowledged_record_while_a_lane_is_held(emulator):
    # The first request fails with 503; its lane backs off 0.5-1 s while the other lanes go on.
    emulator.state.add_fault(Fault("status", path="/batch", status=503, times=1))
    config = config_for(
        emulator,
        STREAMS,
        max_concurrent_requests=4,
        events_per_request=20,
        batch_size_rows=40,
        retry_backoff_base_seconds=1.0,
    )
    gaps: list[bool] = []
    done = threading.Event()

    def watch() -> None:  # did acknowledgements ever arrive out of input order?
        while not done.is_set():
            ids = {event["event_properties"]["id"] for event in stored_events(emulator)}
            gaps.append(bool(ids) and len(ids) != max(ids) + 1)
            done.wait(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stdout = _StateSnapshots(emulator)
    try:
        run_target(config, _lines(800, devices=40, state_every=20), stdout=stdout)
    finally:
        done.set()
        watcher.join()

    assert any(gaps), "no lane ever finished ahead of the held one"
    assert stdout.seen, "no STATE was emitted"
    for bookmark, stored in stdout.seen:
        assert set(range(bookmark + 1)) <= stored, f"STATE {bookmark} covers unstored records"
    assert stdout.seen[0][0] < 799
    assert _stored_ids(emulator) == list(range(800))


def test_kill_9_mid_run_then_rerun_from_last_state_stores_each_event_once(emulator, tmp_path: Path):
    total = 20_000
    first_input = tmp_path / "first.jsonl"
    _write_input(first_input, range(total), every=1000)
    config = _config(emulator, tmp_path, max_concurrent_requests=16, events_per_request=100)
    emulator.state.limits.ingestion_latency_seconds = 0.05  # "far away": each request held
    process = _start(config, first_input, max_age_minutes=5.0)  # the SDK's default drain age
    stdout = _kill_when(process, bool)  # as soon as one STATE came out
    assert process.returncode == -signal.SIGKILL, "the target finished before it could be killed"
    states = _states(stdout)
    resume_after = states[-1]
    assert resume_after >= 999
    assert set(range(resume_after + 1)) <= set(_stored_ids(emulator))

    emulator.state.limits.ingestion_latency_seconds = 0.0
    before = _settled_request_count(emulator)  # requests of the killed run still being held
    resumed = tmp_path / "resumed.jsonl"
    _write_input(resumed, range(resume_after + 1, total), every=1000)
    code, _, stderr = _run(config, resumed, max_age_minutes=5.0)

    assert code == 0, stderr
    assert _stored_ids(emulator) == list(range(total))  # none lost, none doubled
    with emulator.state.lock:
        rerun_bodies = [r.body for r in emulator.state.requests[before:] if r.path == "/batch"]
    resent: list[Any] = [e for body in rerun_bodies for e in json.loads(body)["events"]]
    assert min(e["event_properties"]["id"] for e in resent) > resume_after


def _settled_request_count(emulator: Emulator) -> int:
    """Length of the request log once no request was added for 0.3 s."""
    seen = -1
    while True:
        with emulator.state.lock:
            count = len(emulator.state.requests)
        if count == seen:
            return count
        seen = count
        time.sleep(0.3)


def test_adaptive_limit_halves_once_per_window_and_recovers():
    limit = AdaptiveLimit(16)
    numbers = []
    for _ in range(16):
        with limit.slot() as number:
            numbers.append(number)
    for number in numbers:  # 16 failures of one window of requests: a single cut
        limit.record(number, healthy=False)
    assert limit.limit == 8
    with limit.slot() as later:
        pass
    limit.record(later, healthy=False)  # a request sent after the cut fails too: cut again
    assert limit.limit == 4
    for _ in range(200):
        with limit.slot() as number:
            limit.record(number, healthy=True)
    assert (limit.limit, limit.lowest) == (16, 4)


def test_lanes_are_stable_and_follow_device_then_user():
    event = {"user_id": "u1", "device_id": "d1"}
    assert lane_of("events", event, 16) == lane_of("events", {"device_id": "d1"}, 16)
    assert lane_of("identify", {"user_id": "u1"}, 16) == lane_of("events", {"user_id": "u1"}, 16)
    assert {lane_of("events", {"device_id": f"d{i}"}, 8) for i in range(200)} == set(range(8))
    assert lane_of("events", event, 1) == 0


class _RecordingDeliverer:
    """Stands in for the Deliverer: records what each lane delivered; fails on request."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.limiter: Any = None
        self.delivered: list[tuple[str, list[int]]] = []
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def deliver(self, endpoint: str, items: list[Item]) -> None:
        if not items:  # the dead-letter sync call at submission
            return
        numbers = [item.record["n"] for item in items]
        if self.fail_on is not None and self.fail_on in numbers:
            raise RuntimeError(f"batch with {self.fail_on} failed")
        with self.lock:
            self.delivered.append((endpoint, numbers))


def _batch(numbers: range, endpoint: str = "events") -> dict[str, list[Item]]:
    items = [Item({"device_id": f"d{n % 7}"}, {"n": n}, "orders", f"n={n}") for n in numbers]
    return {"identify": [], "events": []} | {endpoint: items}


def test_lane_pipeline_keeps_order_per_lane_barriers_endpoints_and_reraises_failures():
    deliverer = _RecordingDeliverer(fail_on=45)
    pipeline = LanePipeline(deliverer, 4)
    finished: list[int] = []
    order = ("identify", "events")
    pipeline.submit_batch(_batch(range(10)), order, 1, lambda: finished.append(1))
    pipeline.submit_batch(_batch(range(10, 20)), order, 11, lambda: finished.append(11))
    pipeline.submit_batch(_batch(range(20, 30), "identify"), order, 21, lambda: finished.append(21))
    pipeline.wait()
    assert sorted(finished) == [1, 11, 21]
    assert pipeline.earliest_unfinished() is None
    per_device: dict[int, list[int]] = {}
    for _, numbers in deliverer.delivered:
        for n in numbers:
            per_device.setdefault(n % 7, []).append(n)
    assert all(ns == sorted(ns) for ns in per_device.values())
    # The identify batch went out only after every events job had finished (a barrier).
    endpoints = [endpoint for endpoint, _ in deliverer.delivered]
    assert endpoints == sorted(endpoints, key=lambda e: e == "identify")

    pipeline.submit_batch(_batch(range(40, 50)), order, 41, lambda: finished.append(41))
    with pytest.raises(RuntimeError, match="batch with 45 failed"):
        pipeline.wait()
    assert 41 not in finished
    assert pipeline.earliest_unfinished() == 41  # no STATE may pass the failed batch
    with pytest.raises(RuntimeError, match="batch with 45 failed"):
        pipeline.submit_batch(_batch(range(50, 60)), order, 51, lambda: None)
