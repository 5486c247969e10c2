"""Faults a test can arm, the control API, and the command-line emulator behave as promised."""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from amplitude_emulator import API_KEY_A, PROJECT_A_ID, SECRET_KEY_A, Emulator

AUTH_A = (API_KEY_A, SECRET_KEY_A)
EXPORT = "/api/2/export"
WINDOW = {"start": "20240301T00", "end": "20240301T02"}
REPO = Path(__file__).resolve().parents[2]


def _arm(emulator: Emulator, **fault: Any) -> None:
    response = requests.post(f"{emulator.url}/__emulator__/faults", json=fault, timeout=10)
    assert response.status_code == 200, response.text


def _export(emulator: Emulator, timeout: float = 30) -> requests.Response:
    return requests.get(f"{emulator.url}{EXPORT}", params=WINDOW, auth=AUTH_A, timeout=timeout)


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def _control(emulator: Emulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{emulator.url}/__emulator__/{path}", timeout=10, **kwargs)


@pytest.mark.parametrize(
    ("status", "fragment"),
    [
        (500, "Internal Server Error"),
        (502, "Bad Gateway"),
        (503, "Service Unavailable"),
        (504, "Gateway Time-out"),
        (429, "Too many requests"),
    ],
)
def test_status_fault_answers_with_a_realistic_body_then_recovers(
    emulator: Emulator, status: int, fragment: str
) -> None:
    _arm(emulator, kind="status", status=status, path=EXPORT, times=2)
    for _ in range(2):
        response = _export(emulator)
        assert response.status_code == status
        assert fragment in response.text
    assert _export(emulator).status_code == 200


def test_status_fault_with_custom_body_and_retry_after_header(emulator: Emulator) -> None:
    body = {"error": {"http_code": 400, "type": "invalid", "message": "Invalid chart definition"}}
    _arm(
        emulator,
        kind="status",
        status=429,
        body=body,
        headers={"Retry-After": "3"},
        path="/api/2/users",
    )
    response = requests.get(
        f"{emulator.url}/api/2/users",
        params={"start": "20240301", "end": "20240301"},
        auth=AUTH_A,
        timeout=10,
    )
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response.json() == body


def test_fault_hits_only_matching_path_and_method(emulator: Emulator) -> None:
    _arm(emulator, kind="status", status=503, path="/api/2/events/list", method="GET")
    assert _export(emulator).status_code == 200
    listing = requests.get(f"{emulator.url}/api/2/events/list", auth=AUTH_A, timeout=10)
    assert listing.status_code == 503
    assert (
        requests.get(f"{emulator.url}/api/2/events/list", auth=AUTH_A, timeout=10).status_code
        == 200
    )


def test_slow_fault_outlasts_the_client_timeout_once(emulator: Emulator) -> None:
    _arm(emulator, kind="slow", delay=1.5, path=EXPORT)
    with pytest.raises(requests.exceptions.ReadTimeout):
        _export(emulator, timeout=0.3)
    assert _export(emulator).status_code == 200
    deadline = time.monotonic() + 10  # let the sleeping request finish so it logs in this test
    while len(emulator.state.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(entry.status for entry in emulator.state.requests) == [200, 200]


def test_drop_fault_closes_the_connection_mid_body(emulator: Emulator) -> None:
    _arm(emulator, kind="drop", path=EXPORT)
    with pytest.raises(
        (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)
    ):
        _export(emulator).content  # noqa: B018  reading the body is what fails
    assert zipfile.is_zipfile(io.BytesIO(_export(emulator).content))


def test_truncate_fault_sends_200_with_a_cut_zip(emulator: Emulator) -> None:
    whole = _export(emulator).content
    _arm(emulator, kind="truncate", path=EXPORT)
    response = _export(emulator)
    assert response.status_code == 200
    assert 0 < len(response.content) < len(whole)
    assert whole.startswith(response.content)
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(response.content)).testzip()


def test_notzip_fault_sends_200_with_an_html_page(emulator: Emulator) -> None:
    _arm(emulator, kind="notzip", path=EXPORT)
    response = _export(emulator)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert not response.content.startswith(b"PK")


def _member_lines(body: bytes) -> dict[str, list[bytes]]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return {
            name: gzip.decompress(archive.read(name)).splitlines()
            for name in archive.namelist()
            if not name.endswith("/")
        }


def test_corrupt_line_fault_breaks_exactly_one_line_of_one_member(emulator: Emulator) -> None:
    _arm(emulator, kind="corrupt_line", path=EXPORT)
    members = _member_lines(_export(emulator).content)
    broken = [name for name, lines in members.items() for line in lines if not _is_json(line)]
    assert len(broken) == 1
    clean = _member_lines(_export(emulator).content)
    assert all(_is_json(line) for lines in clean.values() for line in lines)


def test_unknown_fault_kind_or_field_is_rejected(emulator: Emulator) -> None:
    assert _control(emulator, "POST", "faults", json={"kind": "explode"}).status_code == 400
    assert (
        _control(emulator, "POST", "faults", json={"kind": "slow", "speed": 3}).status_code == 400
    )


def test_clearing_faults_disarms_them(emulator: Emulator) -> None:
    _arm(emulator, kind="status", status=500, path=EXPORT, times=5)
    assert _control(emulator, "DELETE", "faults").status_code == 200
    assert _export(emulator).status_code == 200


def test_control_api_is_never_hit_by_faults(emulator: Emulator) -> None:
    _arm(emulator, kind="status", status=500, times=3)  # default path: everything
    assert _control(emulator, "GET", "limits").status_code == 200
    assert _export(emulator).status_code == 500


def test_limits_can_be_read_and_changed_and_unknown_names_rejected(emulator: Emulator) -> None:
    assert _control(emulator, "GET", "limits").json()["useractivity_max_limit"] == 1000
    changed = _control(emulator, "POST", "limits", json={"export_max_bytes": 10})
    assert changed.json()["export_max_bytes"] == 10
    assert _export(emulator).status_code == 400
    assert _control(emulator, "POST", "limits", json={"no_such_limit": 1}).status_code == 400


def test_request_log_records_method_path_query_and_status(emulator: Emulator) -> None:
    _export(emulator)
    requests.get(f"{emulator.url}/api/2/events/list", timeout=10)
    log = _control(emulator, "GET", "requests").json()
    assert [(entry["method"], entry["path"], entry["status"]) for entry in log] == [
        ("GET", EXPORT, 200),
        ("GET", "/api/2/events/list", 401),
    ]
    assert log[0]["query"] == {"start": [WINDOW["start"]], "end": [WINDOW["end"]]}


def test_reset_restores_data_limits_faults_and_log(emulator: Emulator) -> None:
    _export(emulator)
    _control(emulator, "POST", "limits", json={"export_max_bytes": 10})
    _arm(emulator, kind="status", status=500, path=EXPORT)
    emulator.state.projects[PROJECT_A_ID].export_rows.clear()
    reset = _control(emulator, "POST", "reset")
    assert reset.json()["ok"] is True
    assert _control(emulator, "GET", "requests").json() == []
    assert _control(emulator, "GET", "limits").json()["export_max_bytes"] == 4 * 1024**3
    assert _export(emulator).status_code == 200


def test_reset_with_a_seed_changes_the_data_set(emulator: Emulator) -> None:
    original_seed = emulator.state.seed
    first = _export(emulator).content
    try:
        assert (
            _control(emulator, "POST", "reset", json={"seed": original_seed + 1}).json()["seed"]
            == original_seed + 1
        )
        assert _export(emulator).content != first
    finally:
        emulator.state.reset(original_seed)
    assert _export(emulator).content == first


def test_unknown_path_is_404_and_wrong_method_405(emulator: Emulator) -> None:
    assert requests.get(f"{emulator.url}/api/2/nothing", auth=AUTH_A, timeout=10).status_code == 404
    assert requests.post(f"{emulator.url}{EXPORT}", auth=AUTH_A, timeout=10).status_code == 405


def test_command_line_emulator_prints_its_url_and_stops_on_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen(
        [sys.executable, "-m", "amplitude_emulator", "--seed", "7"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            described = json.loads(process.stdout.readline())
            assert described["url"].startswith("http://127.0.0.1:")
            assert {project["project_id"] for project in described["projects"]} == {187520, 374182}
            response = requests.get(
                f"{described['url']}{EXPORT}", params=WINDOW, auth=AUTH_A, timeout=10
            )
            assert response.status_code == 200
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()


def _member_failures(body: bytes) -> dict[str, str]:
    """Members whose gzip does not decompress, with the error (the zip itself must read)."""
    failures: dict[str, str] = {}
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None  # zip CRCs fine: only the gzip layer is damaged
        for name in archive.namelist():
            if name.endswith("/"):
                continue
            try:
                gzip.decompress(archive.read(name))
            except (EOFError, gzip.BadGzipFile, OSError) as exc:
                failures[name] = str(exc)
    return failures


@pytest.mark.parametrize(
    ("kind", "error"),
    [("truncate_member", "end-of-stream marker"), ("corrupt_crc", "CRC check failed")],
)
def test_member_damage_fault_spoils_one_gzip_member_once(
    emulator: Emulator, kind: str, error: str
) -> None:
    _arm(emulator, kind=kind, path=EXPORT)
    damaged = _member_failures(_export(emulator).content)
    assert len(damaged) == 1
    assert error in next(iter(damaged.values()))
    assert _member_failures(_export(emulator).content) == {}


def test_export_build_latency_holds_the_first_byte_and_is_set_by_the_limits_api(
    emulator: Emulator,
) -> None:
    changed = _control(emulator, "POST", "limits", json={"export_build_seconds": 0.4}).json()
    assert changed["export_build_seconds"] == 0.4
    assert changed["export_build_seconds_per_mb"] == 0.0
    assert _export(emulator).status_code == 200
    _control(emulator, "POST", "limits", json={"export_build_seconds_per_mb": 100.0})
    body = _export(emulator).content
    logged = _control(emulator, "GET", "requests").json()
    held = [row["at"] - row["received_at"] for row in logged if row["path"] == EXPORT]
    assert held[0] >= 0.4
    assert held[1] >= 0.4 + 100.0 * len(body) / 1e6
    other = requests.get(f"{emulator.url}/api/2/events/list", auth=AUTH_A, timeout=10)
    assert other.status_code == 200
    logged = _control(emulator, "GET", "requests").json()
    assert logged[-1]["at"] - logged[-1]["received_at"] < 0.4  # only the export builds


def test_request_arrivals_are_logged_before_the_answer_is_ready(emulator: Emulator) -> None:
    emulator.state.limits.export_build_seconds = 1.0
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        answer = pool.submit(_export, emulator)
        deadline = time.monotonic() + 10
        while not emulator.state.arrivals and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [a.path for a in emulator.state.arrivals] == [EXPORT]
        assert emulator.state.requests == []  # still being built
        assert answer.result().status_code == 200
    finally:
        pool.shutdown()
    assert emulator.state.wait_idle()
    assert len(emulator.state.requests) == 1
