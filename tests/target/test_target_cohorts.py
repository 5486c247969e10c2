"""The `cohort` kind: a stream of ids becomes an Amplitude cohort's members (read back from the
emulator's cohort store, not from what was sent)."""

from __future__ import annotations

import io
import json

import pytest
from singer_sdk.exceptions import ConfigValidationError

from amplitude_emulator import PROJECT_B_ID, SECRET_KEY_B
from amplitude_emulator.faults import Fault
from amplitude_emulator.profile_store import profile_for
from target_amplitude.delivery.cohort_spool import IdSpool
from target_amplitude.delivery.errors import DeliveryError, RetriesExhaustedError
from target_amplitude.target import TargetAmplitude
from tests.amplitude_target_runs import (
    config_for,
    dead_letters,
    project_b,
    run_target,
    schema_message,
    singer_input,
)

OWNER = "owner@example.com"


def cohort_config(emulator, spec, stream="audience", **extra):
    streams = {stream: {"object": "cohort", "owner": OWNER, **spec}}
    settings = {
        "secret_key": SECRET_KEY_B,
        "project_id": PROJECT_B_ID,
        "cohort_api_url": emulator.url,
        "retry_backoff_base_seconds": 0.05,
        **extra,
    }
    return config_for(emulator, streams, **settings)


def known(emulator, *user_ids):
    project = project_b(emulator)
    with emulator.state.lock:
        return {uid: profile_for(project, {"user_id": uid})["amplitude_id"] for uid in user_ids}


def users(n, prefix="user-"):
    return [f"{prefix}{i:05d}" for i in range(n)]


def rows(user_ids):
    return [{"user_id": uid} for uid in user_ids]


def member_user_ids(emulator, cohort_id):
    members = project_b(emulator).cohort_members.members(cohort_id)
    return sorted(member.user_id for member in members)


def cohorts_named(emulator, name):
    return [c for c in project_b(emulator).cohorts if c["name"] == name]


def requests_to(emulator, path):
    return [r for r in emulator.state.requests if r.path == path]


def existing_cohort(emulator, *members):
    """A cohort with these members, made by a first target run."""
    run_target(
        cohort_config(emulator, {"cohort_name": "Existing"}),
        singer_input("audience", rows(members)),
    )
    (cohort,) = cohorts_named(emulator, "Existing")
    return cohort["id"]


def states(stdout):
    """The STATE values the target wrote (one JSON object per line)."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_replace_leaves_exactly_the_streams_ids(emulator):
    known(emulator, *users(6))
    cohort_id = existing_cohort(emulator, *users(4))  # user-00000 .. user-00003
    stream = users(6)[2:]  # 00002 .. 00005: 00000 and 00001 left the audience
    config = cohort_config(emulator, {"cohort_id": cohort_id}, cohort_ids_per_request=2)
    run_target(config, singer_input("audience", rows(stream)))
    assert member_user_ids(emulator, cohort_id) == stream
    # Two ids per request: the first chunk replaces (upload), the second is added.
    assert len(requests_to(emulator, "/api/3/cohorts/upload")) == 2  # incl. the first run's
    assert len(requests_to(emulator, "/api/3/cohorts/membership")) == 1
    assert cohorts_named(emulator, "Existing")[0]["size"] == 4


def test_add_and_remove_batches_respect_the_ids_per_request_cap(emulator):
    known(emulator, *users(2600))
    cohort_id = existing_cohort(emulator, "user-00000")
    emulator.state.limits.cohort_max_ids = 1000  # the emulator refuses anything bigger
    add = cohort_config(
        emulator, {"cohort_id": cohort_id, "mode": "add"}, cohort_ids_per_request=1000
    )
    run_target(add, singer_input("audience", rows(users(2500))))
    assert member_user_ids(emulator, cohort_id) == users(2500)
    remove = cohort_config(
        emulator, {"cohort_id": cohort_id, "mode": "remove"}, cohort_ids_per_request=1000
    )
    run_target(remove, singer_input("audience", rows(users(1200))))
    assert member_user_ids(emulator, cohort_id) == users(2500)[1200:]
    calls = requests_to(emulator, "/api/3/cohorts/membership")
    assert len(calls) == 3 + 2
    assert all(call.status == 200 for call in calls)
    sizes = [len(json.loads(call.body)["memberships"][0]["ids"]) for call in calls]
    assert sizes == [1000, 1000, 500, 1000, 200]


def test_spool_chunks_hold_at_most_amplitudes_100k_ids():
    spool = IdSpool()
    for n in range(200_001):
        spool.append(str(n % 150_000), f"#{n}", {})  # 50k ids come twice
    chunks = list(spool.chunks(100_000))
    spool.close()
    assert [len(chunk.ids) for chunk in chunks] == [100_000, 100_000, 1]
    assert sum(chunk.records for chunk in chunks) == 200_001


def test_ids_per_request_over_amplitudes_cap_is_a_config_error(emulator):
    config = cohort_config(emulator, {"cohort_id": "abc"}, cohort_ids_per_request=100_001)
    with pytest.raises(ConfigValidationError, match="cohort_ids_per_request"):
        TargetAmplitude(config=config, parse_env_config=False)


def test_rerun_with_cohort_name_updates_the_same_cohort_from_state(emulator):
    known(emulator, *users(5))
    config = cohort_config(emulator, {"cohort_name": "Churn risk"})
    first_state = {"bookmarks": {"audience": {"replication_key_value": 1}}}
    stdout, _ = run_target(config, singer_input("audience", rows(users(3)), state=first_state))
    (created,) = cohorts_named(emulator, "Churn risk")
    remembered = states(stdout)[-1]["bookmarks"]["audience"]["target_amplitude_cohort"]
    assert remembered == {"cohort_name": "Churn risk", "cohort_id": created["id"]}
    assert states(stdout)[-1]["bookmarks"]["audience"]["replication_key_value"] == 1
    # Renamed in Amplitude's UI: only STATE still knows which cohort this stream writes.
    created["name"] = "Churn risk (renamed)"
    second = {"bookmarks": {"audience": {**states(stdout)[-1]["bookmarks"]["audience"]}}}
    run_target(config, singer_input("audience", rows(users(5)[2:]), state=second))
    assert member_user_ids(emulator, created["id"]) == users(5)[2:]
    assert len(project_b(emulator).cohorts) == 1  # project B starts without cohorts


def test_rerun_with_cohort_name_and_no_state_finds_the_cohort_by_name(emulator):
    known(emulator, *users(5))
    config = cohort_config(emulator, {"cohort_name": "Churn risk"})
    stdout, _ = run_target(config, singer_input("audience", rows(users(3))))
    (created,) = cohorts_named(emulator, "Churn risk")
    # Without a STATE from the tap the target still writes one, so the id is kept.
    assert (
        states(stdout)[-1]["bookmarks"]["audience"]["target_amplitude_cohort"]["cohort_id"]
        == created["id"]
    )
    run_target(config, singer_input("audience", rows(users(5)[3:])))
    assert [c["id"] for c in cohorts_named(emulator, "Churn risk")] == [created["id"]]
    assert member_user_ids(emulator, created["id"]) == users(5)[3:]


def test_skipped_ids_reach_the_dead_letter_file(emulator, tmp_path):
    known(emulator, *users(3))
    emulator.state.limits.cohort_invalid_ids_sample = 1  # the upload shows one of the three
    path = tmp_path / "dead.jsonl"
    config = cohort_config(
        emulator,
        {"cohort_name": "Mixed"},
        on_rejected="dead_letter",
        dead_letter_path=str(path),
    )
    records = [
        {"user_id": uid, "plan": "pro"} for uid in [*users(3), "ghost-1", "ghost-2", "ghost-3"]
    ]
    _, target = run_target(config, singer_input("audience", records))
    (cohort,) = cohorts_named(emulator, "Mixed")
    assert member_user_ids(emulator, cohort["id"]) == users(3)
    lines = dead_letters(path)
    assert sorted(line["record"]["user_id"] for line in lines) == ["ghost-1", "ghost-2", "ghost-3"]
    assert {line["reason"] for line in lines} == {"skipped_id"}
    assert lines[0]["record"]["plan"] == "pro"
    summary = target.deliverer.summary()["audience"]
    assert summary["acknowledged"] == 3
    assert summary["rejected"] == {"skipped_id": 3}


def test_skipped_ids_of_a_membership_update_follow_on_rejected(emulator, tmp_path):
    known(emulator, "user-00000")
    cohort_id = existing_cohort(emulator, "user-00000")
    path = tmp_path / "dead.jsonl"
    config = cohort_config(
        emulator,
        {"cohort_id": cohort_id, "mode": "add"},
        on_rejected="dead_letter",
        dead_letter_path=str(path),
    )
    run_target(config, singer_input("audience", rows(["ghost", "user-00000", ""])))
    reasons = sorted((line["reason"], line["record"]["user_id"]) for line in dead_letters(path))
    assert reasons == [("missing_id", ""), ("skipped_id", "ghost")]


def test_skipped_ids_under_policy_fail_fail_the_run_without_state(emulator):
    known(emulator, "user-00000")
    config = cohort_config(emulator, {"cohort_name": "Strict"})
    stdout = io.StringIO()
    with pytest.raises(DeliveryError, match="rejected"):
        run_target(
            config, singer_input("audience", rows(["user-00000", "ghost"]), state={"s": 1}), stdout
        )
    assert states(stdout.getvalue()) == []


def test_missing_secret_key_with_a_cohort_kind_is_a_clear_config_error(emulator):
    config = cohort_config(emulator, {"cohort_id": "abc"})
    del config["secret_key"]
    with pytest.raises(ConfigValidationError, match=r"streams\.audience.*`secret_key`"):
        TargetAmplitude(config=config, parse_env_config=False)
    del config["project_id"]
    with pytest.raises(ConfigValidationError, match="`secret_key` and `project_id`"):
        TargetAmplitude(config=config, parse_env_config=False)
    plain = config_for(emulator, {"orders": {"object": "event"}})
    TargetAmplitude(config=plain, parse_env_config=False)  # other kinds do without them


def test_cohort_spec_errors_name_the_key(emulator):
    for spec, key in [
        ({}, "exactly one of `cohort_id`"),
        ({"cohort_id": "a", "cohort_name": "b"}, "exactly one of `cohort_id`"),
        ({"cohort_id": "a", "mode": "sync"}, r"\.mode"),
        ({"cohort_id": "a", "id_type": "email"}, r"\.id_type"),
        ({"cohort_id": "a", "owner": None}, r"\.owner: required"),
        ({"cohort_id": "a", "event_type": "x"}, "not a cohort option"),
    ]:
        config = cohort_config(emulator, spec)
        with pytest.raises(ConfigValidationError, match=key):
            TargetAmplitude(config=config, parse_env_config=False)


def test_a_429_from_a_concurrent_writer_is_retried(emulator):
    known(emulator, *users(3))
    cohort_id = existing_cohort(emulator, "user-00000")
    with emulator.state.lock:  # another writer holds the cohort for a moment
        project_b(emulator).cohort_busy_until[cohort_id] = emulator.state.now() + 0.5
    config = cohort_config(emulator, {"cohort_id": cohort_id}, retry_backoff_base_seconds=0.3)
    run_target(config, singer_input("audience", rows(users(3))))
    statuses = [r.status for r in requests_to(emulator, "/api/3/cohorts/upload")][1:]
    assert statuses[0] == 429
    assert statuses[-1] == 200
    assert member_user_ids(emulator, cohort_id) == users(3)


def test_a_cohort_held_past_the_retry_budget_fails_without_state(emulator):
    known(emulator, "user-00000")
    cohort_id = existing_cohort(emulator, "user-00000")
    with emulator.state.lock:
        project_b(emulator).cohort_busy_until[cohort_id] = emulator.state.now() + 3600
    config = cohort_config(emulator, {"cohort_id": cohort_id}, max_retries=1)
    stdout = io.StringIO()
    with pytest.raises(RetriesExhaustedError, match=f"cohort {cohort_id}"):
        run_target(config, singer_input("audience", rows(["user-00000"]), state={"s": 1}), stdout)
    assert states(stdout.getvalue()) == []


def test_two_streams_on_one_cohort_never_write_it_at_once(emulator):
    known(emulator, *users(4))
    cohort_id = existing_cohort(emulator, "user-00000")
    emulator.state.limits.cohort_write_seconds = 0.3  # each write holds the cohort a while
    spec = {"object": "cohort", "cohort_id": cohort_id, "mode": "add"}
    config = cohort_config(emulator, {"cohort_id": cohort_id, "mode": "add"})
    config["streams"]["audience_b"] = spec
    lines = singer_input("audience", rows(users(4)[:2])) + singer_input(
        "audience_b", rows(users(4)[2:])
    )
    run_target(config, lines)
    calls = requests_to(emulator, "/api/3/cohorts/membership")
    assert [c.status for c in calls] == [200, 200]
    assert member_user_ids(emulator, cohort_id) == users(4)


def test_state_waits_until_a_replace_is_applied(emulator):
    known(emulator, *users(4))
    config = cohort_config(emulator, {"cohort_name": "Gate"}, max_retries=0)
    lines = "".join(
        json.dumps(message) + "\n"
        for message in [
            schema_message("audience", ["user_id"]),
            {"type": "RECORD", "stream": "audience", "record": {"user_id": "user-00000"}},
            {"type": "STATE", "value": {"at": 1}},
            {"type": "RECORD", "stream": "audience", "record": {"user_id": "user-00001"}},
            {"type": "STATE", "value": {"at": 2}},
        ]
    )
    emulator.state.add_fault(_server_error("/api/3/cohorts/upload"))
    stdout = io.StringIO()
    with pytest.raises(RetriesExhaustedError):
        run_target(config, lines, stdout)
    assert states(stdout.getvalue()) == []  # neither STATE: both came after unapplied records
    stdout, _ = run_target(config, lines)
    assert [s.get("at") for s in states(stdout)] == [2]
    (cohort,) = cohorts_named(emulator, "Gate")
    assert member_user_ids(emulator, cohort["id"]) == users(2)


def test_dry_run_sends_no_cohort_request(emulator, tmp_path):
    known(emulator, "user-00000")
    path = tmp_path / "dry.jsonl"
    config = cohort_config(emulator, {"cohort_name": "Dry"}, dry_run=True, dry_run_path=str(path))
    run_target(config, singer_input("audience", rows(["user-00000"])))
    assert not [r for r in emulator.state.requests if r.path.startswith("/api/3/cohorts")]
    (line,) = [json.loads(text) for text in path.read_text().splitlines()]
    assert line["payload"] == {"cohort": "Dry", "mode": "replace", "id": "user-00000"}


def _server_error(path):
    return Fault.from_json({"kind": "status", "status": 503, "path": path, "times": 1})


def test_a_cohort_deleted_since_the_last_run_is_created_again(emulator):
    known(emulator, *users(2))
    config = cohort_config(emulator, {"cohort_name": "Phoenix"})
    stdout, _ = run_target(config, singer_input("audience", rows(users(1)), state={"s": 1}))
    (first,) = cohorts_named(emulator, "Phoenix")
    project_b(emulator).cohorts.remove(first)  # deleted in Amplitude's UI
    stdout, _ = run_target(
        config, singer_input("audience", rows(users(2)), state=states(stdout)[-1])
    )
    (second,) = cohorts_named(emulator, "Phoenix")
    assert second["id"] != first["id"]
    assert member_user_ids(emulator, second["id"]) == users(2)
    remembered = states(stdout)[-1]["bookmarks"]["audience"]["target_amplitude_cohort"]
    assert remembered["cohort_id"] == second["id"]


def test_remove_without_a_known_cohort_is_a_clear_error(emulator):
    known(emulator, "user-00000")
    config = cohort_config(emulator, {"cohort_name": "Nowhere", "mode": "remove"})
    with pytest.raises(DeliveryError, match="mode remove needs an existing cohort"):
        run_target(config, singer_input("audience", rows(["user-00000"])))


def test_a_wrong_secret_key_is_a_configuration_error_that_masks_it(emulator):
    known(emulator, "user-00000")
    config = cohort_config(emulator, {"cohort_name": "Locked"}, secret_key="not-the-secret")
    with pytest.raises(DeliveryError, match="check `secret_key`") as failure:
        run_target(config, singer_input("audience", rows(["user-00000"])))
    assert "not-the-secret" not in str(failure.value)
    assert cohorts_named(emulator, "Locked") == []
