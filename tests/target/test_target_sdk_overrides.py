"""The target's overrides of SDK internals: an SDK upgrade that changes what they replace fails.

Why each stays (the SDK has no public hook for these):
- `_process_record_message`: numbers every record, so a STATE is written only once every record
  before it is delivered (lanes finish out of order);
- `_process_batch_message`: the SDK's default hands a whole BATCH file to one sink batch, past
  stream maps and the target's own per-record mapping; ours feeds each record through
  `_process_record_message`, so BATCH and RECORD input follow the same rules;
- `_process_state_message` / `_write_state_message`: STATE waits for delivery, and none is
  written after a `fail`;
- `Sink._parse_timestamps_in_record`: the target's own time rules replace the SDK's parsing.
On a failure: read the SDK's new code, check the override still does what the SDK would (the
BATCH-vs-RECORD and crash-safety tests compare behaviour), then update the hash below.
"""

from __future__ import annotations

import hashlib
import inspect

import pytest
from singer_sdk import Target
from singer_sdk.plugin_base import BaseSingerReader
from singer_sdk.sinks import Sink

from target_amplitude.sinks import AmplitudeSink
from target_amplitude.target import TargetAmplitude

# sha256 (first 16 hex digits) of the singer-sdk 0.54.9 source of each overridden method.
PINNED_TARGET_SOURCE = {
    "_process_record_message": "08aaf4096e2d39e7",
    "_process_batch_message": "f26fbe519745daf2",
    "_process_state_message": "e27158e2b1e7ea6d",
    "_write_state_message": "bf40aa5e36ebef4d",
}
PINNED_SINK_SOURCE = {"_parse_timestamps_in_record": "b99dc17613b2e3ac"}


def _digest(owner: type, name: str) -> str:
    return hashlib.sha256(inspect.getsource(getattr(owner, name)).encode()).hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(PINNED_TARGET_SOURCE))
def test_overridden_private_target_method_is_the_code_it_was_written_against(name: str) -> None:
    assert name in vars(TargetAmplitude), f"TargetAmplitude no longer overrides {name}: drop it"
    assert _digest(Target, name) == PINNED_TARGET_SOURCE[name], (
        f"singer-sdk changed Target.{name}: re-check TargetAmplitude.{name} against it"
    )


@pytest.mark.parametrize("name", sorted(PINNED_SINK_SOURCE))
def test_overridden_private_sink_method_is_the_code_it_was_written_against(name: str) -> None:
    assert any(name in vars(cls) for cls in AmplitudeSink.__mro__[:-1] if cls is not Sink), (
        f"the target's sinks no longer override {name}: drop its pin"
    )
    assert _digest(Sink, name) == PINNED_SINK_SOURCE[name], (
        f"singer-sdk changed Sink.{name}: re-check the target's override against it"
    )


def test_sdk_message_dispatch_still_calls_the_overridden_handlers() -> None:
    dispatch = inspect.getsource(BaseSingerReader)
    for name in ("_process_record_message", "_process_state_message", "_process_batch_message"):
        assert f"self.{name}" in dispatch, f"the SDK no longer dispatches messages to {name}"
