"""Dashboard REST list and daily-series streams, error mapping and the connection test."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner
from singer_sdk.exceptions import FatalAPIError

from amplitude_emulator import PROJECT_A_ID, SECRET_KEY_A, SECRET_KEY_B, Emulator
from amplitude_emulator.faults import Fault
from tap_amplitude.tap import TapAmplitude
from tests.dashboard_helpers import base_config, requests_to, run_tap

if TYPE_CHECKING:
    from pathlib import Path


def test_event_types_keep_every_key_and_are_keyed_by_value(emulator: Emulator) -> None:
    project = emulator.state.projects[PROJECT_A_ID]
    visible = [row for row in project.event_types if not row["hidden"]]

    run = run_tap(emulator, base_config(emulator), ["event_types"])

    records = run.records("event_types")
    assert sorted(r["value"] for r in records) == sorted(r["value"] for r in visible)
    by_value = {r["value"]: r for r in records}
    for source in visible:
        assert set(source) <= set(by_value[source["value"]])  # no key dropped
        assert by_value[source["value"]]["totals"] == source["totals"]
    schema = next(m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == "event_types")
    assert schema["key_properties"] == ["value"]
    assert "CURRENT WEEK" in schema["schema"]["properties"]["totals"]["description"]


def test_annotations_and_cohorts_are_listed(emulator: Emulator) -> None:
    run = run_tap(emulator, base_config(emulator), ["annotations", "cohorts"])
    assert [a["id"] for a in run.records("annotations")] == [160419, 160420, 160421]
    cohorts = run.records("cohorts")
    assert [c["name"] for c in cohorts] == [
        "Power users",
        "Cart abandoners",
        "Trial (archived)",
        "Newsletter subscribers",
    ]
    assert cohorts[0]["definition"]["cohortType"] == "UNIQUES"  # open object kept whole


def test_cohorts_without_the_add_on_are_skipped_with_a_warning(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.state.projects[PROJECT_A_ID].cohorts_addon = False
    with caplog.at_level(logging.WARNING):
        run = run_tap(emulator, base_config(emulator), ["cohorts", "event_types"])
    assert run.records("cohorts") == []
    assert run.records("event_types")  # the run went on
    warning = next(m for m in caplog.messages if "Skipping stream 'cohorts'" in m)
    assert "Behavioral Cohorts" in warning
    assert "does not have access to Behavioral Cohorts" in warning  # Amplitude's own details


def test_active_users_are_one_row_per_date_without_group_by_by_default(
    emulator: Emulator,
) -> None:
    run = run_tap(emulator, base_config(emulator), ["active_users"])
    (query,) = requests_to(run, "/api/2/users")
    assert query == {"start": "20240301", "end": "20240303", "m": "active", "i": "1"}
    rows = run.records("active_users")
    assert [r["date"] for r in rows] == ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert {r["group"] for r in rows} == {"(all)"}
    assert all(r["active_users"] > 0 for r in rows)


def test_active_users_grouped_by_a_property_yield_one_row_per_date_and_group(
    emulator: Emulator,
) -> None:
    config = base_config(emulator, active_users_group_by="platform")
    run = run_tap(emulator, config, ["active_users"])
    assert requests_to(run, "/api/2/users")[0]["g"] == "platform"
    rows = run.records("active_users")
    assert {r["group"] for r in rows} >= {"iOS", "Web", "Android"}
    assert len({(r["date"], r["group"]) for r in rows}) == len(rows)
    assert {r["group_by"] for r in rows} == {"platform"}
    ungrouped = run_tap(emulator, base_config(emulator), ["active_users"]).records("active_users")
    assert sum(r["active_users"] for r in rows if r["date"] == "2024-03-01") == next(
        r["active_users"] for r in ungrouped if r["date"] == "2024-03-01"
    )


def test_a_rejected_group_by_shows_amplitudes_message_and_details(emulator: Emulator) -> None:
    config = base_config(emulator, active_users_group_by="favorite_color")
    with pytest.raises(FatalAPIError) as raised:
        run_tap(emulator, config, ["active_users"])
    message = str(raised.value)
    assert "Invalid chart definition" in message
    assert "Invalid user property favorite_color" in message
    assert "active_users_group_by" in message  # names the setting to change
    assert "4GB" not in message
    assert "4 GB" not in message


def test_average_session_length_is_one_row_per_date(emulator: Emulator) -> None:
    run = run_tap(emulator, base_config(emulator), ["average_session_length"])
    rows = run.records("average_session_length")
    assert [r["date"] for r in rows] == ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert all(r["average_session_length_seconds"] > 0 for r in rows)


def test_long_date_ranges_are_requested_in_windows(emulator: Emulator) -> None:
    config = base_config(emulator, dashboard_start_date="2024-01-01")
    run = run_tap(emulator, config, ["average_session_length"])
    windows = [(q["start"], q["end"]) for q in requests_to(run, "/api/2/sessions/average")]
    assert windows == [
        ("20240101", "20240130"),
        ("20240131", "20240229"),
        ("20240301", "20240303"),
    ]
    dates = [r["date"] for r in run.records("average_session_length")]
    assert dates == sorted(dates)
    assert len(dates) == 63


def test_daily_series_rerun_starts_lookback_days_before_the_bookmark(emulator: Emulator) -> None:
    config = base_config(emulator, dashboard_end_date="2024-03-03", dashboard_lookback_days=1)
    state = {
        "bookmarks": {
            "active_users": {"replication_key": "date", "replication_key_value": "2024-03-03"}
        }
    }
    run = run_tap(emulator, config, ["active_users"], state=state)
    assert requests_to(run, "/api/2/users")[0]["start"] == "20240302"
    assert run.final_state["bookmarks"]["active_users"]["replication_key_value"] == "2024-03-03"


def test_429_is_retried_honouring_retry_after(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.state.add_fault(
        Fault("status", path="/api/2/events/list", status=429, headers={"Retry-After": "0"})
    )
    with caplog.at_level(logging.INFO):
        run = run_tap(emulator, base_config(emulator), ["event_types"])
    assert [r.status for r in run.requests] == [429, 200]
    assert run.records("event_types")
    assert any("Backing off 0.00 seconds" in m for m in caplog.messages)


def test_bad_keys_fail_with_the_region_and_never_the_secret(emulator: Emulator) -> None:
    config = base_config(emulator, secret_key=SECRET_KEY_B, region="eu")
    with pytest.raises(FatalAPIError) as raised:
        run_tap(emulator, config, ["event_types"])
    message = str(raised.value)
    assert "region='eu'" in message
    assert "Invalid API Key" in message
    assert SECRET_KEY_B not in message
    assert SECRET_KEY_A not in message


def _cli_test(emulator: Emulator, tmp_path: Path, **overrides: object) -> object:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(base_config(emulator, **overrides)))
    return CliRunner().invoke(TapAmplitude.cli, ["--config", str(config_file), "--test"])


def test_connection_test_reads_only_event_types(emulator: Emulator, tmp_path: Path) -> None:
    emulator.state.projects[PROJECT_A_ID].cohorts_addon = False
    result = _cli_test(emulator, tmp_path, active_users_group_by="favorite_color")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert {r.path for r in emulator.state.requests} == {"/api/2/events/list"}


def test_connection_test_names_the_region_on_403(emulator: Emulator, tmp_path: Path) -> None:
    result = _cli_test(emulator, tmp_path, secret_key=SECRET_KEY_B)
    assert result.exit_code != 0  # type: ignore[attr-defined]
    assert "region='us'" in str(result.exception)  # type: ignore[attr-defined]


def test_daily_series_accept_a_relative_start_date(emulator: Emulator) -> None:
    config = base_config(
        emulator, dashboard_start_date=None, start_date="2 days ago", dashboard_end_date=None
    )
    run = run_tap(emulator, config, ["average_session_length"])
    assert len(run.records("average_session_length")) == 3  # two days ago through today


def test_5xx_is_retried(emulator: Emulator) -> None:
    emulator.state.add_fault(
        Fault(
            "status", path="/api/3/annotations", status=503, times=2, headers={"Retry-After": "0"}
        )
    )
    run = run_tap(emulator, base_config(emulator), ["annotations"])
    assert [r.status for r in run.requests] == [503, 503, 200]
    assert len(run.records("annotations")) == 3
