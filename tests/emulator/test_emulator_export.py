"""The emulator's Export API keeps the documented contract (reference b.1, b.2)."""

from __future__ import annotations

import gzip
import io
import json
import re
import zipfile
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import requests

from amplitude_emulator import (
    API_KEY_A,
    API_KEY_B,
    PROJECT_A_ID,
    SECRET_KEY_A,
    SECRET_KEY_B,
    Emulator,
    data,
    export,
)

if TYPE_CHECKING:
    from pathlib import Path

AUTH_A = (API_KEY_A, SECRET_KEY_A)
MEMBER = re.compile(r"(\d+)/(\d+)_(\d{4}-\d{2}-\d{2})_(\d{1,2})#(\d+)\.json\.gz")
RAW_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}")
TIMESTAMP_FIELDS = (
    "event_time",
    "client_event_time",
    "client_upload_time",
    "server_upload_time",
    "server_received_time",
    "processed_time",
    "user_creation_time",
)


def _export(emulator: Emulator, start: str, end: str, auth=AUTH_A) -> requests.Response:
    return requests.get(
        f"{emulator.url}/api/2/export", params={"start": start, "end": end}, auth=auth, timeout=30
    )


def _members(body: bytes) -> dict[str, list[bytes]]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return {
            name: gzip.decompress(archive.read(name)).splitlines()
            for name in archive.namelist()
            if not name.endswith("/")
        }


def _rows(body: bytes) -> list[dict]:
    return [json.loads(line) for lines in _members(body).values() for line in lines if line]


def test_export_hours_are_inclusive_at_both_ends_on_server_upload_time(emulator: Emulator) -> None:
    response = _export(emulator, "20240301T03", "20240301T05")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/zip"
    rows = _rows(response.content)
    hours = {row["server_upload_time"][:13] for row in rows}
    assert hours == {"2024-03-01 03", "2024-03-01 04", "2024-03-01 05"}
    expected = [
        row["uuid"]
        for row in emulator.state.projects[PROJECT_A_ID].export_rows
        if "2024-03-01 03" <= row["server_upload_time"][:13] <= "2024-03-01 05"
    ]
    assert sorted(row["uuid"] for row in rows) == sorted(expected)


def test_export_single_hour_when_start_equals_end(emulator: Emulator) -> None:
    rows = _rows(_export(emulator, "20240302T07", "20240302T07").content)
    assert rows
    assert {row["server_upload_time"][:13] for row in rows} == {"2024-03-02 07"}


def test_export_members_are_named_by_unpadded_hour_and_part_and_not_sorted(
    emulator: Emulator,
) -> None:
    body = _export(emulator, "20240301T00", "20240301T11").content
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = archive.namelist()
    assert names[0] == f"{PROJECT_A_ID}/"
    members = names[1:]
    parsed = [MEMBER.fullmatch(name) for name in members]
    assert all(parsed), members
    assert {match.group(4) for match in parsed if match} >= {"0", "5", "11"}  # no zero padding
    assert any(match.group(5) == "2" for match in parsed if match)  # several parts per hour
    assert members != sorted(members)


def test_export_member_rows_belong_to_the_member_hour(emulator: Emulator) -> None:
    members = _members(_export(emulator, "20240303T20", "20240303T23").content)
    for name, lines in members.items():
        match = MEMBER.fullmatch(name)
        assert match
        for line in lines:
            uploaded = json.loads(line)["server_upload_time"]
            assert uploaded[:10] == match.group(3)
            assert int(uploaded[11:13]) == int(match.group(4))


def test_export_rows_carry_raw_timestamps_and_documented_fields(emulator: Emulator) -> None:
    rows = _rows(_export(emulator, "20240301T00", "20240303T23").content)
    assert len(rows) == len(emulator.state.projects[PROJECT_A_ID].export_rows)
    for row in rows:
        for name in TIMESTAMP_FIELDS:
            if name == "user_creation_time" and row[name] is None:  # the usual real shape
                continue
            assert RAW_TIME.fullmatch(row[name]), (name, row[name])
        assert isinstance(row["amplitude_id"], int)
        assert isinstance(row["event_properties"], dict)
        assert {"uuid", "$insert_id", "device_id", "session_id", "groups", "data", "plan"} <= set(
            row
        )
    assert any(row["user_id"] is None for row in rows)
    assert any(row["session_id"] == -1 for row in rows)
    assert len({row["uuid"] for row in rows}) == len(rows)


REAL_NULL_FIELDS = (
    "$schema",
    "is_attribution_event",
    "user_creation_time",
    "location_lat",
    "location_lng",
    "paying",
    "device_type",
)


def test_export_rows_mostly_have_the_real_all_null_shape(emulator: Emulator) -> None:
    rows = _rows(_export(emulator, "20240301T00", "20240303T23").content)
    real = [row for row in rows if row["user_creation_time"] is None]
    filled = [row for row in rows if row["user_creation_time"] is not None]
    assert len(real) > 2 * len(filled) > 0  # the filled shape is a minority, but present
    for row in real:
        assert all(row[key] is None for key in REAL_NULL_FIELDS), row
        assert row["plan"] in ({}, None)
        assert row["global_user_properties"] in ({}, None)
        assert isinstance(row["amplitude_attribution_ids"], list)
        assert row["data"]["group_first_event"] == {}
        assert row["data"]["group_ids"] == {}
        assert row["data"].get("user_properties_updated", True) is True  # only when true
    assert any(row["amplitude_attribution_ids"] for row in real)
    assert any("user_properties_updated" in row["data"] for row in real)
    for row in filled:
        assert row["plan"] == {"branch": "main", "source": "web", "version": "3"}
        assert isinstance(row["location_lat"], float)
        assert row["$schema"] == 12


def test_export_range_without_rows_is_404_raw_data_files_not_found(emulator: Emulator) -> None:
    hour = data.hour_string(data.EMPTY_HOUR)
    response = _export(emulator, hour, hour)
    assert response.status_code == 404
    assert "Raw data files were not found" in response.text
    before = data.hour_string(data.FIRST_HOUR - timedelta(days=3))
    assert _export(emulator, before, before).status_code == 404


def test_export_empty_project_answers_404(emulator: Emulator) -> None:
    response = _export(emulator, "20240301T00", "20240303T23", auth=(API_KEY_B, SECRET_KEY_B))
    assert response.status_code == 404


def test_export_malformed_or_reversed_range_is_400(emulator: Emulator) -> None:
    for start, end in [
        ("2024-03-01T00", "20240301T01"),
        ("20240301", "20240301T01"),
        ("20240301T00", "20240301T24"),
        ("20240231T00", "20240301T01"),
        ("20240302T00", "20240301T00"),
    ]:
        response = _export(emulator, start, end)
        assert response.status_code == 400, (start, end)
        assert response.json()["error"]["metadata"]["details"]
    missing = requests.get(
        f"{emulator.url}/api/2/export", params={"start": "20240301T00"}, auth=AUTH_A, timeout=30
    )
    assert missing.status_code == 400


def test_export_range_longer_than_365_days_is_400(emulator: Emulator) -> None:
    assert _export(emulator, "20230301T00", "20240301T00").status_code == 400
    assert _export(emulator, "20230303T00", "20240301T23").status_code == 200  # exactly 365 days


def test_export_over_the_size_limit_is_400_and_one_hour_fits(emulator: Emulator) -> None:
    one_hour = _rows(_export(emulator, "20240301T01", "20240301T01").content)
    hour_bytes = sum(len(data.row_bytes(row)) for row in one_hour)
    emulator.state.limits.export_max_bytes = hour_bytes
    assert _export(emulator, "20240301T01", "20240301T01").status_code == 200
    response = _export(emulator, "20240301T00", "20240301T03")
    assert response.status_code == 400
    assert response.json()["error"]["http_code"] == 400


def test_export_requires_basic_auth(emulator: Emulator) -> None:
    unauthenticated = requests.get(
        f"{emulator.url}/api/2/export",
        params={"start": "20240301T00", "end": "20240301T00"},
        timeout=30,
    )
    assert unauthenticated.status_code == 401
    garbled = requests.get(
        f"{emulator.url}/api/2/export",
        params={"start": "20240301T00", "end": "20240301T00"},
        headers={"Authorization": "Basic !!!not-base64"},
        timeout=30,
    )
    assert garbled.status_code == 401
    wrong = _export(emulator, "20240301T00", "20240301T00", auth=(API_KEY_A, "wrong-secret"))
    assert wrong.status_code == 403
    assert wrong.json()["error"]["metadata"]["details"] == "Invalid API Key"
    assert "wrong-secret" not in wrong.text


def test_export_temp_archives_are_deleted_after_sending(emulator: Emulator) -> None:
    for _ in range(3):
        assert _export(emulator, "20240301T00", "20240301T05").status_code == 200
    assert emulator.state.wait_idle()  # requests of earlier tests (slow faults) have ended
    assert emulator.state.temp_dir.is_dir()
    assert list(emulator.state.temp_dir.iterdir()) == []


def test_export_sees_rows_added_for_new_hours(emulator: Emulator) -> None:
    new_hour = data.LAST_HOUR + timedelta(hours=2)
    project = emulator.state.projects[PROJECT_A_ID]
    added = data.add_export_rows(project, new_hour, hours=2, per_hour=7)
    assert len(added) == 14
    rows = _rows(
        _export(
            emulator, data.hour_string(new_hour), data.hour_string(new_hour + timedelta(hours=1))
        ).content
    )
    assert sorted(row["uuid"] for row in rows) == sorted(row["uuid"] for row in added)
    assert (
        _export(
            emulator,
            data.hour_string(data.LAST_HOUR + timedelta(hours=1)),
            data.hour_string(data.LAST_HOUR + timedelta(hours=1)),
        ).status_code
        == 404
    )


def test_export_serves_a_registered_prebuilt_archive(emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "big.zip"
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    written = export.write_archive(
        path, data.synthetic_rows(300, start, per_hour=100), PROJECT_A_ID, rows_per_part=40
    )
    assert written > 300 * 1000
    export.serve_archive(emulator.state, path)
    response = _export(emulator, "20250101T00", "20250101T02")
    assert response.content == path.read_bytes()
    rows = _rows(response.content)
    assert len(rows) == 300
    assert {row["server_upload_time"][:13] for row in rows} == {
        "2025-01-01 00",
        "2025-01-01 01",
        "2025-01-01 02",
    }
    assert path.exists()
    emulator.state.reset()
    assert _export(emulator, "20250101T00", "20250101T02").status_code == 404


def test_seeded_data_is_deterministic_per_seed(emulator: Emulator) -> None:
    first = [row["uuid"] for row in emulator.state.projects[PROJECT_A_ID].export_rows]
    original_seed = emulator.state.seed
    emulator.state.reset()
    assert [row["uuid"] for row in emulator.state.projects[PROJECT_A_ID].export_rows] == first
    emulator.state.reset(seed=99)
    try:
        assert [row["uuid"] for row in emulator.state.projects[PROJECT_A_ID].export_rows] != first
    finally:
        emulator.state.reset(seed=original_seed)
