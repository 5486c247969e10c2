"""The emulator's cohort upload and membership endpoints, per the Behavioral Cohorts API docs."""

from __future__ import annotations

import threading

import requests

from amplitude_emulator import API_KEY_B, PROJECT_B_ID, SECRET_KEY_B
from amplitude_emulator.catalog import cohorts as seeded_cohorts

AUTH = (API_KEY_B, SECRET_KEY_B)
CONTROL = f"/__emulator__/projects/{PROJECT_B_ID}"


def known(emulator, *user_ids: str) -> dict[str, int]:
    response = requests.post(
        emulator.url + CONTROL + "/users", json={"user_ids": list(user_ids)}, timeout=10
    )
    return response.json()


def upload(emulator, ids, auth=AUTH, **fields) -> requests.Response:
    body = {
        "name": "Churn risk",
        "app_id": PROJECT_B_ID,
        "id_type": "BY_USER_ID",
        "ids": ids,
        "owner": "owner@example.com",
        "published": True,
        **fields,
    }
    return requests.post(emulator.url + "/api/3/cohorts/upload", json=body, auth=auth, timeout=10)


def membership(emulator, cohort_id, *entries, **fields) -> requests.Response:
    body = {"cohort_id": cohort_id, "memberships": list(entries), **fields}
    return requests.post(
        emulator.url + "/api/3/cohorts/membership", json=body, auth=AUTH, timeout=10
    )


def members(emulator, cohort_id) -> dict:
    url = emulator.url + CONTROL + f"/cohorts/{cohort_id}/members"
    return requests.get(url, timeout=10).json()


def test_upload_creates_a_listed_cohort_of_the_known_ids(emulator):
    ids = known(emulator, "u1", "u2", "u3")
    response = upload(emulator, ["u1", "u2", "nobody"])
    assert response.status_code == 200
    body = response.json()
    cohort_id = body["cohortId"]
    assert body["metadata"] == {"matched": 2, "totals": 3, "invalid_ids_sample": ["nobody"]}
    assert body["cohortsById"][cohort_id]["type"] == "manual_upload"
    assert members(emulator, cohort_id)["amplitude_ids"] == sorted([ids["u1"], ids["u2"]])
    listing = requests.get(emulator.url + "/api/3/cohorts", auth=AUTH, timeout=10).json()
    listed = next(c for c in listing["cohorts"] if c["id"] == cohort_id)
    assert listed["size"] == 2
    assert listed["owners"] == ["owner@example.com"]
    assert listed["appId"] == PROJECT_B_ID


def test_an_uploaded_cohort_is_listed_with_the_keys_and_types_of_any_cohort(emulator):
    known(emulator, "u1", "u2")
    before = int(emulator.state.now())
    cohort_id = upload(emulator, ["u1", "u2"], published=False).json()["cohortId"]
    listing = requests.get(emulator.url + "/api/3/cohorts", auth=AUTH, timeout=10).json()
    (listed,) = [c for c in listing["cohorts"] if c["id"] == cohort_id]

    assert set(listed) == set(seeded_cohorts(PROJECT_B_ID)[0])  # one shape for every cohort
    assert isinstance(listed["id"], str)
    assert listed["name"] == "Churn risk"
    assert listed["published"] is False
    assert listed["archived"] is False
    for key in ("lastMod", "createdAt", "lastComputed"):  # epoch seconds, not milliseconds
        assert isinstance(listed[key], int)
        assert before <= listed[key] <= int(emulator.state.now())


def test_upload_with_existing_cohort_id_replaces_the_members(emulator):
    known(emulator, "u1", "u2", "u3")
    cohort_id = upload(emulator, ["u1", "u2"]).json()["cohortId"]
    again = upload(emulator, ["u2", "u3"], existing_cohort_id=cohort_id)
    assert again.json()["cohortId"] == cohort_id
    assert members(emulator, cohort_id)["user_ids"] == ["u2", "u3"]


def test_upload_by_amplitude_id(emulator):
    ids = known(emulator, "u1")
    response = upload(emulator, [str(ids["u1"]), "12"], id_type="BY_AMP_ID")
    assert response.json()["metadata"]["matched"] == 1
    assert members(emulator, response.json()["cohortId"])["user_ids"] == ["u1"]


def test_upload_without_a_valid_id_is_refused(emulator):
    response = upload(emulator, ["nobody"])
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "No valid ids"
    assert upload(emulator, []).status_code == 400


def test_upload_refuses_invalid_ids_when_not_skipping_them(emulator):
    known(emulator, "u1")
    response = upload(emulator, ["u1", "nobody"], skip_invalid_ids=False)
    assert response.status_code == 400
    assert response.json()["error"]["metadata"]["invalid_ids_sample"] == ["nobody"]


def test_upload_checks_fields_app_id_and_the_id_cap(emulator):
    known(emulator, "u1")
    no_owner = upload(emulator, ["u1"], owner=None)
    assert no_owner.status_code == 400
    assert "'owner'" in no_owner.json()["error"]["metadata"]["details"]
    assert upload(emulator, ["u1"], app_id=1).status_code == 400
    assert upload(emulator, ["u1"], id_type="BY_EMAIL").status_code == 400
    emulator.state.limits.cohort_max_ids = 2
    too_many = upload(emulator, ["u1", "u1", "u1"])
    assert too_many.status_code == 400
    assert "At most 2 ids" in too_many.json()["error"]["metadata"]["details"]


def test_upload_needs_the_secret_key(emulator):
    known(emulator, "u1")
    assert upload(emulator, ["u1"], auth=(API_KEY_B, "wrong")).status_code == 403
    assert upload(emulator, ["u1"], auth=None).status_code == 401


def test_upload_to_an_unknown_cohort_is_404(emulator):
    known(emulator, "u1")
    assert upload(emulator, ["u1"], existing_cohort_id="zzzzzzz").status_code == 404


def test_membership_adds_and_removes_and_lists_skipped_ids(emulator):
    ids = known(emulator, "u1", "u2", "u3")
    cohort_id = upload(emulator, ["u1"]).json()["cohortId"]
    response = membership(
        emulator,
        cohort_id,
        {"ids": ["u2", "ghost"], "id_type": "BY_NAME", "operation": "ADD"},
        {"ids": [str(ids["u3"]), "42"], "id_type": "BY_ID", "operation": "ADD"},
        {"ids": ["u1"], "id_type": "BY_NAME", "operation": "REMOVE"},
    )
    assert response.status_code == 200
    assert response.json() == {
        "cohort_id": cohort_id,
        "memberships_result": [
            {"skipped_ids": ["ghost"], "id_type": "BY_NAME", "operation": "ADD"},
            {"skipped_ids": ["42"], "id_type": "BY_ID", "operation": "ADD"},
            {"skipped_ids": [], "id_type": "BY_NAME", "operation": "REMOVE"},
        ],
    }
    assert members(emulator, cohort_id)["user_ids"] == ["u2", "u3"]


def test_membership_caps_ids_per_request_across_entries(emulator):
    known(emulator, "u1", "u2")
    cohort_id = upload(emulator, ["u1"]).json()["cohortId"]
    emulator.state.limits.cohort_max_ids = 2
    response = membership(
        emulator,
        cohort_id,
        {"ids": ["u1", "u2"], "id_type": "BY_NAME", "operation": "ADD"},
        {"ids": ["u1"], "id_type": "BY_NAME", "operation": "REMOVE"},
    )
    assert response.status_code == 400
    assert members(emulator, cohort_id)["user_ids"] == ["u1"]


def test_membership_checks_its_shape(emulator):
    known(emulator, "u1")
    cohort_id = upload(emulator, ["u1"]).json()["cohortId"]
    bad_type = {"ids": ["u1"], "id_type": "BY_USER_ID", "operation": "ADD"}
    assert membership(emulator, cohort_id, bad_type).status_code == 400
    bad_operation = {"ids": ["u1"], "id_type": "BY_NAME", "operation": "SET"}
    assert membership(emulator, cohort_id, bad_operation).status_code == 400
    assert membership(emulator, cohort_id).status_code == 400
    good = {"ids": ["u1"], "id_type": "BY_NAME", "operation": "ADD"}
    assert membership(emulator, "zzzzzzz", good).status_code == 404
    strict = {"ids": ["ghost"], "id_type": "BY_NAME", "operation": "ADD"}
    assert membership(emulator, cohort_id, strict, skip_invalid_ids=False).status_code == 400


def test_a_write_to_a_cohort_another_write_holds_answers_429(emulator):
    known(emulator, "u1", "u2")
    cohort_id = upload(emulator, ["u1"]).json()["cohortId"]
    emulator.state.limits.cohort_write_seconds = 1.0
    first: list[requests.Response] = []
    add = {"ids": ["u2"], "id_type": "BY_NAME", "operation": "ADD"}
    writer = threading.Thread(target=lambda: first.append(membership(emulator, cohort_id, add)))
    writer.start()
    assert any(members(emulator, cohort_id)["writing"] for _ in range(1000))
    second = upload(emulator, ["u1"], existing_cohort_id=cohort_id)
    writer.join()
    assert second.status_code == 429
    assert second.json()["error"]["http_code"] == 429
    assert first[0].status_code == 200
    assert members(emulator, cohort_id)["user_ids"] == ["u1", "u2"]


def test_a_cohort_marked_busy_refuses_writes_until_released(emulator):
    known(emulator, "u1")
    cohort_id = upload(emulator, ["u1"]).json()["cohortId"]
    requests.post(
        emulator.url + CONTROL + f"/cohorts/{cohort_id}/busy", json={"seconds": 60}, timeout=10
    )
    add = {"ids": ["u1"], "id_type": "BY_NAME", "operation": "ADD"}
    assert membership(emulator, cohort_id, add).status_code == 429
    emulator.state.clock_offset += 61
    assert membership(emulator, cohort_id, add).status_code == 200
