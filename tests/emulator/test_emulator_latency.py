"""The emulator's steady per-request latency (issue 11): ingestion and Dashboard paths are held.

Only lower bounds are asserted (a held request cannot answer sooner); speed lives in benchmarks.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from amplitude_emulator import API_KEY_A, API_KEY_B, PROJECT_B_ID, SECRET_KEY_A


def _timed(call) -> tuple[int, float]:
    began = time.monotonic()
    status = call().status_code
    return status, time.monotonic() - began


def test_latency_holds_each_ingestion_request_and_answers_normally(emulator):
    limits = {"ingestion_latency_seconds": 0.3}
    requests.post(f"{emulator.url}/__emulator__/limits", json=limits, timeout=10).raise_for_status()
    body = {"api_key": API_KEY_B, "events": [{"event_type": "e", "user_id": "user-00001"}]}

    def post():
        return requests.post(f"{emulator.url}/batch", json=body, timeout=10)

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: _timed(post), range(4)))

    assert all(status == 200 for status, _ in answers)
    assert all(elapsed >= 0.3 for _, elapsed in answers)
    assert len(emulator.state.projects[PROJECT_B_ID].ingested_events) == 4


def test_dashboard_latency_is_separate_from_ingestion_latency(emulator):
    emulator.state.limits.dashboard_latency_seconds = 0.25
    status, elapsed = _timed(
        lambda: requests.get(
            f"{emulator.url}/api/2/events/list", auth=(API_KEY_A, SECRET_KEY_A), timeout=10
        )
    )
    assert status == 200
    assert elapsed >= 0.25
    assert emulator.state.limits.ingestion_latency_seconds == 0.0
