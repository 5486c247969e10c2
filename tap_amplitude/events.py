"""EventsStream: raw events from the Export API, one hour-aligned window at a time.

Each window's zip is spooled to disk and checked whole (every member decompressed, CRCs verified)
before anything is emitted, so a failed download is retried with nothing to undo. While window k is
emitted, the next `export_prefetch_windows` windows download in the background (prefetch.py) into
this run's spool folder (spool.py). The bookmark moves only when a whole window has been emitted:
STATE then says "resume at the next window" (`replication_key_value` = the first hour not yet
exported, RFC 3339 UTC). A run that dies inside window k resumes at window k.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import requests
from singer_sdk import SchemaDirectory, StreamSchema
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel

from singer_amplitude.settings_checks import config_error
from tap_amplitude import bucket_streams, export, windows
from tap_amplitude.bad_lines import SkippedLines
from tap_amplitude.client import AmplitudeStream, amplitude_error_text, auth_failure_message
from tap_amplitude.prefetch import WindowPrefetcher
from tap_amplitude.record_path import DirectRecordPath
from tap_amplitude.spool import RunSpool
from tap_amplitude.timestamps import TimestampReport, normalize_timestamps

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from singer_sdk.helpers.types import Context

TOO_LARGE_STATUSES = frozenset({400, 504})  # > 4 GB, or too much data to build in time
AUTH_STATUSES = frozenset({401, 403})
NO_DATA_STATUS = 404
NO_DATA_TEXT = "raw data files were not found"  # Amplitude's own 404 body


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class ExportWindowTooLargeError(Exception):
    """Amplitude refused the window as too large (400 / 504): split it, do not retry it."""

    def __init__(self, window: windows.Window, status: int, said: str) -> None:
        """Remember which window was refused, how, and Amplitude's words."""
        super().__init__(f"export of {window.label} answered {status}: {said}")
        self.window = window
        self.status = status
        self.said = said


class EventsStream(DirectRecordPath, AmplitudeStream):
    """Raw events (`/api/2/export`), incremental on `server_upload_time` by whole UTC hours."""

    name = "events"
    path = "/api/2/export"
    primary_keys = ("uuid",)
    replication_key = "server_upload_time"
    # Windows are emitted in ascending hour order and the bookmark is set per window, never
    # from a record value: the stream is resumable and no signpost is needed.
    is_sorted = True
    schema = StreamSchema(SchemaDirectory(Path(__file__).parent / "schemas"))
    # Values come straight from JSON (no datetimes, bytes or NaN): nothing to conform.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    # STATE goes out after each window; a mid-window STATE would only repeat the last one.
    STATE_MSG_FREQUENCY = 2**62

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Per-run memory: the window size Amplitude accepted and the bad-timestamp tally."""
        super().__init__(*args, **kwargs)
        self.window_hours = int(self.config["export_window_hours"])
        self.timestamp_report = TimestampReport()
        self.skipped_lines = self._bad_line_policy()
        self._spool: RunSpool | None = None
        self._prefetcher: WindowPrefetcher | None = None

    def _bad_line_policy(self) -> SkippedLines | None:
        """None for `on_bad_export_line: fail`; the file keeper for `skip`."""
        if self.config["on_bad_export_line"] == "fail":
            return None
        target = self.config.get("bad_export_lines_file")
        if not target:
            reason = (
                "bad_export_lines_file: required with `on_bad_export_line: skip` (the file "
                "that keeps each skipped line: nothing is skipped silently)"
            )
            raise config_error([reason])
        return SkippedLines(target)

    # --- where a run starts and stops ----------------------------------------------------------

    def now(self) -> dt.datetime:
        """The wall clock used to find the last complete hour."""
        return _utc_now()

    def compare_start_date(self, value: str, start_date_value: str) -> str:
        """max(bookmark - lookback_hours, start_date); bookmarks of any past shape are read."""
        now = self.now()
        first = windows.first_hour_to_export(
            windows.parse_instant(start_date_value, now),
            windows.parse_instant(value, now),
            int(self.config["lookback_hours"]),
        )
        return windows.format_bookmark(first)

    def get_replication_key_signpost(self, context: Context | None = None) -> None:  # noqa: ARG002
        """No signpost: the bookmark is a window end, never later than the last complete hour."""
        return

    def first_hour(self, context: Context | None) -> dt.datetime:
        """The first hour this run exports: max(bookmark - lookback_hours, start_date).

        With both set, the SDK already combined them through `compare_start_date`. A bookmark
        without `start_date` only needs the lookback; neither means the documented default.
        """
        now = self.now()
        value = self.get_starting_replication_key_value(context)
        if value is None:
            value = self.config.get("start_date") or windows.DEFAULT_START
        elif not self.config.get("start_date"):
            lookback = dt.timedelta(hours=int(self.config["lookback_hours"]))
            return windows.floor_hour(windows.parse_instant(str(value), now)) - lookback
        return windows.floor_hour(windows.parse_instant(str(value), now))

    def last_hour(self) -> dt.datetime:
        """The last hour this run may request: complete per the lag, and before `end_date`."""
        now = self.now()
        end_date = self.config.get("end_date")
        return windows.last_hour_to_export(
            now,
            int(self.config["export_lag_hours"]),
            windows.parse_instant(end_date, now) if end_date else None,
        )

    # --- the window loop --------------------------------------------------------------------------

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Every event of every window from the bookmark to the last complete hour, in order."""
        if bucket_streams.uses_bucket(self.config):
            yield from bucket_streams.bucket_events(self, context)
            return
        cursor, last = self.first_hour(context), self.last_hour()
        if cursor > last:
            self.logger.info(
                "Nothing to export yet: next hour %s, last complete hour %s",
                windows.hour_param(cursor),
                windows.hour_param(last),
            )
            return
        self.logger.info(
            "Exporting hours %s..%s in windows of up to %d h",
            windows.hour_param(cursor),
            windows.hour_param(last),
            self.window_hours,
        )
        fetch = cast(
            "Callable[[windows.Window, Context | None], Path | None]",
            self.request_decorator(cast("Any", self._download_window)),
        )
        self._spool = RunSpool(self.config.get("export_temp_dir"))
        self._prefetcher = WindowPrefetcher(
            lambda window: self._fetch(fetch, window, context),
            int(self.config["export_prefetch_windows"]),
            lambda archive: archive.unlink(missing_ok=True),
        )
        try:
            yield from self._windows_from(cursor, last, context)
        finally:
            self._prefetcher.close()
            self._spool.close()
            if self.skipped_lines is not None:
                self.skipped_lines.close()
        self._report_run()

    def _windows_from(
        self, cursor: dt.datetime, last: dt.datetime, context: Context | None
    ) -> Iterator[dict[str, Any]]:
        """Emit window after window; the next ones are already downloading meanwhile."""
        assert self._prefetcher is not None  # noqa: S101  set by get_records

        def following(window: windows.Window) -> windows.Window | None:
            return windows.next_window(window.next_start, self.window_hours, last)

        while (window := windows.next_window(cursor, self.window_hours, last)) is not None:
            try:
                archive = self._prefetcher.get(window, following)
            except ExportWindowTooLargeError as exc:
                self._shrink_after(exc)
                continue
            if archive is not None:
                yield from self._window_records(archive, window)
            self._bookmark(window, context)
            cursor = window.next_start

    def _report_run(self) -> None:
        """End-of-run warnings: nulled timestamps and skipped lines, with their counts."""
        if self.timestamp_report.counts:
            self.logger.warning(
                "Unreadable timestamps emitted as null, per field: %s",
                self.timestamp_report.counts,
            )
        if self.skipped_lines is not None and self.skipped_lines.total:
            self.logger.warning(
                "Skipped %d export lines that are not JSON objects (on_bad_export_line: skip); "
                "they are in %s",
                self.skipped_lines.total,
                self.skipped_lines.path,
            )

    def _fetch(
        self,
        fetch: Callable[[windows.Window, Context | None], Path | None],
        window: windows.Window,
        context: Context | None,
    ) -> Path | None:
        """The window's archive on disk (None: no data), retried; a clear error once retries end."""
        try:
            return fetch(window, context)
        except (RetriableAPIError, requests.exceptions.RequestException, ConnectionError) as exc:
            msg = (
                f"Export of window {window.label} failed after {self.backoff_max_tries()} "
                f"attempts: {exc}. The bookmark stays before this window; re-run to resume here."
            )
            raise FatalAPIError(msg) from exc

    def _shrink_after(self, exc: ExportWindowTooLargeError) -> None:
        """Halve the window size for the rest of the run; a single hour still too big is fatal."""
        window = exc.window
        if window.hours == 1:
            msg = (
                f"Amplitude answered {exc.status} ({exc.said}) for the single hour "
                f"{window.label}: that hour holds more data than the Export API can return "
                "(4 GB per request, or too much to build in time). Export it with Amplitude's "
                "Amazon S3 (or GCS) export instead."
            )
            raise FatalAPIError(msg) from exc
        self.window_hours = windows.halved_size(window)
        self.logger.warning(
            "Export of %s answered %d (too much data); using %d-hour windows for the rest of "
            "this run",
            window.label,
            exc.status,
            self.window_hours,
        )

    def _window_records(self, archive: Path, window: windows.Window) -> Iterator[dict[str, Any]]:
        """The archive's records; the temp file goes away whatever happens to the consumer."""
        count = 0
        skipped = self.skipped_lines
        try:
            members = export.member_names(archive)
            if skipped is None:
                records = export.iter_archive_records(archive)
            else:
                skipped.start_window()
                records = export.iter_archive_records(archive, skipped)
            for record in records:
                count += 1
                yield record
        finally:
            archive.unlink(missing_ok=True)
        if skipped is not None and skipped.window_count:
            self.logger.warning(
                "Window %s: %d events from %d archive members, %d bad lines skipped (in %s)",
                window.label,
                count,
                len(members),
                skipped.window_count,
                skipped.path,
            )
            return
        self.logger.info(
            "Window %s: %d events from %d archive members", window.label, count, len(members)
        )

    def _bookmark(self, window: windows.Window, context: Context | None) -> None:
        """Checkpoint after a whole window (empty windows too): resume at the next one."""
        state = self.get_context_state(context)
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = windows.format_bookmark(window.next_start)
        self.finalize_state_progress_markers(state)

    # --- one request ----------------------------------------------------------------------------

    def _download_window(self, window: windows.Window, context: Context | None) -> Path | None:
        """GET one window and spool it to a checked temp file; None when Amplitude has no data."""
        request = self.build_prepared_request(
            method="GET",
            url=self.get_url(context),
            params=window.params,
            headers=self.http_headers,
        )
        response = self.requests_session.send(
            request, stream=True, timeout=self.export_timeouts, allow_redirects=True
        )
        try:
            if response.status_code == NO_DATA_STATUS:
                said = amplitude_error_text(response, self._secrets)
                if NO_DATA_TEXT not in said.lower():
                    # Any other 404 (a wrong `api_url`, a proxy page) must not move the bookmark.
                    raise FatalAPIError(
                        f"Export of {window.label} answered 404 without Amplitude's "
                        f"'Raw data files were not found' ({said!r}); check `api_url`/`region`."
                    )
                self.logger.info("Window %s: no data (404: %s)", window.label, said)
                return None
            if response.status_code in TOO_LARGE_STATUSES:
                said = amplitude_error_text(response, self._secrets)
                raise ExportWindowTooLargeError(window, response.status_code, said)
            self.validate_response(response)
            assert self._spool is not None  # noqa: S101  set by get_records
            stop = self._prefetcher.stop if self._prefetcher is not None else None
            return export.spool_to_file(response, self._spool.path, stop)
        finally:
            response.close()

    @property
    def export_timeouts(self) -> tuple[float, float]:
        """(connect, read) seconds; the read timeout is per socket read, not per download."""
        return (
            float(self.config["export_connect_timeout_seconds"]),
            float(self.config["export_read_timeout_seconds"]),
        )

    def validate_response(self, response: requests.Response) -> None:
        """401/403 say "invalid key or wrong region"; the rest follows the shared mapping."""
        if response.status_code in AUTH_STATUSES:
            raise FatalAPIError(auth_failure_message(dict(self.config), response.status_code))
        super().validate_response(response)

    def backoff_max_tries(self) -> int:
        """Attempts per window (`export_max_tries`): network errors, bad zips or gzip, 429, 5xx."""
        return int(self.config["export_max_tries"])

    # --- records ----------------------------------------------------------------------------------

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:  # noqa: ARG002
        """Timestamps to RFC 3339 UTC; a bad one is nulled and reported, never fatal."""
        for field_name in normalize_timestamps(row, self.timestamp_report):
            if self.timestamp_report.counts[field_name] == 1:
                self.logger.warning(
                    "Event %s: %s %r is not a timestamp; emitted as null (further bad values "
                    "of this field are counted, not logged)",
                    row.get("uuid"),
                    field_name,
                    self.timestamp_report.examples[field_name][1],
                )
        return row

    def _increment_stream_state(
        self, latest_record: dict, *, context: Context | None = None
    ) -> None:
        """No per-record bookmark: rows inside a window are unsorted; `_bookmark` moves it."""
