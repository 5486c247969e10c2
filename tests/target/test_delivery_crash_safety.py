"""STATE only after delivery, and kill -9 + re-run from the last STATE loses and doubles nothing.

The target runs as a subprocess (`target-amplitude --config --input`), as Meltano runs it. Its
singer-sdk "max record age" drain (5 minutes in production) is shortened so that STATE messages
come out during a short test run; nothing else is changed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from amplitude_emulator.faults import Fault
from amplitude_emulator.state import API_KEY_B, PROJECT_B_ID
from tests.delivery_support import BASE_MS, posted_bodies, stored_events

if TYPE_CHECKING:
    from pathlib import Path

LAUNCH = (
    "import sys\n"
    "from target_amplitude.target import TargetAmplitude\n"
    "TargetAmplitude._MAX_RECORD_AGE_IN_MINUTES = float(sys.argv.pop(1))\n"
    "TargetAmplitude.cli()\n"
)
SCHEMA = {
    "type": "SCHEMA",
    "stream": "orders",
    "key_properties": ["id"],
    "schema": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "user_id": {"type": "string"},
            "event_type": {"type": "string"},
            "time": {"type": "integer"},
        },
    },
}


def _record(index: int) -> dict[str, Any]:
    return {
        "type": "RECORD",
        "stream": "orders",
        "record": {
            "id": index,
            "user_id": f"user-{index % 40:04d}",
            "event_type": "Order Completed",
            "time": BASE_MS + index,
        },
    }


def _state(index: int) -> dict[str, Any]:
    return {"type": "STATE", "value": {"bookmarks": {"orders": {"last_id": index}}}}


def _write_input(path: Path, ids: range, every: int, overrides: dict[int, dict] | None = None):
    """SCHEMA, the records, and a STATE after every `every` records (as a tap emits them)."""
    with path.open("w") as handle:
        handle.write(json.dumps(SCHEMA) + "\n")
        for index in ids:
            message = _record(index)
            message["record"].update((overrides or {}).get(index, {}))
            handle.write(json.dumps(message) + "\n")
            if (index + 1) % every == 0:
                handle.write(json.dumps(_state(index)) + "\n")


def _config(emulator, tmp_path: Path, **extra: Any) -> Path:
    config = {
        "api_key": API_KEY_B,
        "api_url": emulator.url,
        "streams": {"orders": {"object": "event"}},
        "dead_letter_path": str(tmp_path / "dead_letters.jsonl"),
        "retry_backoff_base_seconds": 0.01,
        **extra,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def _start(config: Path, input_path: Path, max_age_minutes: float) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", LAUNCH, str(max_age_minutes)]
    command += ["--config", str(config), "--input", str(input_path)]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=config.parent
    )


def _states(stdout: str) -> list[int]:
    """Bookmarks of the complete STATE lines the target printed."""
    found = []
    for line in stdout.splitlines():
        if not line.startswith('{"bookmarks"'):
            continue
        with contextlib.suppress(ValueError):  # a line cut short by kill -9
            found.append(json.loads(line)["bookmarks"]["orders"]["last_id"])
    return found


def _run(
    config: Path, input_path: Path, max_age_minutes: float = 0.0
) -> tuple[int, list[int], str]:
    process = _start(config, input_path, max_age_minutes)
    stdout, stderr = process.communicate(timeout=120)
    return process.returncode, _states(stdout), stderr


def _stored_ids(emulator) -> list[int]:
    return sorted(event["event_properties"]["id"] for event in stored_events(emulator))


def test_state_stops_at_the_first_rejection_under_fail_and_the_exit_is_non_zero(emulator, tmp_path):
    input_path = tmp_path / "input.jsonl"
    _write_input(input_path, range(40), every=5, overrides={25: {"user_id": "null"}})
    code, states, stderr = _run(_config(emulator, tmp_path), input_path)
    assert code != 0
    assert states, "STATE before the rejected record must still come out"
    assert max(states) < 25  # nothing at or after the rejected record
    assert "1 record(s) were rejected" in stderr
    assert "orders id=25: missing_id" in stderr
    assert _stored_ids(emulator) == [i for i in range(40) if i != 25]  # the rest was delivered


def test_dead_letter_policy_keeps_emitting_state(emulator, tmp_path):
    input_path = tmp_path / "input.jsonl"
    _write_input(input_path, range(40), every=5, overrides={25: {"user_id": "null"}})
    config = _config(emulator, tmp_path, on_rejected="dead_letter")
    code, states, stderr = _run(config, input_path)
    assert code == 0, stderr
    assert states[-1] == 39
    lines = (tmp_path / "dead_letters.jsonl").read_text().splitlines()
    assert [json.loads(line)["record"]["id"] for line in lines] == [25]


def test_exhausted_retries_exit_non_zero_without_state(emulator, tmp_path):
    input_path = tmp_path / "input.jsonl"
    _write_input(input_path, range(20), every=5)
    emulator.state.add_fault(Fault(kind="status", status=503, path="/batch", times=1000))
    code, states, stderr = _run(_config(emulator, tmp_path, max_retries=2), input_path)
    assert code != 0
    assert states == []
    assert "RetriesExhaustedError" in stderr or "Gave up" in stderr
    assert stored_events(emulator) == []


def _kill_when(process: subprocess.Popen[str], condition) -> str:
    """kill -9 the target once `condition(states_so_far)` holds; returns everything it printed."""
    assert process.stdout is not None
    assert process.stderr is not None
    stdout = process.stdout
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        if condition(_states("".join(lines))):
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    process.wait(timeout=30)
    reader.join(timeout=10)
    process.stdout.close()
    process.stderr.close()
    return "".join(lines)


def _kill_and_resume(emulator, tmp_path: Path, condition, total: int = 1500) -> tuple[int, int]:
    """Run, kill -9 once `condition` holds, re-run from the last STATE.

    Returns the last STATE's bookmark and how many re-sent events the emulator deduplicated.
    """
    first_input = tmp_path / "first.jsonl"
    _write_input(first_input, range(total), every=25)
    config = _config(emulator, tmp_path, batch_size_rows=50)
    emulator.state.add_fault(Fault(kind="slow", delay=0.03, path="/batch", times=10_000))
    process = _start(config, first_input, max_age_minutes=0.001)
    stdout = _kill_when(process, condition)
    assert process.returncode == -signal.SIGKILL, "the target finished before it could be killed"
    states = _states(stdout)
    resume_after = states[-1] if states else -1
    stored_before = len(stored_events(emulator))
    # The STATE Meltano would have kept covers only events Amplitude already had.
    assert set(range(resume_after + 1)) <= set(_stored_ids(emulator))
    with emulator.state.lock:
        emulator.state.faults.clear()
    resumed = tmp_path / "resumed.jsonl"
    _write_input(resumed, range(resume_after + 1, total), every=25)
    code, _, stderr = _run(config, resumed, max_age_minutes=5.0)  # the SDK's own default
    assert code == 0, stderr
    counters = emulator.state.projects[PROJECT_B_ID].counters
    assert _stored_ids(emulator) == list(range(total))  # none lost, none doubled
    assert stored_before <= total
    return resume_after, counters.get("events_deduplicated", 0)


def test_kill_9_past_a_state_then_rerun_delivers_each_event_exactly_once(emulator, tmp_path):
    def delivered_past_last_state(states: list[int]) -> bool:
        return len(states) >= 2 and len(stored_events(emulator)) > states[-1] + 1 + 50

    bookmark, deduplicated = _kill_and_resume(emulator, tmp_path, delivered_past_last_state)
    assert bookmark >= 0
    assert deduplicated > 0  # the re-run re-sent delivered events; insert_ids absorbed them


def test_kill_9_before_any_state_then_rerun_from_scratch(emulator, tmp_path):
    def first_request_stored(states: list[int]) -> bool:
        return bool(stored_events(emulator)) and not states

    bookmark, deduplicated = _kill_and_resume(emulator, tmp_path, first_request_stored)
    assert bookmark == -1
    assert deduplicated > 0


def test_every_state_emitted_covers_only_stored_events_when_amplitude_starts_failing(
    emulator, tmp_path
):
    input_path = tmp_path / "input.jsonl"
    _write_input(input_path, range(1500), every=25)
    config = _config(emulator, tmp_path, batch_size_rows=50, max_retries=2)
    emulator.state.add_fault(Fault(kind="slow", delay=0.03, path="/batch", times=10_000))
    process = _start(config, input_path, max_age_minutes=0.001)
    assert process.stdout is not None
    lines: list[str] = []
    for line in process.stdout:  # once the first STATE is out, Amplitude starts failing
        lines.append(line)
        if _states(line):
            with emulator.state.lock:
                emulator.state.faults[:] = [Fault(kind="status", status=503, times=10_000)]
            break
    rest, stderr = process.communicate(timeout=120)
    states = _states("".join(lines) + rest)
    assert process.returncode != 0
    assert "Gave up" in stderr
    stored = set(_stored_ids(emulator))
    assert max(states) < 1499
    for bookmark in states:
        assert set(range(bookmark + 1)) <= stored


def test_an_invalid_api_key_stops_the_run_without_state_or_leaking_the_key(emulator, tmp_path):
    input_path = tmp_path / "input.jsonl"
    _write_input(input_path, range(20), every=5)
    config = _config(emulator, tmp_path)
    settings = json.loads(config.read_text())
    settings["api_key"] = "not-a-real-key-98765"
    config.write_text(json.dumps(settings))
    code, states, stderr = _run(config, input_path)
    assert code != 0
    assert states == []
    assert "Invalid API key" in stderr
    assert "not-a-real-key-98765" not in stderr
    assert len(posted_bodies(emulator, "/batch")) == 1  # fatal at once: no retries
