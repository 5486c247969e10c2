"""tap-postgres with `batch_config` -> target-amplitude lands what the RECORD pipeline lands (#16).

The warehouse is loaded as in test_pipeline_postgres.py; tap-postgres then sends the CRM users and
the events table once as RECORD messages and once as BATCH messages (gzipped JSON Lines files),
each into an empty project B, and what the emulator stored is compared.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from amplitude_emulator import API_KEY_B, PROJECT_B_ID, SECRET_KEY_B
from amplitude_emulator.state import Project
from tests.e2e import expected
from tests.e2e.test_pipeline_postgres import NOT_RESENDABLE, _load_crm_users

if TYPE_CHECKING:
    from pathlib import Path

    from amplitude_emulator import Emulator
    from tests.e2e.meltano_project import Pipeline
    from tests.e2e.postgres_server import PostgresServer

pytestmark = pytest.mark.e2e

ASSIGNED_ON_ARRIVAL = {"server_upload_time", "amplitude_id"}


def _landed(emulator: Emulator) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Project B's events by insert_id and its profiles, without what arrival assigns."""
    with emulator.state.lock:
        project = emulator.state.projects[PROJECT_B_ID]
        events = [
            {k: v for k, v in event.items() if k not in ASSIGNED_ON_ARRIVAL}
            for event in project.ingested_events
        ]
        profiles = {
            key: {k: v for k, v in profile.items() if k not in ASSIGNED_ON_ARRIVAL}
            for key, profile in project.user_profiles.items()
        }
        emulator.state.projects[PROJECT_B_ID] = Project(PROJECT_B_ID, API_KEY_B, SECRET_KEY_B)
    return sorted(events, key=lambda event: event["insert_id"]), profiles


def test_batch_messages_from_tap_postgres_land_like_record_messages(
    pipeline: Pipeline, emulator: Emulator, postgres: PostgresServer, tmp_path: Path
) -> None:
    postgres.psql("DROP SCHEMA IF EXISTS amplitude CASCADE")
    pipeline.meltano(
        "run",
        "tap-amplitude--warehouse",
        "target-postgres",
        env=postgres.meltano_env("TARGET_POSTGRES"),
    )
    _load_crm_users(postgres)
    tap_env = postgres.meltano_env("TAP_POSTGRES")

    pipeline.meltano("run", "tap-postgres", "target-amplitude", env=tap_env)
    as_records = _landed(emulator)

    batches = tmp_path / "batches"
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": batches.as_uri()},
    }
    log = pipeline.meltano(
        "run",
        "tap-postgres--batch",
        "target-amplitude",
        env={**tap_env, "TAP_POSTGRES__BATCH_BATCH_CONFIG": json.dumps(batch_config)},
    )
    as_batches = _landed(emulator)

    files = sorted(batches.glob("*.json.gz"))
    streams = ("crm-users", "amplitude-events")
    assert {stream for stream in streams for path in files if f"--{stream}-" in path.name} == set(
        streams
    )
    for path in files:
        assert f"BATCH file {path.as_uri()}" in log
    events, profiles = as_batches
    resendable = [
        row for row in expected.export_rows(emulator) if row["event_type"] not in NOT_RESENDABLE
    ]
    assert len(events) == len(resendable)
    assert {"crm-user-0001", "crm-user-0002", "crm-user-0003"} <= set(profiles)
    assert as_batches == as_records
