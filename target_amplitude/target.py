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
from singer_sdk.exceptions import ConfigValidationError, InvalidInputLine
from singer_sdk.helpers.capabilities import PluginCapabilities

from singer_amplitude.settings_checks import SettingsChecks, defaults_never_null, with_reasons
from target_amplitude.amplitude import DEFAULT_REGION, EVENT_PATHS, FORM_PATHS, INGESTION_HOSTS
from target_amplitude.batch_files import BatchStorage, files_of, read_batch_file
from target_amplitude.cohort_sink import CohortJobs, CohortSink
from target_amplitude.delivery.cohort_settings import (
    COHORT_SETTINGS,
    check_cohort_settings,
    cohort_writer_for,
)
from target_amplitude.delivery.deliverer import Deliverer
from target_amplitude.delivery.dry_run import DryRunWriter
from target_amplitude.delivery.errors import RecordsNotDeliveredError
from target_amplitude.delivery.lanes import LanePipeline
from target_amplitude.delivery.settings import PROPERTIES as DELIVERY_PROPERTIES
from target_amplitude.mapping.cohort_spec import parse_cohort_spec
from target_amplitude.mapping.spec_schema import STREAMS_SCHEMA
from target_amplitude.mapping.specs import COHORT, KINDS, resolve_spec, spec_kinds
from target_amplitude.mapping.stream_plan import StreamPlan
from target_amplitude.mapping.timeconv import datetime_to_ms
from target_amplitude.sinks import AmplitudeSink

if TYPE_CHECKING:
    from singer_sdk.helpers.capabilities import CapabilitiesEnum
    from singer_sdk.sinks import Sink

    from target_amplitude.delivery.cohorts import CohortWriter

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


# For the `api_url` description: every path the target posts to under that URL.
INGESTION_PATHS = ", ".join([*EVENT_PATHS.values(), *FORM_PATHS.values()])


class TargetAmplitude(SettingsChecks, Target):
    """Loads Singer records into Amplitude: events, users, devices, groups, mappings, cohorts."""

    name = "target-amplitude"
    package_name = "singer-amplitude"
    #: SDK built-in settings that mean nothing for Amplitude: left out of `--about`, and a
    #: config that sets them is told so.
    IGNORED_SETTINGS: ClassVar[dict[str, str]] = {
        "load_method": "Amplitude has no tables to append to, upsert or overwrite",
        "add_record_metadata": "`_sdc_*` columns would only become event or user properties",
    }
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
            default=DEFAULT_REGION,
            allowed_values=list(INGESTION_HOSTS),
            title="Data region",
            description=f"`us` ({INGESTION_HOSTS['us']}) or `eu` ({INGESTION_HOSTS['eu']}).",
        ),
        th.Property(
            "api_url",
            th.StringType,
            title="API URL override",
            description=(
                f"Base URL of the ingestion APIs ({INGESTION_PATHS}); overrides `region` (for "
                "proxies and the bundled emulator)."
            ),
        ),
        # --- mapping (streams -> object kinds) ------------------------------------------------
        th.Property(
            "streams",
            th.CustomType(STREAMS_SCHEMA),
            title="Stream mappings",
            description=(
                "Stream name or glob (`events_*`) -> mapping spec: `object` (event, user, device, "
                "group, user_mapping, or a list; or cohort: `cohort_id`/`cohort_name`, `id_type`, "
                "`mode` replace/add/remove, `owner`, `published`), Amplitude fields as a record "
                "field path "
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
        # --- delivery (batching, retries, rejected records): defaults and bounds there ------
        *DELIVERY_PROPERTIES,
        # --- cohorts (the `cohort` kind) -------------------------------------------------------
        *COHORT_SETTINGS,
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
    defaults_never_null(config_jsonschema)

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
        try:
            for name in streams:
                spec = resolve_spec(name, streams, self.config.get("default_object"))
                if COHORT in spec_kinds(name, spec):
                    parse_cohort_spec(name, spec)
                    check_cohort_settings(self.config, name)
                else:
                    StreamPlan(name, spec, (), self.fallback_time_ms)
        except ConfigValidationError as exc:
            raise with_reasons(exc) from exc
        self._state_withheld = False
        self.records_read = 0  # RECORD messages so far: the sequence number of the last one
        self._states_waiting: list[tuple[int, dict]] = []  # (records read before it, STATE)
        self._state_written: dict | None = None  # the last STATE written (not written twice)

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        """The SDK's built-in settings, less those this target ignores (`IGNORED_SETTINGS`)."""
        super().append_builtin_config(config_jsonschema)
        for name in cls.IGNORED_SETTINGS:
            config_jsonschema["properties"].pop(name, None)

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
    def cohort_jobs(self) -> CohortJobs:
        """The run's cohort streams: spools, cohort ids, what is not applied yet."""
        return CohortJobs()

    @cached_property
    def cohort_writer(self) -> CohortWriter:
        """Cohort uploads and membership updates (built for the first cohort stream)."""
        return cohort_writer_for(self.config, self.deliverer)

    @property
    def latest_input_state(self) -> dict | None:
        """The newest STATE read from the tap (cohort ids of earlier runs are found in it)."""
        return self._latest_state

    def get_sink_class(self, stream_name: str) -> type[Sink]:
        """`CohortSink` for streams mapped to `cohort`, `AmplitudeSink` for the others."""
        try:
            spec = resolve_spec(
                stream_name, self.config.get("streams"), self.config.get("default_object")
            )
        except ConfigValidationError as exc:
            raise with_reasons(exc) from exc  # the command line prints only listed reasons
        if COHORT in spec_kinds(stream_name, spec):
            check_cohort_settings(self.config, stream_name)
            return CohortSink
        return AmplitudeSink

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
        cohorts_open = self.cohort_jobs.earliest_open()
        if cohorts_open is not None and (earliest is None or cohorts_open < earliest):
            earliest = cohorts_open
        for sink in self._sinks_active.values():
            since = getattr(sink, "open_since", None)
            if since is not None and (earliest is None or since < earliest):
                earliest = since
        safe: dict | None = None
        while self._states_waiting and (earliest is None or self._states_waiting[0][0] < earliest):
            safe = self._states_waiting.pop(0)[1]
        if safe is None or self.pipeline.failure is not None or self.deliverer.failed:
            return
        self._state_written = self.cohort_jobs.with_cohorts(copy.deepcopy(safe))
        super()._write_state_message(self._state_written)

    def _write_state_message(self, state: dict) -> None:
        """Write STATE only once every batch before it is delivered, and none after a `fail`.

        Cohort records still spooled (a `replace` stream before its end) hold it back: it waits
        in `_states_waiting` until they are applied.
        """
        if self.cohort_jobs.any_open():
            return
        state = self.cohort_jobs.with_cohorts(state)
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
            if self._state_written is None and not self.deliverer.failed:
                remembered = self.cohort_jobs.with_cohorts({})
                if remembered:  # no STATE from the tap: still keep the created cohort ids
                    self._state_written = remembered
                    super()._write_state_message(remembered)
        finally:
            if self.dry_run_writer is not None:
                self.dry_run_writer.close()
            self.deliverer.log_summary()
            self.deliverer.close()
            self.cohort_jobs.close()
        if self.deliverer.failed:
            raise RecordsNotDeliveredError(self.deliverer.report())
