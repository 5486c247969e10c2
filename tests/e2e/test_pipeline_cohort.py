"""Warehouse audience -> Amplitude cohort -> warehouse again, through Meltano (issue #14).

An audience table in PostgreSQL -> tap-postgres (full table) -> target-amplitude `cohort` kind in
`replace` mode: the emulator's project B holds a cohort with exactly the table's ids; after the
table changes, a re-run updates the same cohort (found through the STATE Meltano kept) and the
member who left is gone. Then tap-amplitude reads that cohort back (the id from the cohort list
API, matching the STATE): `cohorts` lists it, `cohort_members` holds the table's user ids with
the Amplitude ids the emulator gave those users.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import pytest
import requests

from amplitude_emulator import API_KEY_B, PROJECT_B_ID, SECRET_KEY_B
from amplitude_emulator.profile_store import profile_for

if TYPE_CHECKING:
    from amplitude_emulator import Emulator
    from tests.e2e.meltano_project import Pipeline
    from tests.e2e.postgres_server import PostgresServer

pytestmark = pytest.mark.e2e

COHORT_NAME = "Warehouse audience"  # meltano.yml, target-amplitude--cohorts
OWNER = "data-team@example.com"
STATE_ID = "dev:tap-postgres--audience-to-target-amplitude--cohorts"
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
    amplitude_ids: dict[str, int] = {}
    with emulator.state.lock:  # the audience's users exist in Amplitude (as identified users)
        for user_id in USERS:
            profile = profile_for(project, {"user_id": user_id})
            assert profile is not None
            amplitude_ids[user_id] = profile["amplitude_id"]
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

    metadata = _listed_cohort(emulator)
    cohort_id = str(metadata["id"])
    assert cohort_id == cohort["id"]
    assert _state_cohort_id(pipeline) == cohort_id

    _read_back(pipeline, emulator, cohort_id)
    rows = pipeline.jsonl("cohort_members")
    assert {row["cohort_id"] for row in rows} == {cohort_id}
    assert sorted((row["user_id"], row["amplitude_id"]) for row in rows) == sorted(
        (uid, amplitude_ids[uid]) for uid in USERS[1:]
    )  # the table's ids, with the Amplitude ids of those users; aud-user-0001 is gone
    (listed,) = [row for row in pipeline.jsonl("cohorts") if row["id"] == cohort_id]
    assert (listed["name"], listed["size"], listed["type"]) == (COHORT_NAME, 3, "manual_upload")
    assert listed["owners"] == [OWNER]
    # Epoch seconds in the listing, an RFC 3339 date-time (UTC) in the stream.
    assert dt.datetime.fromisoformat(listed["lastMod"]).timestamp() == metadata["lastMod"]


def _listed_cohort(emulator: Emulator) -> dict[str, Any]:
    """The cohort as `/api/3/cohorts` lists it, checking the documented listing shape."""
    listing = requests.get(
        f"{emulator.url}/api/3/cohorts", auth=(API_KEY_B, SECRET_KEY_B), timeout=30
    )
    assert listing.status_code == 200
    (listed,) = [c for c in listing.json()["cohorts"] if c["name"] == COHORT_NAME]
    assert listed["appId"] == PROJECT_B_ID
    assert listed["owners"] == [OWNER]
    assert listed["size"] == 3
    assert all(isinstance(listed[key], int) for key in ("lastMod", "createdAt", "lastComputed"))
    assert isinstance(listed["id"], str)
    return dict(listed)


def _state_cohort_id(pipeline: Pipeline) -> str:
    """The cohort id the target kept in the STATE Meltano stored for the audience job."""
    out = pipeline.workdir / "state.json"
    pipeline.meltano("state", "get", STATE_ID, stdout=out)
    state: dict[str, Any] = json.loads(out.read_text())
    bookmark = state["singer_state"]["bookmarks"]["crm-audience"]
    return str(bookmark["target_amplitude_cohort"]["cohort_id"])


def _read_back(pipeline: Pipeline, emulator: Emulator, cohort_id: str) -> None:
    """tap-amplitude (`cohorts` and `cohort_members` of project B) -> target-jsonl."""
    env = {
        "TAP_AMPLITUDE_API_URL": emulator.url,
        "TAP_AMPLITUDE_API_KEY": API_KEY_B,
        "TAP_AMPLITUDE_SECRET_KEY": SECRET_KEY_B,
        "TAP_AMPLITUDE__COHORT_MEMBERS_COHORT_IDS": json.dumps([cohort_id]),
    }
    pipeline.meltano("run", "tap-amplitude--cohort-members", "target-jsonl", env=env)
