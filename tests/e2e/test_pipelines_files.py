"""`meltano run tap-amplitude target-jsonl` / `target-duckdb` against the emulator (issue #7)."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import pytest

from amplitude_emulator import PROJECT_A_ID
from amplitude_emulator.data import HEAVY_USER_ID, add_export_rows
from tests.e2e import expected

if TYPE_CHECKING:
    from amplitude_emulator import Emulator
    from tests.e2e.meltano_project import Pipeline

pytestmark = pytest.mark.e2e

ALL_STREAMS = {
    "events",
    "event_types",
    "annotations",
    "cohorts",
    "active_users",
    "average_session_length",
    "user_search",
    "user_activity",
    "user_profiles",
    "cohort_members",
    "taxonomy_categories",
    "taxonomy_events",
    "taxonomy_event_properties",
    "taxonomy_user_properties",
    "taxonomy_group_properties",
}
DEV_DAYS = 7  # meltano.yml dev: start_date 2024-03-01, dashboard_end_date 2024-03-07


def _by_uuid(records: list[dict]) -> dict[str, dict]:
    return {record["uuid"]: record for record in records}


def test_every_stream_lands_in_jsonl_with_the_emulators_row_counts(
    pipeline: Pipeline, emulator: Emulator
) -> None:
    log = pipeline.meltano("run", "tap-amplitude", "target-jsonl")

    assert pipeline.jsonl_streams() == ALL_STREAMS
    # Progress lines: the planned hours, then one line per export window.
    assert re.search(r"Exporting hours \S+\.\.\S+ in windows of up to 24 h", log)
    windows = re.findall(r"Window \S+: (\d+) events from \d+ archive members", log)
    assert sum(int(count) for count in windows) == len(expected.export_rows(emulator))
    rows = expected.export_rows(emulator)
    events = pipeline.jsonl("events")
    assert len(events) == len(rows)
    assert {event["uuid"] for event in events} == {row["uuid"] for row in rows}
    for stream, path, key in [
        ("event_types", "/api/2/events/list", "data"),
        ("annotations", "/api/3/annotations", "data"),
        ("cohorts", "/api/3/cohorts", "cohorts"),
    ]:
        assert len(pipeline.jsonl(stream)) == len(expected.dashboard_list(emulator, path, key))
    for stream in ("active_users", "average_session_length"):
        days = [record["date"] for record in pipeline.jsonl(stream)]
        assert days == [f"2024-03-0{day}" for day in range(1, DEV_DAYS + 1)]
    members = pipeline.jsonl("cohort_members")  # meltano.yml dev: cohort_ids [c0h0rt01]
    assert sorted(m["amplitude_id"] for m in members) == sorted(
        m.amplitude_id
        for m in emulator.state.projects[PROJECT_A_ID].cohort_members.members("c0h0rt01")
    )
    heavy_rows = [row for row in rows if row["user_id"] == HEAVY_USER_ID]
    activity = pipeline.jsonl("user_activity")
    assert {event["uuid"] for event in activity} == {row["uuid"] for row in heavy_rows}
    assert [profile["user_id"] for profile in pipeline.jsonl("user_profiles")] == [HEAVY_USER_ID]


def test_nested_event_properties_survive_the_jsonl_file_unchanged(
    pipeline: Pipeline, emulator: Emulator
) -> None:
    pipeline.meltano("run", "tap-amplitude", "target-jsonl")

    written = _by_uuid(pipeline.jsonl("events"))
    nested_rows = [
        row
        for row in expected.export_rows(emulator)
        if any(isinstance(value, (dict, list)) for value in row["event_properties"].values())
    ]
    assert nested_rows, "the seeded data set has nested event properties"
    for row in nested_rows:
        record = written[row["uuid"]]
        for bag in ("event_properties", "user_properties", "group_properties", "groups"):
            assert record[bag] == row[bag], (row["uuid"], bag)


def test_duckdb_warehouse_holds_every_stream_with_the_jsonl_row_counts(
    pipeline: Pipeline, emulator: Emulator
) -> None:
    pipeline.meltano("run", "tap-amplitude", "target-jsonl")
    pipeline.meltano("run", "tap-amplitude--warehouse", "target-duckdb")

    tables = pipeline.duckdb(
        "select table_name from information_schema.tables where table_schema = 'amplitude'"
    )
    assert {table for (table,) in tables} == ALL_STREAMS
    for stream in ALL_STREAMS:
        (count,) = pipeline.duckdb(f'select count(*) from amplitude."{stream}"')[0]  # noqa: S608
        assert count == len(pipeline.jsonl(stream)), stream
    row = next(
        r
        for r in expected.export_rows(emulator)
        if isinstance(r["event_properties"].get("experiment"), dict)
    )
    query = f"select event_properties from amplitude.events where uuid = '{row['uuid']}'"  # noqa: S608
    (stored,) = pipeline.duckdb(query)[0]
    assert json.loads(stored) == row["event_properties"]


def test_second_run_is_incremental_and_adds_only_the_new_hours(
    pipeline: Pipeline, emulator: Emulator
) -> None:
    first_end = datetime(2024, 3, 4, tzinfo=timezone.utc)
    select_events = {"TAP_AMPLITUDE__SELECT": '["events.*"]'}
    pipeline.meltano(
        "run",
        "tap-amplitude",
        "target-jsonl",
        env={**select_events, "TAP_AMPLITUDE_END_DATE": first_end.isoformat()},
    )
    first = pipeline.jsonl("events")
    assert len(first) == len(expected.export_rows(emulator, end=first_end))

    # Time passes: two new upload hours arrive after the first run's last complete hour.
    added = add_export_rows(
        emulator.state.projects[PROJECT_A_ID], first_end, hours=2, per_hour=10, seed=3
    )
    emulator.state.requests.clear()
    pipeline.meltano(
        "run",
        "tap-amplitude",
        "target-jsonl",
        env={**select_events, "TAP_AMPLITUDE_END_DATE": "2024-03-04T02:00:00+00:00"},
    )

    events = pipeline.jsonl("events")
    assert len(events) == len(first) + len(added)
    assert Counter(event["uuid"] for event in events).most_common(1)[0][1] == 1
    assert {event["uuid"] for event in events[len(first) :]} == {row["uuid"] for row in added}
    export_starts = [
        request.query["start"][0]
        for request in emulator.state.requests
        if request.path == "/api/2/export"
    ]
    assert export_starts, "the second run asked the Export API again"
    assert min(export_starts) >= "20240304T00"
