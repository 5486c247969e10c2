"""Per-event checks for /batch and /2/httpapi; every offending index is listed, as Batch says."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from amplitude_emulator.profiles import USER_OPERATORS, ProfileError, normalize_operations

# Documented always-invalid identifier values (compared case-insensitively).
INVALID_ID_VALUES = frozenset(
    {
        "anonymous",
        "nil",
        "none",
        "null",
        "n/a",
        "na",
        "undefined",
        "unknown",
        '""',
        "00000000-0000-0000-0000-000000000000",
        "{}",
        "lmy47d",
        "0",
        "-1",
    }
)
DEFAULT_MIN_ID_LENGTH = 5
MAX_STRING_CHARS = 1024
MAX_GROUP_TYPES = 5
MAX_GROUP_VALUES = 10
INTEGER_FIELDS = ("time", "quantity", "session_id", "event_id")
NUMBER_FIELDS = ("price", "revenue", "location_lat", "location_lng")
OBJECT_FIELDS = ("event_properties", "user_properties", "group_properties")
# Reserved objects (HTTP V2 page): only these keys, each a string; anything else is invalid_field.
RESERVED_OBJECTS = {
    "plan": frozenset(("branch", "source", "version", "versionId")),
    "ingestion_metadata": frozenset(("source_name", "source_version")),
}
SKIP_USER_PROPERTIES_SYNC = "$skip_user_properties_sync"
ID_FIELDS = ("user_id", "device_id")
# Amplitude writes these itself; the HTTP V2 page lists them as reserved.
RESERVED_EVENT_TYPES = frozenset(
    {
        "[Amplitude] Start Session",
        "[Amplitude] End Session",
        "[Amplitude] Revenue",
        "[Amplitude] Revenue (Verified)",
        "[Amplitude] Revenue (Unverified)",
        "[Amplitude] Merged User",
    }
)
IDENTIFY = "$identify"
GROUP_IDENTIFY = "$groupidentify"


@dataclass
class EventProblems:
    """The three index maps of a 400 'Invalid field values on some events' body."""

    invalid_fields: dict[str, list[int]] = field(default_factory=dict)
    missing_fields: dict[str, list[int]] = field(default_factory=dict)
    invalid_id_lengths: dict[str, list[int]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.invalid_fields or self.missing_fields or self.invalid_id_lengths)

    def body(self) -> dict[str, Any]:
        """The documented 400 body, with only the maps that have entries."""
        payload: dict[str, Any] = {"code": 400, "error": "Invalid field values on some events"}
        if self.invalid_fields:
            payload["events_with_invalid_fields"] = self.invalid_fields
        if self.missing_fields:
            payload["events_with_missing_fields"] = self.missing_fields
        if self.invalid_id_lengths:
            payload["events_with_invalid_id_lengths"] = self.invalid_id_lengths
        return payload


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def truncate_strings(value: Any) -> Any:
    """The value with every string cut to 1024 characters (Amplitude truncates, not rejects)."""
    if isinstance(value, str):
        return value[:MAX_STRING_CHARS] if len(value) > MAX_STRING_CHARS else value
    if isinstance(value, dict):
        return {key: truncate_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [truncate_strings(item) for item in value]
    return value


def groups_are_valid(groups: Any) -> bool:
    """≤ 5 group types, each a string or a list of ≤ 10 values."""
    if not isinstance(groups, dict) or len(groups) > MAX_GROUP_TYPES:
        return False
    for value in groups.values():
        if isinstance(value, list):
            if len(value) > MAX_GROUP_VALUES or not all(isinstance(v, (str, int)) for v in value):
                return False
        elif not isinstance(value, (str, int)) or isinstance(value, bool):
            return False
    return True


def check_ids(holder: dict[str, Any], min_id_length: int) -> tuple[list[str], list[str], list[str]]:
    """Clean user_id/device_id in place: (invalid-value names, too-short names, names kept)."""
    bad_values: list[str] = []
    too_short: list[str] = []
    remaining: list[str] = []
    for name in ID_FIELDS:
        value = holder.get(name)
        if value is None:
            holder.pop(name, None)
            continue
        if not isinstance(value, str) or value.lower() in INVALID_ID_VALUES:
            bad_values.append(name)
            continue
        if len(value) > MAX_STRING_CHARS:
            value = holder[name] = value[:MAX_STRING_CHARS]
        if len(value) < min_id_length:
            del holder[name]
            too_short.append(name)
        else:
            remaining.append(name)
    return bad_values, too_short, remaining


def check_event(index: int, event: Any, min_id_length: int, problems: EventProblems) -> None:
    """Validate and clean one event in place, recording each problem under its index."""
    if not isinstance(event, dict):
        problems.invalid_fields.setdefault("event", []).append(index)
        return
    event_type = event.get("event_type")
    if not event_type:
        problems.missing_fields.setdefault("event_type", []).append(index)
    elif not isinstance(event_type, str) or event_type in RESERVED_EVENT_TYPES:
        problems.invalid_fields.setdefault("event_type", []).append(index)
    _check_event_ids(index, event, min_id_length, problems)
    invalid = problems.invalid_fields
    for name in _wrongly_typed_fields(event):
        invalid.setdefault(name, []).append(index)
    _check_operations(index, event, event_type, invalid)
    for key, value in event.items():
        if isinstance(value, (str, dict, list)):
            event[key] = truncate_strings(value)


def _check_event_ids(
    index: int, event: dict[str, Any], min_id_length: int, problems: EventProblems
) -> None:
    """Invalid id values are invalid fields; an event left with no id is listed by reason."""
    bad_values, too_short, remaining = check_ids(event, min_id_length)
    for name in bad_values:
        problems.invalid_fields.setdefault(name, []).append(index)
    if remaining or bad_values or event.get("event_type") == GROUP_IDENTIFY:
        return
    if too_short:
        for name in too_short:
            problems.invalid_id_lengths.setdefault(name, []).append(index)
    else:
        for name in ID_FIELDS:
            problems.missing_fields.setdefault(name, []).append(index)


def _wrongly_typed_fields(event: dict[str, Any]) -> list[str]:
    """Names of fields whose value has the wrong JSON type (null counts as absent)."""
    wrong = [
        name for name in INTEGER_FIELDS if event.get(name) is not None and not _is_int(event[name])
    ]
    wrong += [
        name
        for name in NUMBER_FIELDS
        if event.get(name) is not None and not _is_number(event[name])
    ]
    wrong += [
        name
        for name in OBJECT_FIELDS
        if event.get(name) is not None and not isinstance(event[name], dict)
    ]
    wrong += [
        name
        for name, keys in RESERVED_OBJECTS.items()
        if event.get(name) is not None and not reserved_object_is_valid(event[name], keys)
    ]
    skip_sync = event.get(SKIP_USER_PROPERTIES_SYNC)
    if skip_sync is not None and not isinstance(skip_sync, bool):
        wrong.append(SKIP_USER_PROPERTIES_SYNC)
    if event.get("groups") is not None and not groups_are_valid(event["groups"]):
        wrong.append("groups")
    return wrong


def reserved_object_is_valid(value: Any, keys: frozenset[str]) -> bool:
    """A reserved object (`plan`, `ingestion_metadata`): known keys with string values."""
    return (
        isinstance(value, dict)
        and set(value) <= keys
        and all(isinstance(item, str) for item in value.values())
    )


def _check_operations(
    index: int, event: dict[str, Any], event_type: Any, invalid: dict[str, list[int]]
) -> None:
    """$identify / $groupidentify carry operator bags, which must be well formed."""
    bag_name = "group_properties" if event_type == GROUP_IDENTIFY else "user_properties"
    bag = event.get(bag_name)
    if not isinstance(bag, dict) or not bag:
        return
    if event_type in (IDENTIFY, GROUP_IDENTIFY):
        try:
            normalize_operations(bag, USER_OPERATORS)
        except ProfileError:
            invalid.setdefault(bag_name, []).append(index)
