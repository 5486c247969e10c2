"""The emulator's /batch and /2/httpapi answer and store exactly as the HTTP V2 / Batch docs say."""

from __future__ import annotations

import gzip
import json

import pytest
import requests

from amplitude_emulator import API_KEY_B, PROJECT_B_ID

ENDPOINTS = ["/batch", "/2/httpapi"]


def event(index: int = 0, **fields) -> dict:
    base = {
        "event_type": "Order Completed",
        "user_id": f"user-{index:04d}",
        "time": 1_700_000_000_000,
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


def upload(emulator, events, path="/batch", **extra) -> requests.Response:
    return requests.post(
        emulator.url + path, json={"api_key": API_KEY_B, "events": events, **extra}, timeout=10
    )


def stored(emulator) -> list[dict]:
    return emulator.state.projects[PROJECT_B_ID].ingested_events


@pytest.mark.parametrize("path", ENDPOINTS)
def test_accepted_request_answers_the_documented_200_body(emulator, path):
    body = json.dumps({"api_key": API_KEY_B, "events": [event(0), event(1)]}).encode()
    response = requests.post(
        emulator.url + path, data=body, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 200
    payload = response.json()
    assert payload["code"] == 200
    assert payload["events_ingested"] == 2
    assert payload["payload_size_bytes"] == len(body)
    assert abs(payload["server_upload_time"] - emulator.state.now() * 1000) < 60_000
    assert [e["user_id"] for e in stored(emulator)] == ["user-0000", "user-0001"]


def test_stored_events_get_upload_time_amplitude_id_and_default_time(emulator):
    upload(emulator, [event(0, time=None), event(1)])
    first, second = stored(emulator)
    assert first["time"] == first["server_upload_time"]
    assert second["time"] == 1_700_000_000_000
    assert first["amplitude_id"] != second["amplitude_id"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_gzip_body_is_accepted(emulator, path):
    body = gzip.compress(json.dumps({"api_key": API_KEY_B, "events": [event()]}).encode())
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    response = requests.post(emulator.url + path, data=body, headers=headers, timeout=10)
    assert response.status_code == 200
    assert len(stored(emulator)) == 1


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"", "application/json", "Missing request body"),
        (b"{not json", "application/json", "Invalid JSON request body"),
        (b"[1, 2]", "application/json", "Invalid JSON request body"),
        (b"api_key=x&events=[]", "application/x-www-form-urlencoded", "Invalid JSON request body"),
    ],
)
@pytest.mark.parametrize("path", ENDPOINTS)
def test_unreadable_bodies_are_400_with_the_documented_error(
    emulator, path, body, content_type, message
):
    response = requests.post(
        emulator.url + path, data=body, headers={"Content-Type": content_type}, timeout=10
    )
    assert response.status_code == 400
    assert response.json() == {"code": 400, "error": message}


@pytest.mark.parametrize(
    ("payload", "field"), [({"events": [event()]}, "api_key"), ({"api_key": API_KEY_B}, "events")]
)
def test_missing_required_field_names_it(emulator, payload, field):
    response = requests.post(emulator.url + "/batch", json=payload, timeout=10)
    assert response.status_code == 400
    assert response.json() == {
        "code": 400,
        "error": "Request missing required field",
        "missing_field": field,
    }


@pytest.mark.parametrize("path", ENDPOINTS)
def test_unknown_api_key_is_400_invalid_api_key(emulator, path):
    response = requests.post(
        emulator.url + path, json={"api_key": "nope-key", "events": [event()]}, timeout=10
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("Invalid API key")


def test_invalid_fields_list_every_offending_index(emulator):
    events = [
        event(0),
        event(1, time="2024-01-01T00:00:00Z"),
        event(2, price="9.99", quantity=1.5),
        event(3, revenue=True, time=1.5),
        event(4, groups={f"type{n}": "v" for n in range(6)}),
        event(5, groups={"company": [f"c{n}" for n in range(11)]}),
        event(6, event_properties=["not", "an", "object"]),
        event(7, session_id="abc"),
    ]
    response = upload(emulator, events)
    assert response.status_code == 400
    assert response.json() == {
        "code": 400,
        "error": "Invalid field values on some events",
        "events_with_invalid_fields": {
            "time": [1, 3],
            "price": [2],
            "quantity": [2],
            "revenue": [3],
            "groups": [4, 5],
            "event_properties": [6],
            "session_id": [7],
        },
    }
    assert stored(emulator) == []


def test_missing_event_type_and_missing_ids_are_listed(emulator):
    events = [event(0), event(1, event_type=None), event(2, event_type=""), event(3, user_id=None)]
    body = upload(emulator, events).json()
    assert body["events_with_missing_fields"] == {
        "event_type": [1, 2],
        "user_id": [3],
        "device_id": [3],
    }


def test_short_ids_are_removed_and_events_left_without_id_are_listed(emulator):
    events = [
        event(0, user_id="abcd"),
        event(1, user_id="abcd", device_id="dev-123456"),
        event(2, user_id="abc", device_id="xy"),
    ]
    body = upload(emulator, events).json()
    assert body["events_with_invalid_id_lengths"] == {"user_id": [0, 2], "device_id": [2]}
    assert stored(emulator) == []
    assert upload(emulator, [events[1]]).status_code == 200
    assert "user_id" not in stored(emulator)[0]
    assert stored(emulator)[0]["device_id"] == "dev-123456"


def test_min_id_length_option_admits_shorter_ids(emulator):
    response = upload(emulator, [event(0, user_id="ab")], options={"min_id_length": 2})
    assert response.status_code == 200
    assert stored(emulator)[0]["user_id"] == "ab"


@pytest.mark.parametrize(
    "bad_id",
    [
        "anonymous",
        "nil",
        "None",
        "null",
        "n/a",
        "na",
        "undefined",
        "UNKNOWN",
        '""',
        "00000000-0000-0000-0000-000000000000",
        "{}",
        "lmy47d",
        "0",
        "-1",
    ],
)
def test_documented_invalid_id_values_are_rejected_even_beside_a_valid_id(emulator, bad_id):
    events = [event(0), event(1, user_id=bad_id, device_id="device-12345")]
    response = upload(emulator, events, options={"min_id_length": 1})
    assert response.status_code == 400
    assert response.json()["events_with_invalid_fields"] == {"user_id": [1]}
    assert stored(emulator) == []


def test_long_strings_are_truncated_not_rejected(emulator):
    long = "x" * 2000
    assert (
        upload(
            emulator, [event(0, event_properties={"note": long, "nested": [{"deep": long}]})]
        ).status_code
        == 200
    )
    properties = stored(emulator)[0]["event_properties"]
    assert len(properties["note"]) == 1024
    assert len(properties["nested"][0]["deep"]) == 1024


@pytest.mark.parametrize(
    ("path", "cap_name"), [("/batch", "batch_max_events"), ("/2/httpapi", "httpapi_max_events")]
)
def test_more_events_than_the_endpoint_cap_is_413(emulator, path, cap_name):
    setattr(emulator.state.limits, cap_name, 3)
    response = upload(emulator, [event(n) for n in range(4)], path)
    assert response.status_code == 413
    assert response.json() == {"code": 413, "error": "Payload too large"}
    assert stored(emulator) == []
    assert upload(emulator, [event(n) for n in range(3)], path).status_code == 200


@pytest.mark.parametrize("path", ENDPOINTS)
def test_default_event_cap_is_2000(emulator, path):
    response = upload(emulator, [event(n % 50, insert_id=str(n)) for n in range(2001)], path)
    assert response.status_code == 413
    assert (
        upload(emulator, [event(n % 50, insert_id=str(n)) for n in range(2000)], path).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("path", "cap_name"), [("/batch", "batch_max_bytes"), ("/2/httpapi", "httpapi_max_bytes")]
)
def test_body_over_the_endpoint_byte_cap_is_413(emulator, path, cap_name):
    setattr(emulator.state.limits, cap_name, 500)
    response = upload(
        emulator, [event(n, event_properties={"pad": "p" * 100}) for n in range(5)], path
    )
    assert response.status_code == 413
    assert stored(emulator) == []


def test_default_byte_caps_are_1mb_for_httpapi_and_20mb_for_batch(emulator):
    events = [event(n, event_properties={"pad": "p" * 1000}) for n in range(1100)]  # ~1.2 MB
    assert upload(emulator, events, "/2/httpapi").status_code == 413
    assert upload(emulator, events, "/batch").status_code == 200


def test_byte_cap_counts_the_decompressed_body(emulator):
    emulator.state.limits.batch_max_bytes = 2000
    body = json.dumps(
        {
            "api_key": API_KEY_B,
            "events": [event(n, event_properties={"p": "a" * 500}) for n in range(5)],
        }
    )
    compressed = gzip.compress(body.encode())
    assert len(compressed) < 2000 < len(body)
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    assert (
        requests.post(
            emulator.url + "/batch", data=compressed, headers=headers, timeout=10
        ).status_code
        == 413
    )


def test_eps_cap_throttles_only_the_ids_over_it_and_ingests_nothing(emulator):
    limits = emulator.state.limits
    limits.eps_cap, limits.eps_window_seconds = 1, 10  # 10 events per id per 10 s
    assert upload(emulator, [event(1, insert_id=f"a{n}") for n in range(8)]).status_code == 200
    events = [
        event(1, insert_id="b0"),
        event(2),
        event(1, insert_id="b1"),
        event(2),
        event(1, insert_id="b2"),
    ]
    response = upload(emulator, events)
    assert response.status_code == 429
    assert response.json() == {
        "code": 429,
        "error": "Too many requests for some devices and users",
        "eps_threshold": 1,
        "throttled_devices": {},
        "throttled_users": {"user-0001": 1.1},
        "throttled_events": [0, 2, 4],
    }
    assert len(stored(emulator)) == 8
    emulator.state.clock_offset += 11
    assert upload(emulator, events).status_code == 200
    assert len(stored(emulator)) == 13


def test_eps_cap_counts_devices_separately(emulator):
    limits = emulator.state.limits
    limits.eps_cap, limits.eps_window_seconds = 0.2, 10  # 2 events per id per 10 s
    events = [event(n, device_id="shared-device", insert_id=str(n)) for n in range(3)]
    body = upload(emulator, events).json()
    assert body["throttled_devices"] == {"shared-device": pytest.approx(0.3)}
    assert body["throttled_users"] == {}
    assert body["throttled_events"] == [0, 1, 2]


def test_daily_quota_names_exceeded_users_and_devices(emulator):
    emulator.state.limits.daily_quota = 3
    first = [event(1, device_id="device-aaaa", insert_id=str(n)) for n in range(3)]
    assert upload(emulator, first).status_code == 200
    emulator.state.clock_offset += 3600  # an hour later: still within the 24 h
    response = upload(emulator, [event(2), event(1, insert_id="late")])
    body = response.json()
    assert response.status_code == 429
    assert body["exceeded_daily_quota_users"] == {"user-0001": 4}
    assert "exceeded_daily_quota_devices" not in body
    assert body["throttled_users"].keys() == {"user-0001"}
    assert body["throttled_events"] == [1]
    emulator.state.clock_offset += 24 * 3600
    assert upload(emulator, [event(2), event(1, insert_id="late")]).status_code == 200


def test_repeated_insert_id_on_the_same_device_is_acknowledged_but_not_stored(emulator):
    one = event(1, device_id="device-1111", insert_id="order-1")
    assert upload(emulator, [one, dict(one)]).json()["events_ingested"] == 2
    assert upload(emulator, [dict(one)]).status_code == 200
    assert len(stored(emulator)) == 1
    assert upload(emulator, [dict(one, device_id="device-2222")]).status_code == 200
    assert len(stored(emulator)) == 2
    counters = requests.get(
        f"{emulator.url}/__emulator__/projects/{PROJECT_B_ID}/counters", timeout=10
    ).json()
    assert counters["events_stored"] == 2
    assert counters["events_deduplicated"] == 2


def test_insert_id_dedupes_per_user_when_no_device_and_expires_after_the_window(emulator):
    one = event(1, insert_id="order-1")
    upload(emulator, [one])
    upload(emulator, [dict(one)])
    assert len(stored(emulator)) == 1
    emulator.state.clock_offset += emulator.state.limits.dedupe_window_seconds + 1
    upload(emulator, [dict(one)])
    assert len(stored(emulator)) == 2


def test_identify_event_applies_operators_to_the_user_profile(emulator):
    identify = event(
        1,
        event_type="$identify",
        user_properties={"$set": {"plan": "pro"}, "$add": {"logins": 2}},
        groups={"company": "acme"},
    )
    assert (
        upload(emulator, [identify, event(1, user_properties={"color": "blue"})]).status_code == 200
    )
    profile = emulator.state.projects[PROJECT_B_ID].user_profiles["user-0001"]
    assert profile["user_properties"] == {"plan": "pro", "logins": 2, "color": "blue"}
    assert profile["groups"] == {"company": "acme"}


def test_identify_event_mixing_operators_and_plain_keys_is_400(emulator):
    bad = event(1, event_type="$identify", user_properties={"$set": {"a": 1}, "b": 2})
    body = upload(emulator, [event(0), bad]).json()
    assert body["events_with_invalid_fields"] == {"user_properties": [1]}


def test_group_identify_event_without_ids_updates_the_group_profile(emulator):
    group_event = {
        "event_type": "$groupidentify",
        "groups": {"company": "acme"},
        "group_properties": {"$set": {"tier": "gold"}, "$add": {"seats": 5}},
    }
    assert upload(emulator, [group_event]).status_code == 200
    assert emulator.state.projects[PROJECT_B_ID].group_profiles[("company", "acme")] == {
        "tier": "gold",
        "seats": 5,
    }


def test_ack_only_mode_counts_events_without_storing_them(emulator):
    emulator.state.limits.ack_only = True
    response = upload(emulator, [event(n) for n in range(5)] + [{"no": "event_type"}])
    assert response.status_code == 200
    assert response.json()["events_ingested"] == 6
    assert stored(emulator) == []
    counters = requests.get(
        f"{emulator.url}/__emulator__/projects/{PROJECT_B_ID}/counters", timeout=10
    ).json()
    assert counters == {"requests": 1, "events_received": 6}


def test_injected_status_fault_answers_before_validation(emulator):
    requests.post(
        emulator.url + "/__emulator__/faults",
        json={"kind": "status", "path": "/batch", "status": 503},
        timeout=10,
    )
    assert upload(emulator, [event()]).status_code == 503
    assert stored(emulator) == []
    assert upload(emulator, [event()]).status_code == 200


def test_control_api_sets_eps_limits_and_moves_the_clock(emulator):
    control = emulator.url + "/__emulator__"
    requests.post(control + "/limits", json={"eps_cap": 0.1, "eps_window_seconds": 10}, timeout=10)
    assert upload(emulator, [event(1, insert_id="a")]).status_code == 200
    assert upload(emulator, [event(1, insert_id="b")]).status_code == 429
    moved = requests.post(control + "/clock", json={"advance": 11}, timeout=10).json()
    assert moved["offset"] == 11
    assert upload(emulator, [event(1, insert_id="b")]).status_code == 200


def test_reserved_event_types_are_invalid(emulator):
    events = [
        event(0),
        event(1, event_type="[Amplitude] Revenue"),
        event(2, event_type="[Amplitude] Start Session"),
    ]
    body = upload(emulator, events).json()
    assert body["events_with_invalid_fields"] == {"event_type": [1, 2]}


def test_silenced_device_gets_the_documented_400_and_nothing_is_ingested(emulator):
    emulator.state.limits.silenced_devices = ["spam-device"]
    events = [
        event(0),
        event(1, device_id="spam-device"),
        event(2),
        event(3, device_id="spam-device"),
    ]
    response = upload(emulator, events)
    assert response.status_code == 400
    assert response.json() == {
        "code": 400,
        "error": "Events silenced for device_id",
        "eps_threshold": None,
        "silenced_devices": ["spam-device"],
        "silenced_events": [1, 3],
        "throttled_devices": {},
        "throttled_events": [],
    }
    assert stored(emulator) == []
    assert upload(emulator, [events[0], events[2]]).status_code == 200
