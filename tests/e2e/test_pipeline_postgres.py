"""Warehouse round trip on a real PostgreSQL server (issue #7).

tap-amplitude -> target-postgres loads project A into the warehouse; tap-postgres ->
target-amplitude then syncs a CRM users table and the warehouse's events table into project B.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from amplitude_emulator import PROJECT_B_ID
from tests.e2e import expected

if TYPE_CHECKING:
    from amplitude_emulator import Emulator
    from tests.e2e.meltano_project import Pipeline
    from tests.e2e.postgres_server import PostgresServer

pytestmark = pytest.mark.e2e

NOT_RESENDABLE = {"$identify", "$groupidentify"}
CRM_USERS = [
    ("crm-user-0001", "enterprise", 12, True),
    ("crm-user-0002", "starter", 3, False),
    ("crm-user-0003", "growth", 7, True),
]


def _load_crm_users(postgres: PostgresServer) -> None:
    rows = ", ".join(
        f"('{user_id}', '{plan}', {seats}, {str(active).lower()})"
        for user_id, plan, seats, active in CRM_USERS
    )
    postgres.psql(
        "DROP SCHEMA IF EXISTS crm CASCADE; CREATE SCHEMA crm; "
        "CREATE TABLE crm.users (user_id text PRIMARY KEY, plan text, seats integer, "
        "active boolean);"
    )
    postgres.psql(f"INSERT INTO crm.users VALUES {rows}")  # noqa: S608  fixed test values


def test_amplitude_to_postgres_and_back_into_another_project(
    pipeline: Pipeline, emulator: Emulator, postgres: PostgresServer
) -> None:
    postgres.psql("DROP SCHEMA IF EXISTS amplitude CASCADE")
    rows = expected.export_rows(emulator)

    pipeline.meltano(
        "run",
        "tap-amplitude--warehouse",
        "target-postgres",
        env=postgres.meltano_env("TARGET_POSTGRES"),
    )

    tables = {
        name
        for (name,) in postgres.psql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'amplitude'"
        )
    }
    assert {"events", "event_types", "user_activity", "active_users"} <= tables
    ((count,),) = postgres.psql("SELECT count(*) FROM amplitude.events")
    assert int(count) == len(rows)
    nested = next(
        row for row in rows if isinstance(row["event_properties"].get("experiment"), dict)
    )
    ((stored,),) = postgres.psql(
        f"SELECT event_properties FROM amplitude.events WHERE uuid = '{nested['uuid']}'"  # noqa: S608
    )
    assert json.loads(stored) == nested["event_properties"]

    _load_crm_users(postgres)
    pipeline.meltano(
        "run", "tap-postgres", "target-amplitude", env=postgres.meltano_env("TAP_POSTGRES")
    )

    project_b = emulator.state.projects[PROJECT_B_ID]
    for user_id, plan, seats, active in CRM_USERS:
        properties = project_b.user_profiles[user_id]["user_properties"]
        assert properties["plan"] == plan
        assert properties["seats"] == seats
        assert properties["active"] is active
    resendable = [row for row in rows if row["event_type"] not in NOT_RESENDABLE]
    ingested = project_b.ingested_events
    assert len(ingested) == len(resendable)
    assert {event["insert_id"] for event in ingested} == {
        row.get("$insert_id") or row["uuid"] for row in resendable
    }
    by_insert_id = {event["insert_id"]: event for event in ingested}
    copied = by_insert_id[nested.get("$insert_id") or nested["uuid"]]
    assert copied["event_properties"] == nested["event_properties"]
