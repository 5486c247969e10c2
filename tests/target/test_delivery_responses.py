"""How the Deliverer reads each Amplitude answer (issue #6), driven against the emulator."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from amplitude_emulator.faults import Fault
from amplitude_emulator.state import PROJECT_B_ID
from target_amplitude.amplitude import EVENTS, GROUP_IDENTIFY, IDENTIFY, USERMAP
from target_amplitude.delivery.deliverer import Deliverer
from target_amplitude.delivery.errors import ConfigurationError
from target_amplitude.delivery.http import AmplitudeClient
from target_amplitude.delivery.pending import Item
from tests.delivery_support import (
    FakeClock,
    dead_letters,
    event_item,
    identify_item,
    make_deliverer,
    posted_bodies,
    posted_insert_ids,
    stored_insert_ids,
)


def test_200_acknowledges_every_event_and_counts_it(emulator, tmp_path):
    deliverer = make_deliverer(emulator, tmp_path)
    items = [event_item(i) for i in range(25)]
    deliverer.deliver(EVENTS, items)
    assert stored_insert_ids(emulator) == [item.payload["insert_id"] for item in items]
    summary = deliverer.summary()["events"]
    assert summary["acknowledged"] == 25
    assert summary["requests"] == 1
    assert summary["bytes"] == posted_bodies(emulator, "/batch")[0][1].__len__()
    assert not deliverer.failed


def test_requests_respect_the_count_and_byte_caps_measured_while_filling(emulator, tmp_path):
    deliverer = make_deliverer(emulator, tmp_path, events_per_request=40, max_request_bytes=6000)
    items = [event_item(i) for i in range(300)]
    deliverer.deliver(EVENTS, items)
    bodies = [body for _, body in posted_bodies(emulator, "/batch")]
    assert all(len(body) <= 6000 for body in bodies)
    assert all(len(json.loads(body)["events"]) <= 40 for body in bodies)
    assert any(len(body) > 5000 for body in bodies)  # the byte cap, not the count, bound them
    assert stored_insert_ids(emulator) == [item.payload["insert_id"] for item in items]


def test_httpapi_body_carries_options_only_when_min_id_length_is_set(emulator, tmp_path):
    plain = make_deliverer(emulator, tmp_path, event_endpoint="httpapi")
    plain.deliver(EVENTS, [event_item(1)])
    with_option = make_deliverer(emulator, tmp_path, event_endpoint="httpapi", min_id_length=3)
    with_option.deliver(EVENTS, [event_item(2, user="abc")])
    first, second = (json.loads(body) for _, body in posted_bodies(emulator, "/2/httpapi"))
    assert "options" not in first
    assert second["options"] == {"min_id_length": 3}
    assert len(stored_insert_ids(emulator)) == 2


def test_identify_is_form_encoded_with_an_identification_array(emulator, tmp_path):
    deliverer = make_deliverer(emulator, tmp_path)
    deliverer.deliver(IDENTIFY, [identify_item(i) for i in range(3)])
    ((status, body),) = posted_bodies(emulator, "/identify")
    fields = urllib.parse.parse_qs(body.decode())
    assert status == 200
    assert [item["user_id"] for item in json.loads(fields["identification"][0])] == [
        "user-00000",
        "user-00001",
        "user-00002",
    ]
    assert len(emulator.state.projects[PROJECT_B_ID].user_profiles) == 3


def test_400_index_maps_reject_those_records_and_resend_only_the_survivors(emulator, tmp_path):
    deliverer = make_deliverer(emulator, tmp_path, on_rejected="dead_letter")
    items = [event_item(i) for i in range(20)]
    items[3].payload["time"] = "2026-01-01T00:00:00Z"  # invalid field
    del items[7].payload["event_type"]  # missing field
    items[11].payload["user_id"] = "abc"  # too short: invalid id length
    deliverer.deliver(EVENTS, items)
    bad = {3, 7, 11}
    survivors = [item.payload["insert_id"] for i, item in enumerate(items) if i not in bad]
    first, second = posted_insert_ids(emulator)
    assert len(first) == 20
    assert second == survivors  # only the survivors, in their original order
    assert stored_insert_ids(emulator) == survivors
    reasons = {line["key"]: line["reason"] for line in dead_letters(tmp_path)}
    assert reasons == {
        "id=3": "invalid_field:time",
        "id=7": "missing_field:event_type",
        "id=11": "invalid_id_length:user_id",
    }
    assert deliverer.summary()["events"]["rejected"] == {
        "invalid_field:time": 1,
        "missing_field:event_type": 1,
        "invalid_id_length:user_id": 1,
    }


def test_400_repeats_while_new_indices_appear(emulator, tmp_path):
    """The http-v2 page says a list may name only the first bad event: loop until a 200."""
    deliverer = make_deliverer(emulator, tmp_path, on_rejected="skip")
    first_only = {
        "code": 400,
        "error": "Invalid field values on some events",
        "events_with_invalid_fields": {"time": [2]},
    }
    emulator.state.add_fault(Fault(kind="status", status=400, path="/batch", body=first_only))
    items = [event_item(i) for i in range(6)]
    items[2].payload["time"] = "bad"
    items[4].payload["time"] = "bad too"
    deliverer.deliver(EVENTS, items)
    assert [len(ids) for ids in posted_insert_ids(emulator)] == [6, 5, 4]
    assert stored_insert_ids(emulator) == [
        "ins-0000000",
        "ins-0000001",
        "ins-0000003",
        "ins-0000005",
    ]


def test_silenced_devices_are_rejected_and_throttled_indices_wait(emulator, tmp_path):
    clock = FakeClock()
    deliverer = make_deliverer(emulator, tmp_path, clock, on_rejected="dead_letter")
    items = [event_item(i, user=f"user-{i:05d}") for i in range(5)]
    silenced = {
        "code": 400,
        "error": "Events silenced for device_id",
        "eps_threshold": 1000,
        "silenced_devices": ["dev-spam"],
        "silenced_events": [1],
        "throttled_devices": {},
        "throttled_events": [3],
    }
    emulator.state.add_fault(Fault(kind="status", status=400, path="/batch", body=silenced))
    deliverer.deliver(EVENTS, items)
    assert posted_insert_ids(emulator)[1:] == [
        ["ins-0000000", "ins-0000002", "ins-0000004"],
        ["ins-0000003"],
    ]
    assert clock.sleeps == [15.0]
    assert [line["reason"] for line in dead_letters(tmp_path)] == ["silenced_device"]


def test_400_without_indices_bisects_to_the_one_bad_record_in_2000(emulator, tmp_path):
    deliverer = make_deliverer(
        emulator, tmp_path, identifications_per_request=2000, on_rejected="dead_letter"
    )
    items = [identify_item(i) for i in range(2000)]
    items[1234].payload["user_id"] = "null"  # /identify answers 400 missing_event, no index
    deliverer.deliver(IDENTIFY, items)
    assert [line["key"] for line in dead_letters(tmp_path)] == ["id=1234"]
    assert dead_letters(tmp_path)[0]["reason"] == "bad_request"
    profiles = emulator.state.projects[PROJECT_B_ID].user_profiles
    assert len(profiles) == 1999
    requests = posted_bodies(emulator, "/identify")
    assert len(requests) <= 2 * 12 + 1  # halving: about two requests per level of log2(2000)
    assert deliverer.caps(IDENTIFY)[0] == 2000  # bisection does not shrink later requests


def test_413_splits_the_request_and_lowers_the_size_for_the_rest_of_the_run(emulator, tmp_path):
    emulator.state.limits.batch_max_events = 300
    deliverer = make_deliverer(emulator, tmp_path)
    items = [event_item(i) for i in range(1000)]
    deliverer.deliver(EVENTS, items)
    sizes = [
        (status, len(json.loads(body)["events"]))
        for status, body in posted_bodies(emulator, "/batch")
    ]
    assert sizes[:3] == [(413, 1000), (413, 500), (200, 250)]
    assert deliverer.caps(EVENTS)[0] == 250
    assert all(count <= 250 for status, count in sizes[3:] if status == 200)
    assert stored_insert_ids(emulator) == [item.payload["insert_id"] for item in items]
    before = len(sizes)
    deliverer.deliver(EVENTS, [event_item(i) for i in range(1000, 1600)])
    later = [
        (status, len(json.loads(body)["events"]))
        for status, body in posted_bodies(emulator, "/batch")
    ][before:]
    assert len(later) == 3  # the lowered size holds for later batches: no new 413
    assert all(status == 200 and count <= 250 for status, count in later)


def test_a_single_record_still_too_large_is_rejected_with_that_reason(emulator, tmp_path):
    emulator.state.limits.batch_max_bytes = 3000
    deliverer = make_deliverer(emulator, tmp_path, on_rejected="dead_letter")
    items = [event_item(i) for i in range(6)]
    items[4].payload["event_properties"] = {"blob": "x" * 5000}
    deliverer.deliver(EVENTS, items)
    assert [(line["key"], line["reason"]) for line in dead_letters(tmp_path)] == [
        ("id=4", "payload_too_large")
    ]
    assert sorted(stored_insert_ids(emulator)) == [
        item.payload["insert_id"] for i, item in enumerate(items) if i != 4
    ]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"code": 400, "error": "Request missing required field", "missing_field": "api_key"}),
        (400, {"code": 400, "error": "Invalid JSON request body"}),
        (401, {"code": 401, "error": "Unauthorized"}),
        (404, {"code": 404, "error": "Invalid request path"}),
    ],
)
def test_request_level_errors_are_fatal_config_errors(emulator, tmp_path, status, body):
    deliverer = make_deliverer(emulator, tmp_path)
    emulator.state.add_fault(Fault(kind="status", status=status, path="/batch", body=body))
    with pytest.raises(ConfigurationError, match=str(body["error"])):
        deliverer.deliver(EVENTS, [event_item(i) for i in range(3)])
    assert stored_insert_ids(emulator) == []
    assert len(posted_bodies(emulator, "/batch")) == 1  # no retry, no bisection


def test_an_invalid_api_key_is_fatal_and_never_echoed(emulator, tmp_path):
    deliverer = Deliverer.from_config(
        {
            "api_key": "wrong-key-123456",
            "api_url": emulator.url,
            "dead_letter_path": str(tmp_path / "dl.jsonl"),
        },
    )
    with pytest.raises(ConfigurationError) as caught:
        deliverer.deliver(EVENTS, [event_item(1)])
    assert "Invalid API key" in str(caught.value)
    assert "wrong-key-123456" not in str(caught.value)


def test_a_403_on_the_first_request_is_fatal_but_later_isolates_the_record(emulator, tmp_path):
    deliverer = make_deliverer(emulator, tmp_path, on_rejected="skip")
    forbidden = {"code": 403, "error": "Forbidden"}
    emulator.state.add_fault(Fault(kind="status", status=403, path="/batch", body=forbidden))
    with pytest.raises(ConfigurationError, match="403"):
        deliverer.deliver(EVENTS, [event_item(0)])
    deliverer.deliver(EVENTS, [event_item(1)])
    emulator.state.add_fault(Fault(kind="status", status=403, path="/batch", body=forbidden))
    deliverer.deliver(EVENTS, [event_item(2)])
    assert stored_insert_ids(emulator) == ["ins-0000001"]
    assert deliverer.summary()["events"]["rejected"] == {"forbidden": 1}


def test_200_with_fewer_events_ingested_is_logged_not_failed(emulator, tmp_path, caplog):
    deliverer = make_deliverer(emulator, tmp_path)
    fewer = {"code": 200, "events_ingested": 1, "payload_size_bytes": 10, "server_upload_time": 1}
    emulator.state.add_fault(Fault(kind="status", status=200, path="/batch", body=fewer))
    deliverer.deliver(EVENTS, [event_item(i) for i in range(3)])
    assert "reports 1 ingested" in caplog.text
    assert deliverer.summary()["events"]["acknowledged"] == 3
    assert deliverer.summary()["events"]["not_ingested"] == 2


def test_endpoint_urls_follow_the_region_and_the_api_url_override():
    us = AmplitudeClient("k", region="us")
    eu = AmplitudeClient("k", region="eu", event_endpoint="httpapi")
    proxy = AmplitudeClient("k", api_url="http://127.0.0.1:9/", event_endpoint="httpapi")
    assert us.urls == {
        EVENTS: "https://api2.amplitude.com/batch",
        IDENTIFY: "https://api2.amplitude.com/identify",
        GROUP_IDENTIFY: "https://api2.amplitude.com/groupidentify",
        USERMAP: "https://api.amplitude.com/usermap",
    }
    assert eu.urls[EVENTS] == "https://api.eu.amplitude.com/2/httpapi"
    assert eu.urls[USERMAP] == "https://api.eu.amplitude.com/usermap"
    assert proxy.urls[EVENTS] == "http://127.0.0.1:9/2/httpapi"
    assert proxy.urls[USERMAP] == "http://127.0.0.1:9/usermap"


def test_group_identify_and_usermap_go_as_form_arrays(emulator, tmp_path):
    deliverer = make_deliverer(emulator, tmp_path)
    groups = [
        Item(
            {
                "group_type": "org",
                "group_value": f"org-{n}",
                "group_properties": {"$set": {"n": n}},
            },
            {"n": n},
            "orgs",
            f"n={n}",
        )
        for n in range(3)
    ]
    mappings = [
        Item({"user_id": "user-alias-1", "global_user_id": "user-global-1"}, {}, "map", "1")
    ]
    deliverer.deliver(GROUP_IDENTIFY, groups)
    deliverer.deliver(USERMAP, mappings)
    ((_, body),) = posted_bodies(emulator, "/groupidentify")
    identification = json.loads(urllib.parse.parse_qs(body.decode())["identification"][0])
    assert [g["group_value"] for g in identification] == ["org-0", "org-1", "org-2"]
    project = emulator.state.projects[PROJECT_B_ID]
    assert len(project.group_profiles) == 3
    assert project.user_mappings == {"user-alias-1": {"global_user_id": "user-global-1"}}


def test_a_400_without_indices_whose_halves_pass_rejects_nothing(emulator, tmp_path):
    deliverer = make_deliverer(emulator, tmp_path, on_rejected="dead_letter")
    body = {"code": 400, "error": "Invalid event JSON"}
    emulator.state.add_fault(Fault(kind="status", status=400, path="/batch", body=body))
    items = [event_item(i) for i in range(10)]
    deliverer.deliver(EVENTS, items)
    assert [len(ids) for ids in posted_insert_ids(emulator)] == [10, 5, 5]
    assert stored_insert_ids(emulator) == [item.payload["insert_id"] for item in items]
    assert dead_letters(tmp_path) == []
