"""Delivery test helpers: a fake clock, Deliverers aimed at the emulator, hand-built Items."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from amplitude_emulator.state import API_KEY_B, PROJECT_B_ID
from target_amplitude.delivery.deliverer import Deliverer
from target_amplitude.delivery.http import AmplitudeClient
from target_amplitude.delivery.pending import Item
from target_amplitude.delivery.settings import DeliverySettings

if TYPE_CHECKING:
    from pathlib import Path

    from amplitude_emulator import Emulator

BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps (no real waiting).

    When given the emulator, its clock moves too, so server-side EPS windows slide along.
    """

    def __init__(self, emulator: Emulator | None = None) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._emulator = emulator

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self._emulator is not None:
            self._emulator.state.clock_offset += seconds


def make_deliverer(
    emulator: Emulator, tmp_path: Path, clock: FakeClock | None = None, **settings: Any
) -> Deliverer:
    """A Deliverer for project B of the emulator, on a fake clock, dead letters under tmp_path."""
    clock = clock or FakeClock()
    settings.setdefault("dead_letter_path", str(tmp_path / "dead_letters.jsonl"))
    config = DeliverySettings(**settings)
    client = AmplitudeClient(
        API_KEY_B,
        api_url=emulator.url,
        event_endpoint=config.event_endpoint,
        min_id_length=config.min_id_length,
        timeout=config.request_timeout,
    )
    return Deliverer(config, client, sleep=clock.sleep, clock=clock.time)


def event_item(index: int, user: str | None = None, stream: str = "events", **extra: Any) -> Item:
    """One valid event with a deterministic insert_id; `extra` overrides payload fields."""
    payload: dict[str, Any] = {
        "event_type": "Order Completed",
        "user_id": user or f"user-{index % 50:04d}",
        "time": BASE_MS + index,
        "insert_id": f"ins-{index:07d}",
        "event_properties": {"n": index},
    }
    payload.update(extra)
    payload = {key: value for key, value in payload.items() if value is not None}
    return Item(payload=payload, record={"id": index}, stream=stream, key=f"id={index}")


def identify_item(index: int, **extra: Any) -> Item:
    payload: dict[str, Any] = {
        "user_id": f"user-{index:05d}",
        "user_properties": {"$set": {"n": index}},
    }
    payload.update(extra)
    return Item(payload=payload, record={"id": index}, stream="users", key=f"id={index}")


def stored_events(emulator: Emulator) -> list[dict[str, Any]]:
    with emulator.state.lock:
        return list(emulator.state.projects[PROJECT_B_ID].ingested_events)


def stored_insert_ids(emulator: Emulator) -> list[str]:
    return [event["insert_id"] for event in stored_events(emulator)]


def posted_bodies(emulator: Emulator, path: str) -> list[tuple[int, bytes]]:
    """(status, body) of every request to `path`, in order."""
    with emulator.state.lock:
        return [(r.status, r.body) for r in emulator.state.requests if r.path == path]


def posted_insert_ids(emulator: Emulator, path: str = "/batch") -> list[list[str]]:
    """The insert_ids each request to an events endpoint carried, in order."""
    return [
        [event["insert_id"] for event in json.loads(body)["events"]]
        for _, body in posted_bodies(emulator, path)
    ]


def dead_letters(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "dead_letters.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]
