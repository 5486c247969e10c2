"""Export timestamps become RFC 3339 UTC; bad ones are nulled and reported, never fatal."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_amplitude.timestamps import (
    TIMESTAMP_FIELDS,
    TimestampReport,
    normalize_timestamps,
    to_rfc3339,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2023-08-25 11:05:08.013000", "2023-08-25T11:05:08.013000+00:00"),
        ("2023-08-25 11:05:08", "2023-08-25T11:05:08+00:00"),
        ("2022:05:27 05:59:45.471635", "2022-05-27T05:59:45.471635+00:00"),  # known bad form
        ("2023-08-25T11:05:08.013Z", "2023-08-25T11:05:08.013000+00:00"),
        ("2023-08-25T13:05:08+02:00", "2023-08-25T11:05:08+00:00"),
    ],
)
def test_amplitude_timestamps_become_rfc3339_utc(raw: str, expected: str) -> None:
    converted = to_rfc3339(raw)
    assert converted == expected
    assert dt.datetime.fromisoformat(converted).utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    "raw",
    [
        "not a date",
        "2023-02-30 10:00:00",
        "2023-02-30 10:00:00.000000",
        "2023-08-25 25:00:00",
        "2023-08-25 24:00:00.000000",
        "2023-08-25 23:60:00.000000",
        "1692961508",
        "",
    ],
)
def test_unparseable_timestamp_is_not_converted(raw: str) -> None:
    assert to_rfc3339(raw) is None


def test_bad_timestamp_is_nulled_and_reported_without_raising() -> None:
    report = TimestampReport()
    record = {
        "uuid": "u-1",
        "event_time": "2023-08-25 11:05:08.013000",
        "processed_time": "garbage",
        "user_creation_time": None,
        "client_event_time": 1692961508,
    }
    nulled = normalize_timestamps(record, report)
    assert record["event_time"] == "2023-08-25T11:05:08.013000+00:00"
    assert record["processed_time"] is None
    assert record["client_event_time"] is None
    assert record["user_creation_time"] is None
    assert sorted(nulled) == ["client_event_time", "processed_time"]
    assert report.counts == {"processed_time": 1, "client_event_time": 1}
    assert report.examples["processed_time"] == ("u-1", "garbage")


def test_all_seven_timestamp_fields_are_converted() -> None:
    record = dict.fromkeys(TIMESTAMP_FIELDS, "2024-01-01 00:00:00.5")
    normalize_timestamps(record, TimestampReport())
    assert set(record.values()) == {"2024-01-01T00:00:00.500000+00:00"}
    assert len(TIMESTAMP_FIELDS) == 7
