"""`on_rejected` / `on_deferred` policies and the run summary (issue #6)."""

from __future__ import annotations

from amplitude_emulator.state import API_KEY_B
from target_amplitude.amplitude import EVENTS
from tests.delivery_support import (
    dead_letters,
    event_item,
    make_deliverer,
    stored_insert_ids,
)


def _batch_with_bad_records():
    items = [event_item(i) for i in range(10)]
    items[2].payload["time"] = "yesterday"
    items[6].payload["user_id"] = "null"
    return items


def _good_ids(items):
    return [item.payload["insert_id"] for i, item in enumerate(items) if i not in (2, 6)]


def test_fail_delivers_the_rest_then_marks_the_run_failed_with_a_report(emulator, tmp_path):
    deliverer = make_deliverer(emulator, tmp_path)  # on_rejected defaults to fail
    items = _batch_with_bad_records()
    deliverer.deliver(EVENTS, items)
    assert stored_insert_ids(emulator) == _good_ids(items)
    assert deliverer.failed
    report = deliverer.report()
    assert report.startswith("2 record(s) were rejected")
    assert "events id=2: invalid_field:time" in report
    assert "events id=6: invalid_field:user_id" in report
    assert dead_letters(tmp_path) == []


def test_dead_letter_writes_record_payload_and_reason_and_goes_on(emulator, tmp_path):
    deliverer = make_deliverer(emulator, tmp_path, on_rejected="dead_letter")
    items = _batch_with_bad_records()
    deliverer.deliver(EVENTS, items)
    assert stored_insert_ids(emulator) == _good_ids(items)
    assert not deliverer.failed
    lines = dead_letters(tmp_path)
    assert [(line["key"], line["reason"]) for line in lines] == [
        ("id=2", "invalid_field:time"),
        ("id=6", "invalid_field:user_id"),
    ]
    first = lines[0]
    assert first["kind"] == "rejected"
    assert first["stream"] == "events"
    assert first["record"] == {"id": 2}
    assert first["payload"] == items[2].payload
    assert first["endpoint"] == "events"
    assert first["response"]["error"] == "Invalid field values on some events"
    assert API_KEY_B not in (tmp_path / "dead_letters.jsonl").read_text()


def test_dead_letters_append_across_deliveries(emulator, tmp_path):
    deliverer = make_deliverer(emulator, tmp_path, on_rejected="dead_letter")
    deliverer.deliver(EVENTS, [event_item(1, time="bad")])
    deliverer.deliver(EVENTS, [event_item(2, time="bad")])
    assert [line["key"] for line in dead_letters(tmp_path)] == ["id=1", "id=2"]


def test_skip_logs_and_goes_on_without_a_file(emulator, tmp_path, caplog):
    deliverer = make_deliverer(emulator, tmp_path, on_rejected="skip")
    items = _batch_with_bad_records()
    deliverer.deliver(EVENTS, items)
    assert stored_insert_ids(emulator) == _good_ids(items)
    assert not deliverer.failed
    assert dead_letters(tmp_path) == []
    assert "Rejected record id=2 of stream 'events': invalid_field:time" in caplog.text
    assert deliverer.summary()["events"]["rejected"] == {
        "invalid_field:time": 1,
        "invalid_field:user_id": 1,
    }


def test_local_rejections_follow_the_same_policy(emulator, tmp_path):
    failing = make_deliverer(emulator, tmp_path)
    failing.reject(event_item(1), "missing_time", "event field 'time': absent")
    assert failing.failed
    assert "missing_time" in failing.report()

    parking = make_deliverer(emulator, tmp_path, on_rejected="dead_letter")
    parking.reject(event_item(2), "missing_time", "event field 'time': absent")
    parking.deliver(EVENTS, [])  # the sink's batch end: makes the dead letters durable
    assert not parking.failed
    (line,) = dead_letters(tmp_path)
    assert (line["reason"], line["endpoint"], line["response"]) == ("missing_time", None, None)


def test_the_summary_adds_up_per_stream(emulator, tmp_path):
    deliverer = make_deliverer(emulator, tmp_path, on_rejected="skip", events_per_request=4)
    orders = [event_item(i, stream="orders") for i in range(9)]
    orders[3].payload["time"] = "bad"
    visits = [event_item(100 + i, stream="visits") for i in range(5)]
    deliverer.deliver(EVENTS, orders)
    deliverer.deliver(EVENTS, visits)
    deliverer.reject(event_item(200, stream="visits"), "missing_time", "absent")
    summary = deliverer.summary()
    for counters in summary.values():
        assert counters["records"] == (
            counters["acknowledged"] + sum(counters["rejected"].values()) + counters["deferred"]
        )
    assert summary["orders"]["acknowledged"] == 8
    assert summary["visits"]["records"] == 6
    assert summary["visits"]["sent"] == 5
    # [0-3] -> 400 naming 3; survivors refill the next request: [0, 1, 2, 4], then [5-8].
    assert summary["orders"]["requests"] == 3
    with emulator.state.lock:
        sizes = [r.body_size for r in emulator.state.requests if r.path == "/batch"]
    assert summary["orders"]["bytes"] + summary["visits"]["bytes"] == sum(sizes)
