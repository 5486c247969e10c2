"""Tap settings: bad values and misspelt names are reported on the command line, naming them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_amplitude.tap import TapAmplitude

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"api_key": "a-key", "secret_key": "a-secret", "api_url": "http://127.0.0.1:9"}


def _tap_cli(
    tmp_path: Path, config: dict[str, Any], *args: str
) -> subprocess.CompletedProcess[str]:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    return subprocess.run(
        [sys.executable, "-m", "tap_amplitude", "--config", str(config_file), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("setting", "value", "reason"),
    [
        ("export_window_hours", 0, "export_window_hours: 0 is less than the minimum of 1"),
        ("export_read_timeout_seconds", 0.0, "export_read_timeout_seconds: 0 is less than or"),
        ("user_activity_page_size", 5000, "user_activity_page_size: 5000 is greater than"),
        ("region", "mars", "region: 'mars' is not one of ['us', 'eu']"),
    ],
)
def test_bad_value_is_a_config_error_naming_the_setting_and_value(
    tmp_path: Path, setting: str, value: Any, reason: str
) -> None:
    result = _tap_cli(tmp_path, {**KEYS, setting: value})
    assert result.returncode != 0
    assert reason in result.stderr
    assert "Traceback" not in result.stderr


def test_connection_test_lists_config_errors_without_a_traceback(tmp_path: Path) -> None:
    result = _tap_cli(tmp_path, {**KEYS, "export_max_tries": 0}, "--test")
    assert result.returncode == 1
    assert "export_max_tries: 0 is less than the minimum of 1" in result.stderr
    assert "Traceback" not in result.stderr


def test_discovery_warns_about_bad_values_it_does_not_validate(tmp_path: Path) -> None:
    result = _tap_cli(tmp_path, {**KEYS, "dashboard_lookback_days": -1}, "--discover")
    assert result.returncode == 0, result.stderr
    assert "dashboard_lookback_days: -1 is less than the minimum of 0" in result.stderr


def test_misspelt_setting_is_warned_naming_the_closest_known_setting(tmp_path: Path) -> None:
    result = _tap_cli(tmp_path, {**KEYS, "export_window_hour": 6}, "--discover")
    assert result.returncode == 0, result.stderr
    assert (
        "Unknown setting `export_window_hour` is ignored by tap-amplitude; "
        "did you mean `export_window_hours`?"
    ) in result.stderr


def test_settings_the_sdk_and_meltano_pass_are_not_unknown() -> None:
    passed = {
        "stream_maps": {"events": {"__alias__": "raw_events"}},
        "stream_map_config": {"salt": "x"},
        "faker_config": {"seed": 1},
        "flattening_enabled": True,
        "flattening_max_depth": 1,
        "flattening_max_key_length": 64,
        "flattening_separator": "__",
        "batch_config": {"encoding": {"format": "jsonl"}, "storage": {"root": "file:///tmp"}},
        "user_agent": "my-pipeline/1.0",
        "_select": ["events.*"],  # a Meltano extra, never a setting
    }
    tap = TapAmplitude(config={**KEYS, **passed}, parse_env_config=False)
    assert tap.unknown_settings() == []


def test_unset_settings_take_the_schema_default_and_null_is_refused() -> None:
    tap = TapAmplitude(config=dict(KEYS), parse_env_config=False)
    defaults = TapAmplitude.config_jsonschema["properties"]
    assert tap.config["export_window_hours"] == defaults["export_window_hours"]["default"] == 24
    with pytest.raises(ConfigValidationError) as failure:
        TapAmplitude(config={**KEYS, "export_lag_hours": None}, parse_env_config=False)
    assert failure.value.errors == ["export_lag_hours: None is not of type 'integer'"]


def test_custom_stream_name_error_reaches_the_command_line(tmp_path: Path) -> None:
    entry = {"name": "Event Types", "path": "/api/2/events/list"}
    result = _tap_cli(tmp_path, {**KEYS, "custom_streams": [entry]})
    assert result.returncode == 1
    assert "custom_streams: name 'Event Types' must be unique snake_case" in result.stderr
    assert "Traceback" not in result.stderr
