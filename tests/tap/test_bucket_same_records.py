"""The bucket source and the Export API give the same records for the same rows."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from amplitude_emulator.data import parse_time
from tap_amplitude.bucket_source import BucketSource
from tap_amplitude.events import EventsStream
from tests.bucket_harness import (
    FIRST_HOUR,
    HOUR,
    bucket_config,
    event_rows,
    local_store,
    records_of,
    run_streams,
)
from tests.events_harness import base_config, run_tap, seeded_rows

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from amplitude_emulator import Emulator

LATER = dt.datetime(2024, 3, 10, tzinfo=dt.timezone.utc)


def test_bucket_records_equal_the_export_api_records_of_the_same_rows(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(EventsStream, "now", lambda _self: LATER)
    store = local_store(str(tmp_path / "bucket"))
    by_hour: dict[dt.datetime, list[dict[str, Any]]] = defaultdict(list)
    for row in seeded_rows(emulator):
        uploaded = parse_time(row["server_upload_time"])
        by_hour[uploaded.replace(minute=0, second=0, microsecond=0)].append(row)
    for hour, rows in by_hour.items():
        store.events(hour, rows[: len(rows) // 2], part=0)
        store.events(hour, rows[len(rows) // 2 :], part=1)

    exported = run_tap(base_config(emulator, tmp_path))
    assert exported.error is None, exported.error
    spool = tmp_path / "spool"
    spool.mkdir()
    from_bucket = run_streams(
        bucket_config(store, str(spool), start_date="2024-03-01T00:00:00Z", end_date="2024-03-04")
    )
    assert from_bucket.error is None, from_bucket.error

    def by_uuid(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {record["uuid"]: record for record in records}

    assert len(records_of(from_bucket, "events")) == len(exported.records)
    assert by_uuid(records_of(from_bucket, "events")) == by_uuid(exported.records)
    assert list(spool.iterdir()) == []  # nothing left behind (local objects are read in place)


def test_an_object_deleted_after_listing_is_skipped_and_the_rest_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(EventsStream, "now", lambda _self: LATER)
    store = local_store(str(tmp_path / "bucket"))
    kept = event_rows(FIRST_HOUR, 3, seed=1)
    store.events(FIRST_HOUR, kept, part=0)
    doomed = store.events(FIRST_HOUR + HOUR, event_rows(FIRST_HOUR + HOUR, 3, seed=2), part=0)
    original = BucketSource.list_day

    def list_then_delete(self: BucketSource, feed: Any, day: dt.date) -> Any:
        listing = original(self, feed, day)
        (tmp_path / "bucket" / "187520" / doomed).unlink(missing_ok=True)
        return listing

    monkeypatch.setattr(BucketSource, "list_day", list_then_delete)
    spool = tmp_path / "spool"
    spool.mkdir()
    run = run_streams(bucket_config(store, str(spool), end_date="2024-03-02"))
    assert run.error is None, run.error
    assert [r["uuid"] for r in records_of(run, "events")] == [r["uuid"] for r in kept]
    assert f"{doomed} was deleted after it was listed" in run.logs


def test_switching_from_the_export_api_keeps_the_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(EventsStream, "now", lambda _self: LATER)
    store = local_store(str(tmp_path / "bucket"))
    before = event_rows(FIRST_HOUR + 5 * HOUR, 3, seed=1)
    after = event_rows(FIRST_HOUR + 30 * HOUR, 3, seed=2)
    store.events(FIRST_HOUR + 5 * HOUR, before)
    store.events(FIRST_HOUR + 30 * HOUR, after)
    export_state = {
        "bookmarks": {
            "events": {
                "replication_key": "server_upload_time",
                "replication_key_value": "2024-03-02T00:00:00+00:00",
            }
        }
    }
    spool = tmp_path / "spool"
    spool.mkdir()
    run = run_streams(bucket_config(store, str(spool), end_date="2024-03-03"), export_state)
    assert run.error is None, run.error
    assert [r["uuid"] for r in records_of(run, "events")] == [r["uuid"] for r in after]
