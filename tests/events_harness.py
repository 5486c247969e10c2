"""Run the tap's `events` stream in-process against the emulator; read what it printed."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from amplitude_emulator.faults import Fault
from amplitude_emulator.state import API_KEY_A, PROJECT_A_ID, SECRET_KEY_A
from tap_amplitude.tap import TapAmplitude

if TYPE_CHECKING:
    from pathlib import Path

    from amplitude_emulator import Emulator

EXPORT_PATH = "/api/2/export"


def base_config(emulator: Emulator, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "api_key": API_KEY_A,
        "secret_key": SECRET_KEY_A,
        "api_url": emulator.url,
        "start_date": "2024-03-01T00:00:00Z",
        "end_date": "2024-03-04T00:00:00Z",
        "export_max_tries": 3,
        "export_temp_dir": str(tmp_path),
    }
    config.update(overrides)
    return config


@dataclass
class Run:
    """What one tap run printed, split by message type, and how it ended."""

    messages: list[dict[str, Any]]
    error: BaseException | None
    logs: str = ""
    records: list[dict[str, Any]] = field(init=False)
    states: list[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.records = [m["record"] for m in self.messages if m["type"] == "RECORD"]
        self.states = [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def bookmarks(self) -> list[str | None]:
        return [
            s.get("bookmarks", {}).get("events", {}).get("replication_key_value")
            for s in self.states
        ]

    def committed_records(self) -> list[dict[str, Any]]:
        """Records a target would keep: those before the last STATE message."""
        kept: list[dict[str, Any]] = []
        pending: list[dict[str, Any]] = []
        for message in self.messages:
            if message["type"] == "RECORD":
                pending.append(message["record"])
            elif message["type"] == "STATE":
                kept.extend(pending)
                pending = []
        return kept


def run_tap(
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    tap_class: type[TapAmplitude] = TapAmplitude,
    survive: type[BaseException] = Exception,
    deselect: tuple[str, ...] = (),
) -> Run:
    """Sync only `events` in-process, capturing stdout and the tap's log.

    An exception of type `survive` ends the run like a crash would; it is kept in `Run.error`
    and everything printed before it is kept too.
    """
    catalog = events_only_catalog(tap_class, config, deselect)
    tap = tap_class(config=config, state=state, catalog=catalog, parse_env_config=False)
    return sync_in_process(tap, survive)


def sync_in_process(tap: TapAmplitude, survive: type[BaseException] = Exception) -> Run:
    """Run `tap.sync_all()` with stdout and the log captured; an exception of type `survive` is
    kept in `Run.error`, with everything printed before it."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    log_buffer = io.StringIO()
    handler = logging.StreamHandler(log_buffer)
    root = logging.getLogger()
    root.addHandler(handler)
    error: BaseException | None = None
    try:
        with contextlib.redirect_stdout(out):
            try:
                tap.sync_all()
            except survive as exc:
                error = exc
            out.flush()
    finally:
        root.removeHandler(handler)
    lines = out.buffer.getvalue().decode("utf-8").splitlines()
    return Run([json.loads(line) for line in lines if line.strip()], error, log_buffer.getvalue())


def events_only_catalog(
    tap_class: type[TapAmplitude], config: dict[str, Any], deselect: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The discovered catalog with only `events` selected, minus the `deselect` properties."""
    catalog = tap_class(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        is_events = entry["tap_stream_id"] == "events"
        for item in entry["metadata"]:
            breadcrumb = tuple(item["breadcrumb"])
            if not breadcrumb:
                item["metadata"]["selected"] = is_events
            elif is_events and breadcrumb[-1] in deselect:
                item["metadata"]["selected"] = False
    return catalog


def seeded_rows(emulator: Emulator) -> list[dict[str, Any]]:
    return emulator.state.projects[PROJECT_A_ID].export_rows


def export_params(emulator: Emulator) -> list[tuple[str, str]]:
    return [
        (r.query["start"][0], r.query["end"][0])
        for r in emulator.state.requests
        if r.path == EXPORT_PATH
    ]


def arm(emulator: Emulator, **fault: Any) -> None:
    emulator.state.add_fault(Fault(path=EXPORT_PATH, **fault))
