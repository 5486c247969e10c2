"""`custom_streams`: any Dashboard REST GET endpoint, end to end against the emulator."""

from __future__ import annotations

import pytest
from singer_sdk.exceptions import FatalAPIError

from amplitude_emulator import PROJECT_A_ID, Emulator, data
from tap_amplitude.custom_streams import CustomStream, infer_schema
from tap_amplitude.tap import TapAmplitude
from tests.dashboard_helpers import base_config, requests_to, run_tap

RAW_EVENT_TYPES = {
    "name": "raw_event_types",
    "path": "/api/2/events/list",
    "records_path": "$.data[*]",
    "primary_keys": ["value"],
}


def test_custom_stream_end_to_end_with_an_inferred_schema(emulator: Emulator) -> None:
    config = base_config(emulator, custom_streams=[RAW_EVENT_TYPES])
    run = run_tap(emulator, config, ["raw_event_types"])

    records = run.records("raw_event_types")
    visible = [r for r in emulator.state.projects[PROJECT_A_ID].event_types if not r["hidden"]]
    assert sorted(r["value"] for r in records) == sorted(r["value"] for r in visible)
    schema = next(m for m in run.messages if m["type"] == "SCHEMA")
    assert schema["stream"] == "raw_event_types"
    assert schema["key_properties"] == ["value"]
    properties = schema["schema"]["properties"]
    assert properties["totals"]["type"] == ["integer", "null"]
    assert properties["hidden"]["type"] == ["boolean", "null"]
    assert properties["value"]["type"] == ["string", "null"]


def test_custom_stream_sends_params_with_the_same_auth_and_throttle(emulator: Emulator) -> None:
    spec = {
        "name": "heavy_user_page",
        "path": "/api/2/useractivity",
        "params": {"user": str(data.USERS[0].amplitude_id), "limit": 5},
        "records_path": "$.events[*]",
        "primary_keys": ["uuid"],
        "schema": {
            "type": "object",
            "properties": {"uuid": {"type": "string"}, "event_type": {"type": ["string", "null"]}},
        },
    }
    config = base_config(emulator, custom_streams=[spec])
    tap = TapAmplitude(config=config, parse_env_config=False)
    stream = tap.streams["heavy_user_page"]
    assert isinstance(stream, CustomStream)
    assert stream.request_throttle is not None  # user endpoints share the 360/h quota

    run = run_tap(emulator, config, ["heavy_user_page"])
    assert requests_to(run, "/api/2/useractivity") == [
        {"user": str(data.USERS[0].amplitude_id), "limit": "5"}
    ]
    records = run.records("heavy_user_page")
    assert len(records) >= 5
    assert set(records[0]) == {"uuid", "event_type"}  # the declared schema is used as given


def test_custom_stream_400_shows_amplitudes_details(emulator: Emulator) -> None:
    spec = {
        "name": "bad_chart",
        "path": "/api/2/users",
        "params": {"start": "20240301", "end": "20240301", "g": "shoe_size"},
        "records_path": "$.data.series[*]",
        "schema": {"type": "object", "properties": {}},
    }
    with pytest.raises(FatalAPIError, match="Invalid user property shoe_size") as raised:
        run_tap(emulator, base_config(emulator, custom_streams=[spec]), ["bad_chart"])
    assert "`custom_streams` entry 'bad_chart'" in str(raised.value)


def test_custom_stream_names_must_be_unique_snake_case(emulator: Emulator) -> None:
    twice = base_config(emulator, custom_streams=[RAW_EVENT_TYPES, RAW_EVENT_TYPES])
    with pytest.raises(ValueError, match="raw_event_types"):
        TapAmplitude(config=twice, parse_env_config=False)
    spaced = base_config(emulator, custom_streams=[{**RAW_EVENT_TYPES, "name": "Event Types"}])
    with pytest.raises(ValueError, match="snake_case"):
        TapAmplitude(config=spaced, parse_env_config=False)


def test_inferred_schema_accepts_every_sampled_record() -> None:
    schema = infer_schema(
        [
            {"id": 1, "ratio": 0.5, "tags": ["a"], "meta": {"k": 1}, "maybe": None},
            {"id": 2, "ratio": 1, "tags": [], "meta": None, "maybe": None},
        ],
        primary_keys=("id",),
    )
    properties = schema["properties"]
    assert properties["id"]["type"] == ["integer", "null"]
    assert properties["ratio"]["type"] == ["number", "null"]
    assert properties["tags"] == {"type": ["array", "null"], "items": {}}
    assert properties["meta"] == {"type": ["object", "null"], "additionalProperties": True}
    assert properties["maybe"]["type"] == ["string", "null"]
    assert schema["additionalProperties"] is True
