"""The `cohort` kind's sink: a stream of ids becomes the members of an Amplitude cohort.

Records are spooled to disk (`delivery/cohort_spool.py`). `add` / `remove` apply each sink batch
(at most `cohort_ids_per_request` records) when it drains; `replace` applies the whole stream once
it has ended (`clean_up`, before the final STATE). Until then `open_since` names the first record
not yet applied, so the target's STATE gate never acknowledges a STATE past it.

A cohort created from `cohort_name` is logged and remembered in STATE under
`bookmarks.<stream>.target_amplitude_cohort` (singer-sdk taps carry a stream's bookmark keys
forward, so the next run reads it back); without that STATE the cohort is found by its name.
"""

from __future__ import annotations

import copy
import threading
from typing import TYPE_CHECKING, Any

from target_amplitude.amplitude import MAX_COHORT_IDS
from target_amplitude.delivery.cohort_spool import IdSpool
from target_amplitude.delivery.cohorts import ADD, REMOVE, CohortNotFoundError, CohortTarget
from target_amplitude.delivery.errors import ConfigurationError
from target_amplitude.delivery.pending import Item
from target_amplitude.mapping.cohort_spec import REPLACE, CohortSpec, parse_cohort_spec
from target_amplitude.mapping.ids import record_key
from target_amplitude.sinks import OwnChecksSink
from target_amplitude.validation.reasons import RecordCheckError

if TYPE_CHECKING:
    from target_amplitude.delivery.cohorts import CohortWriter
    from target_amplitude.target import TargetAmplitude

STATE_KEY = "target_amplitude_cohort"


class CohortJob:
    """One stream's cohort for the run (shared by the stream's sinks if its schema changes)."""

    def __init__(self, spec: CohortSpec) -> None:
        """Nothing spooled, nothing applied, the cohort id as the spec gives it."""
        self.spec = spec
        self.target = CohortTarget(
            spec.stream, spec.cohort_id, spec.cohort_name, spec.id_type, spec.owner, spec.published
        )
        self.spool = IdSpool()
        self.cohort_id = spec.cohort_id
        self.resolved = spec.cohort_id is not None
        self.open_since: int | None = None  # first record number not yet applied
        self.applied = False

    @property
    def lock_key(self) -> str:
        """Streams naming the same cohort share a lock."""
        return self.cohort_id or f"name:{self.spec.cohort_name}"

    def apply(self, writer: CohortWriter, state: dict[str, Any] | None, logger: Any) -> None:
        """Apply what is spooled, per the mode; then forget it."""
        with writer.lock(self.lock_key):
            self._resolve(writer, state, logger)
            try:
                self._write(writer)
            except CohortNotFoundError:
                if self.spec.cohort_id is not None or self.cohort_id is None:
                    raise
                logger.warning(
                    "%s: cohort %s (from STATE or found by name) no longer exists; creating it "
                    "again",
                    self.target.label,
                    self.cohort_id,
                )
                self.cohort_id, self.resolved = None, False
                self._write(writer)
            self.spool.clear()
        if self.cohort_id is not None and self.spec.cohort_id is None and not self.resolved:
            logger.info(
                "Created %s: id %s (kept in STATE; later runs update this cohort)",
                self.target.label,
                self.cohort_id,
            )
        self.resolved = self.resolved or self.cohort_id is not None

    def _resolve(self, writer: CohortWriter, state: dict[str, Any] | None, logger: Any) -> None:
        if self.resolved:
            return
        remembered = remembered_cohort(state, self.spec)
        if remembered is not None:
            logger.info("%s: updating cohort %s (from STATE)", self.target.label, remembered)
            self.cohort_id = remembered
        else:
            found = writer.find_by_name(self.target)
            if found is not None:
                logger.info("%s: updating cohort %s (found by name)", self.target.label, found)
            self.cohort_id = found
        self.resolved = self.cohort_id is not None

    def _write(self, writer: CohortWriter) -> None:
        mode = self.spec.mode
        if mode == REPLACE:
            self.cohort_id = writer.replace(self.target, self.spool, self.cohort_id)
        elif mode == "add":
            self.cohort_id = writer.update(self.target, self.spool, self.cohort_id, ADD)
        elif self.spool.count:
            if self.cohort_id is None:
                raise ConfigurationError(
                    f"{self.target.label}: mode remove needs an existing cohort, and none was "
                    "found in STATE or by name; set `cohort_id`"
                )
            writer.update(self.target, self.spool, self.cohort_id, REMOVE)


def remembered_cohort(state: dict[str, Any] | None, spec: CohortSpec) -> str | None:
    """The cohort id a previous run created for this stream and name, from STATE."""
    bookmarks = (state or {}).get("bookmarks")
    stream_state = bookmarks.get(spec.stream) if isinstance(bookmarks, dict) else None
    entry = stream_state.get(STATE_KEY) if isinstance(stream_state, dict) else None
    if isinstance(entry, dict) and entry.get("cohort_name") == spec.cohort_name:
        cohort_id = entry.get("cohort_id")
        return str(cohort_id) if cohort_id else None
    return None


class CohortJobs:
    """Every cohort job of the run, by stream."""

    def __init__(self) -> None:
        """No jobs yet."""
        self._jobs: dict[str, CohortJob] = {}
        self._lock = threading.Lock()

    def job_for(self, spec: CohortSpec) -> CohortJob:
        """The stream's job, created on first use."""
        with self._lock:
            job = self._jobs.get(spec.stream)
            if job is None:
                job = self._jobs[spec.stream] = CohortJob(spec)
            return job

    def any_open(self) -> bool:
        """Whether records of some cohort stream are read but not applied yet."""
        return any(job.open_since is not None for job in self._jobs.values())

    def earliest_open(self) -> int | None:
        """The first record number not yet applied, over every cohort stream."""
        opened = [job.open_since for job in self._jobs.values() if job.open_since is not None]
        return min(opened) if opened else None

    def with_cohorts(self, state: dict[str, Any]) -> dict[str, Any]:
        """STATE plus the ids of cohorts created or found by name (for the next run)."""
        named = [j for j in self._jobs.values() if j.spec.cohort_name and j.cohort_id]
        if not named:
            return state
        state = copy.deepcopy(state)
        bookmarks = state.setdefault("bookmarks", {})
        for job in named:
            bookmarks.setdefault(job.spec.stream, {})[STATE_KEY] = {
                "cohort_name": job.spec.cohort_name,
                "cohort_id": job.cohort_id,
            }
        return state

    def close(self) -> None:
        """Delete the spools."""
        for job in self._jobs.values():
            job.spool.close()


class CohortSink(OwnChecksSink):
    """Spools a cohort stream's member ids and applies them per the stream's mode."""

    def compile_spec(self, target: TargetAmplitude) -> None:
        """Parse the cohort spec; the stream's job outlives this sink if the schema changes."""
        self.cohort = parse_cohort_spec(self.stream_name, self.stream_spec())
        self.writer = target.cohort_writer
        self.job = target.cohort_jobs.job_for(self.cohort)

    @property
    def max_size(self) -> int:
        """Records per sink batch: one membership request's worth (`cohort_ids_per_request`)."""
        if self.batch_size_rows is not None:
            return self.batch_size_rows
        writer = getattr(self, "writer", None)
        return writer.ids_per_request if writer is not None else MAX_COHORT_IDS

    @property
    def open_since(self) -> int | None:
        """The first record number of this stream not yet applied (the STATE gate reads it)."""
        return self.job.open_since

    def start_batch(self, context: dict) -> None:
        """Count the batch's records."""
        context["record_count"] = 0

    def process_record(self, record: dict, context: dict) -> None:
        """Spool the record's member id (or reject the record if it has none)."""
        self._position += 1
        context["record_count"] += 1
        job = self.job
        if job.open_since is None:
            job.open_since = self._target.records_read
        key = record_key(record, self.key_properties, self._position)
        try:
            member_id = self.cohort.member_id(record)
        except RecordCheckError as problem:
            self._target.deliverer.reject(
                Item({}, record, self.stream_name, key),
                problem.reason,
                f"cohort field '{problem.field}': {problem.detail}",
            )
            return
        job.spool.append(member_id, key, record)

    def _apply(self) -> None:
        """Apply the spooled members (in `dry_run`: write them out and send nothing)."""
        dry_run = self._target.dry_run_writer
        if dry_run is None:
            self.job.apply(self.writer, self._target.latest_input_state, self.logger)
            return
        spool, spec = self.job.spool, self.cohort
        for chunk in spool.chunks(self.writer.ids_per_request):
            items = [
                Item(
                    {"cohort": spec.cohort_id or spec.cohort_name, "mode": spec.mode, "id": member},
                    record,
                    self.stream_name,
                    key,
                )
                for member, offsets in chunk.offsets.items()
                for key, record in spool.entries(offsets[:1])
            ]
            dry_run.write("cohort", items)
        spool.clear()

    def process_batch(self, context: dict) -> None:
        """`add` / `remove`: apply the batch now. `replace`: wait for the end of the stream."""
        if self.cohort.mode != REPLACE:
            self._apply()
            self._target.deliverer.dead_letters.sync()
            self.job.open_since = None
        self.tally_record_written(context["record_count"])

    def clean_up(self) -> None:
        """`replace`: the stream has ended; make the cohort's members exactly its ids."""
        job = self.job
        if self.cohort.mode == REPLACE and not job.applied:
            job.applied = True
            self._apply()
            self._target.deliverer.dead_letters.sync()
            job.open_since = None
        super().clean_up()
