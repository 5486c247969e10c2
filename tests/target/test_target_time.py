"""Every accepted time shape becomes integer epoch milliseconds, in the payload and in Amplitude."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from target_amplitude.mapping.timeconv import TimeParseError, to_epoch_ms
from tests.amplitude_target_runs import config_for, project_b, run_target, singer_input

T0_MS = 1_714_557_600_000  # 2024-05-01T10:00:00Z

SHAPES = [
    ("2024-05-01T10:00:00Z", T0_MS),
    ("2024-05-01T10:00:00.123Z", T0_MS + 123),
    ("2024-05-01T12:00:00+02:00", T0_MS),
    ("2024-05-01T05:30:00-04:30", T0_MS),
    ("2024-05-01T10:00:00", T0_MS),  # no offset: UTC
    ("2024-05-01 10:00:00.000000", T0_MS),  # Amplitude export format
    ("2024-05-01", T0_MS - 10 * 3600 * 1000),  # date only: midnight UTC
    (1_714_557_600, T0_MS),  # epoch seconds
    (1_714_557_600.5, T0_MS + 500),
    (T0_MS, T0_MS),  # epoch milliseconds
    ("1714557600", T0_MS),
    ("1714557600000", T0_MS),
    (Decimal("1714557600.25"), T0_MS + 250),
    (dt.datetime(2024, 5, 1, 10, tzinfo=dt.timezone.utc), T0_MS),
    (dt.datetime(2024, 5, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))), T0_MS),
    (dt.datetime(2024, 5, 1, 10), T0_MS),  # noqa: DTZ001  naive means UTC
    (dt.date(2024, 5, 1), T0_MS - 10 * 3600 * 1000),
]


@pytest.mark.parametrize(("value", "expected"), SHAPES, ids=[repr(v) for v, _ in SHAPES])
def test_time_shape_converts_to_epoch_ms(value, expected):
    converted = to_epoch_ms(value)
    assert converted == expected
    assert type(converted) is int


def test_microseconds_floor_to_whole_milliseconds():
    assert to_epoch_ms("2024-05-01T10:00:00.999999Z") == T0_MS + 999


@pytest.mark.parametrize("value", ["yesterday", "", "2024-13-01", True, None, [1], float("nan")])
def test_unparseable_time_is_refused(value):
    with pytest.raises(TimeParseError):
        to_epoch_ms(value)


def test_every_time_shape_lands_as_the_same_millisecond(emulator):
    json_shapes = [(v, e) for v, e in SHAPES if isinstance(v, (str, int, float))]
    records = [
        {"user_id": f"user-{n:05d}", "at": value, "n": n}
        for n, (value, _) in enumerate(json_shapes)
    ]
    streams = {"clicks": {"event_type": {"const": "Clicked"}, "time": "at"}}
    run_target(config_for(emulator, streams), singer_input("clicks", records, ["n"]))

    stored = {e["event_properties"]["n"]: e["time"] for e in project_b(emulator).ingested_events}
    assert stored == {n: expected for n, (_, expected) in enumerate(json_shapes)}


def test_event_without_time_is_rejected_unless_allowed(emulator, tmp_path):
    dead = tmp_path / "dead.jsonl"
    streams = {"clicks": {"event_type": {"const": "Clicked"}}}
    config = config_for(emulator, streams, on_rejected="dead_letter", dead_letter_path=str(dead))
    run_target(config, singer_input("clicks", [{"user_id": "user-00001"}]))
    assert project_b(emulator).ingested_events == []
    assert '"reason":"missing_time"' in dead.read_text()

    allowed = {"clicks": {"event_type": {"const": "Clicked"}, "allow_missing_time": True}}
    run_target(config_for(emulator, allowed), singer_input("clicks", [{"user_id": "user-00001"}]))
    (event,) = project_b(emulator).ingested_events
    assert event["time"] == event["server_upload_time"]  # Amplitude stamps the upload time
