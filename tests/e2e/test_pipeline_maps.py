"""SDK stream maps and flattening, configured through Meltano, on the tap and on the target."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

import pytest

from amplitude_emulator import PROJECT_B_ID
from tests.e2e import expected

if TYPE_CHECKING:
    from pathlib import Path

    from amplitude_emulator import Emulator
    from tests.e2e.meltano_project import Pipeline

pytestmark = pytest.mark.e2e


def test_tap_stream_maps_and_flattening_shape_the_jsonl_output(
    pipeline: Pipeline, emulator: Emulator
) -> None:
    stream_maps = {
        "events": {
            "__alias__": "signups",
            "__filter__": "event_type == 'Signup'",
            "user_hash": "md5(user_id) if user_id else None",
            "ip_address": "__NULL__",
        }
    }
    pipeline.meltano(
        "run",
        "tap-amplitude--events",
        "target-jsonl",
        env={
            "TAP_AMPLITUDE__EVENTS_STREAM_MAPS": json.dumps(stream_maps),
            "TAP_AMPLITUDE__EVENTS_FLATTENING_ENABLED": "true",
            "TAP_AMPLITUDE__EVENTS_FLATTENING_MAX_DEPTH": "1",
        },
    )

    assert pipeline.jsonl_streams() == {"signups"}
    signups = {record["uuid"]: record for record in pipeline.jsonl("signups")}
    source = [row for row in expected.export_rows(emulator) if row["event_type"] == "Signup"]
    assert set(signups) == {row["uuid"] for row in source}
    for row in source:
        record = signups[row["uuid"]]
        assert "ip_address" not in record
        user_hash = hashlib.md5(row["user_id"].encode()).hexdigest() if row["user_id"] else None  # noqa: S324
        assert record["user_hash"] == user_hash
        # Flattening writes open property bags (no declared keys) as JSON text, one column each.
        for bag in ("event_properties", "user_properties", "group_properties", "plan"):
            if row[bag] is None:  # most real rows have no `plan`: nothing to write as text
                assert record.get(bag) is None
                continue
            assert isinstance(record[bag], str)
            assert json.loads(record[bag]) == row[bag]


ORDERS_SCHEMA = {
    "type": "object",
    "properties": {
        "order_id": {"type": "integer"},
        "created_at": {"type": "string", "format": "date-time"},
        "total": {"type": "number"},
        "email": {"type": ["string", "null"]},
        "customer": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "tier": {"type": "string"}},
        },
    },
}


def _orders_input(path: Path) -> Path:
    """A Singer stream with a declared nested object, as a warehouse tap would send it."""
    lines = [
        {
            "type": "SCHEMA",
            "stream": "orders",
            "schema": ORDERS_SCHEMA,
            "key_properties": ["order_id"],
        }
    ]
    for order_id, total in [(1, 5.0), (2, 42.5), (3, 120.0)]:
        record = {
            "order_id": order_id,
            "created_at": f"2024-03-0{order_id}T10:00:00+00:00",
            "total": total,
            "email": f"buyer{order_id}@example.com",
            "customer": {
                "id": f"customer-{order_id:04d}",
                "tier": "gold" if total > 100 else "silver",
            },
        }
        lines.append({"type": "RECORD", "stream": "orders", "record": record})
    lines.append({"type": "STATE", "value": {"bookmarks": {"orders": {"order_id": 3}}}})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_target_stream_maps_and_flattening_decide_what_reaches_amplitude(
    pipeline: Pipeline, emulator: Emulator, tmp_path: Path
) -> None:
    stream_maps = {
        "orders": {
            "__filter__": "total > 10",
            "email": "__NULL__",
            "total_cents": "int(total * 100)",
        }
    }
    spec = {
        "orders": {
            "object": "event",
            "event_type": {"const": "Order Placed"},
            "user_id": "customer__id",
            "time": "created_at",
        }
    }
    pipeline.meltano(
        "invoke",
        "target-amplitude",
        stdin=_orders_input(tmp_path / "orders.singer"),
        env={
            "TARGET_AMPLITUDE_STREAM_MAPS": json.dumps(stream_maps),
            "TARGET_AMPLITUDE_FLATTENING_ENABLED": "true",
            "TARGET_AMPLITUDE_FLATTENING_MAX_DEPTH": "1",
            "TARGET_AMPLITUDE_STREAMS": json.dumps(spec),
        },
    )

    events = sorted(
        emulator.state.projects[PROJECT_B_ID].ingested_events, key=lambda e: e["user_id"]
    )
    assert [event["user_id"] for event in events] == ["customer-0002", "customer-0003"]
    assert [event["event_properties"] for event in events] == [
        {"order_id": 2, "total": 42.5, "total_cents": 4250, "customer__tier": "silver"},
        {"order_id": 3, "total": 120.0, "total_cents": 12000, "customer__tier": "gold"},
    ]
