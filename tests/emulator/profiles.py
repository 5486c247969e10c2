"""User and group property operators ($set, $add, ...) applied to stored profiles, as Identify documents."""

from __future__ import annotations

import numbers
from typing import Any

USER_OPERATORS = (
    "$clearAll",
    "$unset",
    "$setOnce",
    "$set",
    "$add",
    "$append",
    "$prepend",
    "$preInsert",
    "$postInsert",
    "$remove",
)
# The Group Identify page lists only these for group_properties.
GROUP_OPERATORS = ("$set", "$setOnce", "$add", "$append", "$prepend", "$unset")


class ProfileError(ValueError):
    """A property update Amplitude would refuse (400)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def normalize_operations(properties: Any, allowed: tuple[str, ...] = USER_OPERATORS) -> dict[str, Any]:
    """Operator form of a property bag: plain keys mean $set; mixing both, or unknown operators, is refused."""
    if properties is None:
        return {}
    if not isinstance(properties, dict):
        raise ProfileError("properties must be a JSON object")
    operator_keys = [key for key in properties if key.startswith("$")]
    if not operator_keys:
        return {"$set": dict(properties)} if properties else {}
    if len(operator_keys) != len(properties):
        raise ProfileError("operators cannot be mixed with plain property keys")
    seen: set[str] = set()
    for operator, operand in properties.items():
        if operator not in allowed:
            raise ProfileError(f"unsupported operator {operator}")
        if operator == "$clearAll":
            continue
        if not isinstance(operand, dict):
            raise ProfileError(f"{operator} takes an object of properties")
        repeated = seen.intersection(operand)
        if repeated:
            raise ProfileError(f"property {sorted(repeated)[0]!r} appears under more than one operator")
        seen.update(operand)
        if operator == "$add":
            for key, amount in operand.items():
                if not _is_number(amount):
                    raise ProfileError(f"$add needs a number for {key!r}")
    return dict(properties)


def apply_operations(profile: dict[str, Any], operations: dict[str, Any]) -> None:
    """Apply normalized operations to a property dict in place, in Amplitude's documented meaning."""
    if "$clearAll" in operations:
        profile.clear()
    for key in operations.get("$unset", {}):
        profile.pop(key, None)
    for key, value in operations.get("$setOnce", {}).items():
        profile.setdefault(key, value)
    profile.update(operations.get("$set", {}))
    for key, amount in operations.get("$add", {}).items():
        current = profile.get(key)
        profile[key] = (current if _is_number(current) else 0) + amount
    for key, value in operations.get("$append", {}).items():
        profile[key] = _existing_list(profile, key) + _as_list(value)
    for key, value in operations.get("$prepend", {}).items():
        profile[key] = _as_list(value) + _existing_list(profile, key)
    for key, value in operations.get("$preInsert", {}).items():
        current = _existing_list(profile, key)
        fresh = [item for item in _as_list(value) if item not in current]
        profile[key] = fresh + current
    for key, value in operations.get("$postInsert", {}).items():
        current = _existing_list(profile, key)
        profile[key] = current + [item for item in _as_list(value) if item not in current]
    for key, value in operations.get("$remove", {}).items():
        if key in profile:
            doomed = _as_list(value)
            profile[key] = [item for item in _existing_list(profile, key) if item not in doomed]


def _existing_list(profile: dict[str, Any], key: str) -> list[Any]:
    """The current value as a list: absent -> [], a scalar -> [scalar]."""
    if key not in profile or profile[key] is None:
        return []
    return _as_list(profile[key])


def update_properties(
    profile: dict[str, Any], properties: Any, allowed: tuple[str, ...] = USER_OPERATORS
) -> None:
    """Validate then apply one property bag (raises ProfileError before touching the profile)."""
    apply_operations(profile, normalize_operations(properties, allowed))
