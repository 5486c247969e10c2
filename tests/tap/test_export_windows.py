"""Window planning for the Export API: whole hours, inclusive ends, no overlap, lag, 365-day cap."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from tap_amplitude import windows
from tap_amplitude.windows import HOUR, UTC, Window


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_window_params_are_inclusive_hours() -> None:
    window = Window(at("2024-01-01T00:00"), at("2024-01-01T23:00"))
    assert window.params == {"start": "20240101T00", "end": "20240101T23"}
    assert window.hours == 24
    assert window.next_start == at("2024-01-02T00:00")


def test_one_hour_window_has_equal_start_and_end() -> None:
    window = windows.next_window(at("2024-01-01T05:00"), 1, at("2024-01-09T00:00"))
    assert window is not None
    assert window.params == {"start": "20240101T05", "end": "20240101T05"}


def test_planned_windows_never_overlap_and_leave_no_gap() -> None:
    planned = windows.plan_windows(at("2024-01-01T03:00"), at("2024-01-04T10:00"), 24)
    assert planned[0].start == at("2024-01-01T03:00")
    assert planned[-1].end == at("2024-01-04T10:00")
    for previous, current in itertools.pairwise(planned):
        assert current.start == previous.end + HOUR
    assert (
        sum(window.hours for window in planned)
        == int((at("2024-01-04T10:00") - at("2024-01-01T03:00")) / HOUR) + 1
    )
    assert [window.hours for window in planned] == [24, 24, 24, 8]


def test_window_is_capped_at_365_days() -> None:
    planned = windows.plan_windows(at("2020-01-01T00:00"), at("2022-01-01T00:00"), 100_000)
    assert all(window.hours <= 365 * 24 for window in planned)
    assert planned[0].hours == 365 * 24


def test_no_window_when_start_is_after_last_complete_hour() -> None:
    assert windows.next_window(at("2024-01-02T00:00"), 24, at("2024-01-01T23:00")) is None
    assert windows.plan_windows(at("2024-01-02T00:00"), at("2024-01-01T23:00"), 24) == []


@pytest.mark.parametrize(
    ("now", "lag", "expected"),
    [
        ("2024-01-01T10:30:00", 2, "2024-01-01T07:00"),  # hour 07 complete at 10:00
        ("2024-01-01T10:00:00", 2, "2024-01-01T07:00"),
        ("2024-01-01T09:59:59", 2, "2024-01-01T06:00"),
        ("2024-01-01T10:30:00", 0, "2024-01-01T09:00"),
    ],
)
def test_last_complete_hour_respects_the_availability_lag(
    now: str, lag: int, expected: str
) -> None:
    assert windows.last_complete_hour(at(now), lag) == at(expected)


def test_end_date_is_exclusive_and_never_beyond_the_lag() -> None:
    now = at("2024-03-01T12:00")
    assert windows.last_hour_to_export(now, 2, at("2024-02-01T00:00")) == at("2024-01-31T23:00")
    assert windows.last_hour_to_export(now, 2, at("2024-02-01T05:30")) == at("2024-02-01T04:00")
    assert windows.last_hour_to_export(now, 2, at("2030-01-01T00:00")) == at("2024-03-01T09:00")


def test_start_date_later_than_bookmark_wins() -> None:
    start_date, bookmark = at("2024-02-01T00:00"), at("2024-01-15T06:00")
    assert windows.first_hour_to_export(start_date, bookmark) == start_date


def test_bookmark_later_than_start_date_wins_minus_lookback() -> None:
    start_date, bookmark = at("2024-01-01T00:00"), at("2024-01-15T06:00")
    assert windows.first_hour_to_export(start_date, bookmark) == bookmark
    assert windows.first_hour_to_export(start_date, bookmark, 3) == at("2024-01-15T03:00")
    assert windows.first_hour_to_export(at("2024-01-15T05:00"), bookmark, 3) == at(
        "2024-01-15T05:00"
    )


def test_start_inside_an_hour_is_floored_to_that_hour() -> None:
    assert windows.first_hour_to_export(at("2024-01-01T05:42"), None) == at("2024-01-01T05:00")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-15T06:00:00+00:00", "2024-01-15T06:00"),  # our own bookmark shape
        ("2024-01-15T06:00:00Z", "2024-01-15T06:00"),
        ("2024-01-15T08:00:00+02:00", "2024-01-15T06:00"),
        ("2024-01-15", "2024-01-15T00:00"),
        ("20240115T06", "2024-01-15T06:00"),  # Airbyte's hour bookmark / the API's format
        ("2024-01-15 06:12:13.456789", "2024-01-15T06:12:13.456789"),  # Amplitude's own form
        ("2024-01-15 06:12:13", "2024-01-15T06:12:13"),
        ("2024:01:15 06:12:13.456789", "2024-01-15T06:12:13.456789"),  # colon-date form
    ],
)
def test_legacy_bookmark_and_setting_shapes_are_read(value: str, expected: str) -> None:
    assert windows.parse_instant(value, at("2024-03-01T00:00")) == at(expected)


def test_relative_start_date_is_resolved_against_now() -> None:
    now = at("2024-03-31T10:15")
    assert windows.parse_instant("30 days ago", now) == at("2024-03-01T10:15")
    assert windows.parse_instant("6 hours ago", now) == at("2024-03-31T04:15")


def test_unreadable_date_names_the_value_and_the_accepted_forms() -> None:
    with pytest.raises(ValueError, match=r"'last tuesday'.*ISO 8601"):
        windows.parse_instant("last tuesday", at("2024-03-01T00:00"))
    with pytest.raises(ValueError, match="20241399T06"):
        windows.parse_instant("20241399T06", at("2024-03-01T00:00"))


def test_bookmark_is_the_next_hour_in_rfc3339() -> None:
    assert windows.format_bookmark(at("2024-01-02T00:00")) == "2024-01-02T00:00:00+00:00"


def test_halving_reaches_one_hour() -> None:
    sizes = []
    window = Window(at("2024-01-01T00:00"), at("2024-01-01T23:00"))
    while window.hours > 1:
        size = windows.halved_size(window)
        sizes.append(size)
        window = Window(window.start, window.start + (size - 1) * HOUR)
    assert sizes == [12, 6, 3, 1]
