"""Warehouse tables walking into Amplitude's reserved names and limits (issue 15, Target)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from amplitude_emulator.event_checks import EventProblems, check_event
from target_amplitude.amplitude import EVENTS, IDENTIFY
from target_amplitude.validation.name_limits import USER_PROPERTIES, NameCounter
from tests.amplitude_target_runs import (
    config_for,
    dead_letters,
    project_b,
    run_target,
    singer_input,
)

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from amplitude_emulator import Emulator

T0 = "2024-05-01T10:00:00Z"


def _order(number: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": number,
        "user_id": f"customer-{number:04d}",
        "event_type": "Order Placed",
        "time": T0,
        **extra,
    }


def test_a_plan_column_is_an_event_property_not_the_tracking_plan(emulator: Emulator) -> None:
    records = [
        _order(1, plan="pro"),
        _order(2, plan={"branch": "main", "source": "web", "version": "3"}),
    ]
    run_target(config_for(emulator, {"orders": {}}), singer_input("orders", records, ["id"]))

    events = sorted(project_b(emulator).ingested_events, key=lambda e: e["event_properties"]["id"])
    assert "plan" not in events[0]
    assert events[0]["event_properties"]["plan"] == "pro"
    assert events[1]["plan"] == {"branch": "main", "source": "web", "version": "3"}


def test_a_bad_reserved_field_is_one_rejected_record(emulator: Emulator, tmp_path: Path) -> None:
    letters = tmp_path / "dead.jsonl"
    records = [_order(1, tier="gold"), _order(2, tier={"branch": 7})]
    config = config_for(
        emulator,
        {"orders": {"plan": "tier"}},
        on_rejected="dead_letter",
        dead_letter_path=str(letters),
    )
    _, target = run_target(config, singer_input("orders", records, ["id"]))

    assert project_b(emulator).ingested_events == []  # both values are not plan objects
    assert target.deliverer.summary()["orders"]["rejected"] == {"invalid_plan": 2}
    assert len(dead_letters(letters)) == 2


def test_emulator_refuses_a_plan_string_as_invalid_field(emulator: Emulator) -> None:
    problems = EventProblems()
    event = {"event_type": "x", "user_id": "user-00001", "plan": "pro"}
    check_event(0, event, 5, problems)
    check_event(
        1, {**event, "plan": {"branch": "b"}, "$skip_user_properties_sync": "yes"}, 5, problems
    )
    assert problems.invalid_fields == {"plan": [0], "$skip_user_properties_sync": [1]}


def test_export_preset_copies_only_what_the_row_had(emulator: Emulator) -> None:
    row = {
        "uuid": "0b7e5f2c-0000-4000-8000-000000000001",
        "event_type": "Viewed Page",
        "event_time": "2024-05-01 10:00:00.000000",
        "user_id": "user-00001",
        "device_id": "device-00001",
        "device_family": "Apple iPhone",
        "device_type": "Apple iPhone 13",
        "library": "amplitude-ts/2.1.0",
        "event_properties": {"page": "home"},
    }
    identify_rows = [
        {**row, "uuid": f"0b7e5f2c-0000-4000-8000-00000000001{n}", "event_type": "$identify"}
        for n in range(2)
    ]
    streams = {"events": {"preset": "amplitude_export"}}
    _, target = run_target(
        config_for(emulator, streams), singer_input("events", [row, *identify_rows])
    )

    (event,) = project_b(emulator).ingested_events
    assert "device_brand" not in event
    assert "device_model" not in event
    assert "library" not in event
    assert target.deliverer.summary()["events"]["skipped"] == {"$identify": 2}


def test_skip_user_properties_sync_leaves_destination_profiles_alone(emulator: Emulator) -> None:
    live = {
        "user_id": "user-00001",
        "event_type": "Live",
        "time": T0,
        "user_properties": {"tier": "gold"},
    }
    old = {**live, "event_type": "Old", "user_properties": {"tier": "bronze"}}
    run_target(config_for(emulator, {"live": {}}), singer_input("live", [live]))
    run_target(
        config_for(emulator, {"history": {"skip_user_properties_sync": True}}),
        singer_input("history", [old]),
    )

    project = project_b(emulator)
    sent = [e for e in project.ingested_events if e["event_type"] == "Old"]
    assert sent[0]["$skip_user_properties_sync"] is True
    assert sent[0]["user_properties"] == {"tier": "bronze"}
    assert project.user_profiles["user-00001"]["user_properties"]["tier"] == "gold"


def test_a_column_mapped_as_event_type_warns_near_the_limit(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    records = [_order(n, order_ref=f"ref-{n}") for n in range(1, 1700)]
    streams = {"orders": {"event_type": "order_ref", "user_id": "user_id"}}
    with caplog.at_level(logging.WARNING):
        run_target(config_for(emulator, streams), singer_input("orders", records, ["id"]))

    warnings = [r.getMessage() for r in caplog.records if "distinct event types" in r.getMessage()]
    assert len(warnings) == 1
    assert "stream 'orders'" in warnings[0]
    assert "streams.orders.event_type = 'order_ref'" in warnings[0]


def test_user_property_names_count_plain_on_events_and_by_operator_on_identifies() -> None:
    warnings: list[str] = []
    counter = NameCounter(warnings.append)
    spec: dict[str, Any] = {}
    counter.count_payload(EVENTS, {"user_properties": {"tier": "gold"}}, "orders", spec)
    identify = {"user_properties": {"$set": {"plan": "pro"}, "$unset": {"trial": "-"}}}
    counter.count_payload(IDENTIFY, identify, "users", spec)

    assert counter.names[USER_PROPERTIES] == {"tier", "plan"}
    assert warnings == []
