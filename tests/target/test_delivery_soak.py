"""Soak: 100k events through the Deliverer with random faults on a fixed seed (issue #6).

Every event must end up stored exactly once or in the dead-letter file, and the run summary must
agree with what the emulator saw. Faults are armed before each 10k-record chunk (the sink's batch
size); the emulator's own EPS cap and daily quota throttle a few heavy users on a fake clock that
moves the emulator's clock too.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter

from amplitude_emulator.faults import Fault
from target_amplitude.amplitude import EVENTS
from tests.delivery_support import (
    FakeClock,
    dead_letters,
    event_item,
    make_deliverer,
    posted_bodies,
    stored_insert_ids,
)

SEED = 20261122
TOTAL = 100_000
CHUNK = 10_000
HEAVY_USERS = [f"user-heavy-{n}" for n in range(2)]
SPAM_USER = "user-spam-0001"


def _user(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.04:  # ~2000 events each, ~200 per chunk: over the EPS cap, held and shrunk
        return rng.choice(HEAVY_USERS)
    if roll < 0.09:  # ~5000 events: over the daily quota part-way -> deferred
        return SPAM_USER
    return f"user-{rng.randrange(5000):05d}"


def _events(rng: random.Random) -> list:
    items = []
    for index in range(TOTAL):
        item = event_item(index, user=_user(rng))
        roll = rng.random()
        if roll < 0.002:
            item.payload["time"] = "not-a-time"
        elif roll < 0.003:
            item.payload["user_id"] = "null"
        items.append(item)
    return items


def _arm_random_faults(emulator, rng: random.Random, chunk: int) -> None:
    for _ in range(rng.randrange(1, 4)):
        kind = rng.choice(["5xx", "5xx", "drop", "429", "400", "413"])
        if kind == "5xx":
            status = rng.choice([500, 502, 503, 504])
            fault = Fault(kind="status", status=status, path="/batch", times=rng.randrange(1, 3))
        elif kind == "drop":
            fault = Fault(kind="drop", path="/batch")
        elif kind == "429":
            fault = Fault(kind="status", status=429, path="/batch")
        elif kind == "400":  # no indices: the Deliverer bisects until halves go through
            fault = Fault(
                kind="status",
                status=400,
                path="/batch",
                body={"code": 400, "error": "Invalid event JSON"},
            )
        else:
            fault = Fault(kind="status", status=413, path="/batch")
        emulator.state.add_fault(fault)
    if chunk in (2, 7):  # a request that times out after the server stored it
        emulator.state.add_fault(Fault(kind="slow", delay=1.2, path="/batch"))


def test_soak_every_event_is_stored_once_or_dead_lettered_and_the_summary_adds_up(
    emulator, tmp_path
):
    rng = random.Random(SEED)
    emulator.state.limits.eps_cap = 5.0  # 150 events per 30 s window per id
    emulator.state.limits.daily_quota = 3000
    clock = FakeClock(emulator)
    deliverer = make_deliverer(
        emulator,
        tmp_path,
        clock,
        request_timeout=1.0,
        on_rejected="dead_letter",
        on_deferred="dead_letter",
        retry_time_budget_seconds=3600,
    )
    items = _events(rng)
    for chunk in range(TOTAL // CHUNK):
        _arm_random_faults(emulator, rng, chunk)
        deliverer.deliver(EVENTS, items[chunk * CHUNK : (chunk + 1) * CHUNK])
    deliverer.close()

    with emulator.state.lock:
        emulator.state.faults.clear()
    deadline = time.monotonic() + 10  # let the timed-out requests finish on the server
    summary = deliverer.summary()["events"]
    while len(posted_bodies(emulator, "/batch")) < summary["requests"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    stored = stored_insert_ids(emulator)
    parked = dead_letters(tmp_path)
    parked_ids = [line["payload"]["insert_id"] for line in parked]
    every_id = {item.payload["insert_id"] for item in items}
    assert len(stored) == len(set(stored))  # none doubled
    assert len(parked_ids) == len(set(parked_ids))
    assert set(stored).isdisjoint(parked_ids)
    assert set(stored) | set(parked_ids) == every_id  # none lost

    kinds = Counter(line["kind"] for line in parked)
    reasons = Counter(line["reason"] for line in parked if line["kind"] == "rejected")
    assert summary["records"] == TOTAL
    assert summary["sent"] == TOTAL
    assert summary["acknowledged"] == len(stored)
    assert summary["rejected"] == dict(reasons)
    assert summary["deferred"] == kinds["deferred"]
    assert (
        summary["acknowledged"] + sum(summary["rejected"].values()) + summary["deferred"] == TOTAL
    )
    logged = posted_bodies(emulator, "/batch")
    assert summary["requests"] == len(logged)
    assert summary["bytes"] == sum(len(body) for _, body in logged)
    assert summary["retries"] > 0
    assert summary["throttled_ids"] >= len(HEAVY_USERS)
    assert kinds["deferred"] > 0  # the spam user went over its daily quota
    logging.getLogger(__name__).info(
        "soak summary %s, fake seconds slept %d", json.dumps(summary), sum(clock.sleeps)
    )
