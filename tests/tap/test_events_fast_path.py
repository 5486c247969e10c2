"""The tuned record path (msgspec writer, no conformance, no prune walk, no message objects)
prints what the SDK's default path prints, and falls back to it once a property is deselected."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import orjson
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib import RecordMessage
from singer_sdk.streams.core import Stream

from tap_amplitude.events import EventsStream
from tap_amplitude.tap import TapAmplitude
from tests.events_harness import base_config, run_tap

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from amplitude_emulator import Emulator


class SdkDefaultPathEvents(EventsStream):
    """`events` as the SDK would run it untuned: recursive conformance and the prune walk."""

    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.RECURSIVE
    _generate_record_messages = Stream._generate_record_messages


class SdkDefaultPathTap(TapAmplitude):
    """The tap with the SDK's default (simplejson) writer and the untuned `events` stream."""

    message_writer_class = SingerWriter  # type: ignore[assignment]

    def discover_streams(self) -> list[Any]:
        return [SdkDefaultPathEvents(tap=self)]


def test_tuned_path_is_in_use() -> None:
    assert TapAmplitude.message_writer_class.__name__ == "MsgSpecWriter"
    assert EventsStream.TYPE_CONFORMANCE_LEVEL == TypeConformanceLevel.NONE


def test_tuned_records_equal_the_sdk_default_path(emulator: Emulator, tmp_path: Path) -> None:
    config = base_config(emulator, tmp_path, end_date="2024-03-02T00:00:00Z")
    tuned = run_tap(config)
    default = run_tap(config, tap_class=SdkDefaultPathTap)
    assert tuned.error is None
    assert default.error is None
    assert len(tuned.records) > 500
    assert tuned.records == default.records
    assert tuned.states[-1] == default.states[-1]
    schemas = [[m for m in run.messages if m["type"] == "SCHEMA"] for run in (tuned, default)]
    assert schemas[0] == schemas[1]


def test_deselected_property_is_removed_by_the_sdk_path(emulator: Emulator, tmp_path: Path) -> None:
    config = base_config(emulator, tmp_path, end_date="2024-03-01T03:00:00Z")
    run = run_tap(config, deselect=("event_properties", "ip_address"))
    assert run.error is None
    assert run.records
    for record in run.records:
        assert "event_properties" not in record
        assert "ip_address" not in record
        assert "user_properties" in record


def test_direct_record_lines_are_the_bytes_the_sdk_writer_prints(
    emulator: Emulator, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    config = base_config(emulator, tmp_path, end_date="2024-03-01T01:00:00Z")
    tap = TapAmplitude(config=config, parse_env_config=False)
    stream = tap.streams["events"]
    record = {"uuid": "u-1", "event_properties": {"a": [1, 2.5, None]}, "x": "é"}
    stream._write_record_message(dict(record))
    direct = capsysbinary.readouterr().out
    line = orjson.loads(direct)
    sdk_line = tap.message_writer.format_message(
        RecordMessage(
            stream="events",
            record=record,
            time_extracted=dt.datetime.fromisoformat(line["time_extracted"]),
        )
    )
    assert direct == bytes(sdk_line)


def test_stream_maps_still_apply_on_the_direct_path(emulator: Emulator, tmp_path: Path) -> None:
    config = base_config(
        emulator,
        tmp_path,
        end_date="2024-03-01T03:00:00Z",
        stream_maps={"events": {"event_type": None, "kind": "event_type"}},
    )
    run = run_tap(config)
    assert run.error is None
    assert run.records
    for record in run.records:
        assert "event_type" not in record
        assert record["kind"]
