"""One bucket-read stream's run: walk the planned hours day by day, emit new objects, checkpoint.

Shared by `events` (with `events_source: bucket`) and `merged_ids`. The walk lists each UTC day
once by its name prefix, reads every object not yet seen at its current version (parts in
order; the next object is fetched and verified while one is emitted), and writes STATE after
each hour that emitted rows or moved the bookmark.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tap_amplitude import windows
from tap_amplitude.bucket_layout import days_between
from tap_amplitude.bucket_source import BucketConfigError, BucketSource
from tap_amplitude.bucket_state import BucketBookmark, ScanPlan, plan_scan

if TYPE_CHECKING:
    import datetime as dt
    import logging
    from collections.abc import Callable, Iterator, Mapping

    from tap_amplitude.bucket_layout import DayListing, ExportObject, Feed
    from tap_amplitude.bucket_source import LocalCopy

DEFAULT_LOOKBACK_HOURS = 48
DEFAULT_START = "30 days ago"
DEFAULT_MAX_TRIES = 5
# STATE goes out after each hour that emitted rows; inside an hour, after this many rows (a
# STATE message carries the re-read window's object list, so not after every object).
ROWS_PER_CHECKPOINT = 1_000_000


def open_source(config: Mapping[str, Any]) -> BucketSource:
    """The bucket of `bucket_url`, or a clear error naming the missing setting."""
    url = config.get("bucket_url")
    if not url:
        msg = "events_source is `bucket` but `bucket_url` is not set (e.g. s3://bucket/prefix)"
        raise BucketConfigError(msg)
    options = config.get("bucket_storage_options") or {}
    if not isinstance(options, dict):
        msg = '`bucket_storage_options` must be an object (e.g. {"anon": false})'
        raise BucketConfigError(msg)
    source = BucketSource(
        str(url),
        options,
        temp_dir=config.get("export_temp_dir"),
        max_tries=int(config.get("export_max_tries") or DEFAULT_MAX_TRIES),
    )
    source.check_root()
    return source


def sync_feed(
    source: BucketSource,
    feed: Feed,
    state: dict[str, Any],
    *,
    config: Mapping[str, Any],
    now: dt.datetime,
    replication_key: str,
    checkpoint: Callable[[], None],
    logger: logging.Logger,
) -> Iterator[dict[str, Any]]:
    """Rows of every new or rewritten object of the planned hours, in hour and part order."""
    start_value = config.get("start_date") or DEFAULT_START
    start = windows.parse_instant(str(start_value), now)
    end_value = config.get("end_date")
    end = windows.parse_instant(str(end_value), now) if end_value else None
    lookback = int(config.get("bucket_lookback_hours", DEFAULT_LOOKBACK_HOURS))
    bookmark = BucketBookmark.from_state(state, windows.floor_hour(start), now)
    plan = plan_scan(bookmark.next_hour, now, lookback, start, end)
    bookmark.start_at(plan.first)
    if plan.first > plan.last:
        logger.info(
            "Bucket %s: nothing to read yet (next hour %s)",
            feed.what,
            windows.hour_param(plan.first),
        )
        return
    logger.info(
        "Bucket %s: reading %s/%s hours %s..%s (re-reading the last %d h)",
        feed.what,
        source.url.rstrip("/"),
        feed.folder,
        windows.hour_param(plan.first),
        windows.hour_param(plan.last),
        lookback,
    )
    walk = _Walk(
        source,
        feed,
        bookmark,
        plan,
        lambda: _save(bookmark, plan, state, replication_key, checkpoint),
    )
    for day in days_between(plan.first, plan.last):
        yield from walk.day(day, logger, lookback)
    walk.save()
    if walk.listed == 0:
        logger.warning(
            "Bucket %s: no object under %s/%s/ for %s..%s: check `%s` and `bucket_url` "
            "(the hours count as done once older than %d h)",
            feed.what,
            source.url.rstrip("/"),
            feed.folder,
            plan.first.date(),
            plan.last.date(),
            "project_id" if feed.what == "events" else "org_id",
            lookback,
        )
    logger.info(
        "Bucket %s: %d rows from %d objects; next hour %s",
        feed.what,
        walk.rows,
        walk.objects,
        windows.hour_param(bookmark.next_hour),
    )


def _save(
    bookmark: BucketBookmark,
    plan: ScanPlan,
    state: dict[str, Any],
    replication_key: str,
    checkpoint: Callable[[], None],
) -> None:
    bookmark.prune(plan.settled_before)
    bookmark.write(state, replication_key)
    checkpoint()


class _Walk:
    """The hour loop of one run, with its counters and the rows emitted since the last STATE."""

    def __init__(
        self,
        source: BucketSource,
        feed: Feed,
        bookmark: BucketBookmark,
        plan: ScanPlan,
        save: Callable[[], None],
    ) -> None:
        self.source, self.feed, self.bookmark, self.plan = source, feed, bookmark, plan
        self._save = save
        self.rows = self.objects = self.listed = 0
        self._unsaved_rows = 0
        self._dirty = False

    def save(self) -> None:
        self._save()
        self._unsaved_rows, self._dirty = 0, False

    def day(self, day: dt.date, logger: logging.Logger, lookback: int) -> Iterator[dict[str, Any]]:
        """Rows of one day's new objects; STATE after each hour that emitted or moved."""
        listing = self.source.list_day(self.feed, day)
        self.listed += sum(len(parts) for parts in listing.objects.values())
        before = self.objects
        hours = self.plan.hours(day)
        new = [
            obj
            for hour in hours
            for obj in listing.objects.get(hour, [])
            if self.bookmark.is_new(obj)
        ]
        fetched = self.source.fetch_ahead(new)
        try:
            for hour in hours:
                objects = listing.objects.get(hour, [])
                for obj in objects:
                    if self.bookmark.is_new(obj):
                        yield from self._read(obj, next(fetched))
                self._close(hour, listing, logger, lookback)
        finally:
            fetched.close()
        logger.info(
            "Bucket %s: %s: %d new objects (%d listed, %d other names)",
            self.feed.what,
            day.isoformat(),
            self.objects - before,
            sum(len(parts) for parts in listing.objects.values()),
            len(listing.ignored),
        )

    def _close(
        self, hour: dt.datetime, listing: DayListing, logger: logging.Logger, lookback: int
    ) -> None:
        """After an hour's objects: move the bookmark if it is done, write STATE if needed."""
        objects = listing.objects.get(hour, [])
        done = bool(objects) or hour in listing.complete or hour < self.plan.settled_before
        if not done and not self.bookmark.blocked and hour >= self.bookmark.next_hour:
            logger.info(
                "Bucket %s: hour %s has no object and no `complete` marker yet; it is "
                "listed again on each run until it is older than %d h",
                self.feed.what,
                windows.hour_param(hour),
                lookback,
            )
        if self.bookmark.close_hour(hour, done=done) or self._dirty:
            self.save()

    def _read(self, obj: ExportObject, local: LocalCopy | None) -> Iterator[dict[str, Any]]:
        count = 0
        for record in self.source.read(obj, local):
            count += 1
            yield record
        self.bookmark.remember(obj)
        self.rows += count
        self.objects += 1
        self._unsaved_rows += count
        self._dirty = True
        if self._unsaved_rows >= ROWS_PER_CHECKPOINT:  # a big hour: resume inside it
            self.save()
