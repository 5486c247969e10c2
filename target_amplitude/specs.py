"""The `streams` setting as data: kinds, Amplitude keys per kind, and spec resolution.

A stream resolves to a spec by exact name, else the first matching glob, else `default_object`;
a `preset` fills in defaults the spec may override. `mapping.KindPlan` compiles the result.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import ConfigValidationError

from target_amplitude.delivery import EVENTS, GROUP_IDENTIFY, IDENTIFY, USERMAP
from target_amplitude.presets import PRESETS

if TYPE_CHECKING:
    from collections.abc import Mapping

EVENT = "event"
USER = "user"
DEVICE = "device"
GROUP = "group"
USER_MAPPING = "user_mapping"
KINDS = (EVENT, USER, DEVICE, GROUP, USER_MAPPING)

EVENT_KEYS = frozenset(
    [
        "user_id",
        "device_id",
        "event_type",
        "time",
        "insert_id",
        "event_id",
        "session_id",
        "app_version",
        "platform",
        "os_name",
        "os_version",
        "device_brand",
        "device_manufacturer",
        "device_model",
        "carrier",
        "country",
        "region",
        "city",
        "dma",
        "language",
        "location_lat",
        "location_lng",
        "ip",
        "idfa",
        "idfv",
        "adid",
        "android_id",
        "android_app_set_id",
        "user_agent",
        "price",
        "quantity",
        "revenue",
        "productId",
        "revenueType",
        "currency",
        "plan",
        "ingestion_metadata",
        "partner_id",
        "version_name",
        "library",
        "$skip_user_properties_sync",
    ]
)
IDENTIFY_KEYS = frozenset(
    [
        "user_id",
        "device_id",
        "app_version",
        "platform",
        "os_name",
        "os_version",
        "device_brand",
        "device_manufacturer",
        "device_model",
        "carrier",
        "country",
        "region",
        "city",
        "dma",
        "language",
        "paying",
        "start_version",
    ]
)
GROUP_KEYS = frozenset(("group_type", "group_value"))
USER_MAPPING_KEYS = frozenset(("user_id", "global_user_id", "unmap"))
ALIASES = {"product_id": "productId", "revenue_type": "revenueType"}
BAGS = ("event_properties", "user_properties", "groups", "group_properties")
SPEC_CONTROL_KEYS = frozenset(
    [
        "object",
        "preset",
        "event_properties",
        "user_properties",
        "group_properties",
        "groups",
        "property_operations",
        "null_values",
        "allow_missing_time",
        "group_membership",
        "touch_event",
        "skip_event_types",
        "skip_user_properties_sync",
    ]
)
KNOWN_FIELD_KEYS = EVENT_KEYS | IDENTIFY_KEYS | GROUP_KEYS | USER_MAPPING_KEYS
OPERATOR_NAMES = {
    "set": "$set",
    "set_once": "$setOnce",
    "add": "$add",
    "append": "$append",
    "prepend": "$prepend",
    "unset": "$unset",
    "pre_insert": "$preInsert",
    "post_insert": "$postInsert",
    "remove": "$remove",
}
GROUP_OPERATOR_NAMES = frozenset(("$set", "$setOnce", "$add", "$append", "$prepend", "$unset"))
ID_KEYS = ("user_id", "device_id")
SKIP_USER_PROPERTIES_SYNC = "$skip_user_properties_sync"
# Reserved event objects: the keys Amplitude accepts in each, every value a string. A column
# named like one maps to it by convention only when its value has this shape (a `plan` column
# holding "pro" is a subscription plan, an ordinary event property).
RESERVED_OBJECTS: dict[str, frozenset[str]] = {
    "plan": frozenset(("branch", "source", "version", "versionId")),
    "ingestion_metadata": frozenset(("source_name", "source_version")),
}


def has_reserved_shape(key: str, value: Any) -> bool:
    """Whether `value` is a well-formed `plan` / `ingestion_metadata` object."""
    keys = RESERVED_OBJECTS[key]
    return (
        isinstance(value, dict)
        and bool(value)
        and set(value) <= keys
        and all(isinstance(item, str) for item in value.values())
    )


STRING_KEYS = ("event_type", "insert_id", "group_type", "group_value", "global_user_id")


@dataclass(frozen=True)
class KindShape:
    """What a kind's payload looks like: its keys, pass-through bags and main property bag."""

    endpoint: str
    keys: frozenset[str]
    pass_through: tuple[str, ...]
    main_bag: str | None


SHAPES = {
    EVENT: KindShape(EVENTS, EVENT_KEYS, BAGS, "event_properties"),
    USER: KindShape(IDENTIFY, IDENTIFY_KEYS, ("user_properties", "groups"), "user_properties"),
    DEVICE: KindShape(IDENTIFY, IDENTIFY_KEYS, ("user_properties", "groups"), "user_properties"),
    GROUP: KindShape(GROUP_IDENTIFY, GROUP_KEYS, ("group_properties",), "group_properties"),
    USER_MAPPING: KindShape(USERMAP, USER_MAPPING_KEYS, (), None),
}


def resolve_spec(
    stream: str, streams: Mapping[str, Any] | None, default_object: str | None
) -> dict[str, Any]:
    """The spec for a stream: exact name, else the first matching glob, else `default_object`."""
    streams = streams or {}
    spec = streams.get(stream)
    if spec is None:
        for pattern, candidate in streams.items():
            if fnmatch.fnmatchcase(stream, pattern):
                spec = candidate
                break
    if spec is None:
        if default_object in (None, "none"):
            raise ConfigValidationError(
                f"stream {stream!r} is not mapped: add it (or a glob matching it) to `streams`, "
                "or set `default_object`"
            )
        spec = {"object": default_object}
    if isinstance(spec, str):
        spec = {"object": spec}
    if not isinstance(spec, dict):
        raise ConfigValidationError(f"streams.{stream}: expected an object, got {spec!r}")
    preset = spec.get("preset")
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigValidationError(
                f"streams.{stream}.preset: unknown preset {preset!r}; known: {sorted(PRESETS)}"
            )
        spec = {**PRESETS[preset], **spec}
    return dict(spec)


def spec_kinds(stream: str, spec: Mapping[str, Any]) -> list[str]:
    """The object kinds a spec names (one or a list), validated."""
    raw = spec.get("object", EVENT)
    kinds = [raw] if isinstance(raw, str) else list(raw)
    for kind in kinds:
        if kind not in KINDS:
            raise ConfigValidationError(
                f"streams.{stream}.object: {kind!r} is not one of {', '.join(KINDS)}"
            )
    if not kinds:
        raise ConfigValidationError(f"streams.{stream}.object: name at least one kind")
    return kinds


def property_operations(stream: str, spec: Mapping[str, Any], kind: str) -> dict[str, str]:
    """Property -> operator, from `{operator: [properties]}` or `{property: operator}`."""
    raw = spec.get("property_operations") or {}
    if not isinstance(raw, dict):
        raise ConfigValidationError(f"streams.{stream}.property_operations must be an object")
    result: dict[str, str] = {}
    for left, right in raw.items():
        pairs = [(name, left) for name in right] if isinstance(right, list) else [(left, right)]
        for prop, operator_name in pairs:
            operator = str(OPERATOR_NAMES.get(operator_name, operator_name))
            if operator not in OPERATOR_NAMES.values():
                raise ConfigValidationError(
                    f"streams.{stream}.property_operations: unknown operator {operator_name!r}; "
                    f"use one of {', '.join(OPERATOR_NAMES)}"
                )
            if kind == GROUP and operator not in GROUP_OPERATOR_NAMES:
                raise ConfigValidationError(
                    f"streams.{stream}.property_operations: {operator} is not supported for "
                    f"groups (only {', '.join(sorted(GROUP_OPERATOR_NAMES))})"
                )
            result[prop] = operator
    return result
