"""The singer-sdk standard target tests, offline against the emulator (project B).

The SDK's sample streams carry no ids or times, so every stream maps (by the `*` glob) to events
with a constant device id and event type, and Amplitude's upload time. Each test gets a fresh
emulator, and the runner is rebuilt to point at it.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from singer_sdk.testing import TargetTestRunner, get_target_test_class
from singer_sdk.testing.templates import TargetFileTestTemplate

from amplitude_emulator import API_KEY_B, PROJECT_B_ID, Emulator
from target_amplitude.target import TargetAmplitude

PLACEHOLDER_URL = "http://127.0.0.1:9"


def suite_config(api_url: str) -> dict[str, Any]:
    """Every SDK sample stream becomes events of one test device."""
    return {
        "api_key": API_KEY_B,
        "api_url": api_url,
        "streams": {
            "*": {
                "object": "event",
                "event_type": {"const": "SDK Standard Test"},
                "device_id": {"const": "sdk-standard-test-device"},
                "allow_missing_time": True,
            }
        },
    }


_SdkSuite = get_target_test_class(
    TargetAmplitude, config=suite_config(PLACEHOLDER_URL), parse_env_config=False
)


class TestTargetAmplitudeStandard(_SdkSuite):  # type: ignore[misc,valid-type]
    """Every standard target test, each run into a freshly reset emulator."""

    @pytest.fixture
    def runner(self, emulator: Emulator) -> TargetTestRunner:
        return TargetTestRunner(
            TargetAmplitude, config=suite_config(emulator.url), parse_env_config=False
        )


class _ArrayData(TargetFileTestTemplate):
    name = "array_data"


def test_sdk_sample_records_land_as_events(emulator):
    sample = _ArrayData().singer_filepath.read_text(encoding="utf-8")
    runner = TargetTestRunner(
        TargetAmplitude,
        config=suite_config(emulator.url),
        parse_env_config=False,
        input_io=io.StringIO(sample),
    )
    runner.sync_all()

    events = emulator.state.projects[PROJECT_B_ID].ingested_events
    assert [e["event_properties"]["id"] for e in events] == [1, 2, 3, 4]
    assert events[3]["event_properties"]["fruits"] == ["orange", "banana", "apple", "pear"]
    assert {e["device_id"] for e in events} == {"sdk-standard-test-device"}
