"""TapAmplitude: settings and the list of streams."""

from __future__ import annotations

from typing import TYPE_CHECKING

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.tap_base import CliTestOptionValue

from singer_amplitude.settings_checks import SettingsChecks, defaults_never_null
from tap_amplitude import streams
from tap_amplitude.bucket_streams import MergedIdsStream
from tap_amplitude.client import REGION_HOSTS
from tap_amplitude.cohort_members import CohortMembersStream
from tap_amplitude.custom_streams import build_custom_streams
from tap_amplitude.taxonomy import TAXONOMY_COST_PER_HOUR, TAXONOMY_STREAM_TYPES
from tap_amplitude.user_streams import MAX_ACTIVITY_PAGE_SIZE
from tap_amplitude.windows import MAX_WINDOW_HOURS

if TYPE_CHECKING:
    import click
    from singer_sdk import Stream


class TapAmplitude(SettingsChecks, Tap):
    """Extracts Amplitude raw events (Export API), event types, users and dashboard analytics."""

    name = "tap-amplitude"
    package_name = "singer-amplitude"
    message_writer_class = MsgSpecWriter  # ~2x faster than the default writer, same JSON
    UNDECLARED_SETTINGS = frozenset({"user_agent"})  # read by the SDK's RESTStream

    config_jsonschema = th.PropertiesList(
        # --- connection -------------------------------------------------------------------
        th.Property(
            "api_key",
            th.StringType,
            required=True,
            secret=True,
            title="API key",
            description="Project API key (Amplitude: Settings > Projects > General).",
        ),
        th.Property(
            "secret_key",
            th.StringType,
            required=True,
            secret=True,
            title="Secret key",
            description="Project secret key, sent with the API key as HTTP Basic auth.",
        ),
        th.Property(
            "region",
            th.StringType,
            default="us",
            allowed_values=list(REGION_HOSTS),
            title="Data region",
            description=(
                f"Where the project's data lives: `us` ({REGION_HOSTS['us']}) or `eu` "
                f"({REGION_HOSTS['eu']}). A wrong region answers 403."
            ),
        ),
        th.Property(
            "api_url",
            th.StringType,
            title="API URL override",
            description=(
                "Base URL of the Export and Dashboard REST APIs; overrides `region` "
                "(for proxies and the bundled emulator)."
            ),
        ),
        # --- export (events stream) ---------------------------------------------------------
        th.Property(
            "start_date",
            th.StringType,
            title="Start date",
            description=(
                "Earliest data to extract (UTC), as an ISO 8601 date or date-time. `events`: the "
                "first server-upload hour to export; when unset, 30 days before the run (relative "
                "values like `30 days ago` are also read). A bookmark later than this wins: the "
                "export starts at max(bookmark, start_date)."
            ),
        ),
        th.Property(
            "end_date",
            th.StringType,
            title="End date",
            description=(
                "Optional exclusive end for bounded backfills (UTC, ISO 8601): `events` exports "
                "only hours that end at or before it. Never past the last complete hour."
            ),
        ),
        th.Property(
            "export_window_hours",
            th.IntegerType(minimum=1, maximum=MAX_WINDOW_HOURS),
            default=24,
            title="Export window (hours)",
            description=(
                f"Hours per Export API request (1..{MAX_WINDOW_HOURS}; the API allows 365 days). "
                "When Amplitude answers 400 (over 4 GB) or 504, the window is halved, down to one "
                "hour, and the smaller size is kept for the rest of the run."
            ),
        ),
        th.Property(
            "export_lag_hours",
            th.IntegerType(minimum=0),
            default=2,
            title="Export availability lag (hours)",
            description=(
                "Hours after an hour ends before it is requested. Amplitude publishes hour H's "
                "export about 2 h after H ends (data sent 8-9 PM is available at 11 PM), so "
                "the default requests an hour only once it is complete."
            ),
        ),
        th.Property(
            "lookback_hours",
            th.IntegerType(minimum=0),
            default=0,
            title="Export lookback (hours)",
            description=(
                "Re-export this many hours before the bookmark on each run (rows repeat; "
                "targets dedupe on `uuid`)."
            ),
        ),
        th.Property(
            "export_connect_timeout_seconds",
            th.NumberType(exclusive_minimum=0),
            default=30,
            title="Export connect timeout (seconds)",
            description="Seconds to wait for a connection to the Export API.",
        ),
        th.Property(
            "export_read_timeout_seconds",
            th.NumberType(exclusive_minimum=0),
            default=600,
            title="Export read timeout (seconds)",
            description=(
                "Seconds of silence tolerated while Amplitude builds or streams an archive "
                "(per read, not for the whole download)."
            ),
        ),
        th.Property(
            "export_max_tries",
            th.IntegerType(minimum=1),
            default=5,
            title="Export attempts per window",
            description=(
                "Attempts per window for network errors, truncated or non-zip bodies, archive "
                "members that do not decompress (bad gzip CRC or length), 429 and 5xx (other "
                "than 504). After the last one the run fails and the bookmark stays before that "
                "window."
            ),
        ),
        th.Property(
            "export_temp_dir",
            th.StringType,
            title="Export temp directory",
            description=(
                "Where each run makes its spool folder for the windows' zips (default: the "
                "system temp directory). Needs room for 1 + `export_prefetch_windows` archives "
                "(up to 4 GB each). The folder is removed at exit; folders left by runs that "
                "died (SIGKILL, power loss) are removed by the next run, live runs' are kept."
            ),
        ),
        th.Property(
            "export_prefetch_windows",
            th.IntegerType(minimum=0),
            default=1,
            title="Export windows prefetched",
            description=(
                "Windows requested, downloaded and checked in the background while the current "
                "one is emitted (Amplitude takes a while to build each archive): up to this many "
                "requests at once, and at most this many archives waiting on disk. 0 requests "
                "each window only when the previous one is emitted. Row order, STATE and the "
                "bisection rules are the same either way."
            ),
        ),
        th.Property(
            "on_bad_export_line",
            th.StringType,
            default="fail",
            allowed_values=["fail", "skip"],
            title="On a bad export line",
            description=(
                "What to do with a line of an archive that is not a JSON object (bad data that "
                "downloads the same every time; a member that fails to decompress is a bad "
                "download and is retried instead). `fail`: stop with the member and line named, "
                "the window not bookmarked. `skip`: write the raw line to "
                "`bad_export_lines_file`, count it per window, and warn with the total at the end."
            ),
        ),
        th.Property(
            "bad_export_lines_file",
            th.StringType,
            title="Bad export lines file",
            description=(
                "File the raw lines skipped under `on_bad_export_line: skip` are appended to, "
                "one per line (required with `skip`)."
            ),
        ),
        # --- bucket mode (events from Amplitude's cloud-storage export; merged_ids) ----------
        th.Property(
            "events_source",
            th.StringType,
            default="export_api",
            allowed_values=["export_api", "bucket"],
            title="Events source",
            description=(
                "Where `events` come from: `export_api` (the Export API) or `bucket` (the files "
                "Amplitude's Amazon S3 / Google Cloud Storage / Azure export writes, read from "
                "`bucket_url`; no 4 GB-per-hour limit). Bucket objects are retried "
                "`export_max_tries` times and downloaded to `export_temp_dir`."
            ),
        ),
        th.Property(
            "bucket_url",
            th.StringType,
            title="Bucket URL",
            description=(
                "fsspec URL of the export prefix, the folder that holds `{project_id}/` and "
                "`-{org_id}/`: `s3://bucket/prefix`, `gs://...`, `az://container/prefix`, "
                "`file:///path` or a plain path. s3/gs/az need the `singer-amplitude[s3]`, "
                "`[gcs]` or `[azure]` extra."
            ),
        ),
        th.Property(
            "bucket_storage_options",
            th.ObjectType(additional_properties=True),
            secret=True,
            title="Bucket storage options",
            description=(
                "Options passed to the filesystem (s3fs/gcsfs/adlfs), e.g. `endpoint_url`, "
                "`key`/`secret`, `anon`, `client_kwargs: {region_name: eu-central-1}`. "
                "Unset: credentials come from the cloud library's usual environment variables "
                "and config files."
            ),
        ),
        th.Property(
            "project_id",
            th.StringType,
            title="Project ID",
            description=(
                "Amplitude project id: the events folder `{bucket_url}/{project_id}/` "
                "(Settings > Projects). Needed with `events_source: bucket`."
            ),
        ),
        th.Property(
            "org_id",
            th.StringType,
            title="Organization ID",
            description=(
                "Amplitude organization id: the `merged_ids` stream reads "
                "`{bucket_url}/-{org_id}/` (with either `events_source`); it is offered only "
                "when `bucket_url` and `org_id` are set."
            ),
        ),
        th.Property(
            "bucket_lookback_hours",
            th.IntegerType(minimum=0),
            default=48,
            title="Bucket re-read window (hours)",
            description=(
                "Hours before the current one whose objects are listed again on each run: a "
                "rewritten object (new ETag/generation) or a late one is read again, others "
                "are not. An hour without files and without a `complete` marker is retried "
                "until it is older than this."
            ),
        ),
        # --- dashboard REST streams ---------------------------------------------------------
        th.Property(
            "request_timeout",
            th.IntegerType(minimum=1),
            default=300,
            title="Dashboard request timeout (seconds)",
            description="Seconds to wait for one Dashboard REST response before retrying it.",
        ),
        th.Property(
            "user_search_terms",
            th.ArrayType(th.StringType),
            title="User search terms",
            description=(
                "User ids, device ids or Amplitude ids to look up with User Search "
                "(`user_search`, one partition per term). Every match is then read by "
                "`user_activity` and `user_profiles`. Empty: the user streams yield nothing."
            ),
        ),
        th.Property(
            "amplitude_ids",
            th.ArrayType(th.IntegerType),
            title="Amplitude IDs",
            description=(
                "Amplitude ids whose activity and profile are read directly, without a search."
            ),
        ),
        th.Property(
            "user_activity_page_size",
            th.IntegerType(minimum=1, maximum=MAX_ACTIVITY_PAGE_SIZE),
            default=MAX_ACTIVITY_PAGE_SIZE,
            title="User activity page size",
            description=(
                "Events per User Activity request (`limit`, at most 1000). Amplitude may return "
                "a few more to complete the last session; they are de-duplicated by `uuid`."
            ),
        ),
        th.Property(
            "user_api_max_requests_per_hour",
            th.IntegerType(minimum=1),
            default=360,
            title="User API requests per hour",
            description=(
                "Most User Search + User Activity requests sent in any 3600 s (Amplitude allows "
                "360 per project per hour). The tap waits when the quota is used up; 429s are "
                "retried, honouring `Retry-After`. Requests are sequential (Amplitude allows 5 "
                "concurrent Dashboard REST requests per project)."
            ),
        ),
        th.Property(
            "active_users_group_by",
            th.StringType,
            title="Active users group-by",
            description=(
                "Optional user property to group `active_users` by (e.g. `platform`). No "
                "group-by by default: some projects reject `country` with 400."
            ),
        ),
        th.Property(
            "dashboard_start_date",
            th.StringType,
            title="Dashboard series start date",
            description=(
                "First day of `active_users` / `average_session_length` on the first run (ISO "
                "date or `30 days ago`; project time zone). Default: `start_date`, else 30 "
                "days ago."
            ),
        ),
        th.Property(
            "dashboard_end_date",
            th.StringType,
            title="Dashboard series end date",
            description="Optional last day (inclusive) of the daily series; default today (UTC).",
        ),
        th.Property(
            "dashboard_lookback_days",
            th.IntegerType(minimum=0),
            default=3,
            title="Dashboard lookback (days)",
            description=(
                "Days before the bookmark re-read by the daily series on each run: recent "
                "figures still change. Dates are in the project's time zone."
            ),
        ),
        # --- cohort membership and taxonomy --------------------------------------------------
        th.Property(
            "cohort_ids",
            th.ArrayType(th.StringType),
            title="Cohort ids to download",
            description=(
                "Cohorts whose members `cohort_members` downloads (ids as in the `cohorts` "
                "stream). Opt-in: each download uses one of the project's 500 cohort requests "
                "per month, on every run. Empty: `cohort_members` yields nothing."
            ),
        ),
        th.Property(
            "cohort_member_properties",
            th.ArrayType(th.StringType),
            title="Cohort member properties",
            description=(
                "User properties to include in `cohort_members.properties` (`propKeys`); `*` "
                "asks for all of them. Empty (the default): ids only, the fastest job."
            ),
        ),
        th.Property(
            "cohort_poll_timeout_seconds",
            th.NumberType(minimum=0),
            default=600,
            title="Cohort job time budget (seconds)",
            description=(
                "How long to wait for Amplitude's cohort download job before failing the run "
                "(jobs commonly take 30-60 s or more)."
            ),
        ),
        th.Property(
            "cohort_poll_interval_seconds",
            th.NumberType(minimum=0),
            default=5,
            title="Cohort job first poll wait (seconds)",
            description=(
                "Wait before the second status check of a cohort job; it doubles after each "
                "check, up to 60 s."
            ),
        ),
        th.Property(
            "taxonomy_max_requests_per_hour",
            th.IntegerType(minimum=1),
            default=TAXONOMY_COST_PER_HOUR,
            title="Taxonomy API requests per hour",
            description=(
                "Most Taxonomy API requests sent in any 3600 s (a GET costs 1 of Amplitude's "
                "7200 per project per hour). Requests are sequential, well under the 4 in "
                "flight Amplitude allows; 429s are retried."
            ),
        ),
        th.Property(
            "custom_streams",
            th.ArrayType(
                th.ObjectType(
                    th.Property(
                        "name",
                        th.StringType,
                        required=True,
                        description="Stream name (snake_case, unique).",
                    ),
                    th.Property(
                        "path",
                        th.StringType,
                        required=True,
                        description="Path under the API host, e.g. `/api/2/events/list`.",
                    ),
                    th.Property(
                        "params",
                        th.ObjectType(additional_properties=True),
                        description="Query parameters sent with every request.",
                    ),
                    th.Property(
                        "records_path",
                        th.StringType,
                        description="JSONPath to the records, e.g. `$.data[*]`.",
                    ),
                    th.Property(
                        "primary_keys",
                        th.ArrayType(th.StringType),
                        description="Record keys that identify a row.",
                    ),
                    th.Property(
                        "schema",
                        th.ObjectType(additional_properties=True),
                        description="JSON schema of a record; inferred from a sample when omitted.",
                    ),
                    additional_properties=False,
                )
            ),
            title="Custom streams",
            description=(
                "Extra GET endpoints of the Dashboard REST API, read with the same auth, region, "
                "retries and throttling (the 'manual configuration' of other tools)."
            ),
        ),
    ).to_dict()
    defaults_never_null(config_jsonschema)

    def discover_streams(self) -> list[Stream]:
        """All streams this tap offers, plus the `custom_streams` entries.

        `merged_ids` exists only in the bucket export: it is offered once `bucket_url` and
        `org_id` are set, so catalogs (and warehouse tables) of other setups do not change.
        """
        stream_types: list[type[streams.AmplitudeStream]] = [
            *streams.STREAM_TYPES,
            CohortMembersStream,
            *TAXONOMY_STREAM_TYPES,
        ]
        built: list[Stream] = [stream_class(tap=self) for stream_class in stream_types]
        if self.config.get("bucket_url") and self.config.get("org_id"):
            built.append(MergedIdsStream(tap=self))
        return [*built, *build_custom_streams(self)]

    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """`--test`: one record of `event_types`, an endpoint every valid key can read.

        The SDK's `run_connection_test` (final in 0.54) syncs one record of every stream: a whole
        export window, and a failure where an add-on is missing; a 403 here names the region in
        use. A config error is listed as in a run (the SDK's callback lets it escape as a
        traceback).
        """
        try:
            if value != CliTestOptionValue.All.value:
                super().cb_test(ctx, param, value)
                return
            config = ctx.params.get("config")
            tap = cls(
                config=getattr(config, "config", None),
                parse_env_config=bool(getattr(config, "parse_env", False)),
                validate_config=True,
            )
        except ConfigValidationError as exc:
            for error in exc.errors:
                cls.logger.error("%s", error)  # noqa: TRY400  a reason, not a traceback
            cls.logger.error("Config validation failed")  # noqa: TRY400
            ctx.exit(1)
        tap.run_sync_dry_run(
            dry_run_record_limit=1, streams=[tap.streams[streams.EventTypesStream.name]]
        )
        ctx.exit()
