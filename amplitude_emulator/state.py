"""Everything the emulator remembers: projects, their data, limits, faults and the request log."""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amplitude_emulator import data
from amplitude_emulator.cohort_store import CohortStore

if TYPE_CHECKING:
    from amplitude_emulator.faults import Fault

# Two projects, so a test can copy project A into project B. Keys are fake and only valid here.
PROJECT_A_ID = 187520
PROJECT_B_ID = 374182
API_KEY_A = "emulator-api-key-a"
SECRET_KEY_A = "emulator-secret-key-a"
API_KEY_B = "emulator-api-key-b"
SECRET_KEY_B = "emulator-secret-key-b"


@dataclass
class Limits:
    """Tunable stand-ins for Amplitude's limits (tests shrink them to reach the edges)."""

    export_max_bytes: int = 4 * 1024**3  # uncompressed bytes per export range; over it -> 400
    export_max_days: int = 365
    useractivity_max_limit: int = 1000
    httpapi_max_events: int = 2000
    httpapi_max_bytes: int = 1024 * 1024
    batch_max_events: int = 2000
    batch_max_bytes: int = 20 * 1024 * 1024
    groupidentify_max_items: int = 1024
    identify_max_items: int = 2000
    usermap_max_items: int = 2000
    eps_cap: float | None = None  # events per second per user/device id; None = unlimited
    eps_window_seconds: float = 30.0
    daily_quota: int | None = None  # events per 24 h per id; None = unlimited
    dedupe_window_seconds: float = 7 * 24 * 3600
    log_request_bodies: bool = True  # benchmarks turn this off so the request log stays small
    identify_max_bytes: int = 1024 * 1024  # undocumented; HTTP V2's figure
    groupidentify_max_bytes: int = 1024 * 1024
    groupidentify_max_properties: int = 1024
    usermap_max_bytes: int = 1024 * 1024
    ack_only: bool = False  # /batch and /2/httpapi only count events (throughput benchmarks)
    silenced_devices: list[str] = field(default_factory=list)  # flagged as spam -> 400 silenced
    # Steady round trip added to every request (held requests overlap: the server is threaded),
    # so tests and benchmarks can run "far away" from Amplitude.
    ingestion_latency_seconds: float = (
        0.0  # /batch, /2/httpapi, /identify, /groupidentify, /usermap
    )
    dashboard_latency_seconds: float = 0.0  # every other API path (Dashboard REST, Export, ...)
    # Export only: time Amplitude spends building an archive before its first byte, fixed plus
    # per MB of zip (on top of dashboard_latency_seconds).
    export_build_seconds: float = 0.0
    export_build_seconds_per_mb: float = 0.0
    # Cohort download (cohort_downloads.py): how long a job stays `JOB INPROGRESS`, the largest
    # cohort answered inline (bigger ones get a 302 to storage), how long a storage link lives,
    # how long the request id stays valid, the monthly quota of cohort requests, and the rate of
    # single-cohort requests (60 per 10 minutes per app; beyond it: 429).
    cohort_job_seconds: float = 0.2
    cohort_inline_max_members: int = 1000
    cohort_link_seconds: float = 60.0
    cohort_request_valid_seconds: float = 7 * 24 * 3600
    cohort_downloads_per_month: int = 500
    cohort_requests_per_window: int = 60
    cohort_request_window_seconds: float = 600.0
    # Taxonomy API (taxonomy.py): cost in flight and per hour (a GET costs 1); how long a
    # taxonomy request is held, so tests can overlap requests.
    taxonomy_max_cost_in_flight: int = 4
    taxonomy_cost_per_hour: int = 7200
    taxonomy_latency_seconds: float = 0.0
    cohort_max_ids: int = 100_000  # ids per cohort upload / membership request; over it -> 400
    cohort_write_seconds: float = 0.0  # how long a cohort write holds the cohort (others: 429)
    cohort_invalid_ids_sample: int = 10  # unmatched ids an upload echoes (size undocumented)


@dataclass
class Project:
    """One Amplitude project: credentials, data to export, and what was ingested into it."""

    project_id: int
    api_key: str
    secret_key: str
    # Export side: rows as Amplitude stores them (raw timestamp strings), keyed by upload hour.
    export_rows: list[dict[str, Any]] = field(default_factory=list)
    event_types: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)  # v2 shape
    annotations_v3: list[dict[str, Any]] = field(default_factory=list)  # the same, v3 shape
    serves_annotations_v3: bool = True  # False: /api/3/annotations answers 404 (v2 only)
    # True: /api/2/sessions/average x-values read `2024-07-01T00:00:00` (a real 2024 capture);
    # False: `2024-07-01`, as older captures and /api/2/users.
    session_x_values_with_time: bool = True
    cohorts: list[dict[str, Any]] = field(default_factory=list)
    cohorts_addon: bool = True  # False: /api/3/cohorts answers 403 (no Behavioral Cohorts add-on)
    cohort_members: CohortStore = field(default_factory=CohortStore)
    cohort_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # request_id -> job
    cohort_links: dict[str, dict[str, Any]] = field(default_factory=dict)  # storage token -> link
    cohort_downloads_used: int = 0  # this month's cohort requests (the 500 quota)
    cohort_request_times: list[float] = field(default_factory=list)  # accepted, for the rate
    # Taxonomy API: Enterprise only (False answers 403); event types listed by /taxonomy/event
    # whose properties answer 400 "Not found" (stale types); cost in flight and sent this hour.
    enterprise: bool = True
    taxonomy_stale_event_types: set[str] = field(default_factory=set)
    taxonomy_in_flight: int = 0
    taxonomy_cost_times: list[float] = field(default_factory=list)
    cohort_busy_until: dict[str, float] = field(default_factory=dict)  # a write in progress
    # Prebuilt zip files served as-is by /api/2/export: (start hour, end hour or "" for any, path).
    export_archives: list[tuple[str, str, str]] = field(default_factory=list)
    # Ingestion side.
    ingested_events: list[dict[str, Any]] = field(default_factory=list)
    seen_insert_ids: dict[tuple[str, str], float] = field(default_factory=dict)
    user_profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # user_id or device_id
    group_profiles: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    user_mappings: dict[str, dict[str, Any]] = field(default_factory=dict)
    id_event_times: dict[str, list[float]] = field(default_factory=dict)  # for EPS / quota
    counters: dict[str, int] = field(default_factory=dict)  # ingestion request/event counts


@dataclass
class LoggedRequest:
    """What the request log keeps of one request (secrets included: it is a test instrument)."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    body_size: int
    at: float
    body: bytes = b""
    received_at: float = 0.0  # when the request arrived (`at` is when its answer was ready)


@dataclass(frozen=True)
class Arrival:
    """A request as it arrives, before any latency or work: for tests of request overlap."""

    method: str
    path: str
    query: dict[str, list[str]]
    at: float


class EmulatorState:
    """All mutable emulator state behind one lock; handlers take `state.lock` when they mutate."""

    def __init__(self, seed: int = 7) -> None:
        self.lock = threading.RLock()
        self.seed = seed
        self.limits = Limits()
        self.projects: dict[int, Project] = {}
        self.faults: list[Fault] = []
        self.requests: list[LoggedRequest] = []
        self.arrivals: list[Arrival] = []
        self.clock_offset = 0.0
        self._in_flight = 0
        self._idle = threading.Condition(self.lock)
        # Archives being served live here, so a test can see that none are left behind.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="amplitude-emulator-"))
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        """Back to freshly seeded data, default limits, no faults and an empty request log."""
        with self.lock:
            if seed is not None:
                self.seed = seed
            self.limits = Limits()
            self.faults.clear()
            self.requests.clear()
            self.arrivals.clear()
            self.clock_offset = 0.0
            self.projects = {
                PROJECT_A_ID: Project(PROJECT_A_ID, API_KEY_A, SECRET_KEY_A),
                # Project B is on a Growth plan: the Enterprise-only Taxonomy API answers 403.
                PROJECT_B_ID: Project(PROJECT_B_ID, API_KEY_B, SECRET_KEY_B, enterprise=False),
            }
            data.seed_project(self.projects[PROJECT_A_ID], self.seed)

    def now(self) -> float:
        """Emulator wall clock (epoch seconds); tests may shift it with `clock_offset`."""
        return time.time() + self.clock_offset

    def project_by_api_key(self, api_key: str | None) -> Project | None:
        """The project whose API key this is."""
        for project in self.projects.values():
            if project.api_key == api_key:
                return project
        return None

    def project_by_credentials(self, api_key: str, secret_key: str) -> Project | None:
        """The project these Basic-auth credentials open, or None."""
        project = self.project_by_api_key(api_key)
        if project is None or project.secret_key != secret_key:
            return None
        return project

    def take_fault(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first armed fault matching this request."""
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def add_fault(self, fault: Fault) -> None:
        """Arm a fault for the next matching requests."""
        with self.lock:
            self.faults.append(fault)

    def request_arrived(self, arrival: Arrival) -> None:
        """Note a request that has arrived and is not answered yet."""
        with self.lock:
            self.arrivals.append(arrival)
            self._in_flight += 1

    def request_finished(self) -> None:
        """The request noted by `request_arrived` has been answered (or its client left)."""
        with self.lock:
            self._in_flight -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no API request is in flight (stragglers of earlier tests finished)."""
        with self.lock:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def log_request(self, entry: LoggedRequest) -> None:
        """Append to the request log."""
        with self.lock:
            self.requests.append(entry)
