"""Local validation: each reason code names stream, record key and field; bad rows go alone."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from target_amplitude.validation import reasons as v
from target_amplitude.validation.checker import Checker
from target_amplitude.validation.reasons import RecordCheckError
from tests.amplitude_target_runs import (
    config_for,
    dead_letters,
    project_b,
    run_target,
    singer_input,
)

T0_MS = 1_714_557_600_000
EVENT = {"event_type": "name", "time": "at"}
GOOD_EVENT = {"user_id": "user-00001", "name": "Clicked", "at": T0_MS}


def _deep(levels: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(levels):
        value = {"nested": value}
    return value


# (reason, spec, bad record (merged over a good one), field named in the detail)
CASES = [
    (v.MISSING_EVENT_TYPE, EVENT, {"name": None}, "event_type"),
    (v.RESERVED_EVENT_TYPE, EVENT, {"name": "[Amplitude] Revenue"}, "event_type"),
    (v.RESERVED_EVENT_TYPE, EVENT, {"name": "$identify"}, "event_type"),
    (v.MISSING_ID, EVENT, {"user_id": "null", "device_id": None}, "user_id/device_id"),
    (v.MISSING_ID, EVENT, {"user_id": None, "device_id": "-1"}, "user_id/device_id"),
    (v.ID_TOO_SHORT, EVENT, {"user_id": "abc"}, "user_id"),
    (v.STRING_TOO_LONG, EVENT, {"user_id": "u" * 1025}, "user_id"),
    (v.MISSING_TIME, EVENT, {"at": None}, "time"),
    (v.INVALID_TIME, EVENT, {"at": "yesterday"}, "time"),
    (v.TIME_OUT_OF_RANGE, EVENT, {"at": "1999-12-31T00:00:00Z"}, "time"),
    (v.TIME_OUT_OF_RANGE, EVENT, {"at": "2999-01-01T00:00:00Z"}, "time"),
    (v.INVALID_NUMBER, EVENT, {"price": "cheap"}, "price"),
    (v.INVALID_NUMBER, EVENT, {"quantity": 1.5}, "quantity"),
    (v.INVALID_NUMBER, EVENT, {"revenue": True}, "revenue"),
    (v.INVALID_NUMBER, EVENT, {"session_id": "soon"}, "session_id"),
    (
        v.TOO_MANY_GROUP_TYPES,
        EVENT,
        {"groups": {f"type{n}": "x" for n in range(6)}},
        "groups",
    ),
    (
        v.TOO_MANY_GROUP_VALUES,
        EVENT,
        {"groups": {"team": [str(n) for n in range(11)]}},
        "groups.team",
    ),
    (v.INVALID_GROUP, EVENT, {"groups": {"team": {"a": 1}}}, "groups.team"),
    (v.OPERATORS_NOT_ALLOWED, EVENT, {"user_properties": {"$set": {"a": 1}}}, "user_properties"),
    (v.TOO_DEEP, EVENT, {"event_properties": _deep(45)}, "event_properties.nested"),
    (
        v.OPERATOR_MIXING,
        {"object": "user"},
        {"user_properties": {"$set": {"a": 1}, "b": 2}},
        "user_properties",
    ),
    (
        v.OPERATOR_CONFLICT,
        {"object": "user"},
        {"user_properties": {"$set": {"a": 1}, "$add": {"a": 2}}},
        "user_properties.a",
    ),
    (v.MISSING_ID, {"object": "user"}, {"user_id": None, "device_id": "device-1"}, "user_id"),
    (v.MISSING_ID, {"object": "device"}, {"device_id": None}, "device_id"),
    (
        v.MISSING_GROUP_TYPE,
        {"object": "group", "group_type": "kind", "group_value": "gid"},
        {"kind": None, "gid": "g-1"},
        "group_type",
    ),
    (
        v.MISSING_GROUP_VALUE,
        {"object": "group", "group_type": {"const": "company"}, "group_value": "gid"},
        {"gid": ""},
        "group_value",
    ),
    (
        v.MISSING_GLOBAL_USER_ID,
        {"object": "user_mapping", "global_user_id": "canonical"},
        {"canonical": None},
        "global_user_id",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES])
def test_bad_record_is_rejected_alone_with_reason_stream_key_and_field(emulator, tmp_path, case):
    reason, spec, bad, field = case
    good = {
        **GOOD_EVENT,
        "gid": "g-1",
        "kind": "company",
        "canonical": "global-1",
        "device_id": "device-1",
        "n": 1,
    }
    records = [good, {**good, **bad, "n": 2}]
    dead = tmp_path / "dead.jsonl"
    config = config_for(
        emulator, {"rows": spec}, on_rejected="dead_letter", dead_letter_path=str(dead)
    )
    run_target(config, singer_input("rows", records, ["n"]))

    (letter,) = dead_letters(dead)
    assert letter["reason"] == reason
    assert letter["stream"] == "rows"
    assert letter["key"] == "n=2"
    assert f"field '{field}" in letter["detail"]
    assert letter["record"]["n"] == 2
    # The good record of the same batch was delivered.
    project = project_b(emulator)
    landed = (
        len(project.ingested_events)
        + len(project.group_profiles)
        + len(project.user_mappings)
        + len(project.user_profiles)
    )
    assert landed >= 1
    assert not any(e.get("event_properties", {}).get("n") == 2 for e in project.ingested_events)


def test_rejection_under_fail_withholds_state_and_fails_the_run(emulator):
    streams = {"rows": EVENT}
    records = [GOOD_EVENT, {**GOOD_EVENT, "user_id": "abc"}]
    lines = singer_input("rows", records, state={"bookmark": 2})
    with pytest.raises(Exception, match="id_too_short"):
        run_target(config_for(emulator, streams), lines)
    assert len(project_b(emulator).ingested_events) == 1


def test_invalid_id_value_is_dropped_when_another_id_remains():
    event = {"event_type": "Clicked", "user_id": "undefined", "device_id": "device-123"}
    checker = Checker()
    checker.check_event(event)
    assert event == {"event_type": "Clicked", "device_id": "device-123"}
    assert checker.dropped_invalid_ids == 1


def test_min_id_length_setting_relaxes_the_length_check():
    Checker(min_id_length=2).check_event({"event_type": "Clicked", "user_id": "ab"})
    with pytest.raises(RecordCheckError) as failure:
        Checker().check_event({"event_type": "Clicked", "user_id": "ab"})
    assert failure.value.reason == v.ID_TOO_SHORT


def test_long_property_strings_are_truncated_not_rejected():
    event = {
        "event_type": "Clicked",
        "user_id": "user-00001",
        "event_properties": {"note": "x" * 2000, "items": ["y" * 1500]},
    }
    checker = Checker()
    checker.check_event(event)
    assert len(event["event_properties"]["note"]) == 1024
    assert len(event["event_properties"]["items"][0]) == 1024
    assert checker.truncated_strings == 2


def test_values_that_are_not_json_are_made_json_or_rejected():
    event = {
        "event_type": "Clicked",
        "user_id": "user-00001",
        "price": Decimal("9.5"),
        "event_properties": {"at": dt.date(2024, 5, 1), "n": Decimal(3)},
    }
    Checker().check_event(event)
    assert event["price"] == 9.5
    assert event["event_properties"] == {"at": "2024-05-01", "n": 3}
    with pytest.raises(RecordCheckError) as failure:
        Checker().check_event(
            {"event_type": "Clicked", "user_id": "user-00001", "event_properties": {"b": b"x"}}
        )
    assert failure.value.reason == v.UNSERIALIZABLE_VALUE
    assert failure.value.field == "event_properties.b"


def test_group_kind_refuses_operators_groups_do_not_support():
    with pytest.raises(RecordCheckError) as failure:
        Checker().check_group(
            {"group_type": "company", "group_value": "1", "group_properties": {"$remove": {"a": 1}}}
        )
    assert failure.value.reason == v.OPERATOR_MIXING


def test_schema_validation_is_off_by_default_and_available_on_request(emulator):
    streams = {"rows": {"event_type": {"const": "Clicked"}}}
    lines = (
        '{"type": "SCHEMA", "stream": "rows", "key_properties": [], "schema": {"type": "object",'
        ' "properties": {"user_id": {"type": "string"}, "time": {"type": "integer"},'
        ' "n": {"type": "integer"}}}}\n'
        '{"type": "RECORD", "stream": "rows", "record": {"user_id": "user-00001",'
        ' "time": 1714557600000, "n": "not a number"}}\n'
    )
    run_target(config_for(emulator, streams), lines)
    assert len(project_b(emulator).ingested_events) == 1
    with pytest.raises(Exception, match="not a number"):
        run_target(config_for(emulator, streams, validate_records=True), lines)
