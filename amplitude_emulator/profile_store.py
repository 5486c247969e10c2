"""Profiles of ingested identities: one per user_id (else device_id), one per group."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amplitude_emulator.profiles import (
    GROUP_OPERATORS,
    USER_OPERATORS,
    apply_operations,
    normalize_operations,
)

if TYPE_CHECKING:
    from amplitude_emulator.state import Project

# Top-level keys an event or identification carries about the user's device and place.
DEVICE_FIELDS = (
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
)
AMPLITUDE_ID_BASE = 900_000_000


def profile_for(project: Project, holder: dict[str, Any]) -> dict[str, Any] | None:
    """The profile keyed by the holder's user_id (else device_id), created on first sight."""
    key = holder.get("user_id") or holder.get("device_id")
    if not key:
        return None
    profile = project.user_profiles.get(key)
    if profile is None:
        profile = {
            "amplitude_id": AMPLITUDE_ID_BASE + len(project.user_profiles) + 1,
            "user_id": holder.get("user_id"),
            "device_id": holder.get("device_id"),
            "user_properties": {},
            "groups": {},
        }
        project.user_profiles[key] = profile
    elif holder.get("device_id"):
        profile["device_id"] = holder["device_id"]
    for name in DEVICE_FIELDS:
        if name in holder:
            profile[name] = holder[name]
    return profile


def apply_identity(
    project: Project, holder: dict[str, Any], *, operators_allowed: bool
) -> dict[str, Any] | None:
    """Apply an identification's (or event's) user_properties and groups to its profile."""
    profile = profile_for(project, holder)
    if profile is None:
        return None
    groups = holder.get("groups")
    if isinstance(groups, dict):
        profile["groups"].update(groups)
    bag = holder.get("user_properties")
    if isinstance(bag, dict) and bag:
        if operators_allowed:
            apply_operations(profile["user_properties"], normalize_operations(bag, USER_OPERATORS))
        elif not any(key.startswith("$") for key in bag):
            profile["user_properties"].update(bag)
    return profile


def apply_group_properties(
    project: Project,
    group_type: str,
    group_value: str,
    properties: Any,
    allowed: tuple[str, ...] = GROUP_OPERATORS,
) -> None:
    """Apply one group's property operations (already validated) to its group profile."""
    profile = project.group_profiles.setdefault((group_type, group_value), {})
    apply_operations(profile, normalize_operations(properties, allowed))
