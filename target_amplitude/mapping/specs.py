"""The `streams` setting as data: kinds, Amplitude keys per kind, and spec resolution.

A stream resolves to a spec by exact name, else the first matching glob, else `default_object`;
a `preset` fills in defaults the spec may override. `kind_plan.KindPlan` compiles the result.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import ConfigValidationError

from target_amplitude.amplitude import (
    EVENT_KEYS,
    EVENTS,
    GROUP_IDENTIFY,
    GROUP_KEYS,
    GROUP_OPERATORS,
    IDENTIFY,
    IDENTIFY_KEYS,
    OPERATORS,
    PROPERTY_BAGS,
    USER_MAPPING_KEYS,
    USERMAP,
)
from target_amplitude.mapping.presets import PRESETS

if TYPE_CHECKING:
    from collections.abc import Mapping

EVENT = "event"
USER = "user"
DEVICE = "device"
GROUP = "group"
USER_MAPPING = "user_mapping"
KINDS = (EVENT, USER, DEVICE, GROUP, USER_MAPPING)
COHORT = "cohort"  # a stream of ids -> a cohort's members (mapping/cohort_spec.py); not a default
OBJECT_KINDS = (*KINDS, COHORT)

ALIASES = {"product_id": "productId", "revenue_type": "revenueType"}
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


@dataclass(frozen=True)
class KindShape:
    """What a kind's payload looks like: its keys, pass-through bags and main property bag."""

    endpoint: str
    keys: frozenset[str]
    pass_through: tuple[str, ...]
    main_bag: str | None


SHAPES = {
    EVENT: KindShape(EVENTS, EVENT_KEYS, PROPERTY_BAGS, "event_properties"),
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
        if kind not in OBJECT_KINDS:
            raise ConfigValidationError(
                f"streams.{stream}.object: {kind!r} is not one of {', '.join(OBJECT_KINDS)}"
            )
    if not kinds:
        raise ConfigValidationError(f"streams.{stream}.object: name at least one kind")
    if COHORT in kinds and len(kinds) > 1:
        raise ConfigValidationError(
            f"streams.{stream}.object: `cohort` takes a stream on its own (its records are "
            "cohort members, not events or profiles); map the stream twice with a stream map "
            "to do both"
        )
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
            operator = str(OPERATORS.get(operator_name, operator_name))
            if operator not in OPERATORS.values():
                raise ConfigValidationError(
                    f"streams.{stream}.property_operations: unknown operator {operator_name!r}; "
                    f"use one of {', '.join(OPERATORS)}"
                )
            if kind == GROUP and operator not in GROUP_OPERATORS:
                raise ConfigValidationError(
                    f"streams.{stream}.property_operations: {operator} is not supported for "
                    f"groups (only {', '.join(sorted(GROUP_OPERATORS))})"
                )
            result[prop] = operator
    return result
