"""Shared pieces of the BATCH message tests: rows, Singer lines, and what the emulator stored."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tests.amplitude_target_runs import project_b

if TYPE_CHECKING:
    from amplitude_emulator import Emulator

T0_MS = 1_714_557_600_000
STREAMS = {
    "clicks": {"event_type": "Clicked {button}", "time": "at"},
    "crm": {"object": "user"},
}
MAPS = {"clicks": {"button": "button.upper()", "source": "'batch-test'"}}


def clicks(count: int, start: int = 0) -> list[dict[str, Any]]:
    """Click rows with ids start..start+count-1 over seven users and three buttons."""
    return [
        {"id": n, "user_id": f"user-{n % 7:05d}", "at": T0_MS + n, "button": f"b{n % 3}"}
        for n in range(start, start + count)
    ]


def batch(
    stream: str, manifest: list[str], compression: str | None = "gzip", file_format: str = "jsonl"
) -> dict[str, Any]:
    """A BATCH message naming the manifest's files."""
    return {
        "type": "BATCH",
        "stream": stream,
        "encoding": {"format": file_format, "compression": compression},
        "manifest": manifest,
    }


def lines(*messages: dict[str, Any]) -> str:
    """Singer messages as input lines."""
    return "".join(json.dumps(message) + "\n" for message in messages)


def stored(emulator: Emulator) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Events by insert_id, and the user profiles (without what the server assigns on arrival)."""
    assigned = {"server_upload_time", "amplitude_id"}
    events = [
        {k: v for k, v in event.items() if k not in assigned}
        for event in project_b(emulator).ingested_events
    ]
    profiles = {
        key: {k: v for k, v in profile.items() if k not in assigned}
        for key, profile in project_b(emulator).user_profiles.items()
    }
    return sorted(events, key=lambda e: e["insert_id"]), profiles


def states(stdout: str) -> list[dict[str, Any]]:
    """The STATE values the target wrote (one JSON object per line)."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]
