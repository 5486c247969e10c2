"""Each run spools into its own folder, removed at exit; dead runs' folders go, live ones stay."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tap_amplitude.spool import FOLDER_PREFIX, RunSpool, remove_stale_folders
from tests.events_harness import base_config, run_tap

if TYPE_CHECKING:
    from amplitude_emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
HOLD_SPOOL = """
import sys
from tap_amplitude.spool import RunSpool
spool = RunSpool(sys.argv[1])
(spool.path / "tap-amplitude-export-1.zip").write_bytes(b"PK")
print(spool.path, flush=True)
sys.stdin.read()
"""


def _spool_in_child(base: Path) -> tuple[subprocess.Popen[str], Path]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_SPOOL, str(base)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert child.stdout is not None
    return child, Path(child.stdout.readline().strip())


def test_dead_runs_folders_are_removed_and_live_ones_kept(
    emulator: Emulator, tmp_path: Path
) -> None:
    live, live_folder = _spool_in_child(tmp_path)
    dead, dead_folder = _spool_in_child(tmp_path)
    try:
        dead.send_signal(signal.SIGKILL)
        dead.wait()
        assert dead_folder.is_dir()  # SIGKILL skipped its cleanup
        run = run_tap(base_config(emulator, tmp_path, end_date="2024-03-01T02:00:00Z"))
        assert run.error is None
        assert not dead_folder.exists()
        assert (live_folder / "tap-amplitude-export-1.zip").is_file()
        assert sorted(tmp_path.iterdir()) == [live_folder]  # the run removed its own folder too
    finally:
        for child in (live, dead):
            child.kill()
            child.wait()
            for stream in (child.stdin, child.stdout):
                if stream is not None:
                    stream.close()


def test_folder_without_lock_is_kept_while_it_may_be_being_created(tmp_path: Path) -> None:
    fresh = tmp_path / f"{FOLDER_PREFIX}fresh"
    fresh.mkdir()
    old = tmp_path / f"{FOLDER_PREFIX}old"
    old.mkdir()
    os.utime(old, (0, 0))
    assert remove_stale_folders(tmp_path) == [old]
    assert fresh.is_dir()


def test_own_folder_is_live_until_closed(tmp_path: Path) -> None:
    spool = RunSpool(str(tmp_path))
    assert remove_stale_folders(tmp_path) == []
    assert spool.path.is_dir()
    spool.close()
    spool.close()
    assert list(tmp_path.iterdir()) == []
