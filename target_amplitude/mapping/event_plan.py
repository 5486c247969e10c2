"""Event plans: a record as one event, with its time, insert_id, session and skipped types."""

from __future__ import annotations

import contextlib
import fnmatch
from typing import TYPE_CHECKING, Any

from singer_amplitude.epoch import EPOCH_MS_THRESHOLD
from target_amplitude.amplitude import SKIP_USER_PROPERTIES_SYNC
from target_amplitude.mapping.insert_ids import derive_insert_id
from target_amplitude.mapping.kind_plan import Found, KindPlan
from target_amplitude.mapping.timeconv import TimeParseError, to_epoch_ms
from target_amplitude.validation.reasons import INVALID_TIME, MISSING_TIME, RecordCheckError

if TYPE_CHECKING:
    from collections.abc import Mapping


class EventPlan(KindPlan):
    """The `event` kind: integer-ms time, a deterministic insert_id, no null properties."""

    drop_nulls = True

    def __init__(self, stream: str, kind: str, spec: Mapping[str, Any]) -> None:
        """Compile the shared parts, then `allow_missing_time` and `skip_event_types`."""
        super().__init__(stream, kind, spec)
        self.allow_missing_time = bool(spec.get("allow_missing_time", False))
        skip_types = spec.get("skip_event_types") or ()
        self.skip_event_types = frozenset(t for t in skip_types if "*" not in t)
        # Only `*` is a wildcard: "[Amplitude] *" must not read as a character class.
        self.skip_event_globs = tuple(t.replace("[", "[[]") for t in skip_types if "*" in t)

    def _finish(
        self,
        payload: dict[str, Any],
        record: dict[str, Any],
        identity: Any,
        found: Found,
    ) -> dict[str, Any] | None:
        """None for a skipped event type; else time, insert_id, session and bags filled in."""
        event_type = payload.get("event_type")
        if self._skipped(event_type):
            self.skipped[str(event_type)] += 1
            return None
        self._normalise_strings(payload)
        self._finish_event(payload, identity)
        if self.skip_user_properties_sync:
            payload[SKIP_USER_PROPERTIES_SYNC] = True
        self._finish_bags(payload, record, *found)
        return payload

    def _skipped(self, event_type: Any) -> bool:
        """Whether `skip_event_types` names this event type (exactly or by a `*` glob)."""
        if not isinstance(event_type, str):
            return False
        if event_type in self.skip_event_types:
            return True
        return any(fnmatch.fnmatchcase(event_type, glob) for glob in self.skip_event_globs)

    def _finish_event(self, payload: dict[str, Any], identity: Any) -> None:
        """Time as integer ms (required unless allowed missing) and a deterministic insert_id."""
        raw_time = payload.get("time")
        if raw_time is None:
            if not self.allow_missing_time:
                raise RecordCheckError(
                    MISSING_TIME,
                    "time",
                    "events need a time (map `time` to a field, or set allow_missing_time)",
                )
        elif type(raw_time) is not int or raw_time < EPOCH_MS_THRESHOLD:
            try:
                payload["time"] = to_epoch_ms(raw_time)
            except TimeParseError as exc:
                raise RecordCheckError(INVALID_TIME, "time", str(exc)) from None
        if "insert_id" not in payload:
            payload["insert_id"] = derive_insert_id(
                self.stream, identity, payload.get("event_type"), payload.get("time")
            )
        session = payload.get("session_id")
        if isinstance(session, str) and not session.lstrip("-").isdigit():
            with contextlib.suppress(TimeParseError):  # else validation names the bad value
                payload["session_id"] = to_epoch_ms(session)
