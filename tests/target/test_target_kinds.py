"""Each object kind lands in the emulator, read back from what it stored (not from what we sent)."""

from __future__ import annotations

import io
import json
import urllib.parse

import pytest
import responses

from amplitude_emulator.faults import Fault
from tests.amplitude_target_runs import config_for, project_b, run_target, singer_input

T0 = "2024-05-01T10:00:00Z"
T0_MS = 1_714_557_600_000


def _requests(emulator, path):
    return [r for r in emulator.state.requests if r.path == path]


def test_events_land_with_time_ids_properties_and_revenue(emulator):
    records = [
        {
            "order_id": 42,
            "customer": {"id": "customer-0042"},
            "device": "device-abcdef",
            "created_at": T0,
            "page": "Checkout",
            "price": "19.5",
            "qty": 2,
            "sku": "SKU-1",
            "company_id": 77,
            "platform": "Web",
            "session_id": 1714557000000,
            "coupon": "SPRING",
        }
    ]
    streams = {
        "orders": {
            "object": "event",
            "event_type": "Viewed {page}",
            "user_id": "customer.id",
            "device_id": "device",
            "time": "created_at",
            "quantity": "qty",
            "productId": "sku",
            "revenueType": {"const": "purchase"},
            "groups": {"company": "company_id"},
            "event_properties": {"exclude": ["page"]},
        }
    }
    run_target(config_for(emulator, streams), singer_input("orders", records, ["order_id"]))

    (event,) = project_b(emulator).ingested_events
    assert event["event_type"] == "Viewed Checkout"
    assert event["user_id"] == "customer-0042"
    assert event["device_id"] == "device-abcdef"
    assert event["time"] == T0_MS
    assert event["price"] == 19.5
    assert event["quantity"] == 2
    assert event["productId"] == "SKU-1"
    assert event["revenueType"] == "purchase"
    assert event["groups"] == {"company": "77"}
    assert event["platform"] == "Web"
    assert event["session_id"] == 1714557000000
    # A dotted path reads into an object but leaves it in the bag (nothing else of it is lost).
    assert event["event_properties"] == {
        "order_id": 42,
        "coupon": "SPRING",
        "customer": {"id": "customer-0042"},
    }
    assert len(event["insert_id"]) == 32


def test_user_profile_gets_every_operator(emulator):
    seed = {
        "user_id": "user-00001",
        "logins": 2,
        "tags": ["a"],
        "first_seen": "2020-01-01",
        "legacy": "x",
        "colors": ["red", "blue"],
        "front": ["m"],
        "pre": ["p1"],
        "post": ["q1"],
    }
    run_target(
        config_for(emulator, {"users_seed": {"object": "user"}}),
        singer_input("users_seed", [seed]),
    )
    update = {
        "user_id": "user-00001",
        "plan": "pro",
        "logins": 3,
        "tags": ["b"],
        "first_seen": "2024-05-01",
        "legacy": "ignored",
        "colors": ["red"],
        "front": ["n"],
        "pre": ["p0", "p1"],
        "post": ["q1", "q2"],
        "country": "Germany",
    }
    operations = {
        "add": ["logins"],
        "append": ["tags"],
        "set_once": ["first_seen"],
        "unset": ["legacy"],
        "remove": ["colors"],
        "prepend": ["front"],
        "$preInsert": ["pre"],
        "post_insert": ["post"],
    }
    streams = {"users": {"object": "user", "property_operations": operations}}
    run_target(config_for(emulator, streams), singer_input("users", [update]))

    profile = project_b(emulator).user_profiles["user-00001"]
    properties = profile["user_properties"]
    assert properties["plan"] == "pro"  # $set by default
    assert properties["logins"] == 5
    assert properties["tags"] == ["a", "b"]
    assert properties["first_seen"] == "2020-01-01"
    assert "legacy" not in properties
    assert properties["colors"] == ["blue"]
    assert properties["front"] == ["n", "m"]
    assert properties["pre"][:2] == ["p0", "p1"]
    assert properties["post"][-2:] == ["q1", "q2"]
    assert profile["country"] == "Germany"  # an identify key goes top-level, not into properties
    (identify,) = _requests(emulator, "/identify")[-1:]
    form = urllib.parse.parse_qs(identify.body.decode())
    (sent,) = json.loads(form["identification"][0])
    assert set(sent["user_properties"]) == {
        "$set",
        "$add",
        "$append",
        "$setOnce",
        "$unset",
        "$remove",
        "$prepend",
        "$preInsert",
        "$postInsert",
    }


def test_null_values_unset_clears_a_property(emulator):
    streams = {"users": {"object": "user", "null_values": "unset"}}
    first = {"user_id": "user-00002", "plan": "pro", "trial_ends": "2024-06-01"}
    run_target(config_for(emulator, streams), singer_input("users", [first]))
    second = {"user_id": "user-00002", "plan": "pro", "trial_ends": None}
    run_target(config_for(emulator, streams), singer_input("users", [second]))

    properties = project_b(emulator).user_profiles["user-00002"]["user_properties"]
    assert properties == {"plan": "pro"}


def test_null_values_skip_keeps_a_property(emulator):
    streams = {"users": {"object": "user"}}
    run_target(
        config_for(emulator, streams), singer_input("users", [{"user_id": "user-00003", "a": 1}])
    )
    run_target(
        config_for(emulator, streams), singer_input("users", [{"user_id": "user-00003", "a": None}])
    )

    assert project_b(emulator).user_profiles["user-00003"]["user_properties"] == {"a": 1}


def test_device_profile_lands_keyed_by_device_id(emulator):
    streams = {"devices": {"object": "device", "device_id": "serial", "os_name": "os"}}
    record = {"serial": "SN-000123", "os": "iOS", "platform": "iOS", "battery": "good"}
    run_target(config_for(emulator, streams), singer_input("devices", [record]))

    profile = project_b(emulator).user_profiles["SN-000123"]
    assert profile["device_id"] == "SN-000123"
    assert profile["user_id"] is None
    assert profile["os_name"] == "iOS"
    assert profile["platform"] == "iOS"
    assert profile["user_properties"] == {"battery": "good"}


def test_group_profile_membership_and_touch_event(emulator):
    streams = {
        "accounts": {
            "object": "group",
            "group_type": {"const": "company"},
            "group_value": "account_id",
            "group_membership": {"user_id": "owner_id"},
            "touch_event": {"event_type": "Account Synced", "time": "updated_at"},
            "group_properties": {"exclude": ["owner_id", "updated_at"]},
            "property_operations": {"seats": "add"},
        }
    }
    record = {
        "account_id": 1001,
        "name": "Acme",
        "seats": 5,
        "owner_id": "user-00010",
        "updated_at": T0,
    }
    run_target(config_for(emulator, streams), singer_input("accounts", [record], ["account_id"]))

    project = project_b(emulator)
    assert project.group_profiles[("company", "1001")] == {"name": "Acme", "seats": 5}
    member = project.user_profiles["user-00010"]
    assert member["groups"] == {"company": "1001"}
    assert member["user_properties"] == {"company": "1001"}
    (touch,) = project.ingested_events
    assert touch["event_type"] == "Account Synced"
    assert touch["user_id"] == "user-00010"
    assert touch["groups"] == {"company": "1001"}
    assert touch["time"] == T0_MS
    paths = [r.path for r in emulator.state.requests]
    assert paths.index("/identify") < paths.index("/groupidentify") < paths.index("/batch")


def test_membership_and_touch_event_use_the_user_streams_id_rule(emulator):
    """A float id (123456.0) or a padded one (" device-0001 ") is the same user everywhere."""
    users = {"users": {"object": "user"}}
    run_target(
        config_for(emulator, users),
        singer_input("users", [{"user_id": 123456.0, "device_id": " device-0001 ", "plan": "pro"}]),
    )
    accounts = {
        "accounts": {
            "object": "group",
            "group_type": {"const": "company"},
            "group_value": "account_id",
            "group_membership": {"user_id": "owner_id", "device_id": "owner_device"},
            "touch_event": "Account Synced",
            "group_properties": {"exclude": ["owner_id", "owner_device"]},
        }
    }
    record = {"account_id": 1001, "owner_id": 123456.0, "owner_device": " device-0001 "}
    run_target(config_for(emulator, accounts), singer_input("accounts", [record], ["account_id"]))

    project = project_b(emulator)
    assert sorted(project.user_profiles) == ["123456"]
    member = project.user_profiles["123456"]
    assert member["device_id"] == "device-0001"
    assert member["groups"] == {"company": "1001"}
    assert member["user_properties"] == {"plan": "pro", "company": "1001"}
    (touch,) = project.ingested_events
    assert (touch["user_id"], touch["device_id"]) == ("123456", "device-0001")


def test_user_touch_event_follows_the_identify(emulator):
    streams = {"users": {"object": "user", "touch_event": "Synced from Warehouse"}}
    record = {"user_id": "user-00011", "plan": "free"}
    run_target(config_for(emulator, streams), singer_input("users", [record]))

    project = project_b(emulator)
    (touch,) = project.ingested_events
    assert touch["event_type"] == "Synced from Warehouse"
    assert touch["user_id"] == "user-00011"
    assert "user_properties" not in touch  # the identify before it set them
    paths = [r.path for r in emulator.state.requests]
    assert paths == ["/identify", "/batch"]


def test_stream_mapped_to_user_and_event_identifies_first(emulator):
    streams = {
        "signups": {
            "object": ["event", "user"],
            "event_type": {"const": "Signed Up"},
            "time": "signed_up_at",
            "user_properties": ["plan"],
            "event_properties": ["source"],
        }
    }
    record = {"user_id": "user-00012", "signed_up_at": T0, "plan": "pro", "source": "ads"}
    run_target(config_for(emulator, streams), singer_input("signups", [record]))

    project = project_b(emulator)
    assert project.user_profiles["user-00012"]["user_properties"]["plan"] == "pro"
    (event,) = project.ingested_events
    assert event["event_properties"] == {"source": "ads"}
    paths = [r.path for r in emulator.state.requests]
    assert paths == ["/identify", "/batch"]


def test_user_mapping_lands_and_unmaps(emulator):
    streams = {"aliases": {"object": "user_mapping", "global_user_id": "canonical"}}
    records = [
        {"user_id": "user-00020", "canonical": "global-0001"},
        {"user_id": "user-00021", "canonical": "global-0001"},
    ]
    run_target(config_for(emulator, streams), singer_input("aliases", records))
    assert project_b(emulator).user_mappings == {
        "user-00020": {"global_user_id": "global-0001"},
        "user-00021": {"global_user_id": "global-0001"},
    }
    unmap = {"aliases": {"object": "user_mapping", "unmap": {"const": True}}}
    run_target(config_for(emulator, unmap), singer_input("aliases", [{"user_id": "user-00020"}]))
    assert set(project_b(emulator).user_mappings) == {"user-00021"}


def test_rerun_adds_no_events_because_insert_ids_are_deterministic(emulator):
    streams = {"clicks": {"event_type": {"const": "Clicked"}}}
    records = [
        {"user_id": f"user-{n:05d}", "time": T0_MS + n, "button": f"b{n}"} for n in range(20)
    ]
    lines = singer_input("clicks", records)  # no key properties: the whole record is hashed
    run_target(config_for(emulator, streams), lines)
    first = [e["insert_id"] for e in project_b(emulator).ingested_events]
    run_target(config_for(emulator, streams), lines)

    project = project_b(emulator)
    assert len(project.ingested_events) == 20
    assert project.counters["events_deduplicated"] == 20
    assert len(set(first)) == 20


def test_request_shapes_json_events_and_form_identifications(emulator):
    streams = {
        "users": {"object": "user"},
        "clicks": {"event_type": {"const": "Clicked"}},
    }
    lines = singer_input("users", [{"user_id": "user-00030", "a": 1}]) + singer_input(
        "clicks", [{"user_id": "user-00030", "time": T0_MS}]
    )
    run_target(config_for(emulator, streams), lines)

    (batch,) = _requests(emulator, "/batch")
    body = json.loads(batch.body)
    assert set(body) == {"api_key", "events"}  # no `options` unless min_id_length is set
    (identify,) = _requests(emulator, "/identify")
    form = urllib.parse.parse_qs(identify.body.decode())
    assert set(form) == {"api_key", "identification"}
    assert isinstance(json.loads(form["identification"][0]), list)


def test_min_id_length_is_sent_as_options_and_allows_short_ids(emulator):
    streams = {"clicks": {"event_type": {"const": "Clicked"}}}
    config = config_for(emulator, streams, min_id_length=3)
    run_target(config, singer_input("clicks", [{"user_id": "abc", "time": T0_MS}]))

    (batch,) = _requests(emulator, "/batch")
    assert json.loads(batch.body)["options"] == {"min_id_length": 3}
    assert project_b(emulator).ingested_events[0]["user_id"] == "abc"


def test_httpapi_endpoint_is_used_when_configured(emulator):
    streams = {"clicks": {"event_type": {"const": "Clicked"}}}
    config = config_for(emulator, streams, event_endpoint="httpapi")
    run_target(config, singer_input("clicks", [{"user_id": "user-00031", "time": T0_MS}]))

    assert [r.path for r in emulator.state.requests] == ["/2/httpapi"]
    assert len(project_b(emulator).ingested_events) == 1


def test_eu_region_sends_to_the_eu_host():
    streams = {"users": {"object": "user"}, "clicks": {"event_type": {"const": "Clicked"}}}
    config = {"api_key": "some-key", "region": "eu", "streams": streams}
    lines = singer_input("users", [{"user_id": "user-00040"}]) + singer_input(
        "clicks", [{"user_id": "user-00040", "time": T0_MS}]
    )
    ok = {"code": 200, "events_ingested": 1, "payload_size_bytes": 10, "server_upload_time": 1}
    with responses.RequestsMock() as mock:
        mock.post("https://api.eu.amplitude.com/batch", json=ok)
        mock.post("https://api.eu.amplitude.com/identify", body="success")
        run_target(config, lines)
        assert sorted(call.request.url for call in mock.calls) == [
            "https://api.eu.amplitude.com/batch",
            "https://api.eu.amplitude.com/identify",
        ]


def test_dry_run_writes_payloads_and_sends_nothing(emulator, tmp_path):
    streams = {"users": {"object": "user"}, "clicks": {"event_type": {"const": "Clicked"}}}
    out = tmp_path / "dry.jsonl"
    config = config_for(emulator, streams, dry_run=True, dry_run_path=str(out))
    lines = singer_input("users", [{"user_id": "user-00050", "a": 1}]) + singer_input(
        "clicks", [{"user_id": "user-00050", "time": T0_MS}], state={"bookmark": 1}
    )
    stdout, _ = run_target(config, lines)

    assert emulator.state.requests == []
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((w["stream"], w["endpoint"]) for w in written) == [
        ("clicks", "events"),
        ("users", "identify"),
    ]
    (click,) = [w for w in written if w["stream"] == "clicks"]
    assert click["payload"]["time"] == T0_MS
    assert json.loads(stdout.strip()) == {"bookmark": 1}


def test_unmapped_stream_is_a_config_error_naming_it(emulator):
    config = config_for(emulator, {"clicks": {"event_type": {"const": "Clicked"}}})
    with pytest.raises(Exception, match="'orders' is not mapped"):
        run_target(config, singer_input("orders", [{"user_id": "user-00060"}]))


def test_default_object_maps_unlisted_streams(emulator):
    config = config_for(emulator, {}, default_object="user")
    run_target(config, singer_input("people", [{"user_id": "user-00061", "a": 1}]))
    assert project_b(emulator).user_profiles["user-00061"]["user_properties"] == {"a": 1}


def test_glob_maps_matching_streams(emulator):
    streams = {"events_*": {"event_type": "name", "time": "ts"}}
    lines = singer_input("events_web", [{"user_id": "user-00062", "name": "Opened", "ts": T0}])
    run_target(config_for(emulator, streams), lines)
    (event,) = project_b(emulator).ingested_events
    assert (event["event_type"], event["time"]) == ("Opened", T0_MS)


def test_batches_are_delivered_in_order_while_the_next_one_is_read(emulator):
    streams = {"clicks": {"event_type": {"const": "Clicked"}}}
    emulator.state.add_fault(Fault("slow", path="/batch", delay=0.3))
    records = [{"user_id": "user-00070", "time": T0_MS + n, "n": n} for n in range(23)]
    config = config_for(emulator, streams, batch_size_rows=5)
    stdout, _ = run_target(config, singer_input("clicks", records, ["n"], state={"done": 23}))

    events = project_b(emulator).ingested_events
    assert [e["event_properties"]["n"] for e in events] == list(range(23))
    assert len(_requests(emulator, "/batch")) == 5
    assert stdout.strip() == '{"done": 23}'


def test_a_failed_batch_stops_later_batches_and_withholds_state(emulator):
    streams = {"clicks": {"event_type": {"const": "Clicked"}}}
    emulator.state.add_fault(Fault("slow", path="/batch", delay=0.2))
    invalid_key = {"code": 400, "error": "Invalid API key: x"}
    emulator.state.add_fault(Fault("status", path="/batch", status=400, body=invalid_key))
    records = [{"user_id": "user-00071", "time": T0_MS + n, "n": n} for n in range(15)]
    config = config_for(emulator, streams, batch_size_rows=5)
    lines = singer_input("clicks", records, ["n"], state={"done": 15})
    printed = io.StringIO()
    with pytest.raises(Exception, match="API key"):
        run_target(config, lines, stdout=printed)
    assert printed.getvalue() == ""  # no STATE

    events = project_b(emulator).ingested_events
    assert [e["event_properties"]["n"] for e in events] == list(range(5))
    assert len(_requests(emulator, "/batch")) == 2


def test_dry_run_without_a_file_logs_the_payloads(emulator, caplog):
    streams = {"clicks": {"event_type": {"const": "Clicked"}}}
    config = config_for(emulator, streams, dry_run=True)
    with caplog.at_level("INFO"):
        run_target(config, singer_input("clicks", [{"user_id": "user-00051", "time": T0_MS}]))

    assert emulator.state.requests == []
    assert '"event_type":"Clicked"' in caplog.text
    assert '"user_id":"user-00051"' in caplog.text
