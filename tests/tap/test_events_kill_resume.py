"""A tap process SIGKILLed inside a window resumes at that window: no uuid lost, none repeated."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tap_amplitude.spool import FOLDER_PREFIX
from tap_amplitude.tap import TapAmplitude
from tests.events_harness import (
    EXPORT_PATH,
    Run,
    base_config,
    events_only_catalog,
    export_params,
    run_tap,
    seeded_rows,
)

if TYPE_CHECKING:
    from amplitude_emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
RECORDS_INTO_WINDOW_2 = 50


def _start_tap(tmp_path: Path, config: dict[str, Any]) -> subprocess.Popen[bytes]:
    config_path = tmp_path / "config.json"
    catalog_path = tmp_path / "catalog.json"
    config_path.write_text(json.dumps(config))
    catalog_path.write_text(json.dumps(events_only_catalog(TapAmplitude, config)))
    command = [sys.executable, "-m", "tap_amplitude", "--config", str(config_path)]
    command += ["--catalog", str(catalog_path)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)


def _read_until_inside_window_2(tap: subprocess.Popen[bytes]) -> list[bytes]:
    """Lines up to RECORDS_INTO_WINDOW_2 records after the first window's STATE."""
    assert tap.stdout is not None
    lines: list[bytes] = []
    states = records_after_state = 0
    for line in tap.stdout:
        lines.append(line)
        kind = json.loads(line)["type"]
        if kind == "STATE":
            states += 1
        elif kind == "RECORD" and states:
            records_after_state += 1
            if records_after_state == RECORDS_INTO_WINDOW_2:
                break
    return lines


def test_sigkill_mid_window_resumes_at_that_window(emulator: Emulator, tmp_path: Path) -> None:
    config = base_config(emulator, tmp_path)
    tap = _start_tap(tmp_path, config)
    try:
        lines = _read_until_inside_window_2(tap)
        tap.kill()
        assert tap.stdout is not None
        lines += tap.stdout.read().splitlines(keepends=True)
    finally:
        tap.kill()
        tap.wait()
        if tap.stdout is not None:
            tap.stdout.close()
    complete = [line for line in lines if line.endswith(b"\n")]  # a cut last line was never sent
    killed = Run([json.loads(line) for line in complete], None)
    assert killed.bookmarks[-1] == "2024-03-02T00:00:00+00:00"
    uploaded = [record["server_upload_time"] for record in killed.records]
    assert any(value >= "2024-03-02" for value in uploaded)  # killed inside window 2

    assert emulator.state.wait_idle()  # the killed run's prefetch of window 3 has ended
    emulator.state.requests.clear()
    resumed = run_tap(config, state=killed.states[-1])
    assert resumed.error is None
    assert export_params(emulator)[0] == ("20240302T00", "20240302T23")
    delivered = [r["uuid"] for r in killed.committed_records()]
    delivered += [r["uuid"] for r in resumed.records]
    assert Counter(delivered) == Counter(row["uuid"] for row in seeded_rows(emulator))
    leftovers = list(tmp_path.glob(FOLDER_PREFIX + "*"))
    assert leftovers == []  # the killed run's spool folder was removed by the resumed run


def _wait_for_request(emulator: Emulator, start: str) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if any(
            a.path == EXPORT_PATH and a.query["start"][0] == start
            for a in list(emulator.state.arrivals)
        ):
            return True
        time.sleep(0.02)
    return False


def test_sigkill_during_a_prefetch_loses_and_repeats_nothing(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.state.limits.export_build_seconds = 1.5
    spool = tmp_path / "spool"
    config = base_config(emulator, spool, export_prefetch_windows=1)
    tap = _start_tap(tmp_path, config)
    try:
        lines = _read_until_inside_window_2(tap)
        assert _wait_for_request(emulator, "20240303T00")  # window 3 is being built: in flight
        assert len(list(spool.glob(FOLDER_PREFIX + "*"))) == 1
        tap.kill()
        assert tap.stdout is not None
        lines += tap.stdout.read().splitlines(keepends=True)
    finally:
        tap.kill()
        tap.wait()
        if tap.stdout is not None:
            tap.stdout.close()
    killed = Run([json.loads(line) for line in lines if line.endswith(b"\n")], None)
    assert killed.bookmarks[-1] == "2024-03-02T00:00:00+00:00"

    emulator.state.limits.export_build_seconds = 0.0
    assert emulator.state.wait_idle()  # the killed run's last request has been answered
    emulator.state.requests.clear()
    resumed = run_tap(config, state=killed.states[-1])
    assert resumed.error is None
    assert export_params(emulator)[0] == ("20240302T00", "20240302T23")
    delivered = [r["uuid"] for r in killed.committed_records()]
    delivered += [r["uuid"] for r in resumed.records]
    assert Counter(delivered) == Counter(row["uuid"] for row in seeded_rows(emulator))
    assert list(spool.iterdir()) == []  # the killed run's folder went with the resumed run
