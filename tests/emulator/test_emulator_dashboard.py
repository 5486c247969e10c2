"""The emulator's Dashboard REST endpoints keep the documented contracts (reference b.3-b.7)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import requests

from amplitude_emulator import (
    API_KEY_A,
    API_KEY_B,
    PROJECT_A_ID,
    SECRET_KEY_A,
    SECRET_KEY_B,
    Emulator,
    catalog,
    data,
)

AUTH_A = (API_KEY_A, SECRET_KEY_A)
HEAVY_AMPLITUDE_ID = data.USERS[0].amplitude_id
DASHBOARD_PATHS = [
    ("/api/2/events/list", {}),
    ("/api/2/usersearch", {"user": "alice"}),
    ("/api/2/useractivity", {"user": str(HEAVY_AMPLITUDE_ID)}),
    ("/api/2/annotations", {}),
    ("/api/3/annotations", {}),
    ("/api/3/cohorts", {}),
    ("/api/2/users", {"start": "20240301", "end": "20240303"}),
    ("/api/2/sessions/average", {"start": "20240301", "end": "20240303"}),
]


def _get(emulator: Emulator, path: str, auth: Any = AUTH_A, **params: str) -> requests.Response:
    return requests.get(f"{emulator.url}{path}", params=params, auth=auth, timeout=30)


def _error(response: requests.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert error["http_code"] == response.status_code
    return error


@pytest.mark.parametrize(("path", "params"), DASHBOARD_PATHS)
def test_dashboard_endpoints_need_basic_auth(emulator: Emulator, path: str, params: dict) -> None:
    assert _get(emulator, path, auth=None, **params).status_code == 401
    wrong = _get(emulator, path, auth=(API_KEY_A, SECRET_KEY_B), **params)
    assert wrong.status_code == 403
    assert _error(wrong)["metadata"]["details"] == "Invalid API Key"
    assert _get(emulator, path, **params).status_code == 200


def test_events_list_returns_visible_event_types_with_week_totals(emulator: Emulator) -> None:
    rows = _get(emulator, "/api/2/events/list").json()["data"]
    keys = {
        "id",
        "value",
        "display",
        "totals",
        "totals_delta",
        "deleted",
        "hidden",
        "non_active",
        "flow_hidden",
    }
    assert all(keys <= set(row) for row in rows)
    assert catalog.HIDDEN_EVENT_NAME not in {row["value"] for row in rows}
    assert not any(row["hidden"] for row in rows)
    counts = Counter(row["event_type"] for row in emulator.state.projects[PROJECT_A_ID].export_rows)
    assert {row["value"]: row["totals"] for row in rows} == {
        name: counts.get(name, 0) for name in (row["value"] for row in rows)
    }


@pytest.mark.parametrize(
    ("term", "match_type"),
    [
        (data.HEAVY_USER_ID, "match_user_or_device_id"),
        ("heavy.us", "match_user_prefix"),
        (str(HEAVY_AMPLITUDE_ID), "match_amplitude_id"),
        (data.USERS[0].device_id, "match_user_or_device_id"),
    ],
)
def test_user_search_matches_user_id_prefix_amplitude_id_and_device_id(
    emulator: Emulator, term: str, match_type: str
) -> None:
    body = _get(emulator, "/api/2/usersearch", user=term).json()
    assert body["type"] == match_type  # the documented type of each kind of term
    assert [match["amplitude_id"] for match in body["matches"]] == [HEAVY_AMPLITUDE_ID]
    match = body["matches"][0]
    assert match["user_id"] == data.HEAVY_USER_ID
    assert {"last_device_id", "platform", "country", "last_seen"} <= set(match)


def test_user_search_finds_the_anonymous_device_with_null_user_id(emulator: Emulator) -> None:
    body = _get(emulator, "/api/2/usersearch", user=data.ANONYMOUS_DEVICE_ID).json()
    assert [match["user_id"] for match in body["matches"]] == [None]


def test_user_search_without_match_is_200_nomatch(emulator: Emulator) -> None:
    response = _get(emulator, "/api/2/usersearch", user="nobody-here")
    assert response.status_code == 200
    assert response.json() == {"type": "nomatch", "matches": []}
    assert _get(emulator, "/api/2/usersearch").status_code == 400


def _page(emulator: Emulator, **params: str) -> dict[str, Any]:
    response = _get(emulator, "/api/2/useractivity", user=str(HEAVY_AMPLITUDE_ID), **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_user_activity_pages_cover_every_event_once_with_offset_plus_returned(
    emulator: Emulator,
) -> None:
    expected = [
        row
        for row in emulator.state.projects[PROJECT_A_ID].export_rows
        if row["amplitude_id"] == HEAVY_AMPLITUDE_ID
    ]
    assert len(expected) > 1000
    seen: list[str] = []
    pages = 0
    offset = 0
    while True:
        events = _page(emulator, offset=str(offset), limit="250")["events"]
        pages += 1
        seen.extend(event["uuid"] for event in events)
        offset += len(events)
        if len(events) < 250:
            break
    assert pages >= 5
    assert len(seen) == len(set(seen)) == len(expected)
    assert set(seen) == {row["uuid"] for row in expected}


def test_user_activity_completes_the_session_at_the_page_edge(emulator: Emulator) -> None:
    whole = (
        _page(emulator, limit="1000")["events"]
        + _page(emulator, offset="1000", limit="1000")["events"]
    )
    grew = 0
    for offset in range(0, 200, 7):
        events = _page(emulator, offset=str(offset), limit="5")["events"]
        assert len(events) >= 5
        grew += len(events) > 5
        following = whole[offset + len(events)] if offset + len(events) < len(whole) else None
        if following is not None and events[-1]["session_id"] != -1:
            assert following["session_id"] != events[-1]["session_id"]
    assert grew > 0


def test_user_activity_latest_first_by_default_and_earliest_on_request(emulator: Emulator) -> None:
    latest = _page(emulator, limit="50")["events"]
    earliest = _page(emulator, limit="50", direction="earliest")["events"]
    latest_times = [event["event_time"] for event in latest]
    earliest_times = [event["event_time"] for event in earliest]
    assert latest_times == sorted(latest_times, reverse=True)
    assert earliest_times == sorted(earliest_times)
    assert latest_times[0] > earliest_times[0]


def test_user_activity_returns_user_data_events_and_metadata(emulator: Emulator) -> None:
    body = _page(emulator, limit="3")
    user = body["userData"]
    documented = {
        "user_id",
        "canonical_amplitude_id",
        "merged_amplitude_ids",
        "num_events",
        "num_sessions",
        "usage_time",
        "first_used",
        "last_used",
        "purchases",
        "revenue",
        "platform",
        "os",
        "version",
        "device",
        "device_type",
        "carrier",
        "country",
        "region",
        "city",
        "dma",
        "language",
        "start_version",
        "device_ids",
        "last_location",
        "properties",
    }
    assert documented <= set(user)
    assert user["canonical_amplitude_id"] == HEAVY_AMPLITUDE_ID
    assert user["num_events"] > 1000
    assert {"missingData", "queryIds", "cached", "timeComputed"} <= set(body["metadata"])
    event = body["events"][0]
    assert {
        "uuid",
        "event_type",
        "raw_event_type",
        "os",
        "session_id",
        "$insert_id",
        "server_upload_time",
    } <= set(event)


@pytest.mark.parametrize(
    "params",
    [
        {"user": str(HEAVY_AMPLITUDE_ID), "limit": "1001"},
        {"user": str(HEAVY_AMPLITUDE_ID), "limit": "0"},
        {"user": str(HEAVY_AMPLITUDE_ID), "offset": "-1"},
        {"user": str(HEAVY_AMPLITUDE_ID), "direction": "sideways"},
        {"user": data.HEAVY_USER_ID},
        {},
    ],
)
def test_user_activity_bad_parameters_are_400_with_dashboard_error(
    emulator: Emulator, params: dict
) -> None:
    response = _get(emulator, "/api/2/useractivity", **params)
    assert response.status_code == 400
    assert _error(response)["metadata"]["details"]


def test_user_activity_limit_cap_follows_the_emulator_limit(emulator: Emulator) -> None:
    emulator.state.limits.useractivity_max_limit = 100
    assert (
        _get(emulator, "/api/2/useractivity", user=str(HEAVY_AMPLITUDE_ID), limit="101").status_code
        == 400
    )
    assert len(_page(emulator, limit="100")["events"]) >= 100


def test_user_activity_of_unknown_amplitude_id_has_no_events(emulator: Emulator) -> None:
    body = _get(emulator, "/api/2/useractivity", user="1234").json()
    assert body["events"] == []


def test_annotations_list_id_date_label_details(emulator: Emulator) -> None:
    rows = _get(emulator, "/api/2/annotations").json()["data"]
    assert rows
    assert all(set(row) == {"id", "date", "label", "details"} for row in rows)


def test_annotations_v3_shape_and_404_when_the_project_serves_only_v2(
    emulator: Emulator,
) -> None:
    rows = _get(emulator, "/api/3/annotations").json()["data"]
    assert rows
    keys = {"id", "start", "end", "details", "category", "label", "chart_id"}
    assert all(set(row) == keys for row in rows)
    assert None in {row["details"] for row in rows}  # nullable in v3
    assert {"id", "name"} == set(next(row["category"] for row in rows if row["category"]))
    emulator.state.projects[PROJECT_A_ID].serves_annotations_v3 = False
    assert _get(emulator, "/api/3/annotations").status_code == 404
    assert _get(emulator, "/api/2/annotations").status_code == 200


def test_event_types_carry_waitroom_approved_and_float_deltas_as_real_rows(
    emulator: Emulator,
) -> None:
    rows = _get(emulator, "/api/2/events/list").json()["data"]
    assert all("waitroom_approved" in row and "clusters_hidden" not in row for row in rows)
    assert None in {row["waitroom_approved"] for row in rows}
    assert all(isinstance(row["totals_delta"], float) for row in rows)


def test_user_activity_user_data_has_aliasing_profiles(emulator: Emulator) -> None:
    assert _page(emulator, limit="1")["userData"]["aliasing_profiles"] == []


def test_cohorts_list_and_403_without_the_add_on(emulator: Emulator) -> None:
    cohorts = _get(emulator, "/api/3/cohorts").json()["cohorts"]
    assert cohorts
    assert all(
        {"id", "name", "appId", "size", "lastMod", "archived", "definition"} <= set(c)
        for c in cohorts
    )
    assert all(isinstance(cohort["lastMod"], int) for cohort in cohorts)
    # epoch SECONDS as in real responses (a millisecond value would be past the year 5000)
    assert all(cohort["lastMod"] < 10**11 for cohort in cohorts)
    assert None in {cohort["createdAt"] for cohort in cohorts}
    assert any(cohort["metadata"] is None for cohort in cohorts)
    assert None in {cohort["view_count"] for cohort in cohorts}
    emulator.state.projects[PROJECT_A_ID].cohorts_addon = False
    response = _get(emulator, "/api/3/cohorts")
    assert response.status_code == 403
    assert _error(response)["message"]


def test_active_users_series_per_day_with_x_values(emulator: Emulator) -> None:
    body = _get(
        emulator, "/api/2/users", start="20240301", end="20240305", m="active", i="1"
    ).json()["data"]
    assert body["xValues"] == ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04", "2024-03-05"]
    assert len(body["series"]) == 1
    assert len(body["series"][0]) == 5
    assert body["series"][0][1] == len(data.USERS)
    assert body["series"][0][3:] == [0, 0]
    assert len(body["seriesLabels"]) == len(body["series"])


def test_active_users_grouped_by_country_has_one_series_per_label(emulator: Emulator) -> None:
    body = _get(emulator, "/api/2/users", start="20240302", end="20240302", g="country").json()[
        "data"
    ]
    countries = {user.country for user in data.USERS}
    assert set(body["seriesLabels"]) == countries
    per_country = dict(
        zip(body["seriesLabels"], (values[0] for values in body["series"]), strict=True)
    )
    assert per_country["United States"] == sum(
        user.country == "United States" for user in data.USERS
    )


def test_active_users_grouped_without_data_reports_none_label(emulator: Emulator) -> None:
    body = _get(emulator, "/api/2/users", start="20200101", end="20200102", g="country").json()[
        "data"
    ]
    assert body["seriesLabels"] == ["(none)"]
    assert body["series"] == [[0, 0]]


def test_new_users_count_users_created_that_day(emulator: Emulator) -> None:
    body = _get(emulator, "/api/2/users", start="20240301", end="20240303", m="new").json()["data"]
    created = Counter(user.created.date().isoformat() for user in data.USERS)
    assert body["series"][0] == [created.get(day, 0) for day in body["xValues"]]


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2024-03-01", "end": "20240303"},
        {"start": "20240303", "end": "20240301"},
        {"start": "20240301", "end": "20240303", "m": "returning"},
        {"start": "20240301", "end": "20240303", "i": "3"},
        {"end": "20240303"},
    ],
)
def test_users_bad_parameters_are_400(emulator: Emulator, params: dict) -> None:
    response = _get(emulator, "/api/2/users", **params)
    assert response.status_code == 400
    assert _error(response)["type"] == "invalid"


def test_users_unknown_group_by_is_invalid_chart_definition(emulator: Emulator) -> None:
    response = _get(emulator, "/api/2/users", start="20240301", end="20240303", g="shoe_size")
    assert response.status_code == 400
    error = _error(response)
    assert error["message"] == "Invalid chart definition"
    assert error["metadata"]["details"] == "Invalid user property shoe_size"


def test_average_session_length_series_per_day(emulator: Emulator) -> None:
    body = _get(emulator, "/api/2/sessions/average", start="20240301", end="20240304").json()[
        "data"
    ]
    # a real 2024 capture: days with a time
    assert body["xValues"] == [f"2024-03-0{n}T00:00:00" for n in range(1, 5)]
    assert body["seriesMeta"] == [{"segmentIndex": 0}]
    averages = body["series"][0]
    assert all(0 < value < 3600 for value in averages[:3])
    assert averages[3] == 0
    assert _get(emulator, "/api/2/sessions/average", start="x", end="20240304").status_code == 400
    emulator.state.projects[PROJECT_A_ID].session_x_values_with_time = False  # older captures
    older = _get(emulator, "/api/2/sessions/average", start="20240301", end="20240302").json()
    assert older["data"]["xValues"] == ["2024-03-01", "2024-03-02"]


def test_empty_project_lists_are_empty(emulator: Emulator) -> None:
    auth_b = (API_KEY_B, SECRET_KEY_B)
    assert _get(emulator, "/api/2/events/list", auth=auth_b).json() == {"data": []}
    assert (
        _get(emulator, "/api/2/usersearch", auth=auth_b, user="alice").json()["type"] == "nomatch"
    )
