"""The emulator's cohort download flow, membership store and Taxonomy API (documented shapes)."""

from __future__ import annotations

import csv
import gzip
import io
import threading
from typing import TYPE_CHECKING, Any

import requests

from amplitude_emulator import API_KEY_A, API_KEY_B, PROJECT_A_ID, SECRET_KEY_A, SECRET_KEY_B
from amplitude_emulator.catalog import LARGE_COHORT_ID, LARGE_COHORT_SIZE
from amplitude_emulator.cohort_store import CohortStore, Member

if TYPE_CHECKING:
    from amplitude_emulator import Emulator

AUTH_A = (API_KEY_A, SECRET_KEY_A)


def _get(emulator: Emulator, path: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("auth", AUTH_A)
    return requests.get(emulator.url + path, timeout=30, **kwargs)


def _completed_request(emulator: Emulator, cohort_id: str, **params: Any) -> str:
    emulator.state.limits.cohort_job_seconds = 0
    response = _get(emulator, f"/api/5/cohorts/request/{cohort_id}", params=params)
    assert response.status_code == 202
    return str(response.json()["request_id"])


def _rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(gzip.decompress(body).decode("utf-8"))))


def test_a_cohort_request_is_accepted_then_in_progress_then_completed(emulator: Emulator) -> None:
    emulator.state.limits.cohort_job_seconds = 3600
    accepted = _get(emulator, "/api/5/cohorts/request/c0h0rt01")
    assert accepted.status_code == 202
    request_id = accepted.json()["request_id"]
    assert accepted.json() == {"request_id": request_id, "cohort_id": "c0h0rt01"}

    status = _get(emulator, f"/api/5/cohorts/request-status/{request_id}")
    assert status.status_code == 202
    assert status.json()["async_status"] == "JOB INPROGRESS"
    early = _get(emulator, f"/api/5/cohorts/request/{request_id}/file")
    assert early.status_code == 400

    emulator.state.limits.cohort_job_seconds = 0
    status = _get(emulator, f"/api/5/cohorts/request-status/{request_id}")
    assert status.status_code == 200
    assert status.json() == {
        "request_id": request_id,
        "cohort_id": "c0h0rt01",
        "async_status": "JOB COMPLETED",
    }


def test_a_small_cohort_comes_inline_as_a_gzipped_quoted_csv_with_the_asked_properties(
    emulator: Emulator,
) -> None:
    request_id = _completed_request(emulator, "c0h0rt01", props=1, propKeys=["plan"])
    response = _get(emulator, f"/api/5/cohorts/request/{request_id}/file", allow_redirects=False)

    assert response.status_code == 200
    assert response.content[:2] == b"\x1f\x8b"
    text = gzip.decompress(response.content).decode("utf-8")
    assert text.splitlines()[0] == '"amplitude_id","user_id","plan"'
    assert _rows(response.content)[1:] == [
        ["550106004602", "alice@example.com", "pro"],
        ["550106004603", "bob@example.com", "free"],
        ["550106004606", "", "free"],  # the anonymous member has no user_id
    ]


def test_without_props_the_file_holds_only_the_ids(emulator: Emulator) -> None:
    request_id = _completed_request(emulator, "c0h0rt00")
    response = _get(emulator, f"/api/5/cohorts/request/{request_id}/file")
    assert _rows(response.content) == [
        ["amplitude_id", "user_id"],
        ["550106004601", "heavy.user@example.com"],
    ]


def test_a_large_cohort_redirects_to_storage_that_refuses_the_amplitude_credentials(
    emulator: Emulator,
) -> None:
    request_id = _completed_request(emulator, LARGE_COHORT_ID)
    redirect = _get(emulator, f"/api/5/cohorts/request/{request_id}/file", allow_redirects=False)
    assert redirect.status_code == 302
    location = redirect.headers["Location"]
    assert "/__storage__/cohorts/" in location
    assert "X-Amz-Signature=" in location

    with_auth = requests.get(location, auth=AUTH_A, timeout=30)
    assert with_auth.status_code == 400
    assert "<Code>InvalidArgument</Code>" in with_auth.text

    plain = requests.get(location, timeout=30)
    assert plain.status_code == 200
    rows = _rows(plain.content)
    assert rows[0] == ["amplitude_id", "user_id"]
    assert len(rows) - 1 == LARGE_COHORT_SIZE
    assert len({row[0] for row in rows[1:]}) == LARGE_COHORT_SIZE


def test_a_storage_link_expires_and_the_request_id_gives_a_fresh_one(emulator: Emulator) -> None:
    request_id = _completed_request(emulator, LARGE_COHORT_ID)
    emulator.state.limits.cohort_link_seconds = 0
    stale = _get(emulator, f"/api/5/cohorts/request/{request_id}/file", allow_redirects=False)
    expired = requests.get(stale.headers["Location"], timeout=30)
    assert expired.status_code == 403
    assert "Request has expired" in expired.text

    emulator.state.limits.cohort_link_seconds = 60
    fresh = _get(emulator, f"/api/5/cohorts/request/{request_id}/file", allow_redirects=False)
    assert fresh.headers["Location"] != stale.headers["Location"]
    assert requests.get(fresh.headers["Location"], timeout=30).status_code == 200


def test_the_monthly_quota_answers_403_with_the_dashboard_error_body(emulator: Emulator) -> None:
    emulator.state.limits.cohort_downloads_per_month = 1
    assert _get(emulator, "/api/5/cohorts/request/c0h0rt00").status_code == 202
    refused = _get(emulator, "/api/5/cohorts/request/c0h0rt00")
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["http_code"] == 403
    assert error["message"] == "Cohort download limit exceeded"
    assert "1 cohort download requests" in error["metadata"]["details"]


def test_single_cohort_requests_past_the_rate_answer_429_naming_the_limit(
    emulator: Emulator,
) -> None:
    assert emulator.state.limits.cohort_requests_per_window == 60  # Amplitude's documented rate
    assert emulator.state.limits.cohort_request_window_seconds == 600
    emulator.state.limits.cohort_requests_per_window = 2
    accepted = [_get(emulator, "/api/5/cohorts/request/c0h0rt01").status_code for _ in range(2)]
    assert accepted == [202, 202]

    refused = _get(emulator, "/api/5/cohorts/request/c0h0rt00")
    assert refused.status_code == 429
    assert refused.json() == {
        "error": {
            "http_code": 429,
            "type": "rate_limited",
            "message": "Too many requests",
            "metadata": {
                "details": "Cohort download limits single cohort requests to 2 requests per "
                "10 minutes per app"
            },
        }
    }
    project = emulator.state.projects[PROJECT_A_ID]
    assert project.cohort_downloads_used == 2  # a refused request uses no monthly quota

    emulator.state.clock_offset += 601  # the window slides past the first two requests
    assert _get(emulator, "/api/5/cohorts/request/c0h0rt00").status_code == 202


def test_unknown_cohorts_requests_and_a_missing_add_on_are_refused(emulator: Emulator) -> None:
    assert _get(emulator, "/api/5/cohorts/request/nope").status_code == 404
    assert _get(emulator, "/api/5/cohorts/request-status/nope").status_code == 404
    assert _get(emulator, "/api/5/cohorts/request/c0h0rt00", auth=None).status_code == 401
    emulator.state.projects[PROJECT_A_ID].cohorts_addon = False
    refused = _get(emulator, "/api/5/cohorts/request/c0h0rt00")
    assert refused.status_code == 403
    assert "Behavioral Cohorts" in refused.json()["error"]["metadata"]["details"]


def test_the_store_replaces_adds_and_removes_members_even_of_a_generated_cohort() -> None:
    store = CohortStore()
    store.seed_generated("big", 3, lambda: iter([Member(i, f"u{i}") for i in range(3)]), ["plan"])
    assert store.count("big") == 3
    store.add("big", [Member(1, "renamed"), Member(9, None)])
    store.remove("big", [0])
    assert [(m.amplitude_id, m.user_id) for m in store.members("big")] == [
        (1, "renamed"),
        (2, "u2"),
        (9, None),
    ]
    store.replace("big", [Member(5, "only")])
    assert [m.amplitude_id for m in store.members("big")] == [5]
    assert store.has("big")
    assert not store.has("other")


# --- Taxonomy API ----------------------------------------------------------------------------


def test_every_taxonomy_endpoint_answers_success_and_data(emulator: Emulator) -> None:
    for path, key in [
        ("category", "name"),
        ("event", "event_type"),
        ("event-property", "event_property"),
        ("user-property", "user_property"),
        ("group-property", "group_property"),
    ]:
        body = _get(emulator, f"/api/2/taxonomy/{path}").json()
        assert body["success"] is True
        assert body["data"]
        assert all(key in item for item in body["data"])


def test_taxonomy_events_omit_hidden_types_and_show_deleted_ones_on_request(
    emulator: Emulator,
) -> None:
    listed = {i["event_type"] for i in _get(emulator, "/api/2/taxonomy/event").json()["data"]}
    assert "Internal Debug Ping" not in listed  # hidden
    assert "Legacy Checkout" not in listed
    with_deleted = _get(emulator, "/api/2/taxonomy/event", params={"showDeleted": "true"}).json()
    assert "Legacy Checkout" in {item["event_type"] for item in with_deleted["data"]}


def test_event_properties_are_per_type_and_an_unknown_type_answers_400(
    emulator: Emulator,
) -> None:
    checkout = _get(
        emulator, "/api/2/taxonomy/event-property", params={"event_type": "Checkout Completed"}
    ).json()["data"]
    assert {item["event_type"] for item in checkout} == {"Checkout Completed"}
    assert "order_total" in {item["event_property"] for item in checkout}
    as_form = requests.request(
        "GET",
        emulator.url + "/api/2/taxonomy/event-property",
        data={"event_type": "Search Performed"},
        auth=AUTH_A,
        timeout=30,
    )
    assert "query" in {item["event_property"] for item in as_form.json()["data"]}
    shared = _get(emulator, "/api/2/taxonomy/event-property").json()["data"]
    assert {item["event_type"] for item in shared} == {None}

    unknown = _get(emulator, "/api/2/taxonomy/event-property", params={"event_type": "Nope"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["message"] == "Not found"


def test_custom_user_properties_carry_the_gp_prefix(emulator: Emulator) -> None:
    names = [
        item["user_property"]
        for item in _get(emulator, "/api/2/taxonomy/user-property").json()["data"]
    ]
    assert names
    assert all(name.startswith("gp:") for name in names)


def test_a_non_enterprise_project_gets_403_from_the_taxonomy(emulator: Emulator) -> None:
    refused = _get(emulator, "/api/2/taxonomy/category", auth=(API_KEY_B, SECRET_KEY_B))
    assert refused.status_code == 403
    assert "Enterprise" in refused.json()["error"]["metadata"]["details"]


def test_taxonomy_cost_per_hour_and_in_flight_answer_429(emulator: Emulator) -> None:
    emulator.state.limits.taxonomy_cost_per_hour = 2
    statuses = [_get(emulator, "/api/2/taxonomy/category").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]

    emulator.state.projects[PROJECT_A_ID].taxonomy_cost_times.clear()
    emulator.state.limits.taxonomy_cost_per_hour = 7200
    emulator.state.limits.taxonomy_latency_seconds = 1.0
    results: list[int] = []

    def call() -> None:
        results.append(_get(emulator, "/api/2/taxonomy/category").status_code)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(200) <= 4
    assert 429 in results
