"""`cohort_members`: request, poll, download (inline or via storage) and stream each cohort."""

from __future__ import annotations

import gzip
import json
import logging
import subprocess
import sys
import tracemalloc
from typing import TYPE_CHECKING, Any

import pytest
import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from amplitude_emulator import API_KEY_A, SECRET_KEY_A
from amplitude_emulator.catalog import LARGE_COHORT_ID, LARGE_COHORT_SIZE
from amplitude_emulator.cohort_seed import LARGE_FIRST_AMPLITUDE_ID
from amplitude_emulator.faults import Fault
from tap_amplitude.cohort_members import CohortMembersStream
from tap_amplitude.tap import TapAmplitude
from tests.dashboard_helpers import base_config, requests_to, run_tap

if TYPE_CHECKING:
    from collections.abc import Iterator

    from amplitude_emulator import Emulator

STORAGE_PATH = r"/__storage__/cohorts/.*"
EXPIRED_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
)


def cohort_config(emulator: Emulator, **overrides: Any) -> dict[str, Any]:
    """Project A with fast polling (the emulator's jobs take 0.2 s by default)."""
    return base_config(emulator, cohort_poll_interval_seconds=0.05, **overrides)


def _storage_statuses(run: Any) -> list[int]:
    return [r.status for r in run.requests if r.path.startswith("/__storage__/")]


def test_each_configured_cohort_is_streamed_with_its_members_and_properties(
    emulator: Emulator,
) -> None:
    config = cohort_config(
        emulator, cohort_ids=["c0h0rt00", "c0h0rt01"], cohort_member_properties=["*"]
    )
    run = run_tap(emulator, config, ["cohort_members"])

    rows = run.records("cohort_members")
    assert [(r["cohort_id"], r["amplitude_id"], r["user_id"]) for r in rows] == [
        ("c0h0rt00", 550106004601, "heavy.user@example.com"),
        ("c0h0rt01", 550106004602, "alice@example.com"),
        ("c0h0rt01", 550106004603, "bob@example.com"),
        ("c0h0rt01", 550106004606, None),  # anonymous: no user_id
    ]
    assert rows[1]["properties"] == {"country": "Germany", "plan": "pro"}
    assert all(row["extracted_at"].endswith("+00:00") for row in rows)
    schema = next(m for m in run.messages if m["type"] == "SCHEMA")
    assert schema["key_properties"] == ["cohort_id", "amplitude_id"]


def test_a_run_is_a_full_table_announced_with_activate_version(emulator: Emulator) -> None:
    run = run_tap(emulator, cohort_config(emulator, cohort_ids=["c0h0rt01"]), ["cohort_members"])

    kinds = [m["type"] for m in run.messages if m.get("stream") == "cohort_members"]
    assert kinds.index("ACTIVATE_VERSION") < kinds.index("RECORD")
    version = next(m["version"] for m in run.messages if m["type"] == "ACTIVATE_VERSION")
    records = [m for m in run.messages if m["type"] == "RECORD"]
    assert {m["version"] for m in records} == {version}
    assert run.final_state["bookmarks"]["cohort_members"] == {}  # no per-cohort bookmark


def test_without_cohort_ids_nothing_is_requested_and_no_version_is_activated(
    emulator: Emulator,
) -> None:
    run = run_tap(emulator, cohort_config(emulator), ["cohort_members"])
    assert run.records("cohort_members") == []
    assert not [m for m in run.messages if m["type"] == "ACTIVATE_VERSION"]
    assert not [r for r in run.requests if r.path.startswith("/api/5/")]


def test_member_properties_are_asked_for_by_key_and_ids_only_by_default(
    emulator: Emulator,
) -> None:
    config = cohort_config(
        emulator, cohort_ids=["c0h0rt01"], cohort_member_properties=["plan", "country"]
    )
    run = run_tap(emulator, config, ["cohort_members"])
    sent = [r.query for r in run.requests if r.path == "/api/5/cohorts/request/c0h0rt01"]
    assert sent == [{"props": ["1"], "propKeys": ["plan", "country"]}]
    assert run.records("cohort_members")[0]["properties"] == {"plan": "pro", "country": "Germany"}

    plain = run_tap(emulator, cohort_config(emulator, cohort_ids=["c0h0rt01"]), ["cohort_members"])
    assert requests_to(plain, "/api/5/cohorts/request/c0h0rt01") == [{"props": "0"}]
    assert plain.records("cohort_members")[0]["properties"] == {}


def test_a_job_still_in_progress_past_the_budget_fails_naming_the_setting(
    emulator: Emulator,
) -> None:
    emulator.state.limits.cohort_job_seconds = 3600
    config = cohort_config(emulator, cohort_ids=["c0h0rt01"], cohort_poll_timeout_seconds=0.2)

    with pytest.raises(FatalAPIError, match="still in progress") as failure:
        run_tap(emulator, config, ["cohort_members"])

    message = str(failure.value)
    assert "cohort_poll_timeout_seconds" in message
    assert "'c0h0rt01'" in message
    polls = [r for r in emulator.state.requests if "/request-status/" in r.path]
    assert polls
    assert all(r.status == 202 for r in polls)
    assert not [r for r in emulator.state.requests if r.path.endswith("/file")]


def test_the_redirect_is_followed_without_the_amplitude_credentials(emulator: Emulator) -> None:
    emulator.state.limits.cohort_inline_max_members = 0  # every cohort goes through storage
    run = run_tap(emulator, cohort_config(emulator, cohort_ids=["c0h0rt01"]), ["cohort_members"])

    assert len(run.records("cohort_members")) == 3
    # The emulator's storage answers 400 InvalidArgument to a request carrying Authorization.
    assert _storage_statuses(run) == [200]


def test_an_expired_link_is_asked_for_again(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.state.limits.cohort_inline_max_members = 0
    emulator.state.add_fault(Fault("status", path=STORAGE_PATH, status=403, body=EXPIRED_BODY))

    with caplog.at_level(logging.WARNING):
        run = run_tap(
            emulator, cohort_config(emulator, cohort_ids=["c0h0rt01"]), ["cohort_members"]
        )

    assert len(run.records("cohort_members")) == 3
    assert _storage_statuses(run) == [403, 200]
    files = [r for r in run.requests if r.path.endswith("/file")]
    assert [r.status for r in files] == [302, 302]
    assert len([r for r in run.requests if r.path == "/api/5/cohorts/request/c0h0rt01"]) == 1
    assert any("expired" in message and "c0h0rt01" in message for message in caplog.messages)


def test_links_that_keep_expiring_fail_the_run_clearly(emulator: Emulator) -> None:
    emulator.state.limits.cohort_inline_max_members = 0
    emulator.state.limits.cohort_link_seconds = 0
    config = cohort_config(emulator, cohort_ids=["c0h0rt01"])

    with pytest.raises(FatalAPIError, match=r"refused as expired 3 times"):
        run_tap(emulator, config, ["cohort_members"])


def test_a_download_that_breaks_off_fails_naming_the_cohort(emulator: Emulator) -> None:
    emulator.state.limits.cohort_inline_max_members = 0
    emulator.state.add_fault(Fault("drop", path=STORAGE_PATH))
    config = cohort_config(emulator, cohort_ids=["c0h0rt01"])

    with pytest.raises(FatalAPIError, match=r"download of cohort 'c0h0rt01' broke off"):
        run_tap(emulator, config, ["cohort_members"])


def test_the_quota_403_names_the_monthly_limit(emulator: Emulator) -> None:
    emulator.state.limits.cohort_downloads_per_month = 0
    config = cohort_config(emulator, cohort_ids=["c0h0rt01"])

    with pytest.raises(FatalAPIError) as failure:
        run_tap(emulator, config, ["cohort_members"])

    message = str(failure.value)
    assert "500 cohort download requests per month" in message
    assert "Cohort download limit exceeded" in message  # Amplitude's own words
    assert SECRET_KEY_A not in message


def _waits_that_advance_the_emulator_clock(
    monkeypatch: pytest.MonkeyPatch, emulator: Emulator, seconds: float
) -> list[float]:
    """Backoff waits of zero real seconds, each moving the emulator's clock on by `seconds`."""
    waits: list[float] = []

    def advance(_: Exception) -> float:
        emulator.state.clock_offset += seconds
        waits.append(seconds)
        return 0.0

    monkeypatch.setattr(
        CohortMembersStream,
        "backoff_wait_generator",
        lambda stream: stream.backoff_runtime(value=advance),
    )
    return waits


def test_a_429_past_the_request_rate_is_retried_once_the_window_has_room(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.state.limits.cohort_requests_per_window = 1  # another client used the rest
    waits = _waits_that_advance_the_emulator_clock(monkeypatch, emulator, 601)
    config = cohort_config(emulator, cohort_ids=["c0h0rt00", "c0h0rt01"])

    run = run_tap(emulator, config, ["cohort_members"])

    assert {r["cohort_id"] for r in run.records("cohort_members")} == {"c0h0rt00", "c0h0rt01"}
    asked = [r.status for r in run.requests if r.path == "/api/5/cohorts/request/c0h0rt01"]
    assert asked == [429, 202]
    assert waits == [601]


def test_a_429_that_persists_fails_naming_the_request_rate(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.state.limits.cohort_requests_per_window = 1
    _waits_that_advance_the_emulator_clock(monkeypatch, emulator, 0)
    config = cohort_config(emulator, cohort_ids=["c0h0rt00", "c0h0rt01"])

    with pytest.raises(RetriableAPIError) as failure:
        run_tap(emulator, config, ["cohort_members"])

    message = str(failure.value)
    assert "'c0h0rt01'" in message
    assert "60 single-cohort requests per 10 minutes per app" in message
    assert "limits single cohort requests to 1 requests per 10 minutes" in message  # Amplitude's
    assert SECRET_KEY_A not in message
    asked = [r.status for r in emulator.state.requests if r.path.endswith("/request/c0h0rt01")]
    assert asked == [429] * 5  # the SDK's default tries, all refused


def test_an_unknown_cohort_fails_naming_cohort_ids(emulator: Emulator) -> None:
    config = cohort_config(emulator, cohort_ids=["no-such-cohort"])
    with pytest.raises(FatalAPIError, match=r"'no-such-cohort'.*`cohort_ids`"):
        run_tap(emulator, config, ["cohort_members"])


# --- memory ----------------------------------------------------------------------------------


@pytest.fixture
def emulator_process() -> Iterator[str]:
    """An emulator in its own process, so only the tap's allocations are traced here."""
    process = subprocess.Popen(
        [sys.executable, "-m", "amplitude_emulator"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        url = str(json.loads(process.stdout.readline())["url"])
        limits = requests.post(
            f"{url}/__emulator__/limits",
            json={"cohort_job_seconds": 0, "log_request_bodies": False},
            timeout=30,
        )
        limits.raise_for_status()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def _uncompressed_file_bytes(url: str) -> int:
    """Size of the 50k cohort's CSV with every property, once uncompressed."""
    auth = (API_KEY_A, SECRET_KEY_A)
    asked = requests.get(
        f"{url}/api/5/cohorts/request/{LARGE_COHORT_ID}", params={"props": 1}, auth=auth, timeout=60
    ).json()
    redirect = requests.get(
        f"{url}/api/5/cohorts/request/{asked['request_id']}/file",
        auth=auth,
        allow_redirects=False,
        timeout=60,
    )
    assert redirect.status_code == 302
    return len(gzip.decompress(requests.get(redirect.headers["Location"], timeout=60).content))


def test_a_50k_member_cohort_streams_with_flat_memory(emulator_process: str) -> None:
    file_bytes = _uncompressed_file_bytes(emulator_process)
    config = {
        "api_key": API_KEY_A,
        "secret_key": SECRET_KEY_A,
        "api_url": emulator_process,
        "cohort_ids": [LARGE_COHORT_ID],
        "cohort_member_properties": ["*"],
        "cohort_poll_interval_seconds": 0.05,
    }
    stream = TapAmplitude(config=config, parse_env_config=False).streams["cohort_members"]
    assert isinstance(stream, CohortMembersStream)
    count = id_sum = 0
    last: dict[str, Any] = {}

    tracemalloc.start()
    try:
        for record in stream.get_records({"cohort_id": LARGE_COHORT_ID}):
            assert isinstance(record, dict)
            count += 1
            id_sum += record["amplitude_id"]
            last = record
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert count == LARGE_COHORT_SIZE
    expected_sum = LARGE_COHORT_SIZE * LARGE_FIRST_AMPLITUDE_ID + sum(range(LARGE_COHORT_SIZE))
    assert id_sum == expected_sum  # every member once
    assert last["properties"]["plan"] in {"free", "pro", "enterprise"}
    # Bounded reader: the peak stays a small fraction of the file, let alone of 50k records.
    assert file_bytes > 3_000_000
    assert peak < file_bytes / 4, f"peak {peak} B while reading a {file_bytes} B file"
