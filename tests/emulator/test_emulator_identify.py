"""The emulator's form-encoded /identify, /groupidentify and /usermap, per the Amplitude docs."""

from __future__ import annotations

import json

import pytest
import requests

from amplitude_emulator import API_KEY_B, PROJECT_B_ID


def post_form(emulator, path: str, **fields) -> requests.Response:
    data = {"api_key": API_KEY_B}
    data.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()})
    return requests.post(emulator.url + path, data=data, timeout=10)


def project(emulator):
    return emulator.state.projects[PROJECT_B_ID]


def test_identify_accepts_one_object(emulator):
    identification = {"user_id": "user-0001", "user_properties": {"plan": "pro"}}
    response = post_form(emulator, "/identify", identification=identification)
    assert response.status_code == 200
    assert response.text == "success"
    assert project(emulator).user_profiles["user-0001"]["user_properties"] == {"plan": "pro"}


def test_identify_accepts_an_array_and_applies_operators_in_order(emulator):
    identification = [
        {"user_id": "user-0001", "user_properties": {"$set": {"plan": "free"}, "$add": {"n": 1}}},
        {"user_id": "user-0001", "user_properties": {"$set": {"plan": "pro"}, "$add": {"n": 2}}},
        {"device_id": "device-0002", "user_properties": {"$setOnce": {"first": "ad"}}},
    ]
    assert post_form(emulator, "/identify", identification=identification).status_code == 200
    profiles = project(emulator).user_profiles
    assert profiles["user-0001"]["user_properties"] == {"plan": "pro", "n": 3}
    assert profiles["device-0002"]["user_properties"] == {"first": "ad"}


def test_identify_stores_device_fields_groups_and_links_the_device(emulator):
    identification = {
        "user_id": "user-0001",
        "device_id": "device-0001",
        "platform": "iOS",
        "country": "France",
        "groups": {"company": ["acme", "globex"]},
    }
    post_form(emulator, "/identify", identification=identification)
    profile = project(emulator).user_profiles["user-0001"]
    assert profile["device_id"] == "device-0001"
    assert profile["platform"] == "iOS"
    assert profile["country"] == "France"
    assert profile["groups"] == {"company": ["acme", "globex"]}


def test_identify_accepts_multipart_form_data(emulator):
    files = {
        "api_key": (None, API_KEY_B),
        "identification": (None, json.dumps({"user_id": "user-0001", "user_properties": {"a": 1}})),
    }
    response = requests.post(emulator.url + "/identify", files=files, timeout=10)
    assert response.status_code == 200
    assert project(emulator).user_profiles["user-0001"]["user_properties"] == {"a": 1}


def test_identify_with_a_json_body_finds_no_api_key(emulator):
    body = {"api_key": API_KEY_B, "identification": {"user_id": "user-0001"}}
    response = requests.post(emulator.url + "/identify", json=body, timeout=10)
    assert response.status_code == 400
    assert response.json()["missing_field"] == "api_key"


@pytest.mark.parametrize(
    "identification",
    [None, "not json", [], 5, [{"user_id": "user-0001"}, "text"], [{"user_properties": {"a": 1}}]],
)
def test_identify_without_a_usable_identification_is_400_missing_event(emulator, identification):
    fields = {} if identification is None else {"identification": identification}
    if identification == "not json":
        fields = {"identification": "{not json"}
    response = post_form(emulator, "/identify", **fields)
    assert response.status_code == 400
    assert response.json()["error"] == "missing_event"
    assert project(emulator).user_profiles == {}


def test_identify_refuses_short_or_invalid_ids(emulator):
    assert post_form(emulator, "/identify", identification={"user_id": "abc"}).status_code == 400
    assert post_form(emulator, "/identify", identification={"user_id": "null"}).status_code == 400
    options = {"min_id_length": 3}
    assert (
        post_form(
            emulator, "/identify", identification={"user_id": "abc"}, options=options
        ).status_code
        == 200
    )


def test_identify_mixing_operators_and_plain_keys_is_refused_and_applies_nothing(emulator):
    identification = [
        {"user_id": "user-0001", "user_properties": {"a": 1}},
        {"user_id": "user-0002", "user_properties": {"$set": {"a": 1}, "b": 2}},
    ]
    assert post_form(emulator, "/identify", identification=identification).status_code == 400
    assert project(emulator).user_profiles == {}


def test_identify_over_the_item_cap_is_413(emulator):
    emulator.state.limits.identify_max_items = 2
    items = [{"user_id": f"user-{n:04d}"} for n in range(3)]
    response = post_form(emulator, "/identify", identification=items)
    assert response.status_code == 413
    assert response.json() == {"code": 413, "error": "Payload too large"}


def test_identify_with_an_unknown_key_is_400(emulator):
    data = {"api_key": "nope-key", "identification": json.dumps({"user_id": "user-0001"})}
    response = requests.post(emulator.url + "/identify", data=data, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"].startswith("Invalid API key")


def test_group_identify_applies_operators_to_each_group(emulator):
    identification = [
        {
            "group_type": "company",
            "group_value": "acme",
            "group_properties": {"tier": "silver", "seats": 1},
        },
        {
            "group_type": "company",
            "group_value": "acme",
            "group_properties": {
                "$set": {"tier": "gold"},
                "$add": {"seats": 4},
                "$append": {"tags": "vip"},
            },
        },
        {
            "group_type": "team",
            "group_value": "core",
            "group_properties": {"$setOnce": {"lead": "ann"}},
        },
    ]
    response = post_form(emulator, "/groupidentify", identification=identification)
    assert response.status_code == 200
    groups = project(emulator).group_profiles
    assert groups[("company", "acme")] == {"tier": "gold", "seats": 5, "tags": ["vip"]}
    assert groups[("team", "core")] == {"lead": "ann"}
    listed = requests.get(
        f"{emulator.url}/__emulator__/projects/{PROJECT_B_ID}/groups", timeout=10
    ).json()
    assert {
        "group_type": "team",
        "group_value": "core",
        "group_properties": {"lead": "ann"},
    } in listed


def test_group_identify_accepts_one_object_and_unset(emulator):
    post_form(
        emulator,
        "/groupidentify",
        identification={
            "group_type": "org",
            "group_value": "o1",
            "group_properties": {"a": 1, "b": 2},
        },
    )
    post_form(
        emulator,
        "/groupidentify",
        identification={
            "group_type": "org",
            "group_value": "o1",
            "group_properties": {"$unset": {"a": "-"}},
        },
    )
    assert project(emulator).group_profiles[("org", "o1")] == {"b": 2}


@pytest.mark.parametrize(
    "item",
    [
        {"group_value": "acme"},
        {"group_type": "company"},
        {"group_type": "company", "group_value": 7},
        {
            "group_type": "company",
            "group_value": "acme",
            "group_properties": {"$remove": {"tags": "x"}},
        },
        {
            "group_type": "company",
            "group_value": "acme",
            "group_properties": {"$set": {"a": 1}, "b": 1},
        },
    ],
)
def test_group_identify_refuses_malformed_items_with_400(emulator, item):
    response = post_form(emulator, "/groupidentify", identification=[item])
    assert response.status_code == 400
    assert project(emulator).group_profiles == {}


def test_group_identify_limits_are_answered_with_400(emulator):
    limits = emulator.state.limits
    limits.groupidentify_max_items = 2
    items = [
        {"group_type": "org", "group_value": f"o{n}", "group_properties": {"a": 1}}
        for n in range(3)
    ]
    assert post_form(emulator, "/groupidentify", identification=items).status_code == 400
    limits.groupidentify_max_items, limits.groupidentify_max_properties = 1024, 3
    items = [
        {"group_type": "org", "group_value": f"o{n}", "group_properties": {"a": 1, "b": 2}}
        for n in range(2)
    ]
    assert post_form(emulator, "/groupidentify", identification=items).status_code == 400
    limits.groupidentify_max_properties, limits.groupidentify_max_bytes = 1024, 100
    assert post_form(emulator, "/groupidentify", identification=items).status_code == 400
    assert project(emulator).group_profiles == {}


def test_usermap_maps_and_unmaps_users(emulator):
    mapping = [
        {"user_id": "user-0001", "global_user_id": "global-1"},
        {"user_id": "user-0002", "global_user_id": "global-1"},
    ]
    assert post_form(emulator, "/usermap", mapping=mapping).status_code == 200
    assert (
        post_form(emulator, "/usermap", mapping={"user_id": "user-0002", "unmap": True}).status_code
        == 200
    )
    listed = requests.get(
        f"{emulator.url}/__emulator__/projects/{PROJECT_B_ID}/usermap", timeout=10
    ).json()
    assert listed == {"user-0001": {"global_user_id": "global-1"}}


def test_usermap_refuses_missing_or_malformed_mappings(emulator):
    assert post_form(emulator, "/usermap").json()["missing_field"] == "mapping"
    assert post_form(emulator, "/usermap", mapping=[{"user_id": "user-0001"}]).status_code == 400
    assert project(emulator).user_mappings == {}


def test_usermap_over_the_item_cap_is_413(emulator):
    emulator.state.limits.usermap_max_items = 1
    mapping = [{"user_id": f"user-{n}", "global_user_id": "g"} for n in range(2)]
    assert post_form(emulator, "/usermap", mapping=mapping).status_code == 413


def test_identify_also_accepts_query_parameters_on_get(emulator):
    params = {
        "api_key": API_KEY_B,
        "identification": json.dumps({"user_id": "user-0001", "user_properties": {"a": 1}}),
    }
    assert requests.get(emulator.url + "/identify", params=params, timeout=10).status_code == 200
    assert project(emulator).user_profiles["user-0001"]["user_properties"] == {"a": 1}


def test_identify_is_throttled_per_id_with_a_429_naming_no_indices(emulator):
    limits = emulator.state.limits
    limits.eps_cap, limits.eps_window_seconds = 0.1, 10  # one identification per id per 10 s
    assert (
        post_form(emulator, "/identify", identification={"user_id": "user-0001"}).status_code == 200
    )
    response = post_form(
        emulator, "/identify", identification=[{"user_id": "user-0002"}, {"user_id": "user-0001"}]
    )
    assert response.status_code == 429
    body = response.json()
    assert body["throttled_users"] == {"user-0001": pytest.approx(0.2)}
    assert "throttled_events" not in body
    assert "user-0002" not in project(emulator).user_profiles
    emulator.state.clock_offset += 11
    assert (
        post_form(emulator, "/identify", identification={"user_id": "user-0001"}).status_code == 200
    )
