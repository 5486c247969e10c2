"""The tap's overrides of SDK internals; an SDK upgrade that changes what they replace fails here.

`EventsStream` overrides three private SDK methods (two through `record_path.DirectRecordPath`).

Why each stays:
- `_write_record_message`: encodes the RECORD line straight from a dict, with the writer's own
  encoder and without a message object or a flush per record (about a third of the tap's time
  per record was the SDK's record machinery); like the SDK's it marks the state unflushed, so
  the window's STATE goes out;
- `_generate_record_messages`: skips the prune walk and conformance pass that cannot change a
  record when nothing is deselected (`benchmarks/tap_events.py --with-sdk-default` prints both);
- `_increment_stream_state`: no per-record bookmark, for correctness: rows inside a window are
  unsorted, and the bookmark moves per whole window (`finalize_state_progress_markers`).
(`_process_record` was overridden too; it saved 0.7 us a record, which the benchmark could not
tell from noise, so the SDK's own runs.)
On a failure: read the SDK's new code, check the override still does what the SDK would (the
tests in test_events_fast_path.py compare the outputs), then update the hash below.
"""

from __future__ import annotations

import hashlib
import inspect

import pytest
from singer_sdk import Tap
from singer_sdk.streams.core import Stream

from tap_amplitude.events import EventsStream
from tap_amplitude.record_path import DirectRecordPath
from tap_amplitude.tap import TapAmplitude

# sha256 (first 16 hex digits) of the singer-sdk 0.54.9 source of each overridden method.
PINNED_SDK_SOURCE = {
    "_write_record_message": "292b7bed39883bd9",
    "_generate_record_messages": "9b5f9fbcdedb7a1a",
    "_increment_stream_state": "cabc0edb2fd4f000",
}


def _digest(name: str) -> str:
    return hashlib.sha256(inspect.getsource(getattr(Stream, name)).encode()).hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(PINNED_SDK_SOURCE))
def test_overridden_private_sdk_method_is_the_code_it_was_written_against(name: str) -> None:
    overrides = {*vars(EventsStream), *vars(DirectRecordPath)}
    assert name in overrides, f"EventsStream no longer overrides {name}: drop its pin"
    assert _digest(name) == PINNED_SDK_SOURCE[name], (
        f"singer-sdk changed Stream.{name}: re-check EventsStream.{name} against it"
    )


def test_sdk_sync_loop_still_calls_the_overridden_methods() -> None:
    loop = inspect.getsource(Stream._sync_records) + inspect.getsource(Stream._write_record_message)
    assert "self._write_record_message(" in inspect.getsource(Stream._sync_records)
    for name in set(PINNED_SDK_SOURCE) - {"_write_record_message"}:
        assert f"self.{name}(" in loop, f"the SDK's sync loop no longer calls {name}"


def test_window_bookmark_uses_the_public_state_hook() -> None:
    source = inspect.getsource(EventsStream)
    assert "finalize_state_progress_markers(" in source
    assert "_write_state_message" not in source
    assert "is_flushed" not in source


def test_connection_test_hook_is_still_final_in_the_sdk() -> None:
    # `--test` reads one `event_types` record through `cb_test`, because the SDK's
    # `run_connection_test` (one record of every stream: a whole export window) is final.
    # Once the SDK lets it be overridden, move the choice of stream there and drop `cb_test`.
    assert getattr(Tap.run_connection_test, "__final__", False) is True
    assert "cb_test" in vars(TapAmplitude)
