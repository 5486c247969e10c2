"""`cohort_members` through the emulator: time, rows/s and memory per cohort size (prints figures).

Each size runs `tap-amplitude` as its own process (only `cohort_members` selected, output to
/dev/null) and reports its peak RSS; the 50k cohort is also read in-process under tracemalloc to
show the reader's own allocations. Large cohorts go through the 302 to the emulator's storage.

Run: .venv/bin/python -m benchmarks.tap_cohort_members   (or as a script from the repo root)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from amplitude_emulator import API_KEY_A, PROJECT_A_ID, SECRET_KEY_A, Emulator
from amplitude_emulator.catalog import LARGE_COHORT_ID
from amplitude_emulator.cohort_seed import large_member
from tap_amplitude.tap import TapAmplitude

SIZES = (3, 50_000, 200_000)
TAP = Path(sys.executable).parent / "tap-amplitude"


def _config(url: str, cohort_id: str) -> dict[str, Any]:
    return {
        "api_key": API_KEY_A,
        "secret_key": SECRET_KEY_A,
        "api_url": url,
        "cohort_ids": [cohort_id],
        "cohort_member_properties": ["*"],
        "cohort_poll_interval_seconds": 0.05,
    }


def _catalog(config: dict[str, Any]) -> dict[str, Any]:
    catalog = TapAmplitude(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] == "cohort_members"
    return catalog


def _run_process(config: dict[str, Any], folder: Path) -> tuple[float, int]:
    """(seconds, peak RSS in KiB) of one `tap-amplitude` run."""
    config_path, catalog_path = folder / "config.json", folder / "catalog.json"
    config_path.write_text(json.dumps(config))
    catalog_path.write_text(json.dumps(_catalog(config)))
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(TAP), "--config", str(config_path), "--catalog", str(catalog_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"tap-amplitude failed with exit code {process.returncode}")
    return seconds, usage.ru_maxrss


def _traced_peak(url: str) -> tuple[int, int]:
    """(members, peak traced bytes) of reading the 50k cohort in this process."""
    stream = TapAmplitude(config=_config(url, LARGE_COHORT_ID), parse_env_config=False).streams[
        "cohort_members"
    ]
    count = 0
    tracemalloc.start()
    for _ in stream.get_records({"cohort_id": LARGE_COHORT_ID}):
        count += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return count, peak


def main() -> None:
    with Emulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        emulator.state.limits.cohort_job_seconds = 0
        emulator.state.limits.log_request_bodies = False
        store = emulator.state.projects[PROJECT_A_ID].cohort_members
        baseline = 0.0  # the 3-member run: process start, imports and the three requests
        for size in SIZES:
            cohort_id = f"bench-{size}"
            store.seed_generated(
                cohort_id,
                size,
                lambda size=size: (large_member(i) for i in range(size)),
                ["gp:newsletter", "plan", "country"],
            )
            seconds, rss_kib = _run_process(_config(emulator.url, cohort_id), Path(tmp))
            baseline = baseline or seconds
            net = seconds - baseline
            rate = f"{size / net:8.0f}" if net > 0 else "       -"
            print(
                f"members={size:7d} seconds={seconds:6.2f} (beyond the 3-member run: {net:5.2f}) "
                f"members/s={rate} tap peak RSS={rss_kib / 1024:6.1f} MiB"
            )
        count, peak = _traced_peak(emulator.url)
        print(
            f"in-process read of {count} members: peak traced allocations {peak / 1e6:.2f} MB "
            "(emulator thread included)"
        )


if __name__ == "__main__":
    main()
