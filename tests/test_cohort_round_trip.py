"""The two halves of issue 14 together: target-amplitude writes a cohort, tap-amplitude reads it.

In-process, no Meltano: the target uploads an audience into the emulator's project B (`cohort`
kind), the tap's `cohort_members` downloads that cohort through the request/status/file flow,
and what comes back is the audience, with the Amplitude ids the emulator gave those users.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amplitude_emulator import API_KEY_B, PROJECT_B_ID, SECRET_KEY_B
from amplitude_emulator.profile_store import profile_for
from tests.amplitude_target_runs import config_for, run_target, singer_input
from tests.dashboard_helpers import base_config, run_tap

if TYPE_CHECKING:
    from amplitude_emulator import Emulator

OWNER = "owner@example.com"
AUDIENCE = [f"trip-user-{i:03d}" for i in range(6)]


def _known(emulator: Emulator, user_ids: list[str]) -> dict[str, int]:
    """Make the users known to project B (as identified users); their Amplitude ids."""
    project = emulator.state.projects[PROJECT_B_ID]
    found: dict[str, int] = {}
    with emulator.state.lock:
        for uid in user_ids:
            profile = profile_for(project, {"user_id": uid})
            assert profile is not None
            found[uid] = profile["amplitude_id"]
    return found


def _target_config(emulator: Emulator, spec: dict[str, Any]) -> dict[str, Any]:
    streams = {"audience": {"object": "cohort", "owner": OWNER, **spec}}
    return config_for(
        emulator,
        streams,
        secret_key=SECRET_KEY_B,
        project_id=PROJECT_B_ID,
        cohort_api_url=emulator.url,
        retry_backoff_base_seconds=0.05,
    )


def _read_back(emulator: Emulator, cohort_id: str) -> dict[str | None, int]:
    """`cohort_members` of project B for this cohort: user_id -> amplitude_id."""
    config = base_config(
        emulator,
        api_key=API_KEY_B,
        secret_key=SECRET_KEY_B,
        cohort_ids=[cohort_id],
        cohort_poll_interval_seconds=0.05,
    )
    records = run_tap(emulator, config, ["cohort_members"]).records("cohort_members")
    assert {record["cohort_id"] for record in records} == {cohort_id}
    read = {record["user_id"]: record["amplitude_id"] for record in records}
    assert len(read) == len(records)  # each member once
    return read


def _created_cohort_id(emulator: Emulator, name: str) -> str:
    project = emulator.state.projects[PROJECT_B_ID]
    (cohort,) = [c for c in project.cohorts if c["name"] == name]
    return str(cohort["id"])


def test_a_cohort_the_target_uploads_reads_back_equal_through_cohort_members(
    emulator: Emulator,
) -> None:
    amplitude_ids = _known(emulator, AUDIENCE)
    config = _target_config(emulator, {"cohort_name": "Round trip", "id_type": "user_id"})
    run_target(config, singer_input("audience", [{"user_id": uid} for uid in AUDIENCE[:4]]))
    cohort_id = _created_cohort_id(emulator, "Round trip")

    assert _read_back(emulator, cohort_id) == {uid: amplitude_ids[uid] for uid in AUDIENCE[:4]}


def test_replace_then_re_read_drops_the_members_who_left(emulator: Emulator) -> None:
    amplitude_ids = _known(emulator, AUDIENCE)
    config = _target_config(emulator, {"cohort_name": "Churn risk", "id_type": "user_id"})
    run_target(config, singer_input("audience", [{"user_id": uid} for uid in AUDIENCE[:4]]))
    cohort_id = _created_cohort_id(emulator, "Churn risk")
    assert set(_read_back(emulator, cohort_id)) == set(AUDIENCE[:4])

    stays, joins = AUDIENCE[1:4], AUDIENCE[4:]  # trip-user-000 left the audience
    replaced = _target_config(emulator, {"cohort_id": cohort_id, "id_type": "user_id"})
    run_target(replaced, singer_input("audience", [{"user_id": uid} for uid in stays + joins]))

    read = _read_back(emulator, cohort_id)
    assert read == {uid: amplitude_ids[uid] for uid in stays + joins}
    assert AUDIENCE[0] not in read


def test_an_upload_by_amplitude_id_reads_back_with_the_users_ids(emulator: Emulator) -> None:
    amplitude_ids = _known(emulator, AUDIENCE)
    config = _target_config(emulator, {"cohort_name": "By id", "id_type": "amplitude_id"})
    lines = singer_input("audience", [{"amplitude_id": amplitude_ids[uid]} for uid in AUDIENCE])
    run_target(config, lines)

    assert _read_back(emulator, _created_cohort_id(emulator, "By id")) == amplitude_ids
