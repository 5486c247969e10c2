"""Bucket mode without a bucket: object names, versions, the scan plan and the bookmark rules."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_amplitude.bucket_layout import (
    events_feed,
    merged_ids_feed,
    object_version,
    parse_name,
    sort_listing,
)
from tap_amplitude.bucket_source import BucketConfigError, BucketSource
from tap_amplitude.bucket_state import BucketBookmark, plan_scan
from tap_amplitude.bucket_sync import open_source

UTC = dt.timezone.utc
EVENTS = events_feed("187520")


def at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2024, 3, day, hour, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("187520_2024-03-01_5#0.json.gz", (at(1, 5), 0)),  # the hour is not zero-padded
        ("187520_2024-03-01_23#12.json.gz", (at(1, 23), 12)),
        ("187520_2024-03-01_05#1.json.gz", (at(1, 5), 1)),
        ("187520_2024-03-01_7_complete", (at(1, 7), None)),  # a marker
        ("187520_2024-03-01_24#0.json.gz", None),  # no hour 24
        ("187520_2024-02-30_1#0.json.gz", None),  # no such date
        ("1875201_2024-03-01_5#0.json.gz", None),  # another project's prefix
        ("187520_2024-03-01_5#0.parquet", None),
        ("README.txt", None),
    ],
)
def test_event_object_names_give_the_upload_hour_and_part(
    name: str, expected: tuple[dt.datetime, int | None] | None
) -> None:
    assert parse_name(EVENTS, name) == expected


def test_merged_ids_names_live_in_the_dash_org_folder() -> None:
    feed = merged_ids_feed("3456")
    assert feed.folder == "-3456"
    assert parse_name(feed, "-3456_2024-03-02_4.json.gz") == (at(2, 4), 0)
    assert parse_name(feed, "3456_2024-03-02_4.json.gz") is None


def test_versions_come_from_etag_or_generation_else_size_and_mtime() -> None:
    assert object_version({"ETag": '"abc"', "size": 3}) == "abc"
    assert object_version({"generation": 1712, "size": 3}) == "1712"
    assert object_version({"etag": "0x8DC", "size": 3}) == "0x8DC"
    assert object_version({"size": 3, "mtime": 17.5}) == "3@17.5"


def test_a_listing_is_grouped_by_hour_with_parts_in_order_and_markers_apart() -> None:
    infos = [
        {
            "name": "b/p/187520/187520_2024-03-01_5#1.json.gz",
            "size": 2,
            "ETag": "x",
            "type": "file",
        },
        {
            "name": "b/p/187520/187520_2024-03-01_5#0.json.gz",
            "size": 2,
            "ETag": "y",
            "type": "file",
        },
        {"name": "b/p/187520/187520_2024-03-01_6_complete", "size": 0, "type": "file"},
        {"name": "b/p/187520/notes.txt", "size": 1, "type": "file"},
        {"name": "b/p/187520/sub", "size": 0, "type": "directory"},
    ]
    listing = sort_listing(EVENTS, infos)
    assert [obj.part for obj in listing.objects[at(1, 5)]] == [0, 1]
    assert listing.complete == {at(1, 6)}
    assert listing.ignored == ["notes.txt"]


def test_the_scan_starts_at_the_older_of_bookmark_and_window_and_ends_before_this_hour() -> None:
    now = dt.datetime(2024, 3, 10, 12, 40, tzinfo=UTC)
    caught_up = plan_scan(at(10, 12), now, 48, at(1, 0), None)
    assert (caught_up.first, caught_up.last) == (at(8, 12), at(10, 11))
    assert caught_up.settled_before == at(8, 12)
    behind = plan_scan(at(2, 3), now, 48, at(1, 0), None)
    assert behind.first == at(2, 3)
    raised_start = plan_scan(at(2, 3), now, 48, at(9, 0), at(10, 0))
    assert (raised_start.first, raised_start.last) == (at(9, 0), at(9, 23))


def test_the_bookmark_stops_at_the_first_hour_that_is_not_done() -> None:
    mark = BucketBookmark(next_hour=at(1, 0))
    assert mark.close_hour(at(1, 0), done=True)
    assert not mark.close_hour(at(1, 1), done=False)
    assert not mark.close_hour(at(1, 2), done=True)  # a later hour cannot pass the gap
    assert mark.next_hour == at(1, 1)


def test_seen_objects_are_forgotten_once_no_run_lists_their_hour_again() -> None:
    mark = BucketBookmark.from_state(
        {
            "replication_key_value": "2024-03-05T00:00:00+00:00",
            "bucket_seen": {
                "2024-03-02T00:00:00+00:00": {"a": "1"},
                "2024-03-04T00:00:00+00:00": {"b": "2"},
            },
        },
        at(1, 0),
        at(5, 1),
    )
    mark.prune(settled_before=at(3, 0))
    state: dict[str, object] = {}
    mark.write(state, "server_upload_time")
    assert state == {
        "replication_key": "server_upload_time",
        "replication_key_value": "2024-03-05T00:00:00+00:00",
        "bucket_seen": {"2024-03-04T00:00:00+00:00": {"b": "2"}},
    }


def test_bucket_mode_without_bucket_url_names_the_setting() -> None:
    with pytest.raises(BucketConfigError, match="bucket_url"):
        open_source({"events_source": "bucket"})


def test_a_cloud_url_without_its_driver_names_the_extra_to_install() -> None:
    with pytest.raises(BucketConfigError, match=r"singer-amplitude\[gcs\]"):
        BucketSource("gs://some-bucket/exports")
