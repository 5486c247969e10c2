"""A line that is not a JSON object in every download of a window: `fail` stops, `skip` keeps it."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import pytest
from singer_sdk.exceptions import ConfigValidationError

from amplitude_emulator.export import CORRUPT_LINE
from tap_amplitude.events import EventsStream
from tap_amplitude.tap import TapAmplitude
from tests.events_harness import arm, base_config, export_params, run_tap, seeded_rows

if TYPE_CHECKING:
    from pathlib import Path

    from amplitude_emulator import Emulator

END = "2024-03-01T06:00:00Z"


def _expected(emulator: Emulator) -> Counter[str]:
    return Counter(
        row["uuid"] for row in seeded_rows(emulator) if row["server_upload_time"] < "2024-03-01 06"
    )


def test_persistent_bad_line_fails_by_default_naming_member_and_line(
    emulator: Emulator, tmp_path: Path
) -> None:
    arm(emulator, kind="corrupt_line", times=10)
    run = run_tap(base_config(emulator, tmp_path / "spool", end_date=END))
    assert run.error is not None
    message = str(run.error)
    assert "corrupt line in export member '187520/187520_2024-03-01_" in message
    assert ", line " in message
    assert "on_bad_export_line: skip" in message
    assert export_params(emulator) == [("20240301T00", "20240301T05")]  # bad data: no retry
    assert not [b for b in run.bookmarks if b]


def test_skip_emits_every_other_row_and_keeps_the_line_in_the_file(
    emulator: Emulator, tmp_path: Path
) -> None:
    arm(emulator, kind="corrupt_line", times=10)
    kept = tmp_path / "bad" / "lines.jsonl"
    config = base_config(
        emulator,
        tmp_path / "spool",
        end_date=END,
        export_window_hours=3,
        on_bad_export_line="skip",
        bad_export_lines_file=str(kept),
    )
    run = run_tap(config)
    assert run.error is None
    assert Counter(r["uuid"] for r in run.records) == _expected(emulator)
    assert kept.read_bytes() == CORRUPT_LINE * 2  # one per window, as read
    assert "20240301T00..20240301T02: " in run.logs
    assert "1 bad lines skipped" in run.logs
    assert "Skipped 2 export lines that are not JSON objects" in run.logs
    assert run.bookmarks[-1] == "2024-03-01T06:00:00+00:00"


def test_skip_without_a_file_is_a_configuration_error(emulator: Emulator, tmp_path: Path) -> None:
    config = base_config(emulator, tmp_path, on_bad_export_line="skip")
    with pytest.raises(ConfigValidationError, match="bad_export_lines_file"):
        TapAmplitude(config=config, parse_env_config=False).streams[EventsStream.name]
