"""User activity through the emulator: requests and records/s per page size (prints figures).

Run: .venv/bin/python -m benchmarks.tap_user_activity   (or as a script from the repo root)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from amplitude_emulator import Emulator, data
from tests.dashboard_helpers import base_config, requests_to, run_tap

HEAVY = data.USERS[0]


def main() -> None:
    with Emulator() as emulator:
        for page_size in (1000, 250, 100):
            emulator.state.reset()
            config = base_config(
                emulator, amplitude_ids=[HEAVY.amplitude_id], user_activity_page_size=page_size
            )
            started = time.perf_counter()
            run = run_tap(emulator, config, ["user_activity"])
            seconds = time.perf_counter() - started
            records = len(run.records("user_activity"))
            pages = len(requests_to(run, "/api/2/useractivity"))
            print(
                f"page_size={page_size:5d} requests={pages:3d} records={records:5d} "
                f"seconds={seconds:6.2f} records/s={records / seconds:8.0f} "
                f"hours of 360/h quota={pages / 360:.3f}"
            )


if __name__ == "__main__":
    main()
