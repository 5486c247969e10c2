"""A tap process SIGKILLed inside a window resumes at that window: no uuid lost, none repeated."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tap_amplitude.tap import TapAmplitude
from tests.events_harness import (
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

    emulator.state.requests.clear()
    resumed = run_tap(config, state=killed.states[-1])
    assert resumed.error is None
    assert export_params(emulator)[0] == ("20240302T00", "20240302T23")
    delivered = [r["uuid"] for r in killed.committed_records()]
    delivered += [r["uuid"] for r in resumed.records]
    assert Counter(delivered) == Counter(row["uuid"] for row in seeded_rows(emulator))
    leftovers = [p for p in tmp_path.iterdir() if p.suffix == ".zip"]
    assert len(leftovers) <= 1  # only the killed run's archive can remain (SIGKILL skips cleanup)
