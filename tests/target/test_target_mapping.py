"""Mapping is data: specs compile to payloads by convention, paths, templates and constants."""

from __future__ import annotations

import json

import pytest
from singer_sdk.exceptions import ConfigValidationError

from amplitude_emulator import PROJECT_A_ID
from target_amplitude.mapping.insert_ids import derive_insert_id
from target_amplitude.mapping.specs import resolve_spec
from target_amplitude.mapping.stream_plan import StreamPlan, compile_kind
from target_amplitude.mapping.timeconv import to_epoch_ms
from tests.amplitude_target_runs import config_for, project_b, run_target
from tests.events_harness import base_config, run_tap

T0 = "2024-05-01T10:00:00Z"
T0_MS = 1_714_557_600_000


def build(spec, record, kind="event", stream="s"):
    return compile_kind(stream, kind, spec).build(record, record)


def test_record_fields_named_like_amplitude_keys_map_by_convention():
    record = {
        "user_id": 123456,
        "device_id": " dev-1234 ",
        "event_type": "Opened",
        "time": T0,
        "platform": "iOS",
        "product_id": "sku-1",
        "revenue_type": "refund",
        "price": -5.0,
        "color": "red",
    }
    payload = build({}, record)
    assert payload["user_id"] == "123456"  # ids become strings
    assert payload["device_id"] == "dev-1234"  # and are trimmed
    assert payload["time"] == T0_MS
    assert payload["platform"] == "iOS"
    assert payload["productId"] == "sku-1"
    assert payload["revenueType"] == "refund"
    assert payload["price"] == -5.0
    assert payload["event_properties"] == {"color": "red"}


def test_bag_fields_pass_through_and_merge_with_leftover_fields():
    record = {
        "user_id": "user-00001",
        "event_type": "Opened",
        "time": T0_MS,
        "event_properties": {"a": 1},
        "user_properties": {"plan": "pro"},
        "groups": {"team": ["x", 7]},
        "b": 2,
    }
    payload = build({}, record)
    assert payload["event_properties"] == {"a": 1, "b": 2}
    assert payload["user_properties"] == {"plan": "pro"}
    assert payload["groups"] == {"team": ["x", "7"]}


def test_field_paths_templates_constants_and_fallback_lists():
    spec = {
        "user_id": "customer.id",
        "device_id": ["device.serial", "device.mac"],
        "event_type": "{kind} {object.name}",
        "platform": {"const": "Web"},
        "time": {"field": "when"},
        "event_properties": [],
    }
    record = {
        "customer": {"id": "cust-00001"},
        "device": {"mac": "mac-000001"},
        "kind": "Viewed",
        "object": {"name": "Page"},
        "when": T0,
    }
    payload = build(spec, record)
    assert payload == {
        "user_id": "cust-00001",
        "device_id": "mac-000001",
        "event_type": "Viewed Page",
        "platform": "Web",
        "time": T0_MS,
        "insert_id": payload["insert_id"],
    }


def test_template_with_a_missing_field_yields_no_event_type():
    payload = build({"event_type": "Viewed {page}"}, {"user_id": "user-00001", "time": T0_MS})
    assert "event_type" not in payload


def test_flattened_column_with_a_dot_in_its_name_is_read_directly():
    assert build({"user_id": "a.b"}, {"a.b": "user-00001", "time": T0_MS})["user_id"] == (
        "user-00001"
    )


def test_include_exclude_and_explicit_lists_narrow_the_property_bag():
    record = {"user_id": "user-00001", "time": T0_MS, "a": 1, "b": 2, "c": 3, "_sdc_x": 9}
    assert build({"event_properties": ["a"]}, record)["event_properties"] == {"a": 1}
    assert build({"event_properties": {"exclude": ["a"]}}, record)["event_properties"] == {
        "b": 2,
        "c": 3,
    }
    narrowed = build({"event_properties": {"include": ["a", "b"], "exclude": ["b"]}}, record)
    assert narrowed["event_properties"] == {"a": 1}
    assert "event_properties" not in build({"event_properties": False}, record)
    nested = build({"event_properties": {"field": "props"}}, {**record, "props": {"z": 1}})
    assert nested["event_properties"] == {"z": 1}


def test_explicit_source_wins_over_convention_and_null_unmaps():
    record = {"user_id": "user-00001", "email": "a@example.com", "platform": "iOS", "time": T0_MS}
    payload = build({"user_id": "email", "platform": None}, record)
    assert payload["user_id"] == "a@example.com"
    assert "platform" not in payload
    assert payload["event_properties"] == {"user_id": "user-00001", "platform": "iOS"}


def test_user_properties_become_operations_never_mixed_with_plain_keys():
    spec = {
        "object": "user",
        "property_operations": {"add": ["logins"], "tags": "append", "first": "$setOnce"},
        "null_values": "unset",
    }
    record = {"user_id": "user-00001", "logins": 1, "tags": ["a"], "first": "x", "plan": None}
    payload = build(spec, record, kind="user")
    assert payload["user_properties"] == {
        "$add": {"logins": 1},
        "$append": {"tags": ["a"]},
        "$setOnce": {"first": "x"},
        "$unset": {"plan": "-"},
    }


def test_operator_form_bag_merges_with_plain_fields():
    record = {"user_id": "user-00001", "user_properties": {"$setOnce": {"a": 1}}, "b": 2}
    payload = build({"object": "user"}, record, kind="user")
    assert payload["user_properties"] == {"$setOnce": {"a": 1}, "$set": {"b": 2}}


def test_group_kind_builds_group_identification():
    spec = {"object": "group", "group_type": {"const": "company"}, "group_value": "id"}
    payload = build(spec, {"id": 7, "name": "Acme", "seats": None}, kind="group")
    assert payload == {
        "group_type": "company",
        "group_value": "7",
        "group_properties": {"$set": {"name": "Acme"}},
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"object": "ticket"}, "'ticket' is not one of"),
        ({"user_idd": "x"}, "'user_idd' is neither an Amplitude field"),
        ({"object": "user", "property_operations": {"bump": ["a"]}}, "unknown operator 'bump'"),
        ({"object": "group", "property_operations": {"remove": ["a"]}}, "not supported for groups"),
        ({"null_values": "zero"}, "null_values"),
        ({"event_type": {"const": 1, "field": "x"}}, "is not a source"),
        ({"event_type": "Viewed {}"}, "empty {}"),
        ({"event_properties": 5}, 'use "*"'),
        ({"touch_event": "Synced"}, "only user, device and group streams"),
        ({"group_membership": True}, "only group streams"),
        ({"preset": "nope"}, "unknown preset 'nope'"),
    ],
)
def test_bad_spec_is_a_config_error_naming_stream_and_setting(spec, message):
    with pytest.raises(ConfigValidationError, match=r"streams\.orders") as failure:
        StreamPlan("orders", resolve_spec("orders", {"orders": spec}, None), (), T0_MS)
    assert message in str(failure.value)


def test_config_errors_surface_when_the_target_starts(emulator):
    with pytest.raises(ConfigValidationError, match=r"streams\.orders"):
        run_target(config_for(emulator, {"orders": {"object": "ticket"}}), "")


def test_exact_stream_name_beats_a_glob_and_the_first_glob_wins():
    streams = {"events_*": {"object": "user"}, "events_web": {"object": "group"}, "*": "device"}
    assert resolve_spec("events_web", streams, None)["object"] == "group"
    assert resolve_spec("events_app", streams, None)["object"] == "user"
    assert resolve_spec("other", streams, None)["object"] == "device"
    with pytest.raises(ConfigValidationError, match="'other' is not mapped"):
        resolve_spec("other", {"events_*": {}}, "none")


def test_insert_id_is_deterministic_and_depends_on_identity_type_and_time():
    base = derive_insert_id("s", [1], "Opened", T0_MS)
    assert base == derive_insert_id("s", [1], "Opened", T0_MS)
    assert (
        len(
            {
                base,
                derive_insert_id("t", [1], "Opened", T0_MS),
                derive_insert_id("s", [2], "Opened", T0_MS),
                derive_insert_id("s", [1], "Closed", T0_MS),
                derive_insert_id("s", [1], "Opened", T0_MS + 1),
            }
        )
        == 5
    )
    assert derive_insert_id("s", {"a": 1, "b": 2}, None, None) == derive_insert_id(
        "s", {"b": 2, "a": 1}, None, None
    )


def test_key_properties_decide_the_insert_id_and_metadata_is_ignored():
    spec = resolve_spec("s", {"s": {"event_type": {"const": "Opened"}}}, None)
    keyed = StreamPlan("s", spec, ["id"], T0_MS)
    record = {"id": 1, "user_id": "user-00001", "time": T0_MS, "note": "a"}
    changed = {**record, "note": "b"}

    def insert_id(plan, rec):
        return plan.steps[0].plan.build(rec, plan.identity(rec))["insert_id"]

    assert insert_id(keyed, record) == insert_id(keyed, changed)
    whole = StreamPlan("s", spec, [], T0_MS)
    assert insert_id(whole, record) != insert_id(whole, changed)
    assert insert_id(whole, record) == insert_id(whole, {**record, "_sdc_received_at": "now"})


def test_record_insert_id_is_kept():
    payload = build({}, {"user_id": "user-00001", "time": T0_MS, "insert_id": "mine-1"})
    assert payload["insert_id"] == "mine-1"


def test_skip_event_types_drops_matching_events():
    spec = {"skip_event_types": ["$identify", "[Amplitude] *"]}
    for event_type in ("$identify", "[Amplitude] Start Session"):
        record = {"user_id": "user-00001", "time": T0_MS, "event_type": event_type}
        assert build(spec, record) is None
    assert build(spec, {"user_id": "user-00001", "time": T0_MS, "event_type": "Opened"})


def test_export_preset_maps_export_fields_to_ingestion_fields():
    row = {
        "uuid": "8f6d0558-4ef8-4a38-9227-66581e27a1c0",
        "$insert_id": None,
        "amplitude_id": 5501,
        "event_type": "Login",
        "event_time": "2024-02-29T23:58:44.157555+00:00",
        "server_upload_time": "2024-03-01T00:02:33.577814+00:00",
        "user_id": "user@example.com",
        "device_id": "device-0001",
        "ip_address": "203.0.113.1",
        "device_carrier": "T-Mobile",
        "version_name": "2.14.0",
        "device_type": "Apple iPhone",
        "os_name": "ios",
        "location_lat": 1.5,
        "session_id": 1709251353000,
        "event_properties": {"page": "/"},
        "group_properties": {"company": {"name": "Acme"}},
        "data": {"path": "/batch"},
        "paying": True,
    }
    spec = resolve_spec("events", {"events": {"preset": "amplitude_export"}}, None)
    payload = compile_kind("events", "event", spec).build(row, row)
    assert payload == {
        "event_type": "Login",
        "time": to_epoch_ms("2024-02-29T23:58:44.157555+00:00"),
        "insert_id": "8f6d0558-4ef8-4a38-9227-66581e27a1c0",
        "user_id": "user@example.com",
        "device_id": "device-0001",
        "ip": "203.0.113.1",
        "carrier": "T-Mobile",
        "app_version": "2.14.0",
        "os_name": "ios",
        "location_lat": 1.5,
        "session_id": 1709251353000,
        "event_properties": {"page": "/"},
    }
    plan = compile_kind("events", "event", spec)
    assert plan.build({**row, "$insert_id": "abc-1"}, row)["insert_id"] == "abc-1"


def test_export_preset_round_trip_copies_project_a_into_project_b(emulator, tmp_path):
    run = run_tap(base_config(emulator, tmp_path))
    assert run.error is None
    lines = "".join(json.dumps(message) + "\n" for message in run.messages)
    config = config_for(emulator, {"events": {"preset": "amplitude_export"}})
    run_target(config, lines)
    run_target(config, lines)  # a re-run (or a retried migration) adds nothing

    source = emulator.state.projects[PROJECT_A_ID].export_rows
    copied = {event["insert_id"]: event for event in project_b(emulator).ingested_events}
    assert len(copied) == len(source) == len(project_b(emulator).ingested_events)
    for row in source:
        event = copied[row["$insert_id"] or row["uuid"]]
        assert event["event_type"] == row["event_type"]
        assert event["time"] == to_epoch_ms(row["event_time"])
        assert event.get("user_id") == row["user_id"]
        assert event.get("device_id") == row["device_id"]
        assert event.get("event_properties", {}) == row["event_properties"]
        assert event.get("user_properties", {}) == row["user_properties"]
        assert event.get("groups", {}) == row["groups"]
        assert event.get("session_id") == row["session_id"]
        assert event.get("ip") == row["ip_address"]
        assert "amplitude_id" not in row or event["amplitude_id"] != row["amplitude_id"]
        assert "uuid" not in event
        assert "server_received_time" not in event
