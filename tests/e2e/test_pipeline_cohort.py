"""Warehouse audience -> Amplitude cohort through Meltano (issue #14, target side).

An audience table in PostgreSQL -> tap-postgres (full table) -> target-amplitude `cohort` kind in
`replace` mode: the emulator's project B holds a cohort with exactly the table's ids; after the
table changes, a re-run updates the same cohort (found through the STATE Meltano kept) and the
member who left is gone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from amplitude_emulator import PROJECT_B_ID, SECRET_KEY_B
from amplitude_emulator.profile_store import profile_for

if TYPE_CHECKING:
    from amplitude_emulator import Emulator
    from tests.e2e.meltano_project import Pipeline
    from tests.e2e.postgres_server import PostgresServer

pytestmark = pytest.mark.e2e

COHORT_NAME = "Warehouse audience"  # meltano.yml, target-amplitude--cohorts
USERS = ("aud-user-0001", "aud-user-0002", "aud-user-0003", "aud-user-0004")


def _audience(postgres: PostgresServer, user_ids: tuple[str, ...]) -> None:
    postgres.psql(
        "CREATE SCHEMA IF NOT EXISTS crm; DROP TABLE IF EXISTS crm.audience; "
        "CREATE TABLE crm.audience (user_id text PRIMARY KEY, segment text);"
    )
    values = ", ".join(f"('{user_id}', 'churn-risk')" for user_id in user_ids)
    postgres.psql(f"INSERT INTO crm.audience VALUES {values}")  # noqa: S608  fixed test values


def _members(emulator: Emulator, cohort_id: str) -> set[str | None]:
    project = emulator.state.projects[PROJECT_B_ID]
    with emulator.state.lock:
        return {member.user_id for member in project.cohort_members.members(cohort_id)}


def test_audience_table_becomes_a_cohort_that_follows_the_table(
    pipeline: Pipeline, emulator: Emulator, postgres: PostgresServer
) -> None:
    project = emulator.state.projects[PROJECT_B_ID]
    with emulator.state.lock:  # the audience's users exist in Amplitude (as identified users)
        for user_id in USERS:
            profile_for(project, {"user_id": user_id})
    env = {
        **postgres.meltano_env("TAP_POSTGRES"),
        "TARGET_AMPLITUDE_SECRET_KEY": SECRET_KEY_B,
        "TARGET_AMPLITUDE_PROJECT_ID": str(PROJECT_B_ID),
        "TARGET_AMPLITUDE_COHORT_API_URL": emulator.url,
    }
    job = ("run", "tap-postgres--audience", "target-amplitude--cohorts")

    _audience(postgres, USERS[:3])
    first_log = pipeline.meltano(*job, env=env)
    (cohort,) = [c for c in project.cohorts if c["name"] == COHORT_NAME]
    assert _members(emulator, cohort["id"]) == set(USERS[:3])
    assert f"id {cohort['id']}" in first_log

    _audience(postgres, USERS[1:])  # aud-user-0001 left, aud-user-0004 joined
    second_log = pipeline.meltano(*job, env=env)
    assert [c["id"] for c in project.cohorts if c["name"] == COHORT_NAME] == [cohort["id"]]
    assert _members(emulator, cohort["id"]) == set(USERS[1:])
    assert f"updating cohort {cohort['id']} (from STATE)" in second_log
