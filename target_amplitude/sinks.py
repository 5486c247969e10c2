"""One BatchSink per stream: build and check payloads per record, hand each batch to the Deliverer.

The sink batch (`batch_size_rows`, default 10,000) is handed over whole; the Deliverer splits it
into requests within each endpoint's count and byte caps. `process_batch` returns only once the
Deliverer has every item acknowledged or handled under policy, so no STATE ever covers an
undelivered record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.sinks import BatchSink

from singer_amplitude.settings_checks import with_reasons
from target_amplitude.amplitude import IDENTIFY_EVENT_TYPES
from target_amplitude.delivery.pending import Item
from target_amplitude.mapping.ids import record_key
from target_amplitude.mapping.specs import resolve_spec
from target_amplitude.mapping.stream_plan import ENDPOINT_ORDER, StreamPlan, checks_for
from target_amplitude.validation.checker import Checker
from target_amplitude.validation.name_limits import counter_for
from target_amplitude.validation.reasons import RecordCheckError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from singer_sdk.helpers._typing import DatetimeErrorTreatmentEnum
    from singer_sdk.sinks.core import BaseJSONSchemaValidator

    from target_amplitude.target import TargetAmplitude


LANE_FILL = 0.9  # share of a full request per lane in one sink batch


class OwnChecksSink(BatchSink):
    """Base of the target's sinks: its own mapping and checks replace the SDK's per-record work.

    The SDK's JSON-schema validation and date-time parsing would cost ~10x the rest of the
    record path and check nothing Amplitude needs that the mapping does not check already.
    """

    def __init__(
        self,
        target: TargetAmplitude,
        stream_name: str,
        schema: dict,
        key_properties: Sequence[str] | None,
    ) -> None:
        """Set up the SDK's sink, then compile the stream's spec (`compile_spec`)."""
        super().__init__(target, stream_name, schema, key_properties)
        self._target = target
        self._position = 0  # records this sink has read
        try:
            self.compile_spec(target)
        except ConfigValidationError as exc:
            raise with_reasons(exc) from exc  # the command line prints only listed reasons

    def compile_spec(self, target: TargetAmplitude) -> None:
        """Read the stream's entry of `streams` into what each record needs (per kind of sink)."""
        raise NotImplementedError

    @property
    def include_sdc_metadata_properties(self) -> bool:
        """Never: `_sdc_*` columns would only become Amplitude properties (see IGNORED_SETTINGS)."""
        return False

    def stream_spec(self) -> Any:
        """The stream's entry of the `streams` setting (or `default_object`)."""
        return resolve_spec(
            self.stream_name, self.config.get("streams"), self.config.get("default_object")
        )

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        """JSON-schema validation only when `validate_records` is set (default off)."""
        if self.config["validate_records"]:
            return super().get_validator()
        return None

    def _parse_timestamps_in_record(
        self, record: dict, schema: dict, treatment: DatetimeErrorTreatmentEnum
    ) -> None:
        """Leave time strings alone: the mapping turns the ones it uses into epoch ms."""


class AmplitudeSink(OwnChecksSink):
    """Maps one stream's records to Amplitude payloads (events, identifies, groups, mappings)."""

    MAX_SIZE_DEFAULT = 10_000

    def compile_spec(self, target: TargetAmplitude) -> None:
        """Compile the stream's mapping once; per record only the compiled plan runs."""
        spec = self.stream_spec()
        self.plan = StreamPlan(self.stream_name, spec, self.key_properties, target.fallback_time_ms)
        self.checker = Checker(min_id_length=self.config.get("min_id_length"))
        self._checks = checks_for(self.checker)
        self.skipped_records = 0
        self.open_since: int | None = None  # first record number of the batch being read
        self._spec = spec
        self._names = counter_for(target, self.logger.warning)
        self._reported_skips: set[str] = set()
        self._lane_rows = self._rows_for_lanes()

    def _rows_for_lanes(self) -> int | None:
        """Sink batch rows that fill about one request per lane (None: one lane, the default).

        A batch is split over the lanes by identity hash; ~90% of a request per lane keeps each
        lane's share under the cap (no tails), so requests stay near the minimum.
        """
        deliverer = self._target.deliverer
        lanes = deliverer.settings.max_concurrent_requests
        if lanes == 1 or not self.plan.steps:
            return None
        cap = min(deliverer.caps(step.plan.endpoint)[0] for step in self.plan.steps)
        return max(1, int(lanes * cap * LANE_FILL))

    @property
    def max_size(self) -> int:
        """Rows per sink batch: `batch_size_rows` when set, else sized for the lanes."""
        if self.batch_size_rows is not None:
            return self.batch_size_rows
        return getattr(self, "_lane_rows", None) or self.MAX_SIZE_DEFAULT

    def start_batch(self, context: dict) -> None:
        """Per-endpoint queues for this batch."""
        context["items"] = {endpoint: [] for endpoint in ENDPOINT_ORDER}
        context["record_count"] = 0
        context["first_seq"] = None  # the target-wide number of the batch's first record

    def process_record(self, record: dict, context: dict) -> None:
        """Build every payload of the record; queue the good ones, reject the bad ones now."""
        self._position += 1
        if not context["record_count"]:
            context["first_seq"] = self.open_since = self._target.records_read
        context["record_count"] += 1
        plan = self.plan
        checks = self._checks
        key = record_key(record, plan.key_properties, self._position)
        identity = plan.identity(record)
        queues = context["items"]
        for step in plan.steps:
            kind_plan = step.plan
            payload: dict[str, Any] | None = None
            try:
                payload = kind_plan.build(record, identity)
                if payload is None:
                    self.skipped_records += 1
                    continue
                checks[kind_plan.kind](payload)
            except RecordCheckError as problem:
                self._reject(kind_plan.kind, payload, record, key, problem)
                continue
            self._names.count_payload(kind_plan.endpoint, payload, self.stream_name, self._spec)
            queues[kind_plan.endpoint].append(Item(payload, record, self.stream_name, key))
            for derived in step.derived:
                extra: dict[str, Any] | None = None
                try:
                    extra = derived.build(record, identity, payload)
                    checks[derived.kind](extra)
                except RecordCheckError as problem:
                    self._reject(derived.kind, extra, record, key, problem)
                    continue
                queues[derived.endpoint].append(Item(extra, record, self.stream_name, key))

    def _reject(
        self,
        kind: str,
        payload: dict[str, Any] | None,
        record: dict,
        key: str,
        problem: RecordCheckError,
    ) -> None:
        """Hand a record that failed mapping or checks to the `on_rejected` policy."""
        item = Item(payload or {}, record, self.stream_name, key)
        detail = f"{kind} field '{problem.field}': {problem.detail}"
        self._target.deliverer.reject(item, problem.reason, detail)

    def _report_skips(self, deliverer: Any) -> None:
        """Skipped rows per event type: in the summary, and a warning for identify rows."""
        skipped: dict[str, int] = {}
        for step in self.plan.steps:
            skipped.update(step.plan.skipped)
        deliverer.run_summary.set_skipped(self.stream_name, skipped)
        self.logger.info(
            "Stream '%s': %d records skipped by skip_event_types so far: %s",
            self.stream_name,
            self.skipped_records,
            skipped,
        )
        for event_type in IDENTIFY_EVENT_TYPES:
            if event_type in skipped and event_type not in self._reported_skips:
                self._reported_skips.add(event_type)
                self.logger.warning(
                    "Stream '%s': %s rows are counted and not replayed (Amplitude writes them "
                    "itself); the property changes they record reach the destination only "
                    "through the user_properties of the copied events. Count in the delivery "
                    "summary under 'skipped'.",
                    self.stream_name,
                    event_type,
                )

    def process_batch(self, context: dict) -> None:
        """Hand the batch over: identifies, then groups and mappings, then events.

        Delivery runs on the target's lanes (one per identity hash, each in submission order)
        while the next batch is read; a STATE is written once every record before it finished.
        """
        queues: dict[str, list[Item]] = context["items"]
        record_count: int = context["record_count"]
        deliverer = self._target.deliverer
        if self.skipped_records:
            self._report_skips(deliverer)
        dry_run = self._target.dry_run_writer
        if dry_run is not None:
            for endpoint in ENDPOINT_ORDER:
                if queues[endpoint]:
                    dry_run.write(endpoint, queues[endpoint])
            deliverer.deliver(ENDPOINT_ORDER[0], [])  # makes dead letters durable; sends nothing
            self.tally_record_written(record_count)
            return

        first_seq = context["first_seq"]
        self.open_since = None
        self._target.pipeline.submit_batch(
            queues,
            ENDPOINT_ORDER,
            self._target.records_read + 1 if first_seq is None else first_seq,
            lambda: self.tally_record_written(record_count),
        )
