"""Target settings: the reason for a bad value or mapping reaches the command line, naming it."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError

from target_amplitude.delivery.settings import DeliverySettings
from target_amplitude.mapping.specs import OBJECT_KINDS
from target_amplitude.target import TargetAmplitude

ROOT = Path(__file__).resolve().parents[2]
BASE = {"api_key": "a-key", "api_url": "http://127.0.0.1:9", "streams": {"orders": "user"}}


def _target_cli(
    tmp_path: Path, config: dict[str, Any], lines: list[dict[str, Any]] | None = None
) -> subprocess.CompletedProcess[str]:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    return subprocess.run(
        [sys.executable, "-m", "target_amplitude", "--config", str(config_file)],
        input="".join(json.dumps(line) + "\n" for line in lines or []),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )


def _about() -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "target_amplitude", "--about", "--format=json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    about: dict[str, Any] = json.loads(result.stdout)
    return about


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        (
            {"throttle_wait_seconds": 0.5},
            "throttle_wait_seconds: 0.5 is less than the minimum of 1",
        ),
        ({"events_per_request": 5000}, "events_per_request: 5000 is greater than the maximum"),
        (
            {"streams": {"orders": {"object": "bogus"}}},
            "streams.orders.object: 'bogus' is not one of ['event', 'user'",
        ),
        (  # a check of the target's own mapping compiler, not of the schema
            {"streams": {"orders": {"object": "user", "user_idd": "id"}}},
            "streams.orders: 'user_idd' is neither an Amplitude field nor a mapping option",
        ),
    ],
)
def test_bad_setting_reason_reaches_the_command_line(
    tmp_path: Path, override: dict[str, Any], reason: str
) -> None:
    result = _target_cli(tmp_path, {**BASE, **override})
    assert result.returncode == 1
    assert reason in result.stderr
    assert "Traceback" not in result.stderr


def test_unmapped_stream_reason_reaches_the_command_line(tmp_path: Path) -> None:
    schema = {
        "type": "SCHEMA",
        "stream": "other",
        "schema": {"properties": {}},
        "key_properties": [],
    }
    result = _target_cli(tmp_path, BASE, [schema])
    assert result.returncode == 1
    assert "stream 'other' is not mapped" in result.stderr


def test_misspelt_setting_is_warned_naming_the_closest_known_setting(tmp_path: Path) -> None:
    result = _target_cli(tmp_path, {**BASE, "on_rejeted": "skip"})
    assert result.returncode == 0, result.stderr
    assert (
        "Unknown setting `on_rejeted` is ignored by target-amplitude; did you mean `on_rejected`?"
    ) in result.stderr


def test_misspelt_required_setting_is_named_beside_the_error(tmp_path: Path) -> None:
    config = {key: value for key, value in BASE.items() if key != "api_key"}
    result = _target_cli(tmp_path, {**config, "api_kye": "a-key"})
    assert result.returncode == 1
    assert "config: 'api_key' is a required property" in result.stderr
    assert "did you mean `api_key`?" in result.stderr


def test_sdk_settings_the_target_ignores_are_not_in_about_and_warned(tmp_path: Path) -> None:
    settings = _about()["settings"]["properties"]
    assert "load_method" not in settings
    assert "add_record_metadata" not in settings
    assert "batch_size_rows" in settings  # honoured: rows per sink batch
    result = _target_cli(tmp_path, {**BASE, "load_method": "upsert"})
    assert result.returncode == 0, result.stderr
    assert "Setting `load_method` is ignored by target-amplitude" in result.stderr


def test_streams_setting_shows_its_shape_in_about() -> None:
    streams = _about()["settings"]["properties"]["streams"]
    spec = streams["additionalProperties"]
    assert spec["then"]["enum"] == list(OBJECT_KINDS)  # `"orders": "user"` shorthand
    options = spec["else"]["properties"]
    assert options["object"]["then"]["enum"] == list(OBJECT_KINDS)
    assert options["mode"]["enum"] == ["replace", "add", "remove"]
    assert options["preset"]["enum"] == ["amplitude_export"]
    assert options["null_values"]["enum"] == ["skip", "unset"]
    assert {"event_properties", "property_operations", "touch_event"} <= set(options)
    assert "description" in spec["else"]["additionalProperties"]  # field -> source


def test_settings_the_sdk_and_meltano_pass_are_not_unknown() -> None:
    passed = {
        "stream_maps": {"orders": {"__alias__": "users"}},
        "stream_map_config": {"salt": "x"},
        "faker_config": {"seed": 1},
        "flattening_enabled": True,
        "flattening_max_depth": 1,
        "batch_size_rows": 100,
        "validate_records": False,
        "_vars": {"x": 1},  # a Meltano extra, never a setting
    }
    target = TargetAmplitude(config={**BASE, **passed}, parse_env_config=False)
    assert target.unknown_settings() == []


def test_delivery_defaults_are_the_schema_defaults() -> None:
    schema = TargetAmplitude.config_jsonschema["properties"]
    for field in dataclasses.fields(DeliverySettings):
        assert schema[field.name].get("default") == field.default, field.name
    with pytest.raises(ConfigValidationError) as failure:
        DeliverySettings(max_concurrent_requests=0, on_rejected="drop")
    assert failure.value.errors == [
        "max_concurrent_requests: 0 is less than the minimum of 1",
        "on_rejected: 'drop' is not one of ['fail', 'dead_letter', 'skip']",
    ]
