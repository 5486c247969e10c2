"""The taxonomy streams: the tracking plan in full, Enterprise-only 403 skips, stale types, cost."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from amplitude_emulator import API_KEY_B, PROJECT_A_ID, SECRET_KEY_B
from amplitude_emulator.faults import Fault
from tap_amplitude import taxonomy
from tap_amplitude.throttle import SlidingWindowThrottle
from tests.dashboard_helpers import base_config, requests_to, run_tap

if TYPE_CHECKING:
    import pytest

    from amplitude_emulator import Emulator

TAXONOMY_STREAMS = (
    "taxonomy_categories",
    "taxonomy_events",
    "taxonomy_event_properties",
    "taxonomy_user_properties",
    "taxonomy_group_properties",
)


def _visible_event_types(emulator: Emulator) -> list[str]:
    project = emulator.state.projects[PROJECT_A_ID]
    return [row["value"] for row in project.event_types if not row["hidden"]]


def test_the_tracking_plan_is_read_in_full_with_one_property_request_per_event_type(
    emulator: Emulator,
) -> None:
    run = run_tap(emulator, base_config(emulator), TAXONOMY_STREAMS)

    assert {c["name"] for c in run.records("taxonomy_categories")} == {"Commerce", "Engagement"}
    events = run.records("taxonomy_events")
    assert [e["event_type"] for e in events] == _visible_event_types(emulator)
    checkout = next(e for e in events if e["event_type"] == "Checkout Completed")
    assert checkout["category"] == {"name": "Commerce"}
    asked = [q["event_type"] for q in requests_to(run, "/api/2/taxonomy/event-property")]
    assert asked == _visible_event_types(emulator)
    properties = run.records("taxonomy_event_properties")
    assert ("Checkout Completed", "order_total") in {
        (p["event_type"], p["event_property"]) for p in properties
    }
    assert {p["event_type"] for p in properties} == set(asked)
    assert all(
        u["user_property"].startswith("gp:") for u in run.records("taxonomy_user_properties")
    )
    groups = run.records("taxonomy_group_properties")
    assert {(g["group_type"], g["group_property"]) for g in groups} == {
        ("company", "name"),
        ("company", "plan"),
    }
    plan = next(g for g in groups if g["group_property"] == "plan")
    assert plan["enum_values"] == ["free", "pro", "enterprise"]  # Amplitude: "free, pro, ..."
    assert plan["classifications"] == []
    keys = {m["stream"]: m["key_properties"] for m in run.messages if m["type"] == "SCHEMA"}
    assert keys["taxonomy_event_properties"] == ["event_type", "event_property"]
    assert run.final_state["bookmarks"]["taxonomy_event_properties"] == {}  # full table


def test_a_non_enterprise_project_skips_every_taxonomy_stream_with_a_warning(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    config = base_config(emulator, api_key=API_KEY_B, secret_key=SECRET_KEY_B)
    with caplog.at_level(logging.WARNING):
        run = run_tap(emulator, config, [*TAXONOMY_STREAMS, "annotations"])

    for stream in TAXONOMY_STREAMS:
        assert run.records(stream) == []
    annotations = [r.status for r in run.requests if r.path == "/api/3/annotations"]
    assert annotations == [200]  # the run went on (project B has no annotations to list)
    skipped = [m for m in caplog.messages if m.startswith("Skipping stream 'taxonomy_")]
    assert len(skipped) == 4  # event properties never start: their parent was refused
    assert all("Enterprise" in message for message in skipped)
    assert "only available to Enterprise customers" in skipped[0]  # Amplitude's own words


def test_an_event_type_answered_400_is_skipped_with_a_warning(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.state.projects[PROJECT_A_ID].taxonomy_stale_event_types = {"Login"}
    with caplog.at_level(logging.WARNING):
        run = run_tap(emulator, base_config(emulator), ["taxonomy_event_properties"])

    types = {p["event_type"] for p in run.records("taxonomy_event_properties")}
    assert "Login" not in types
    assert types == set(_visible_event_types(emulator)) - {"Login"}
    warning = next(m for m in caplog.messages if "skipping event type 'Login'" in m)
    assert "400" in warning
    assert "Not found" in warning


def test_a_429_from_the_cost_limit_is_retried(emulator: Emulator) -> None:
    emulator.state.add_fault(
        Fault("status", path="/api/2/taxonomy/category", status=429, headers={"Retry-After": "0"})
    )
    run = run_tap(emulator, base_config(emulator), ["taxonomy_categories"])
    assert len(run.records("taxonomy_categories")) == 2
    statuses = [r.status for r in run.requests if r.path == "/api/2/taxonomy/category"]
    assert statuses == [429, 200]


class _FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_every_taxonomy_request_passes_one_hourly_cost_budget(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _FakeClock()
    made: list[SlidingWindowThrottle] = []

    def throttle(per_hour: int) -> SlidingWindowThrottle:
        made.append(SlidingWindowThrottle(per_hour, clock=fake.clock, sleep=fake.sleep))
        return made[-1]

    monkeypatch.setattr(taxonomy, "SlidingWindowThrottle", throttle)
    config = base_config(emulator, taxonomy_max_requests_per_hour=5)
    run = run_tap(emulator, config, TAXONOMY_STREAMS)

    sent = [r for r in run.requests if r.path.startswith("/api/2/taxonomy/")]
    assert len(made) == 1  # one budget for the five streams
    assert len(sent) == 4 + len(_visible_event_types(emulator))
    # 13 requests at 5 per hour on a clock that stands still between requests: the 6th and
    # the 11th each wait a full hour.
    assert len(sent) == 13
    assert fake.slept == [3600.0, 3600.0]
