"""TargetAmplitude: settings and stream-to-sink routing."""

from __future__ import annotations

import copy
import datetime as dt
import gc
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecReader
from singer_sdk.exceptions import InvalidInputLine
from singer_sdk.helpers.capabilities import PluginCapabilities

from target_amplitude.batch_files import BatchStorage, files_of, read_batch_file
from target_amplitude.delivery.deliverer import Deliverer, RecordsNotDeliveredError
from target_amplitude.delivery.lanes import LanePipeline
from target_amplitude.mapping.specs import KINDS, resolve_spec
from target_amplitude.mapping.stream_plan import StreamPlan
from target_amplitude.mapping.timeconv import datetime_to_ms
from target_amplitude.sinks import AmplitudeSink, DryRunWriter

if TYPE_CHECKING:
    from singer_sdk.helpers.capabilities import CapabilitiesEnum

_DECODER = msgspec.json.Decoder()
STATE_CHECK_EVERY = 100  # records between checks for a STATE that became safe to emit
GC_THRESHOLD = 50_000  # allocations between young-generation collections (CPython default: 700)


class FloatMsgSpecReader(MsgSpecReader):
    """msgspec reader keeping JSON numbers as int/float (Amplitude wants floats, not Decimal)."""

    def deserialize_json(self, line: str) -> dict:
        """Parse one Singer message line."""
        try:
            message: dict = _DECODER.decode(line)
        except msgspec.DecodeError as exc:
            raise InvalidInputLine(f"Unable to parse line as JSON: {line[:200]}") from exc
        return message


class TargetAmplitude(Target):
    """Loads Singer records into Amplitude as events, users, devices, groups and user mappings."""

    name = "target-amplitude"
    package_name = "singer-amplitude"
    capabilities: ClassVar[list[CapabilitiesEnum]] = [
        *Target.capabilities,
        PluginCapabilities.BATCH,
    ]

    config_jsonschema = th.PropertiesList(
        # --- connection -------------------------------------------------------------------
        th.Property(
            "api_key",
            th.StringType,
            required=True,
            secret=True,
            title="API key",
            description=(
                "API key of the Amplitude project to load into (sent in each request body)."
            ),
        ),
        th.Property(
            "region",
            th.StringType,
            default="us",
            allowed_values=["us", "eu"],
            title="Data region",
            description=(
                "`us` (https://api2.amplitude.com) or `eu` (https://api.eu.amplitude.com)."
            ),
        ),
        th.Property(
            "api_url",
            th.StringType,
            title="API URL override",
            description=(
                "Base URL of the ingestion APIs (/batch, /2/httpapi, /identify, /groupidentify, "
                "/usermap); overrides `region` (for proxies and the bundled emulator)."
            ),
        ),
        # --- mapping (streams -> object kinds) ------------------------------------------------
        th.Property(
            "streams",
            th.ObjectType(additional_properties=True),
            title="Stream mappings",
            description=(
                "Stream name or glob (`events_*`) -> mapping spec: `object` (event, user, device, "
                "group, user_mapping, or a list), Amplitude fields as a record field path "
                '(`"customer.id"`), a template (`"Viewed {page}"`) or `{"const": ...}`, '
                "`event_properties`/`user_properties`/`group_properties` (`*`, a list, or "
                "`{include, exclude}`), `property_operations`, `null_values`, "
                "`allow_missing_time`, `touch_event`, `group_membership`, `skip_event_types`, "
                "`skip_user_properties_sync` (historical events leave user properties alone), "
                "`preset` (`amplitude_export`)."
            ),
        ),
        th.Property(
            "default_object",
            th.StringType,
            default="none",
            allowed_values=[*KINDS, "none"],
            title="Kind for unmapped streams",
            description=(
                "Object kind for streams not in `streams`; `none` makes them a config error."
            ),
        ),
        th.Property(
            "dry_run",
            th.BooleanType,
            default=False,
            title="Dry run",
            description="Build and validate every payload and write them out; send nothing.",
        ),
        th.Property(
            "dry_run_path",
            th.StringType,
            title="Dry-run output file",
            description="JSON Lines file for `dry_run` payloads (default: the log).",
        ),
        th.Property(
            "validate_records",
            th.BooleanType,
            default=False,
            title="Validate records against their schema",
            description=(
                "JSON-schema validation of every record before mapping. Off by default: the "
                "target's own checks cover what Amplitude needs, at a fraction of the cost."
            ),
        ),
        # --- delivery (batching, retries, rejected records) -------------------------------------
        th.Property(
            "event_endpoint",
            th.StringType,
            default="batch",
            allowed_values=["batch", "httpapi"],
            description=(
                "Events API: `batch` (/batch: 20 MB, 1000 events/s per user; for loads and "
                "backfills) or `httpapi` (/2/httpapi: 1 MB, 30 events/s per user)."
            ),
        ),
        th.Property(
            "min_id_length",
            th.IntegerType,
            description=(
                "Minimum user_id/device_id length; when set it is sent as `options.min_id_length` "
                "with every events request (Amplitude's default is 5)."
            ),
        ),
        th.Property(
            "events_per_request",
            th.IntegerType,
            default=2000,
            description="Events per request (at most 2000, Amplitude's cap); lowered after a 413.",
        ),
        th.Property(
            "max_request_bytes",
            th.IntegerType,
            description=(
                "Serialized body bytes per request, measured while filling it. Default 19,000,000 "
                "for /batch and 900,000 for /2/httpapi and the form endpoints (under 20 MB / 1 MB)."
            ),
        ),
        th.Property(
            "identifications_per_request",
            th.IntegerType,
            default=500,
            description=(
                "Identifications per /identify, /groupidentify (at most 1024) or /usermap request."
            ),
        ),
        th.Property(
            "request_timeout",
            th.NumberType,
            default=60,
            description="Seconds to wait for an answer; a timeout is retried like a 5xx.",
        ),
        th.Property(
            "max_retries",
            th.IntegerType,
            default=8,
            description=(
                "Retries of a request after 5xx, timeouts or dropped connections (same "
                "insert_ids); past it the run fails without a new STATE (nothing is dropped)."
            ),
        ),
        th.Property(
            "retry_backoff_base_seconds",
            th.NumberType,
            default=1,
            description="First back-off delay; doubles per retry, with jitter.",
        ),
        th.Property(
            "retry_backoff_max_seconds",
            th.NumberType,
            default=120,
            description="Longest back-off delay between two retries.",
        ),
        th.Property(
            "retry_time_budget_seconds",
            th.NumberType,
            default=900,
            description=(
                "Longest time a record may keep failing (5xx or 429) before the run fails "
                "without a new STATE."
            ),
        ),
        th.Property(
            "throttle_wait_seconds",
            th.NumberType,
            description=(
                "Pause of a throttled user/device after a 429 (others go on). Default: Amplitude's "
                "documented 30 s for httpapi, 15 s for batch and identify."
            ),
        ),
        th.Property(
            "max_concurrent_requests",
            th.IntegerType,
            default=8,
            description=(
                "Requests in flight at once. Records go to lanes by a stable hash of device_id "
                "(else user_id; groups and user mappings by their key); each lane sends in order, "
                "so per-device order holds. Lowered for a while after 429s/5xx; 1 sends one "
                "request at a time."
            ),
        ),
        th.Property(
            "on_rejected",
            th.StringType,
            default="fail",
            allowed_values=["fail", "dead_letter", "skip"],
            description=(
                "Records Amplitude (or local validation) will never accept: `fail` delivers the "
                "rest, emits no further STATE and exits non-zero with a report; `dead_letter` "
                "appends record, payload and reason to `dead_letter_path` and goes on; `skip` logs."
            ),
        ),
        th.Property(
            "on_deferred",
            th.StringType,
            default="fail",
            allowed_values=["fail", "dead_letter"],
            description=(
                "Events of users/devices over Amplitude's daily quota (undeliverable for up to "
                "24 h): `fail` (like on_rejected) or `dead_letter`."
            ),
        ),
        th.Property(
            "dead_letter_path",
            th.StringType,
            default="target-amplitude-dead-letters.jsonl",
            description="JSONL file that `dead_letter` appends to (one line per record).",
        ),
        # --- BATCH messages -----------------------------------------------------------------
        th.Property(
            "batch_config",
            th.ObjectType(
                th.Property(
                    "storage",
                    th.ObjectType(
                        th.Property(
                            "root",
                            th.StringType,
                            title="Batch files root",
                            description=(
                                "Directory or fsspec URL to read BATCH files from by file name, "
                                "instead of the location in the manifest (a share mounted "
                                "elsewhere)."
                            ),
                        ),
                        th.Property(
                            "params",
                            th.ObjectType(additional_properties=True),
                            title="Storage options",
                            description=(
                                "fsspec storage options for opening BATCH files (e.g. s3fs "
                                "`key`, `secret`, `client_kwargs`)."
                            ),
                        ),
                    ),
                    title="Batch files storage",
                    description="Where BATCH files are read from (default: their manifest URLs).",
                ),
            ),
            title="Batch configuration",
            description=(
                "Reading BATCH messages: JSON Lines (gzip or none) and, with pyarrow installed, "
                "Parquet; each file's records go through the same mapping, checks, delivery "
                "and STATE rules as RECORD messages."
            ),
        ),
    ).to_dict()

    default_sink_class = AmplitudeSink
    message_reader_class = FloatMsgSpecReader

    def __init__(self, **kwargs: Any) -> None:
        """Compile every configured stream mapping up front, so config errors stop the run early."""
        super().__init__(**kwargs)
        # Records and payloads are acyclic dicts; with the default thresholds the cyclic
        # collector keeps re-walking every queued batch (measured: ~10% of the record path).
        gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
        self.fallback_time_ms = datetime_to_ms(dt.datetime.now(tz=dt.timezone.utc))
        streams = self.config.get("streams") or {}
        for name in streams:
            spec = resolve_spec(name, streams, self.config.get("default_object"))
            StreamPlan(name, spec, (), self.fallback_time_ms)
        self._state_withheld = False
        self.records_read = 0  # RECORD messages so far: the sequence number of the last one
        self._states_waiting: list[tuple[int, dict]] = []  # (records read before it, STATE)
        self._state_written: dict | None = None  # the last STATE written (not written twice)

    @cached_property
    def deliverer(self) -> Deliverer:
        """The one Deliverer of this run, shared by every sink."""
        return Deliverer.from_config(self.config, logger=self.logger.getChild("delivery"))

    @cached_property
    def dry_run_writer(self) -> DryRunWriter | None:
        """Where `dry_run` payloads go (None when really sending)."""
        if not self.config.get("dry_run"):
            return None
        path = self.config.get("dry_run_path")
        return DryRunWriter(Path(path) if path else None, self.logger)

    @cached_property
    def pipeline(self) -> LanePipeline:
        """Background delivery of sink batches in identity lanes (see `lanes.py`)."""
        return LanePipeline(self.deliverer, self.deliverer.settings.max_concurrent_requests)

    def _process_record_message(self, message_dict: dict) -> None:
        """Number each record (STATE bookkeeping), then let the SDK route it to its sink."""
        self.records_read += 1
        super()._process_record_message(message_dict)
        if self._states_waiting and not self.records_read % STATE_CHECK_EVERY:
            self._emit_safe_state()

    def _process_batch_message(self, message_dict: dict) -> None:
        """Stream each manifest file's records through the RECORD path (maps, checks, STATE).

        The SDK's default reads a whole file into one sink batch, past our per-record mapping.
        """
        self._assert_line_requires(message_dict, requires={"stream", "encoding", "manifest"})
        stream = message_dict["stream"]
        extra = {"version": message_dict["version"]} if "version" in message_dict else {}
        storage = BatchStorage.from_config(self.config.get("batch_config"))
        for batch_file in files_of(message_dict):
            count = 0
            for record in read_batch_file(batch_file, storage):
                self._process_record_message(
                    {"type": "RECORD", "stream": stream, "record": record, **extra}
                )
                count += 1
            self.logger.info("%s: %d records read", batch_file.where(), count)

    def _process_state_message(self, message_dict: dict) -> None:
        """Remember the STATE with the number of records before it; emit what is safe now."""
        super()._process_state_message(message_dict)
        state: dict = message_dict["value"]
        if self._latest_state is state:  # the SDK ignores a STATE equal to the last one
            self._states_waiting.append((self.records_read, state))
        self._emit_safe_state()

    def _emit_safe_state(self) -> None:
        """Write the newest waiting STATE whose records all finished delivery, if any.

        Lanes may finish out of order: the earliest unfinished record decides. None after a failure.
        """
        earliest = self.pipeline.earliest_unfinished()
        for sink in self._sinks_active.values():
            since = getattr(sink, "open_since", None)
            if since is not None and (earliest is None or since < earliest):
                earliest = since
        safe: dict | None = None
        while self._states_waiting and (earliest is None or self._states_waiting[0][0] < earliest):
            safe = self._states_waiting.pop(0)[1]
        if safe is None or self.pipeline.failure is not None or self.deliverer.failed:
            return
        self._state_written = copy.deepcopy(safe)
        super()._write_state_message(self._state_written)

    def _write_state_message(self, state: dict) -> None:
        """Write STATE only once every batch before it is delivered, and none after a `fail`."""
        self.pipeline.wait()
        self._states_waiting.clear()  # all covered by this one
        if self.deliverer.failed:
            if not self._state_withheld:
                self.logger.error("Records were not delivered: STATE is withheld from here on")
            self._state_withheld = True
            return
        if state == self._state_written:  # already emitted as soon as it was safe
            return
        self._state_written = state
        super()._write_state_message(state)

    def process_endofpipe(self) -> None:
        """Drain, log the delivery summary, and fail the run if records were not delivered."""
        try:
            super().process_endofpipe()
            self.pipeline.wait()
        finally:
            if self.dry_run_writer is not None:
                self.dry_run_writer.close()
            self.deliverer.log_summary()
            self.deliverer.close()
        if self.deliverer.failed:
            raise RecordsNotDeliveredError(self.deliverer.report())
