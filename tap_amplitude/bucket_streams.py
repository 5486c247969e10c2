"""Bucket-mode streams: `events` read from the export bucket, and `merged_ids` (bucket only).

`events` keeps its own record path (timestamp repair in `post_process`, the fast RECORD path):
only where its rows come from changes. `merged_ids` has no Export API counterpart.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_amplitude import bucket_sync
from tap_amplitude.bucket_layout import events_feed, merged_ids_feed
from tap_amplitude.bucket_source import BucketConfigError
from tap_amplitude.timestamps import to_rfc3339

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

    from tap_amplitude.events import EventsStream

BUCKET = "bucket"
MERGE_TIME_FIELDS = ("merge_time", "merge_server_time")


def uses_bucket(config: Any) -> bool:
    """True when `events_source` selects the cloud-storage export."""
    return config.get("events_source") == BUCKET


def _checkpoint(stream: Stream) -> Any:
    def write() -> None:
        stream.state_manager.is_flushed = False
        stream._write_state_message()  # noqa: SLF001  the SDK's STATE writer, as `events` uses

    return write


def bucket_events(stream: EventsStream, context: Context | None) -> Iterator[dict[str, Any]]:
    """Raw events of the project folder `project_id` under `bucket_url`."""
    project_id = stream.config.get("project_id")
    if not project_id:
        msg = (
            "events_source is `bucket` but `project_id` is not set: it names the export folder "
            "(`{bucket_url}/{project_id}/`); Amplitude shows it under Settings > Projects"
        )
        raise BucketConfigError(msg)
    yield from bucket_sync.sync_feed(
        bucket_sync.open_source(stream.config),
        events_feed(str(project_id)),
        stream.get_context_state(context),
        config=stream.config,
        now=stream.now(),
        replication_key=str(stream.replication_key),
        checkpoint=_checkpoint(stream),
        logger=stream.logger,
    )
    report = stream.timestamp_report
    if report.counts:
        stream.logger.warning("Unreadable timestamps emitted as null, per field: %s", report.counts)


def _merge_time(value: Any) -> str | None:
    """RFC 3339 UTC for an Amplitude timestamp string or epoch milliseconds; None otherwise."""
    if isinstance(value, str):
        return to_rfc3339(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.timezone.utc).isoformat()
    return None


class MergedIdsStream(Stream):
    """Amplitude ids merged into another (`-{org_id}` folder of the bucket export).

    Offered (and read) when `bucket_url` and `org_id` are set, whatever `events_source`.
    """

    name = "merged_ids"
    primary_keys = ("amplitude_id", "merged_amplitude_id")
    replication_key = "merge_server_time"
    is_sorted = True  # bookmarked per hour file, never from a record value
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    STATE_MSG_FREQUENCY = 2**62
    schema = th.PropertiesList(
        th.Property("amplitude_id", th.IntegerType, required=True),
        th.Property("merged_amplitude_id", th.IntegerType, required=True),
        th.Property("scope", th.StringType, description="What the merge applies to."),
        th.Property("merge_time", th.DateTimeType, description="When the merge happened."),
        th.Property(
            "merge_server_time",
            th.DateTimeType,
            description="When Amplitude's servers recorded the merge (the file's hour).",
        ),
    ).to_dict()

    def now(self) -> dt.datetime:
        """The wall clock used to find the last finished hour."""
        return dt.datetime.now(dt.timezone.utc)

    def compare_start_date(self, value: str, start_date_value: str) -> str:  # noqa: ARG002
        """The bucket walk reads the bookmark and `start_date` itself (relative dates too)."""
        return value

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Rows of every new merged-IDs file, oldest hour first."""
        if not self.config.get("bucket_url") or not self.config.get("org_id"):
            self.logger.info(
                "merged_ids is read from the bucket export only: set `bucket_url` and `org_id` "
                "to read it"
            )
            return
        yield from bucket_sync.sync_feed(
            bucket_sync.open_source(self.config),
            merged_ids_feed(str(self.config["org_id"])),
            self.get_context_state(context),
            config=self.config,
            now=self.now(),
            replication_key=self.replication_key,
            checkpoint=_checkpoint(self),
            logger=self.logger,
        )

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:  # noqa: ARG002
        """Merge times to RFC 3339 UTC (unreadable values become null)."""
        for field_name in MERGE_TIME_FIELDS:
            if field_name in row and row[field_name] is not None:
                row[field_name] = _merge_time(row[field_name])
        return row

    def _increment_stream_state(
        self, latest_record: dict, *, context: Context | None = None
    ) -> None:
        """No per-record bookmark: the bucket walk checkpoints per file and per hour."""
