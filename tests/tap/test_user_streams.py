"""user_search -> user_activity / user_profiles against the emulator's documented user endpoints."""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import datetime, timezone

import requests

from amplitude_emulator import API_KEY_A, PROJECT_A_ID, SECRET_KEY_A, Emulator, data
from amplitude_emulator.faults import Fault
from tap_amplitude.throttle import SlidingWindowThrottle
from tap_amplitude.user_streams import UserActivityPaginator
from tests.dashboard_helpers import base_config, requests_to, run_tap

HEAVY = data.USERS[0]  # more than 1000 events
ALICE = data.USERS[1]
BOB = data.USERS[2]
ACTIVITY = "/api/2/useractivity"


def _events_of(emulator: Emulator, amplitude_id: int) -> list[dict]:
    rows = emulator.state.projects[PROJECT_A_ID].export_rows
    return [row for row in rows if row["amplitude_id"] == amplitude_id]


def test_user_activity_pages_to_the_last_page_and_dedupes_the_session_overlap(
    emulator: Emulator,
) -> None:
    expected = {row["uuid"] for row in _events_of(emulator, HEAVY.amplitude_id)}
    config = base_config(emulator, amplitude_ids=[HEAVY.amplitude_id], user_activity_page_size=100)

    run = run_tap(emulator, config, ["user_activity"])

    pages = requests_to(run, ACTIVITY)
    assert [int(page["offset"]) for page in pages] == list(range(0, 100 * len(pages), 100))
    assert len(pages) == -(-len(expected) // 100)  # ceil: exactly up to the last page
    assert all(page["limit"] == "100" and page["direction"] == "latest" for page in pages)
    uuids = [record["uuid"] for record in run.records("user_activity")]
    assert Counter(uuids).most_common(1)[0][1] == 1  # each event once despite the overlap
    assert set(uuids) == expected


def test_session_completion_really_overlaps_pages_in_the_emulator(emulator: Emulator) -> None:
    """Guards the test above: with limit 100 some page holds more and repeats the next page."""

    def page(offset: int) -> list[str]:
        response = requests.get(
            f"{emulator.url}{ACTIVITY}",
            params={"user": HEAVY.amplitude_id, "offset": offset, "limit": 100},
            auth=(API_KEY_A, SECRET_KEY_A),
            timeout=30,
        )
        return [event["uuid"] for event in response.json()["events"]]

    overlaps = [
        offset for offset in range(0, 1000, 100) if set(page(offset)) & set(page(offset + 100))
    ]
    assert overlaps


def test_user_activity_timestamps_are_rfc3339_like_events(emulator: Emulator) -> None:
    config = base_config(emulator, amplitude_ids=[BOB.amplitude_id])
    record = run_tap(emulator, config, ["user_activity"]).records("user_activity")[0]
    for name in ("event_time", "server_upload_time", "client_event_time"):
        parsed = datetime.fromisoformat(record[name])
        assert parsed.utcoffset() is not None
    assert record["event_properties"]  # open bags keep their keys
    assert record["raw_event_type"] == record["event_type"]


def test_user_search_matches_feed_child_contexts(emulator: Emulator) -> None:
    config = base_config(emulator, user_search_terms=["alice", "bob@"])
    run = run_tap(emulator, config, ["user_search", "user_activity", "user_profiles"])

    searched = run.records("user_search")
    assert {(r["search_term"], r["amplitude_id"]) for r in searched} == {
        ("alice", ALICE.amplitude_id),
        ("bob@", BOB.amplitude_id),
    }
    assert {r["match_type"] for r in searched} == {"match_user_prefix"}  # both are prefixes
    activity_users = {int(q["user"]) for q in requests_to(run, ACTIVITY)}
    assert activity_users == {ALICE.amplitude_id, BOB.amplitude_id}
    by_user = Counter(r["amplitude_id"] for r in run.records("user_activity"))
    assert by_user == {
        ALICE.amplitude_id: len(_events_of(emulator, ALICE.amplitude_id)),
        BOB.amplitude_id: len(_events_of(emulator, BOB.amplitude_id)),
    }
    partitions = run.final_state["bookmarks"]["user_activity"]["partitions"]
    assert {p["context"]["amplitude_id"] for p in partitions} == activity_users


def test_user_profiles_reuse_the_activity_response_one_row_per_user(emulator: Emulator) -> None:
    config = base_config(emulator, user_search_terms=["alice"], amplitude_ids=[BOB.amplitude_id])
    run = run_tap(emulator, config, ["user_activity", "user_profiles"])

    profiles = run.records("user_profiles")
    assert sorted(p["amplitude_id"] for p in profiles) == [ALICE.amplitude_id, BOB.amplitude_id]
    alice = next(p for p in profiles if p["amplitude_id"] == ALICE.amplitude_id)
    assert alice["user_id"] == ALICE.user_id
    assert alice["num_events"] == len(_events_of(emulator, ALICE.amplitude_id))
    assert alice["properties"]  # user properties are not thrown away
    assert len(requests_to(run, ACTIVITY)) == 2  # no extra request for the profiles


def test_user_profiles_alone_ask_for_one_event_per_user(emulator: Emulator) -> None:
    config = base_config(emulator, amplitude_ids=[BOB.amplitude_id])
    run = run_tap(emulator, config, ["user_profiles"])
    assert [p["canonical_amplitude_id"] for p in run.records("user_profiles")] == [BOB.amplitude_id]
    assert [q["limit"] for q in requests_to(run, ACTIVITY)] == ["1"]
    assert run.records("user_activity") == []


def test_nomatch_yields_no_rows_and_a_log_line(emulator: Emulator, caplog) -> None:
    config = base_config(emulator, user_search_terms=["no-such-user-anywhere"])
    with caplog.at_level(logging.INFO):
        run = run_tap(emulator, config, ["user_search", "user_activity"])
    assert run.records("user_search") == []
    assert requests_to(run, ACTIVITY) == []
    assert any("no-such-user-anywhere" in m and "no user matches" in m for m in caplog.messages)


def test_without_terms_or_ids_the_user_streams_send_nothing(emulator: Emulator) -> None:
    run = run_tap(emulator, base_config(emulator), ["user_search", "user_activity"])
    assert run.records("user_search") == []
    assert [r for r in run.requests if r.path.startswith("/api/2/user")] == []


def test_a_user_found_twice_is_read_once(emulator: Emulator) -> None:
    terms = ["alice", str(ALICE.amplitude_id)]
    config = base_config(emulator, user_search_terms=terms, amplitude_ids=[ALICE.amplitude_id])
    run = run_tap(emulator, config, ["user_search", "user_activity"])
    assert len(run.records("user_search")) == 2
    assert len(requests_to(run, ACTIVITY)) == 1


def test_second_run_requests_only_new_activity(emulator: Emulator) -> None:
    config = base_config(emulator, amplitude_ids=[HEAVY.amplitude_id, BOB.amplitude_id])
    first = run_tap(emulator, config, ["user_activity"])
    assert len(requests_to(first, ACTIVITY)) == 3  # heavy: 2 pages, bob: 1

    new_hour = datetime(2024, 3, 4, 0, tzinfo=timezone.utc)
    added = data.add_export_rows(emulator.state.projects[PROJECT_A_ID], new_hour, per_hour=12)
    ours = {HEAVY.amplitude_id, BOB.amplitude_id}
    new_uuids = {row["uuid"] for row in added if row["amplitude_id"] in ours}
    assert new_uuids

    second = run_tap(emulator, config, ["user_activity"], state=first.final_state)

    assert [q["offset"] for q in requests_to(second, ACTIVITY)] == ["0", "0"]  # one page each
    emitted = {r["uuid"] for r in second.records("user_activity")}
    assert new_uuids <= emitted
    old_bookmarks = {
        p["context"]["amplitude_id"]: p["replication_key_value"]
        for p in first.final_state["bookmarks"]["user_activity"]["partitions"]
    }
    for record in second.records("user_activity"):  # nothing older than the user's bookmark
        assert record["server_upload_time"] >= old_bookmarks[record["amplitude_id"]]
    for partition in second.final_state["bookmarks"]["user_activity"]["partitions"]:
        previous = old_bookmarks[partition["context"]["amplitude_id"]]
        assert partition["replication_key_value"] > previous


def test_user_requests_pass_the_shared_throttle(emulator: Emulator) -> None:
    clock = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    throttle = SlidingWindowThrottle(2, clock=lambda: clock[0], sleep=sleep)
    config = base_config(emulator, user_search_terms=["alice", "bob@"])
    run = run_tap(emulator, config, ["user_search", "user_activity"], throttle=throttle)

    sent = [r for r in run.requests if r.path.startswith("/api/2/user")]
    assert len(sent) == 4  # 2 searches + 2 activity pages, all counted by one quota
    assert waits == [3600.0]  # the 3rd request waited for the 1st to leave the window


def test_progress_is_logged_per_user(emulator: Emulator, caplog) -> None:
    config = base_config(emulator, amplitude_ids=[ALICE.amplitude_id, BOB.amplitude_id])
    with caplog.at_level(logging.INFO):
        run_tap(emulator, config, ["user_activity"])
    progress = [m for m in caplog.messages if "user streams:" in m]
    assert "starting user 1 of ~2" in progress[0]
    assert "1/2 users done, ETA" in progress[1]


def test_paginator_stops_once_a_page_reaches_the_bookmark() -> None:
    def page(times: list[str], total: int) -> requests.Response:
        response = requests.Response()
        events = [{"uuid": f"u{i}-{t}", "server_upload_time": t} for i, t in enumerate(times)]
        response._content = json.dumps(
            {"events": events, "userData": {"num_events": total}}
        ).encode()
        return response

    bookmark = datetime(2024, 3, 2, tzinfo=timezone.utc)
    paginator = UserActivityPaginator(limit=2, bookmark=bookmark)
    newer = page(["2024-03-03 10:00:00.000000", "2024-03-02 10:00:00.000000"], total=10)
    assert paginator.has_more(newer)
    reached = page(["2024-03-02 01:00:00.000000", "2024-03-01 23:00:00.000000"], total=10)
    assert not paginator.has_more(reached)
    short_page = page(["2024-03-01 00:00:00.000000"], total=10)
    assert not UserActivityPaginator(limit=2, bookmark=None).has_more(short_page)


def test_a_relative_start_date_is_the_first_runs_floor(emulator: Emulator) -> None:
    config = base_config(emulator, amplitude_ids=[HEAVY.amplitude_id], start_date="1 day ago")
    run = run_tap(emulator, config, ["user_activity"])
    assert run.records("user_activity") == []  # every seeded event is from 2024
    assert len(requests_to(run, ACTIVITY)) == 1  # the first page already reached the floor


def test_user_search_alone_logs_no_user_progress(emulator: Emulator, caplog) -> None:
    config = base_config(emulator, user_search_terms=["alice"])
    with caplog.at_level(logging.INFO):
        run = run_tap(emulator, config, ["user_search"])
    assert len(run.records("user_search")) == 1
    assert not any("user streams:" in m for m in caplog.messages)
    assert requests_to(run, ACTIVITY) == []


def test_user_activity_429_waits_and_resumes_the_same_page(emulator: Emulator) -> None:
    emulator.state.add_fault(
        Fault("status", path=ACTIVITY, status=429, times=2, headers={"Retry-After": "0"})
    )
    config = base_config(emulator, amplitude_ids=[BOB.amplitude_id])
    run = run_tap(emulator, config, ["user_activity"])
    assert [r.status for r in run.requests] == [429, 429, 200]
    assert len(run.records("user_activity")) == len(_events_of(emulator, BOB.amplitude_id))
