"""`events` with `events_source: bucket` on moto's S3 server (the real s3fs stack) and a folder."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tap_amplitude import bucket_source
from tap_amplitude.bucket_source import BucketSource
from tap_amplitude.bucket_streams import MergedIdsStream
from tap_amplitude.events import EventsStream
from tests.bucket_harness import (
    FIRST_HOUR,
    HOUR,
    Store,
    bookmark,
    bucket_config,
    event_rows,
    last_state,
    local_store,
    merged_rows,
    records_of,
    run_streams,
    s3_store,
)

if TYPE_CHECKING:
    from tests.events_harness import Run

UTC = dt.timezone.utc
# 2024-03-01T00 .. 2024-03-03T23 are finished; with 48 h of re-reading, hours from 03-02T00 on
# are inside the window and 03-01 is settled.
NOW = dt.datetime(2024, 3, 4, 0, 30, tzinfo=UTC)
DAYS = 3
EMPTY_HOURS = {5, 17}  # hours of each day without events
TWO_PART_HOURS = {9, 20}


@pytest.fixture(params=["s3", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "s3":
        return s3_store(request.getfixturevalue("moto_s3"))
    return local_store(str(tmp_path / "bucket"))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[dt.datetime]:
    """The tap's wall clock, settable by the test: `clock[0] = ...`."""
    now = [NOW]
    monkeypatch.setattr(EventsStream, "now", lambda _self: now[0])
    monkeypatch.setattr(MergedIdsStream, "now", lambda _self: now[0])
    monkeypatch.setattr(bucket_source, "_sleep", lambda _seconds: None)
    return now


@pytest.fixture
def config(store: Store, tmp_path: Path) -> dict[str, Any]:
    spool = tmp_path / "spool"
    spool.mkdir()
    return bucket_config(store, str(spool))


def write_layout(store: Store, *, markers: bool = True) -> list[dict[str, Any]]:
    """Three days of hourly files (some in two parts); empty hours get a `complete` marker."""
    rows: list[dict[str, Any]] = []
    with store.batch():
        for step in range(DAYS * 24):
            hour = FIRST_HOUR + step * HOUR
            if hour.hour in EMPTY_HOURS:
                if markers:
                    store.marker(hour)
                continue
            for part in range(2 if hour.hour in TWO_PART_HOURS else 1):
                part_rows = event_rows(hour, 3, seed=step * 10 + part)
                store.events(hour, part_rows, part)
                rows.extend(part_rows)
            if markers:
                store.marker(hour)
        store.foreign("README.txt")
    return rows


def uuids(run: Run) -> Counter[str]:
    return Counter(record["uuid"] for record in records_of(run, "events"))


def test_every_row_of_a_multi_day_layout_is_emitted_once_then_a_rerun_emits_nothing(
    store: Store, config: dict[str, Any], clock: list[dt.datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = write_layout(store)
    listed: list[tuple[str, dt.date]] = []
    original = BucketSource.list_day

    def spy(self: BucketSource, feed: Any, day: dt.date) -> Any:
        listed.append((feed.folder, day))
        return original(self, feed, day)

    monkeypatch.setattr(BucketSource, "list_day", spy)

    first = run_streams(config)
    assert first.error is None, first.error
    assert uuids(first) == Counter(row["uuid"] for row in rows)
    assert bookmark(first) == "2024-03-04T00:00:00+00:00"
    days = [dt.date(2024, 3, 1), dt.date(2024, 3, 2), dt.date(2024, 3, 3)]
    assert listed == [("187520", day) for day in days]  # one listing per day, by name prefix
    # Timestamps are repaired on the same path as the Export API stream.
    record = records_of(first, "events")[0]
    assert record["server_upload_time"].endswith("+00:00")
    assert "T" in record["server_upload_time"]
    # STATE keeps only the objects of the re-read window (03-02T00 on), not every key.
    seen = last_state(first)["bookmarks"]["events"]["bucket_seen"]
    assert min(seen) == "2024-03-02T00:00:00+00:00"
    assert sum(len(names) for names in seen.values()) == 2 * (24 - len(EMPTY_HOURS)) + 2 * 2

    listed.clear()
    second = run_streams(config, state=last_state(first))
    assert second.error is None, second.error
    assert records_of(second, "events") == []
    assert bookmark(second) == "2024-03-04T00:00:00+00:00"
    assert listed == [("187520", day) for day in days[1:]]  # only the re-read window
    assert list(Path(config["export_temp_dir"]).iterdir()) == []  # downloads removed


def test_s3_is_listed_by_day_prefix_never_the_whole_bucket(
    moto_s3: str, tmp_path: Path, clock: list[dt.datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = s3_store(moto_s3)
    write_layout(store)
    finds: list[tuple[str, str]] = []
    original = BucketSource.list_day

    def spy(self: BucketSource, feed: Any, day: dt.date) -> Any:
        if not hasattr(self.fs, "real_find"):
            self.fs.real_find = self.fs.find

            def find(path: str, **kwargs: Any) -> Any:
                finds.append((path, kwargs.get("prefix", "")))
                return self.fs.real_find(path, **kwargs)

            self.fs.find = find
        return original(self, feed, day)

    monkeypatch.setattr(BucketSource, "list_day", spy)
    run = run_streams(bucket_config(store, str(tmp_path)))
    assert run.error is None, run.error
    assert finds == [(f"{store.root}/187520", f"187520_2024-03-0{day}_") for day in (1, 2, 3)]


def test_rewritten_object_inside_the_window_is_read_again_and_no_other(
    store: Store, config: dict[str, Any], clock: list[dt.datetime]
) -> None:
    write_layout(store)
    first = run_streams(config)
    assert first.error is None, first.error

    recent = FIRST_HOUR + (2 * 24 + 9) * HOUR  # 03-03T09, inside the window
    old = FIRST_HOUR + 9 * HOUR  # 03-01T09, settled: not listed again
    new_rows = event_rows(recent, 4, seed=9001)
    store.events(recent, new_rows, part=1)  # a backfill rewrote part 1 (new ETag)
    store.events(old, event_rows(old, 4, seed=9002), part=0)

    second = run_streams(config, state=last_state(first))
    assert second.error is None, second.error
    assert uuids(second) == Counter(row["uuid"] for row in new_rows)
    assert bookmark(second) == "2024-03-04T00:00:00+00:00"

    third = run_streams(config, state=last_state(second))
    assert records_of(third, "events") == []


def test_a_late_file_for_an_old_hour_inside_the_window_is_picked_up(
    store: Store, config: dict[str, Any], clock: list[dt.datetime]
) -> None:
    write_layout(store)
    first = run_streams(config)
    assert first.error is None, first.error

    late_hour = FIRST_HOUR + (24 + 10) * HOUR  # 03-02T10: behind the bookmark, inside 48 h
    late_rows = event_rows(late_hour, 5, seed=7000)
    store.events(late_hour, late_rows, part=3)
    second = run_streams(config, state=last_state(first))
    assert second.error is None, second.error
    assert uuids(second) == Counter(row["uuid"] for row in late_rows)


def test_an_hour_without_file_or_marker_holds_the_bookmark_and_is_listed_next_run(
    store: Store, config: dict[str, Any], clock: list[dt.datetime]
) -> None:
    rows = write_layout(store, markers=False)  # markers switched off: empty hours are unknown
    first = run_streams(config)
    assert first.error is None, first.error
    assert uuids(first) == Counter(row["uuid"] for row in rows)
    # 03-01T05 is older than the window (settled); 03-02T05 may still be written.
    assert bookmark(first) == "2024-03-02T05:00:00+00:00"
    assert "hour 20240302T05 has no object and no `complete` marker yet" in first.logs

    # A day and a half later 03-02T05 is older than the window, but it is listed once more
    # because the bookmark waited there: its late file is not lost.
    clock[0] = NOW + dt.timedelta(hours=36)
    waited = FIRST_HOUR + (24 + 5) * HOUR
    late_rows = event_rows(waited, 2, seed=4242)
    store.events(waited, late_rows)
    second = run_streams(config, state=last_state(first))
    assert second.error is None, second.error
    assert uuids(second) == Counter(row["uuid"] for row in late_rows)
    # The window now starts at 03-03T12: 03-03T05 is settled, 03-03T17 (no file, no marker,
    # inside the window) holds the bookmark.
    assert bookmark(second) == "2024-03-03T17:00:00+00:00"


def test_a_complete_marker_lets_the_bookmark_pass_an_empty_hour(
    store: Store, config: dict[str, Any], clock: list[dt.datetime]
) -> None:
    write_layout(store, markers=False)
    first = run_streams(config)
    assert bookmark(first) == "2024-03-02T05:00:00+00:00"
    for day in (1, 2):
        for hour in EMPTY_HOURS:
            store.marker(FIRST_HOUR + (day * 24 + hour) * HOUR)
    second = run_streams(config, state=last_state(first))
    assert second.error is None, second.error
    assert records_of(second, "events") == []
    assert bookmark(second) == "2024-03-04T00:00:00+00:00"


def test_a_truncated_object_is_retried_then_fails_naming_the_key_and_keeps_the_bookmark(
    store: Store, config: dict[str, Any], clock: list[dt.datetime]
) -> None:
    rows = write_layout(store)
    bad_hour = FIRST_HOUR + (24 + 7) * HOUR  # 03-02T07
    bad = f"187520_{bad_hour:%Y-%m-%d}_7#0.json.gz"
    store.truncate(bad)

    failed = run_streams(config)
    assert failed.error is not None
    message = str(failed.error)
    assert bad in message
    assert "after 3 attempts" in message
    assert failed.logs.count(f"{bad} unreadable (attempt") == 2
    assert bookmark(failed) == "2024-03-02T07:00:00+00:00"  # not past the bad hour
    emitted = uuids(failed)
    assert not set(emitted) & {row["uuid"] for row in store.written[bad]}  # none of it emitted
    assert list(Path(config["export_temp_dir"]).iterdir()) == []  # prefetched copies removed

    store.events(bad_hour, store.written[bad], part=0)  # the object is fixed
    resumed = run_streams(config, state=last_state(failed))
    assert resumed.error is None, resumed.error
    assert set(emitted) | set(uuids(resumed)) == {row["uuid"] for row in rows}
    assert not set(emitted) & set(uuids(resumed))


def test_an_object_that_reads_whole_on_a_retry_is_emitted_once(
    store: Store, config: dict[str, Any], clock: list[dt.datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = write_layout(store)
    bad_hour = FIRST_HOUR + 3 * HOUR
    bad = f"187520_{bad_hour:%Y-%m-%d}_3#0.json.gz"
    good = store.written[bad]
    store.truncate(bad)
    waits: list[float] = []

    def fix_while_waiting(seconds: float) -> None:
        waits.append(seconds)
        store.events(bad_hour, good, part=0)

    monkeypatch.setattr(bucket_source, "_sleep", fix_while_waiting)
    run = run_streams(config)
    assert run.error is None, run.error
    assert len(waits) == 1
    assert uuids(run) == Counter(row["uuid"] for row in rows)


def test_merged_ids_rows_are_emitted_once_with_their_key(
    store: Store, config: dict[str, Any], clock: list[dt.datetime]
) -> None:
    expected: list[dict[str, Any]] = []
    for step in (2, 30, 50, 70):
        hour = FIRST_HOUR + step * HOUR
        rows = merged_rows(hour, 3, base=step * 100)
        store.merged_ids(hour, rows)
        expected.extend(rows)

    first = run_streams(config, streams=("events", "merged_ids"))
    assert first.error is None, first.error
    got = records_of(first, "merged_ids")
    pairs = Counter((r["amplitude_id"], r["merged_amplitude_id"]) for r in got)
    assert pairs == Counter((r["amplitude_id"], r["merged_amplitude_id"]) for r in expected)
    assert got[0]["merge_time"] == "2024-03-01T02:15:00.123000+00:00"
    assert got[0]["scope"] == "project"
    # 03-02T00 has no file and no marker and is inside the re-read window: the bookmark waits.
    assert bookmark(first, "merged_ids") == "2024-03-02T00:00:00+00:00"

    second = run_streams(config, state=last_state(first), streams=("merged_ids",))
    assert second.error is None, second.error
    assert records_of(second, "merged_ids") == []


def test_a_missing_bucket_or_folder_fails_before_any_hour_counts_as_done(
    moto_s3: str, tmp_path: Path, clock: list[dt.datetime]
) -> None:
    store = s3_store(moto_s3)
    for url in (
        f"s3://no-such-bucket-{tmp_path.name[-8:].lower()}/exports",
        str(tmp_path / "nope"),
    ):
        config = bucket_config(store, str(tmp_path), bucket_url=url)
        run = run_streams(config)
        assert run.error is not None
        assert "does not exist" in str(run.error)
        assert url in str(run.error)
        assert bookmark(run) is None


def test_a_wrong_project_id_is_warned_about(
    store: Store, config: dict[str, Any], clock: list[dt.datetime]
) -> None:
    write_layout(store)
    run = run_streams({**config, "project_id": "999"})
    assert run.error is None, run.error
    assert records_of(run, "events") == []
    assert "no object under" in run.logs
    assert "check `project_id`" in run.logs
