"""Run TapAmplitude's Dashboard REST streams against the emulator and collect what they emit."""

from __future__ import annotations

import copy
import json
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from io import BytesIO, TextIOWrapper
from typing import TYPE_CHECKING, Any

from amplitude_emulator import API_KEY_A, SECRET_KEY_A
from tap_amplitude.tap import TapAmplitude
from tap_amplitude.user_run import user_run

if TYPE_CHECKING:
    from collections.abc import Iterable

    from amplitude_emulator import Emulator
    from tap_amplitude.throttle import SlidingWindowThrottle

UNLIMITED_PER_HOUR = 10_000_000


def base_config(emulator: Emulator, **overrides: Any) -> dict[str, Any]:
    """Project A on the emulator, seeded-data dates, a quota tests never reach."""
    config: dict[str, Any] = {
        "api_key": API_KEY_A,
        "secret_key": SECRET_KEY_A,
        "api_url": emulator.url,
        "dashboard_start_date": "2024-03-01",
        "dashboard_end_date": "2024-03-03",
        "user_api_max_requests_per_hour": UNLIMITED_PER_HOUR,
    }
    config.update(overrides)
    return config


@dataclass
class Run:
    """Messages of one tap run."""

    messages: list[dict[str, Any]]
    tap: TapAmplitude
    requests: list[Any] = field(default_factory=list)

    def records(self, stream: str) -> list[dict[str, Any]]:
        """RECORD payloads of one stream, in order."""
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    @property
    def final_state(self) -> dict[str, Any]:
        """The last STATE value."""
        states = [m["value"] for m in self.messages if m["type"] == "STATE"]
        return states[-1] if states else {}


def run_tap(
    emulator: Emulator,
    config: dict[str, Any],
    streams: Iterable[str],
    state: dict[str, Any] | None = None,
    throttle: SlidingWindowThrottle | None = None,
) -> Run:
    """Sync only `streams` (parents still run for selected children); log the requests made."""
    tap = TapAmplitude(config=config, state=copy.deepcopy(state or {}), parse_env_config=False)
    wanted = set(streams)
    for stream in tap.streams.values():
        stream.selected = stream.name in wanted
    if throttle is not None:
        user_run(tap).throttle = throttle
    first_request = len(emulator.state.requests)
    out = TextIOWrapper(BytesIO(), encoding="utf-8")
    err = TextIOWrapper(BytesIO(), encoding="utf-8")
    with redirect_stdout(out), redirect_stderr(err):
        tap.sync_all()
    out.seek(0)
    messages = [json.loads(line) for line in out.read().splitlines() if line.strip()]
    return Run(messages, tap, list(emulator.state.requests[first_request:]))


def requests_to(run: Run, path: str) -> list[dict[str, str]]:
    """Query (first values) of each request the run sent to `path`, in order."""
    return [
        {key: values[0] for key, values in logged.query.items()}
        for logged in run.requests
        if logged.path == path
    ]
