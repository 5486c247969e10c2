"""Project copy: tap-amplitude (project A) -> target-amplitude (project B), export preset."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import pytest

from amplitude_emulator import PROJECT_B_ID
from amplitude_emulator.data import SERVER_EVENT_NAME
from tests.e2e import expected

if TYPE_CHECKING:
    from amplitude_emulator import Emulator
    from tests.e2e.meltano_project import Pipeline

pytestmark = pytest.mark.e2e

# Amplitude writes these itself; the export preset leaves them out (they cannot be re-sent).
NOT_RESENDABLE = {"$identify", "$groupidentify"}


def test_project_copy_lands_every_event_once_and_a_rerun_adds_no_duplicates(
    pipeline: Pipeline, emulator: Emulator
) -> None:
    source = [
        row for row in expected.export_rows(emulator) if row["event_type"] not in NOT_RESENDABLE
    ]
    assert any(row["event_type"] == SERVER_EVENT_NAME for row in source)

    log = pipeline.meltano("run", "tap-amplitude--events", "target-amplitude")
    assert "Delivery summary for stream 'events'" in log
    copied = list(emulator.state.projects[PROJECT_B_ID].ingested_events)

    assert len(copied) == len(source)
    by_insert_id = {event["insert_id"]: event for event in copied}
    for row in source:
        event = by_insert_id[row.get("$insert_id") or row["uuid"]]
        assert event["event_type"] == row["event_type"]
        assert event.get("user_id") == row["user_id"]
        assert event.get("device_id") == row["device_id"]
        assert event.get("event_properties", {}) == row["event_properties"]
        assert event.get("user_properties", {}) == row["user_properties"]

    # A full re-run (no state: --full-refresh) sends everything again; Amplitude's insert_id
    # dedupe keeps project B at one copy of each event.
    pipeline.meltano("run", "--full-refresh", "tap-amplitude--events", "target-amplitude")
    after = emulator.state.projects[PROJECT_B_ID].ingested_events
    assert len(after) == len(source)
    assert Counter(event["insert_id"] for event in after).most_common(1)[0][1] == 1
