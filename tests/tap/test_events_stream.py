"""The `events` stream against the emulator's Export API: windows, retries, bisection, resume."""

from __future__ import annotations

import datetime as dt
import logging
import urllib.parse
from collections import Counter
from typing import TYPE_CHECKING, Any

import backoff
import pytest
import requests
from singer_sdk.exceptions import FatalAPIError

from amplitude_emulator.state import API_KEY_A
from tap_amplitude.events import EventsStream
from tap_amplitude.tap import TapAmplitude
from tap_amplitude.timestamps import TIMESTAMP_FIELDS, to_rfc3339
from tests.events_harness import (
    Run,
    arm,
    base_config,
    export_params,
    run_tap,
    seeded_rows,
)

if TYPE_CHECKING:
    from pathlib import Path

    from amplitude_emulator import Emulator


@pytest.fixture(autouse=True)
def no_backoff_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries happen at once: the tests pin what is retried, not how long the waits are."""
    monkeypatch.setattr(EventsStream, "backoff_wait_generator", lambda _self: backoff.constant(0))
    monkeypatch.setattr(EventsStream, "backoff_jitter", lambda _self, value: value)


# --- the normal path ------------------------------------------------------------------------------


def test_every_seeded_event_is_exported_once_with_state_after_each_window(
    emulator: Emulator, tmp_path: Path
) -> None:
    run = run_tap(base_config(emulator, tmp_path))
    assert run.error is None
    uuids = [record["uuid"] for record in run.records]
    assert Counter(uuids) == Counter(row["uuid"] for row in seeded_rows(emulator))
    assert export_params(emulator) == [
        ("20240301T00", "20240301T23"),
        ("20240302T00", "20240302T23"),
        ("20240303T00", "20240303T23"),
    ]
    assert list(dict.fromkeys(run.bookmarks)) == [
        "2024-03-02T00:00:00+00:00",
        "2024-03-03T00:00:00+00:00",
        "2024-03-04T00:00:00+00:00",
    ]
    assert_state_follows_each_window(run)
    assert list(tmp_path.iterdir()) == []  # temp archives removed


def assert_state_follows_each_window(run: Run) -> None:
    """Every STATE comes right after the last record of the hours it bookmarks."""
    uploaded: list[str] = []
    for message in run.messages:
        if message["type"] == "RECORD":
            uploaded.append(message["record"]["server_upload_time"])
        elif message["type"] == "STATE":
            bookmark = message["value"]["bookmarks"]["events"]["replication_key_value"]
            assert all(value < bookmark for value in uploaded)
            later = run.records[len(uploaded) :]
            assert all(record["server_upload_time"] >= bookmark for record in later)


def test_records_have_rfc3339_timestamps_and_every_nested_key(
    emulator: Emulator, tmp_path: Path
) -> None:
    run = run_tap(base_config(emulator, tmp_path, end_date="2024-03-01T02:00:00Z"))
    by_uuid = {row["uuid"]: row for row in seeded_rows(emulator)}
    assert run.records
    for record in run.records:
        source = by_uuid[record["uuid"]]
        expected = {
            key: (to_rfc3339(value) if key in TIMESTAMP_FIELDS and value else value)
            for key, value in source.items()
        }
        assert record == expected
        assert record["server_upload_time"].endswith("+00:00")


def test_members_of_one_window_are_emitted_in_upload_hour_order(
    emulator: Emulator, tmp_path: Path
) -> None:
    run = run_tap(base_config(emulator, tmp_path, end_date="2024-03-02T00:00:00Z"))
    hours = [record["server_upload_time"][:13] for record in run.records]
    assert hours == sorted(hours)  # the emulator writes members shuffled
    assert len(set(hours)) == 24


def test_bookmark_shape_is_stable(emulator: Emulator, tmp_path: Path) -> None:
    run = run_tap(base_config(emulator, tmp_path, end_date="2024-03-01T03:00:00Z"))
    final = run.states[-1]["bookmarks"]["events"]
    assert final["replication_key"] == "server_upload_time"
    assert final["replication_key_value"] == "2024-03-01T03:00:00+00:00"


# --- where a run starts and stops -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("bookmark", "first_request"),
    [
        ("2024-03-02T06:00:00+00:00", ("20240302T06", "20240303T05")),  # our own shape
        ("20240302T06", ("20240302T06", "20240303T05")),  # Airbyte-style hour string
        ("2024-03-02 06:41:07.123456", ("20240302T06", "20240303T05")),  # Amplitude's format
        ("2024-02-01T00:00:00+00:00", ("20240301T00", "20240301T23")),  # start_date is later
    ],
)
def test_run_starts_at_max_of_bookmark_and_start_date(
    emulator: Emulator, tmp_path: Path, bookmark: str, first_request: tuple[str, str]
) -> None:
    state = {
        "bookmarks": {
            "events": {"replication_key": "server_upload_time", "replication_key_value": bookmark}
        }
    }
    run = run_tap(base_config(emulator, tmp_path), state=state)
    assert run.error is None
    assert export_params(emulator)[0] == first_request


def test_lookback_rereads_hours_before_the_bookmark(emulator: Emulator, tmp_path: Path) -> None:
    state = {
        "bookmarks": {
            "events": {
                "replication_key": "server_upload_time",
                "replication_key_value": "2024-03-03T00:00:00+00:00",
            }
        }
    }
    run_tap(base_config(emulator, tmp_path, lookback_hours=3), state=state)
    assert export_params(emulator)[0] == ("20240302T21", "20240303T20")
    emulator.state.requests.clear()
    without_start_date = base_config(emulator, tmp_path, lookback_hours=3)
    del without_start_date["start_date"]
    run_tap(without_start_date, state=state)
    assert export_params(emulator)[0] == ("20240302T21", "20240303T20")


def test_no_hour_is_requested_before_it_is_complete(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = dt.datetime(2024, 3, 2, 10, 30, tzinfo=dt.timezone.utc)
    monkeypatch.setattr(EventsStream, "now", lambda _self: now)
    config = base_config(emulator, tmp_path)
    del config["end_date"]
    run = run_tap(config)
    assert export_params(emulator) == [
        ("20240301T00", "20240301T23"),
        ("20240302T00", "20240302T07"),  # hour 07 ends 08:00, published by 10:00
    ]
    assert run.bookmarks[-1] == "2024-03-02T08:00:00+00:00"


# --- resume ---------------------------------------------------------------------------------------


class KilledError(BaseException):
    """Stands in for SIGKILL: not an Exception, so nothing on the way catches it."""


def test_run_killed_mid_window_resumes_at_that_window_without_loss_or_repeat(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = base_config(emulator, tmp_path)
    seeded = [row["uuid"] for row in seeded_rows(emulator)]
    first_day = sum(1 for row in seeded_rows(emulator) if row["server_upload_time"] < "2024-03-02")
    kill_at = first_day + 100  # inside window 2
    original = EventsStream.post_process
    seen = {"count": 0}

    def dying_post_process(self: EventsStream, row: dict, context: Any = None) -> dict | None:
        seen["count"] += 1
        if seen["count"] > kill_at:
            raise KilledError
        return original(self, row, context)

    monkeypatch.setattr(EventsStream, "post_process", dying_post_process)
    killed = run_tap(config, survive=KilledError)
    monkeypatch.setattr(EventsStream, "post_process", original)
    assert len(killed.records) == kill_at  # window 2 was under way
    assert killed.bookmarks[-1] == "2024-03-02T00:00:00+00:00"

    emulator.state.requests.clear()
    resumed = run_tap(config, state=killed.states[-1])
    assert resumed.error is None
    assert export_params(emulator)[0] == ("20240302T00", "20240302T23")  # window 2, not start
    delivered = [r["uuid"] for r in killed.committed_records()] + [
        r["uuid"] for r in resumed.records
    ]
    assert Counter(delivered) == Counter(seeded)  # nothing lost, nothing repeated


# --- hosts and auth -------------------------------------------------------------------------------


def test_wrong_secret_says_invalid_key_or_wrong_region_without_secrets(
    emulator: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "not-the-secret-5f1e2d"
    config = base_config(emulator, tmp_path, secret_key=secret, region="eu")
    with caplog.at_level(logging.DEBUG):
        run = run_tap(config)
    assert isinstance(run.error, FatalAPIError)
    message = str(run.error)
    assert "invalid key or wrong region" in message
    assert "'eu'" in message
    for text in (message, caplog.text, run.logs):
        assert secret not in text
        assert API_KEY_A not in text
    assert len(export_params(emulator)) == 1  # auth errors are not retried


def test_missing_credentials_401_is_an_auth_error(emulator: Emulator, tmp_path: Path) -> None:
    arm(emulator, kind="status", status=401, body={"error": "Unauthorized"})
    run = run_tap(base_config(emulator, tmp_path))
    assert isinstance(run.error, FatalAPIError)
    assert "401" in str(run.error)
    assert "invalid key or wrong region" in str(run.error)


class HostRewritingAdapter(requests.adapters.HTTPAdapter):
    """Sends requests for a real Amplitude host to the emulator, remembering what was asked."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target
        self.asked: list[str] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.asked.append(request.url or "")
        parts = urllib.parse.urlsplit(request.url or "")
        request.url = self.target + parts.path + ("?" + parts.query if parts.query else "")
        return super().send(request, **kwargs)


@pytest.mark.parametrize(
    ("region", "host"),
    [("eu", "https://analytics.eu.amplitude.com"), ("us", "https://amplitude.com")],
)
def test_region_selects_the_export_host(
    emulator: Emulator, tmp_path: Path, region: str, host: str
) -> None:
    config = base_config(emulator, tmp_path, region=region, end_date="2024-03-01T01:00:00Z")
    del config["api_url"]
    tap = TapAmplitude(config=config, parse_env_config=False)
    stream = tap.streams["events"]
    assert isinstance(stream, EventsStream)
    adapter = HostRewritingAdapter(emulator.url)
    stream.requests_session.mount(host, adapter)
    records = list(stream.get_records(None))
    assert adapter.asked
    assert adapter.asked[0].startswith(host + "/api/2/export?start=20240301T00&end=20240301T00")
    assert records


# --- more edges -----------------------------------------------------------------------------------


def test_bad_timestamps_are_repaired_or_nulled_and_reported(
    emulator: Emulator, tmp_path: Path
) -> None:
    rows = sorted(seeded_rows(emulator), key=lambda row: row["server_upload_time"])
    rows[0]["processed_time"] = "2022:05:27 05:59:45.471635"  # the known colon-date form
    rows[1]["client_event_time"] = "yesterday-ish"
    run = run_tap(base_config(emulator, tmp_path, end_date="2024-03-01T01:00:00Z"))
    assert run.error is None
    by_uuid = {record["uuid"]: record for record in run.records}
    assert by_uuid[rows[0]["uuid"]]["processed_time"] == "2022-05-27T05:59:45.471635+00:00"
    assert by_uuid[rows[1]["uuid"]]["client_event_time"] is None
    assert len(by_uuid) == sum(1 for r in rows if r["server_upload_time"] < "2024-03-01 01")
    assert "client_event_time 'yesterday-ish' is not a timestamp" in run.logs


def test_default_start_is_30_days_before_the_run(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = dt.datetime(2024, 3, 31, 10, 30, tzinfo=dt.timezone.utc)
    monkeypatch.setattr(EventsStream, "now", lambda _self: now)
    config = base_config(emulator, tmp_path, end_date="2024-03-02T00:00:00Z")
    del config["start_date"]
    run = run_tap(config)
    assert run.error is None
    assert export_params(emulator)[0] == ("20240301T10", "20240301T23")
