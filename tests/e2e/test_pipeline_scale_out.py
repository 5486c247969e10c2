"""Scale-out: concurrent bounded backfills with their own state IDs, and BATCH messages."""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pytest

from tests.e2e import expected

if TYPE_CHECKING:
    from pathlib import Path

    from amplitude_emulator import Emulator
    from tests.e2e.meltano_project import Pipeline

pytestmark = pytest.mark.e2e

START = "2024-03-01T00:00:00+00:00"
SPLIT = "2024-03-02T12:00:00+00:00"
END = "2024-03-04T00:00:00+00:00"


def _range_env(pipeline: Pipeline, name: str, start: str, end: str) -> dict[str, str]:
    return {
        "TAP_AMPLITUDE__EVENTS_START_DATE": start,
        "TAP_AMPLITUDE__EVENTS_END_DATE": end,
        "TARGET_JSONL_DESTINATION_PATH": str(pipeline.workdir / name),
    }


def test_concurrent_disjoint_backfills_add_up_to_one_full_run_without_overlap(
    pipeline: Pipeline, emulator: Emulator
) -> None:
    pipeline.meltano("state", "list")  # creates the shared system DB before two writers race
    runs = [
        pipeline.popen(
            "run",
            f"--state-id-suffix=backfill-{index}",
            "tap-amplitude--events",
            "target-jsonl",
            env=_range_env(pipeline, f"backfill-{index}", start, end),
        )
        for index, (start, end) in enumerate([(START, SPLIT), (SPLIT, END)], start=1)
    ]
    for process, log in runs:
        pipeline.check_finished(process, log)
    pipeline.meltano(
        "run", "tap-amplitude--events", "target-jsonl", env=_range_env(pipeline, "full", START, END)
    )

    first = {r["uuid"] for r in pipeline.jsonl("events", pipeline.workdir / "backfill-1")}
    second = {r["uuid"] for r in pipeline.jsonl("events", pipeline.workdir / "backfill-2")}
    full = [r["uuid"] for r in pipeline.jsonl("events", pipeline.workdir / "full")]
    split = datetime.fromisoformat(SPLIT)
    assert first
    assert second
    assert not first & second
    assert first | second == set(full)
    assert len(first) + len(second) == len(full)
    truth = expected.export_rows(emulator, end=datetime.fromisoformat(END))
    assert {row["uuid"] for row in truth if expected.upload_time(row) < split} == first

    # Each backfill kept its own bookmark (the end of its range), apart from the live pipeline's.
    for index, end in ((1, SPLIT), (2, END)):
        state_id = f"dev:tap-amplitude--events-to-target-jsonl:backfill-{index}"
        state = json.loads(pipeline.meltano("state", "get", state_id).strip().splitlines()[-1])
        bookmark = state["singer_state"]["bookmarks"]["events"]["replication_key_value"]
        assert datetime.fromisoformat(bookmark) == datetime.fromisoformat(end)


def _singer_messages(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_batch_messages_carry_the_same_records_as_record_messages(
    pipeline: Pipeline, emulator: Emulator
) -> None:
    bounded = {"TAP_AMPLITUDE__EVENTS_END_DATE": END}
    record_run = pipeline.workdir / "records.singer"
    pipeline.meltano("invoke", "tap-amplitude--events", env=bounded, stdout=record_run)
    batch_root = pipeline.workdir / "batches"
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": batch_root.as_uri(), "prefix": "events-"},
        "batch_size": 500,
    }
    batch_run = pipeline.workdir / "batches.singer"
    pipeline.meltano(
        "invoke",
        "tap-amplitude--events",
        env={**bounded, "TAP_AMPLITUDE__EVENTS_BATCH_CONFIG": json.dumps(batch_config)},
        stdout=batch_run,
    )

    records = [m["record"] for m in _singer_messages(record_run) if m["type"] == "RECORD"]
    batch_messages = [m for m in _singer_messages(batch_run) if m["type"] == "BATCH"]
    assert not [m for m in _singer_messages(batch_run) if m["type"] == "RECORD"]
    assert len(batch_messages) > 1
    assert {m["encoding"]["format"] for m in batch_messages} == {"jsonl"}
    batched: list[dict[str, Any]] = []
    for message in batch_messages:
        for url in message["manifest"]:
            with gzip.open(urlparse(url).path, "rt") as handle:
                batched.extend(json.loads(line) for line in handle)

    truth = expected.export_rows(emulator, end=datetime.fromisoformat(END))
    assert len(batched) == len(records) == len(truth)
    by_uuid = {record["uuid"]: record for record in records}
    assert {record["uuid"] for record in batched} == set(by_uuid)
    for record in batched:
        assert record == by_uuid[record["uuid"]]
