"""`meltano run tap-amplitude--bucket target-duckdb`: the bucket export into the warehouse."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.bucket_harness import (
    FIRST_HOUR,
    HOUR,
    ORG_ID,
    PROJECT_ID,
    event_rows,
    local_store,
    merged_rows,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.e2e.meltano_project import Pipeline

pytestmark = pytest.mark.e2e

HOURS = 60  # 2024-03-01T00 .. 2024-03-03T11, inside the dev environment's start/end dates


def test_bucket_events_and_merged_ids_land_in_duckdb_once_and_a_rerun_adds_nothing(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    store = local_store(str(tmp_path / "export"))
    uuids: set[str] = set()
    pairs: set[tuple[int, int]] = set()
    last_hour = FIRST_HOUR
    for step in range(HOURS):
        hour = FIRST_HOUR + step * HOUR
        if step % 7 == 3:
            store.marker(hour)  # an empty hour
            continue
        for part in range(2 if step % 5 == 0 else 1):
            rows = event_rows(hour, 4, seed=step * 10 + part)
            store.events(hour, rows, part)
            uuids.update(row["uuid"] for row in rows)
            last_hour = hour
        if step % 6 == 0:
            merged = merged_rows(hour, 2, base=step * 10)
            store.merged_ids(hour, merged)
            pairs.update((r["amplitude_id"], r["merged_amplitude_id"]) for r in merged)
    env = {
        "TAP_AMPLITUDE_BUCKET_URL": store.url,
        "TAP_AMPLITUDE_PROJECT_ID": PROJECT_ID,
        "TAP_AMPLITUDE_ORG_ID": ORG_ID,
    }

    log = pipeline.meltano("run", "tap-amplitude--bucket", "target-duckdb", env=env)
    assert "Bucket events: reading" in log
    stored = pipeline.duckdb("select uuid from amplitude.events")
    assert len(stored) == len(uuids)
    assert {uuid for (uuid,) in stored} == uuids
    ids = pipeline.duckdb("select amplitude_id, merged_amplitude_id from amplitude.merged_ids")
    assert {(int(a), int(b)) for a, b in ids} == pairs
    assert len(ids) == len(pairs)
    (stamp,) = pipeline.duckdb("select max(server_upload_time) from amplitude.events")[0]
    assert str(stamp).startswith(f"{last_hour:%Y-%m-%d %H}:")  # timestamps repaired to UTC

    # Meltano kept the bookmark: every hour up to the dev `end_date` is done.
    second = pipeline.meltano("run", "tap-amplitude--bucket", "target-duckdb", env=env)
    assert "Bucket events: nothing to read yet (next hour 20240308T00)" in second
    assert "Bucket merged ids: nothing to read yet (next hour 20240308T00)" in second
    assert len(pipeline.duckdb("select uuid from amplitude.events")) == len(uuids)
