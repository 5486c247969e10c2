"""The `events` stream's error paths against the emulator: 404, 400/504 bisection, retries."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import backoff
import pytest
from singer_sdk.exceptions import FatalAPIError

from amplitude_emulator.data import EMPTY_HOUR, row_bytes
from tap_amplitude.events import EventsStream
from tests.events_harness import (
    EXPORT_PATH,
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


# --- 404, 400 and 504 -----------------------------------------------------------------------------


def test_empty_window_404_still_advances_the_bookmark(emulator: Emulator, tmp_path: Path) -> None:
    start = EMPTY_HOUR.strftime("%Y-%m-%dT%H:00:00Z")
    config = base_config(
        emulator, tmp_path, start_date=start, end_date="2024-03-02T07:00:00Z", export_window_hours=1
    )
    run = run_tap(config)
    assert run.error is None
    statuses = [r.status for r in emulator.state.requests if r.path == EXPORT_PATH]
    assert statuses == [404, 200]
    assert run.bookmarks[:2] == ["2024-03-02T06:00:00+00:00", "2024-03-02T07:00:00+00:00"]
    assert "no data (404: Raw data files were not found" in run.logs


def test_a_404_that_is_not_amplitudes_no_data_fails_without_moving_the_bookmark(
    emulator: Emulator, tmp_path: Path
) -> None:
    arm(emulator, kind="status", status=404, body="<html>Not Found</html>")
    config = base_config(
        emulator, tmp_path, start_date="2024-03-01T00:00:00Z", end_date="2024-03-01T02:00:00Z"
    )
    run = run_tap(config)
    assert isinstance(run.error, FatalAPIError)
    assert "without Amplitude's 'Raw data files were not found'" in str(run.error)
    assert run.bookmarks == []


def _largest_block(emulator: Emulator, hours: int) -> int:
    sizes: Counter[str] = Counter()
    for row in seeded_rows(emulator):
        day, hour = row["server_upload_time"][:10], int(row["server_upload_time"][11:13])
        block = (day, hour // hours)
        sizes[str(block)] += len(row_bytes(row))
    return max(sizes.values())


def test_export_window_is_bisected_on_400_and_the_smaller_size_is_kept(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.state.limits.export_max_bytes = _largest_block(emulator, 12)
    run = run_tap(base_config(emulator, tmp_path))
    assert run.error is None
    assert export_params(emulator) == [
        ("20240301T00", "20240301T23"),  # 400: too large
        ("20240301T00", "20240301T11"),
        ("20240301T12", "20240301T23"),
        ("20240302T00", "20240302T11"),  # remembered: no second 24 h attempt
        ("20240302T12", "20240302T23"),
        ("20240303T00", "20240303T11"),
        ("20240303T12", "20240303T23"),
    ]
    assert Counter(r["uuid"] for r in run.records) == Counter(
        row["uuid"] for row in seeded_rows(emulator)
    )
    assert "using 12-hour windows" in run.logs


def test_bisection_recurses_down_to_fitting_size(emulator: Emulator, tmp_path: Path) -> None:
    emulator.state.limits.export_max_bytes = _largest_block(emulator, 6)
    run = run_tap(base_config(emulator, tmp_path, end_date="2024-03-02T00:00:00Z"))
    assert run.error is None
    params = export_params(emulator)
    assert params[:3] == [
        ("20240301T00", "20240301T23"),
        ("20240301T00", "20240301T11"),
        ("20240301T00", "20240301T05"),
    ]
    assert params[3:] == [
        ("20240301T06", "20240301T11"),
        ("20240301T12", "20240301T17"),
        ("20240301T18", "20240301T23"),
    ]


def test_export_window_is_bisected_on_504(emulator: Emulator, tmp_path: Path) -> None:
    arm(emulator, kind="status", status=504)
    run = run_tap(base_config(emulator, tmp_path, end_date="2024-03-02T00:00:00Z"))
    assert run.error is None
    assert export_params(emulator) == [
        ("20240301T00", "20240301T23"),
        ("20240301T00", "20240301T11"),
        ("20240301T12", "20240301T23"),
    ]


def test_single_hour_too_large_is_fatal_and_points_to_s3(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.state.limits.export_max_bytes = 1
    config = base_config(emulator, tmp_path, end_date="2024-03-01T12:00:00Z", export_window_hours=2)
    run = run_tap(config)
    assert isinstance(run.error, FatalAPIError)
    message = str(run.error)
    assert "single hour 20240301T00:" in message
    assert "S3" in message
    assert "exceeds the maximum size" in message  # Amplitude's own reason is kept
    assert export_params(emulator) == [
        ("20240301T00", "20240301T01"),
        ("20240301T00", "20240301T00"),
    ]
    assert not [b for b in run.bookmarks if b]  # nothing was bookmarked


# --- retries ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "truncate"},
        {"kind": "notzip"},
        {"kind": "drop"},
        {"kind": "status", "status": 429},
        {"kind": "status", "status": 500},
        {"kind": "status", "status": 503},
    ],
)
def test_transient_export_failure_is_retried_without_duplicates(
    emulator: Emulator, tmp_path: Path, fault: dict[str, Any]
) -> None:
    arm(emulator, times=2, **fault)
    run = run_tap(base_config(emulator, tmp_path, end_date="2024-03-01T06:00:00Z"))
    assert run.error is None
    assert export_params(emulator) == [("20240301T00", "20240301T05")] * 3
    uuids = [r["uuid"] for r in run.records]
    assert len(uuids) == len(set(uuids))
    expected = {
        row["uuid"] for row in seeded_rows(emulator) if row["server_upload_time"] < "2024-03-01 06"
    }
    assert set(uuids) == expected
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["truncate", "notzip"])
def test_bad_archive_after_all_retries_fails_without_moving_the_bookmark(
    emulator: Emulator, tmp_path: Path, kind: str
) -> None:
    config = base_config(emulator, tmp_path, end_date="2024-03-01T06:00:00Z", export_window_hours=3)
    # The first window succeeds, then the second window's archive is always broken.
    run_first = run_tap(dict(config, end_date="2024-03-01T03:00:00Z"))
    emulator.state.requests.clear()
    arm(emulator, kind=kind, times=10)
    run = run_tap(config, state=run_first.states[-1])
    assert isinstance(run.error, FatalAPIError)
    assert "20240301T03..20240301T05" in str(run.error)
    assert "after 3 attempts" in str(run.error)
    assert export_params(emulator) == [("20240301T03", "20240301T05")] * 3
    assert run.records == []
    assert set(run.bookmarks) == {"2024-03-01T03:00:00+00:00"}
    assert list(tmp_path.iterdir()) == []


def test_corrupt_line_fails_the_window_naming_member_and_line(
    emulator: Emulator, tmp_path: Path
) -> None:
    arm(emulator, kind="corrupt_line")
    run = run_tap(base_config(emulator, tmp_path, end_date="2024-03-01T06:00:00Z"))
    assert run.error is not None
    message = str(run.error)
    assert "corrupt line in export member '187520/187520_2024-03-01_" in message
    assert ", line " in message
    assert not [b for b in run.bookmarks if b]
    assert list(tmp_path.iterdir()) == []


def test_read_timeout_is_retried(emulator: Emulator, tmp_path: Path) -> None:
    arm(emulator, kind="slow", delay=1.0)
    config = base_config(
        emulator, tmp_path, end_date="2024-03-01T02:00:00Z", export_read_timeout_seconds=0.3
    )
    run = run_tap(config)
    assert run.error is None
    assert "Backing off" in run.logs  # the slow attempt timed out and was retried
    expected = sum(1 for r in seeded_rows(emulator) if r["server_upload_time"] < "2024-03-01 02")
    assert len(run.records) == expected
