"""Local checks on built payloads, so one bad row is rejected alone instead of failing a request.

Amplitude rejects a whole request for one bad event (400), so every payload is checked here first.
A failure raises `RecordCheckError` with a reason code (`reasons.py`) and the field at fault;
the sink hands it to `Deliverer.reject`, which applies `on_rejected`. Cheap repairs that Amplitude
would make anyway (long property strings truncated, Decimal -> float, datetime -> ISO) are done in
place of a rejection.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from decimal import Decimal
from typing import Any

from target_amplitude.amplitude import (
    DEFAULT_MIN_ID_LENGTH,
    EARLIEST_TIME_MS,
    FLOAT_FIELDS,
    FUTURE_TOLERANCE_MS,
    GROUP_OPERATORS,
    ID_FIELDS,
    IDENTIFY_OPERATORS,
    INT_FIELDS,
    INVALID_IDS,
    MAX_GROUP_TYPES,
    MAX_GROUP_VALUES,
    MAX_STRING_LENGTH,
    RESERVED_EVENT_TYPES,
    RESERVED_OBJECTS,
    SKIP_USER_PROPERTIES_SYNC,
    has_reserved_shape,
)
from target_amplitude.validation.json_ready import JsonReadiness
from target_amplitude.validation.reasons import (
    ID_TOO_SHORT,
    INVALID_GROUP,
    INVALID_INGESTION_METADATA,
    INVALID_NUMBER,
    INVALID_PLAN,
    INVALID_SKIP_USER_PROPERTIES_SYNC,
    INVALID_TIME,
    MISSING_EVENT_TYPE,
    MISSING_GLOBAL_USER_ID,
    MISSING_GROUP_TYPE,
    MISSING_GROUP_VALUE,
    MISSING_ID,
    OPERATOR_CONFLICT,
    OPERATOR_MIXING,
    OPERATORS_NOT_ALLOWED,
    RESERVED_EVENT_TYPE,
    STRING_TOO_LONG,
    TIME_OUT_OF_RANGE,
    TOO_MANY_GROUP_TYPES,
    TOO_MANY_GROUP_VALUES,
    RecordCheckError,
)

LONGEST_INVALID_ID = max(len(value) for value in INVALID_IDS)
RESERVED_TYPES = frozenset(RESERVED_EVENT_TYPES)
RESERVED_OBJECT_REASONS = {"plan": INVALID_PLAN, "ingestion_metadata": INVALID_INGESTION_METADATA}


class Checker:
    """Validates and repairs payloads of every kind; built once per sink from the settings."""

    def __init__(self, min_id_length: int | None = None, now_ms: int | None = None) -> None:
        """`min_id_length` as configured (None: Amplitude's 5); `now_ms` pins "now" in tests."""
        self.min_id_length = DEFAULT_MIN_ID_LENGTH if min_id_length is None else min_id_length
        self._fixed_now_ms = now_ms
        self._latest_ms = self.latest_time_ms()
        self.json = JsonReadiness()
        self.dropped_invalid_ids = 0

    @property
    def truncated_strings(self) -> int:
        """Property strings cut to MAX_STRING_LENGTH characters so far."""
        return self.json.truncated_strings

    def latest_time_ms(self) -> int:
        """Upper bound for event times: now plus a day of clock skew."""
        now = self._fixed_now_ms if self._fixed_now_ms is not None else int(time.time() * 1000)
        return now + FUTURE_TOLERANCE_MS

    # --- kinds ------------------------------------------------------------------------------

    def check_event(self, event: dict[str, Any]) -> None:
        """Event checks: type, an acceptable id, time, numbers, groups, strings, properties."""
        event_type = event.get("event_type")
        if event_type is None or event_type == "":
            raise RecordCheckError(MISSING_EVENT_TYPE, "event_type", "no event type")
        if event_type in RESERVED_TYPES:
            raise RecordCheckError(
                RESERVED_EVENT_TYPE,
                "event_type",
                f"{event_type!r} is reserved; users and groups go through the user/group kinds",
            )
        if len(event_type) > MAX_STRING_LENGTH:
            self._check_string("event_type", event_type)
        self._check_ids(event, required=ID_FIELDS)
        if "time" in event:
            self._check_time(event["time"])
        insert_id = event.get("insert_id")
        if insert_id is not None and len(insert_id) > MAX_STRING_LENGTH:
            self._check_string("insert_id", insert_id)
        self._check_numbers(event)
        self._check_reserved(event)
        if "groups" in event:
            self._check_groups(event["groups"])
        user_properties = event.get("user_properties")
        if user_properties and any(key[:1] == "$" for key in user_properties):
            raise RecordCheckError(
                OPERATORS_NOT_ALLOWED,
                "user_properties",
                "operators ($set, ...) are only valid on identify; map this stream to the "
                "user kind instead",
            )
        self.json.clean_top_level(event)

    def check_identify(self, identification: dict[str, Any], required: tuple[str, ...]) -> None:
        """User and device checks: the required id, operators, groups, strings."""
        self._check_ids(identification, required=required)
        if "groups" in identification:
            self._check_groups(identification["groups"])
        if "user_properties" in identification:
            self._check_operations(
                "user_properties", identification["user_properties"], IDENTIFY_OPERATORS
            )
        self.json.clean_top_level(identification)

    def check_group(self, identification: dict[str, Any]) -> None:
        """Group checks: type and value present and scalar, operators, strings."""
        for name, reason in (
            ("group_type", MISSING_GROUP_TYPE),
            ("group_value", MISSING_GROUP_VALUE),
        ):
            value = identification.get(name)
            if value is None or value == "":
                raise RecordCheckError(reason, name, f"no {name}")
            if not isinstance(value, str):
                raise RecordCheckError(
                    INVALID_GROUP, name, f"{type(value).__name__} is not a string"
                )
            self._check_string(name, value)
        if "group_properties" in identification:
            self._check_operations(
                "group_properties", identification["group_properties"], GROUP_OPERATORS
            )
        self.json.clean_top_level(identification)

    def check_user_mapping(self, mapping: dict[str, Any]) -> None:
        """User-mapping checks: user_id, and global_user_id unless it is an unmap."""
        self._check_ids(mapping, required=("user_id",))
        if mapping.get("unmap") is True:
            return
        global_id = mapping.get("global_user_id")
        if global_id is None or global_id == "":
            raise RecordCheckError(MISSING_GLOBAL_USER_ID, "global_user_id", "no global_user_id")
        self._check_string("global_user_id", global_id)

    # --- pieces -----------------------------------------------------------------------------

    def _check_ids(self, payload: dict[str, Any], required: tuple[str, ...]) -> None:
        """Drop ids Amplitude calls invalid, reject short or long ones, need one of `required`."""
        dropped: list[str] = []
        for name in ID_FIELDS:
            value = payload.get(name)
            if value is None:
                continue
            if len(value) <= LONGEST_INVALID_ID and (value == "" or value.lower() in INVALID_IDS):
                del payload[name]
                dropped.append(f"{name} {value!r} is on Amplitude's invalid-id list")
                self.dropped_invalid_ids += 1
                continue
            if len(value) < self.min_id_length:
                raise RecordCheckError(
                    ID_TOO_SHORT,
                    name,
                    f"{value!r} is shorter than min_id_length={self.min_id_length} (Amplitude "
                    "would drop it); lower `min_id_length` if such ids are intended",
                )
            if len(value) > MAX_STRING_LENGTH:
                self._check_string(name, value)
        for name in required:
            if payload.get(name):
                return
        detail = "; ".join(dropped) or f"none of {', '.join(required)} is set"
        raise RecordCheckError(MISSING_ID, "/".join(required), detail)

    def _check_time(self, value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise RecordCheckError(INVALID_TIME, "time", f"{value!r} is not integer milliseconds")
        if value > self._latest_ms:  # the bound moves with the clock: refresh before refusing
            self._latest_ms = self.latest_time_ms()
        if value < EARLIEST_TIME_MS or value > self._latest_ms:
            iso = dt.datetime.fromtimestamp(value / 1000, tz=dt.timezone.utc).isoformat()
            raise RecordCheckError(
                TIME_OUT_OF_RANGE,
                "time",
                f"{value} ms ({iso}) is before 2000 or more than a day in the future",
            )

    def _check_numbers(self, payload: dict[str, Any]) -> None:
        """Coerce numeric strings and Decimals; reject anything that is not a number."""
        for name in FLOAT_FIELDS:
            if name in payload:
                payload[name] = _as_float(name, payload[name])
        for name in INT_FIELDS:
            if name in payload:
                payload[name] = _as_int(name, payload[name])

    def _check_reserved(self, event: dict[str, Any]) -> None:
        """`plan`, `ingestion_metadata` and `$skip_user_properties_sync` in Amplitude's shape."""
        for name in RESERVED_OBJECTS:
            if name in event and not has_reserved_shape(name, event[name]):
                keys = ", ".join(sorted(RESERVED_OBJECTS[name]))
                raise RecordCheckError(
                    RESERVED_OBJECT_REASONS[name],
                    name,
                    f"{event[name]!r} is not Amplitude's reserved {name} object (string values "
                    f"under {keys}); map the column to event_properties instead",
                )
        skip_sync = event.get(SKIP_USER_PROPERTIES_SYNC)
        if skip_sync is not None and not isinstance(skip_sync, bool):
            raise RecordCheckError(
                INVALID_SKIP_USER_PROPERTIES_SYNC,
                SKIP_USER_PROPERTIES_SYNC,
                f"{skip_sync!r} is not true or false",
            )

    def _check_groups(self, groups: Any) -> None:
        if not isinstance(groups, dict):
            raise RecordCheckError(INVALID_GROUP, "groups", "groups must be an object")
        if len(groups) > MAX_GROUP_TYPES:
            raise RecordCheckError(
                TOO_MANY_GROUP_TYPES,
                "groups",
                f"{len(groups)} group types; Amplitude allows {MAX_GROUP_TYPES} per event",
            )
        for group_type, values in groups.items():
            if isinstance(values, list):
                if len(values) > MAX_GROUP_VALUES:
                    raise RecordCheckError(
                        TOO_MANY_GROUP_VALUES,
                        f"groups.{group_type}",
                        f"{len(values)} values; Amplitude allows {MAX_GROUP_VALUES}",
                    )
                if not all(isinstance(value, str) for value in values):
                    raise RecordCheckError(
                        INVALID_GROUP, f"groups.{group_type}", "group values must be strings"
                    )
            elif not isinstance(values, str):
                raise RecordCheckError(
                    INVALID_GROUP,
                    f"groups.{group_type}",
                    "a group value must be a string or an array of strings",
                )

    def _check_operations(self, field: str, operations: Any, allowed: frozenset[str]) -> None:
        """Operator-only dict, known operators, and each property under one operator."""
        if not isinstance(operations, dict):
            raise RecordCheckError(OPERATOR_MIXING, field, f"{field} must be an object")
        seen: dict[str, str] = {}
        for operator, properties in operations.items():
            if operator not in allowed:
                if not operator.startswith("$"):
                    raise RecordCheckError(
                        OPERATOR_MIXING,
                        field,
                        f"plain key {operator!r} beside operators; put it under $set",
                    )
                raise RecordCheckError(OPERATOR_MIXING, field, f"unknown operator {operator!r}")
            if operator == "$clearAll":
                continue
            if not isinstance(properties, dict):
                raise RecordCheckError(OPERATOR_MIXING, field, f"{operator} must map properties")
            for name in properties:
                if name in seen:
                    raise RecordCheckError(
                        OPERATOR_CONFLICT,
                        f"{field}.{name}",
                        f"property under both {seen[name]} and {operator}",
                    )
                seen[name] = operator

    def _check_string(self, name: str, value: str) -> None:
        if len(value) > MAX_STRING_LENGTH:
            raise RecordCheckError(
                STRING_TOO_LONG,
                name,
                f"{len(value)} characters; Amplitude allows {MAX_STRING_LENGTH}",
            )


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise RecordCheckError(INVALID_NUMBER, name, f"{value!r} is not a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RecordCheckError(INVALID_NUMBER, name, f"{value!r} is not a finite number")
        return value
    if isinstance(value, (int, Decimal)):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
    raise RecordCheckError(INVALID_NUMBER, name, f"{value!r} is not a number")


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise RecordCheckError(INVALID_NUMBER, name, f"{value!r} is not an integer")
    if isinstance(value, int):
        return value
    number = _as_float(name, value) if not isinstance(value, float) else value
    if not math.isfinite(number) or number != int(number):
        raise RecordCheckError(INVALID_NUMBER, name, f"{value!r} is not an integer")
    return int(number)
