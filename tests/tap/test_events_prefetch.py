"""Window k+1 downloads while window k is emitted; every archive is checked whole first."""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any, ClassVar

import backoff
import pytest

from tap_amplitude.events import EventsStream
from tap_amplitude.spool import FOLDER_PREFIX
from tap_amplitude.tap import TapAmplitude
from tests.events_harness import EXPORT_PATH, arm, base_config, export_params, run_tap, seeded_rows

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from amplitude_emulator import Emulator

WINDOW_2 = ("20240302T00", "20240302T23")


@pytest.fixture(autouse=True)
def no_backoff_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries happen at once: the tests pin what is retried, not how long the waits are."""
    monkeypatch.setattr(EventsStream, "backoff_wait_generator", lambda _self: backoff.constant(0))
    monkeypatch.setattr(EventsStream, "backoff_jitter", lambda _self, value: value)


class WatchedEvents(EventsStream):
    """`events` calling `watch(row)` as each row is emitted (in the emitting thread)."""

    watch: ClassVar[Callable[[dict[str, Any]], None]] = staticmethod(lambda _row: None)

    def post_process(self, row: dict, context: Any = None) -> dict | None:
        processed = super().post_process(row, context)
        type(self).watch(row)
        return processed


class WatchedTap(TapAmplitude):
    def discover_streams(self) -> list[Any]:
        return [WatchedEvents(tap=self)]


def _arrived(emulator: Emulator, params: tuple[str, str]) -> list[float]:
    return [
        a.at
        for a in list(emulator.state.arrivals)
        if a.path == EXPORT_PATH and (a.query["start"][0], a.query["end"][0]) == params
    ]


def _watch(monkeypatch: pytest.MonkeyPatch, watch: Callable[[dict[str, Any]], None]) -> None:
    monkeypatch.setattr(WatchedEvents, "watch", staticmethod(watch))


def test_next_window_is_requested_while_this_one_is_emitted(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.state.limits.export_build_seconds = 0.3
    seen_during_window_1: list[bool] = []
    archives_on_disk: list[int] = []

    def watch(row: dict[str, Any]) -> None:
        archives_on_disk.append(len(list(tmp_path.glob(FOLDER_PREFIX + "*/*.zip"))))
        if row["server_upload_time"] < "2024-03-02" and not seen_during_window_1:
            deadline = time.monotonic() + 10
            while not _arrived(emulator, WINDOW_2) and time.monotonic() < deadline:
                time.sleep(0.01)
            seen_during_window_1.append(bool(_arrived(emulator, WINDOW_2)))

    _watch(monkeypatch, watch)
    run = run_tap(base_config(emulator, tmp_path), tap_class=WatchedTap)
    assert run.error is None
    assert seen_during_window_1 == [True]  # window 2 requested before window 1's rows ended
    assert max(archives_on_disk) <= 2  # the one being emitted + export_prefetch_windows (1)
    assert export_params(emulator) == [
        ("20240301T00", "20240301T23"),
        WINDOW_2,
        ("20240303T00", "20240303T23"),
    ]
    assert Counter(r["uuid"] for r in run.records) == Counter(
        row["uuid"] for row in seeded_rows(emulator)
    )
    assert list(tmp_path.iterdir()) == []


def test_prefetch_zero_requests_each_window_after_the_previous_is_emitted(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emitted_window_1: list[float] = []

    def watch(row: dict[str, Any]) -> None:
        if row["server_upload_time"] < "2024-03-02":
            emitted_window_1.append(emulator.state.now())

    _watch(monkeypatch, watch)
    config = base_config(emulator, tmp_path, export_prefetch_windows=0)
    run = run_tap(config, tap_class=WatchedTap)
    assert run.error is None
    assert _arrived(emulator, WINDOW_2)[0] > max(emitted_window_1)


@pytest.mark.parametrize("ahead", [1, 3])
def test_prefetched_and_sequential_runs_emit_the_same_messages(
    emulator: Emulator, tmp_path: Path, ahead: int
) -> None:
    config = base_config(emulator, tmp_path, export_window_hours=7)
    prefetched = run_tap(dict(config, export_prefetch_windows=ahead))
    sequential = run_tap(dict(config, export_prefetch_windows=0))
    assert prefetched.error is None
    assert sequential.error is None
    strip = ("time_extracted",)
    assert [
        {k: v for k, v in m.items() if k not in strip}
        for m in prefetched.messages
        if m["type"] != "SCHEMA"
    ] == [
        {k: v for k, v in m.items() if k not in strip}
        for m in sequential.messages
        if m["type"] != "SCHEMA"
    ]


@pytest.mark.parametrize("kind", ["truncate_member", "corrupt_crc"])
def test_member_that_fails_to_decompress_once_is_downloaded_again_before_any_row(
    emulator: Emulator, tmp_path: Path, kind: str
) -> None:
    arm(emulator, kind=kind)
    run = run_tap(base_config(emulator, tmp_path))
    assert run.error is None
    assert export_params(emulator)[:2] == [("20240301T00", "20240301T23")] * 2
    assert "does not decompress" in run.logs  # the backoff log names the bad member
    uuids = Counter(r["uuid"] for r in run.records)
    assert uuids == Counter(row["uuid"] for row in seeded_rows(emulator))
    assert set(uuids.values()) == {1}
    assert run.bookmarks[-1] == "2024-03-04T00:00:00+00:00"
    assert list(tmp_path.iterdir()) == []


def test_two_windows_ahead_are_requested_at_once(emulator: Emulator, tmp_path: Path) -> None:
    emulator.state.limits.export_build_seconds = 1.0
    run = run_tap(base_config(emulator, tmp_path, export_prefetch_windows=2))
    assert run.error is None
    logged = {
        (r.query["start"][0], r.query["end"][0]): r
        for r in emulator.state.requests
        if r.path == EXPORT_PATH
    }
    window_1 = logged["20240301T00", "20240301T23"]
    assert logged[WINDOW_2].received_at < window_1.at  # asked while window 1 was being built
    assert Counter(r["uuid"] for r in run.records) == Counter(
        row["uuid"] for row in seeded_rows(emulator)
    )
