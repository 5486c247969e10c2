"""Payloads derived from a user or group payload: the touch event and group membership.

- `touch_event` (user, device and group streams): one event per record, so new properties show
  on an event (Amplitude stamps properties onto events at ingestion; Census' workaround). The
  docs advise marking that event type inactive in Amplitude.
- `group_membership` (group streams): an identify with `groups: {type: value}` and
  `$set {type: value}`, which is how Amplitude links a user to a group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import ConfigValidationError

from target_amplitude.amplitude import EVENTS, ID_FIELDS, IDENTIFY
from target_amplitude.mapping.ids import id_string
from target_amplitude.mapping.insert_ids import derive_insert_id
from target_amplitude.mapping.sources import Getter, compile_source
from target_amplitude.mapping.specs import GROUP
from target_amplitude.mapping.timeconv import TimeParseError, to_epoch_ms
from target_amplitude.validation.reasons import INVALID_TIME, RecordCheckError

if TYPE_CHECKING:
    from collections.abc import Mapping

TOUCH_EVENT = "touch_event"
MEMBERSHIP = "group_membership"


def _id_getters(
    spec: Mapping[str, Any], override: Mapping[str, Any] | None, where: str
) -> list[tuple[str, Getter]]:
    """user_id/device_id getters: the override's, else the stream's, else same-named fields."""
    getters = []
    for name in ID_FIELDS:
        if override is not None and name in override:
            source = override[name]
        else:
            source = spec.get(name, name)
        getter = compile_source(source, f"{where}.{name}")
        if getter is not None:
            getters.append((name, getter))
    return getters


def _ids(getters: list[tuple[str, Getter]], record: dict[str, Any]) -> dict[str, str]:
    """The ids the getters find in a record, as the shared id rule writes them."""
    found = {}
    for name, getter in getters:
        value = getter(record)
        if value is not None and value != "":
            found[name] = id_string(value)
    return found


class TouchEventPlan:
    """One event per user/device/group record, carrying the same identity (and group)."""

    kind = TOUCH_EVENT
    endpoint = EVENTS

    def __init__(
        self, stream: str, primary_kind: str, spec: Mapping[str, Any], fallback_time_ms: int
    ) -> None:
        """Read `touch_event` (an event type, or `{event_type, time, user_id, device_id}`)."""
        where = f"streams.{stream}.touch_event"
        raw = spec[TOUCH_EVENT]
        options: Mapping[str, Any] = {"event_type": raw} if isinstance(raw, str) else raw
        if not isinstance(options, dict) or not isinstance(options.get("event_type"), str):
            raise ConfigValidationError(
                f'{where}: give an event type, e.g. "Synced from Warehouse"'
            )
        self.stream = stream
        self.primary_kind = primary_kind
        self.event_type = options["event_type"]
        time_source = options.get("time", spec.get("time"))
        self.time = compile_source(time_source, f"{where}.time") if time_source else None
        self.fallback_time_ms = fallback_time_ms
        membership = spec.get(MEMBERSHIP)
        override = options if ("user_id" in options or "device_id" in options) else None
        if override is None and isinstance(membership, dict):
            override = membership
        self.ids = _id_getters(spec, override, where)

    def build(
        self, record: dict[str, Any], identity: Any, primary: dict[str, Any]
    ) -> dict[str, Any]:
        """The touch event for a record whose primary payload is `primary`."""
        event: dict[str, Any] = {"event_type": self.event_type}
        if self.primary_kind == GROUP:
            event.update(_ids(self.ids, record))
            event["groups"] = {primary.get("group_type"): primary.get("group_value")}
        else:
            event.update({k: primary[k] for k in ID_FIELDS if k in primary})
        raw_time = self.time(record) if self.time is not None else None
        if raw_time is None:
            event["time"] = self.fallback_time_ms
        else:
            try:
                event["time"] = to_epoch_ms(raw_time)
            except TimeParseError as exc:
                raise RecordCheckError(INVALID_TIME, "time", str(exc)) from None
        event["insert_id"] = derive_insert_id(self.stream, identity, self.event_type, event["time"])
        return event


class MembershipPlan:
    """Identify linking the record's user/device to the group (`groups` + `$set`)."""

    kind = MEMBERSHIP
    endpoint = IDENTIFY

    def __init__(self, stream: str, spec: Mapping[str, Any]) -> None:
        """Read `group_membership`: true (the stream's ids) or `{user_id, device_id}` sources."""
        raw = spec[MEMBERSHIP]
        where = f"streams.{stream}.{MEMBERSHIP}"
        if raw is not True and not isinstance(raw, dict):
            raise ConfigValidationError(f'{where}: use true or {{"user_id": "member_id"}}')
        self.stream = stream
        self.ids = _id_getters(spec, raw if isinstance(raw, dict) else None, where)

    def build(
        self, record: dict[str, Any], identity: Any, primary: dict[str, Any]
    ) -> dict[str, Any]:
        """The membership identify for a group record whose payload is `primary`."""
        del identity
        group_type = primary.get("group_type")
        group_value = primary.get("group_value")
        identification: dict[str, Any] = _ids(self.ids, record)
        identification["groups"] = {group_type: group_value}
        identification["user_properties"] = {"$set": {group_type: group_value}}
        return identification
