"""User and group property operators ($set, $add, ...) applied to profiles, per Identify docs."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

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


def normalize_operations(
    properties: Any, allowed: tuple[str, ...] = USER_OPERATORS
) -> dict[str, Any]:
    """Operator form of a property bag: plain keys mean $set; mixing both is refused."""
    if properties is None:
        return {}
    if not isinstance(properties, dict):
        raise ProfileError("properties must be a JSON object")
    operator_count = sum(1 for key in properties if key.startswith("$"))
    if not operator_count:
        return {"$set": dict(properties)} if properties else {}
    if operator_count != len(properties):
        raise ProfileError("operators cannot be mixed with plain property keys")
    _check_operands(properties, allowed)
    return dict(properties)


def _check_operands(operations: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """Known operators, object operands, numeric $add amounts, each property under one operator."""
    seen: set[str] = set()
    for operator, operand in operations.items():
        if operator not in allowed:
            raise ProfileError(f"unsupported operator {operator}")
        if operator == "$clearAll":
            continue
        if not isinstance(operand, dict):
            raise ProfileError(f"{operator} takes an object of properties")
        repeated = seen.intersection(operand)
        if repeated:
            raise ProfileError(f"property {min(repeated)!r} appears under more than one operator")
        seen.update(operand)
        if operator == "$add" and not all(_is_number(v) for v in operand.values()):
            raise ProfileError("$add needs numbers")


def _existing_list(profile: dict[str, Any], key: str) -> list[Any]:
    """The current value as a list: absent -> [], a scalar -> [scalar]."""
    if profile.get(key) is None:
        return []
    return _as_list(profile[key])


def _unset(profile: dict[str, Any], key: str, _value: Any) -> None:
    profile.pop(key, None)


def _set_once(profile: dict[str, Any], key: str, value: Any) -> None:
    profile.setdefault(key, value)


def _set(profile: dict[str, Any], key: str, value: Any) -> None:
    profile[key] = value


def _add(profile: dict[str, Any], key: str, amount: Any) -> None:
    current = profile.get(key)
    profile[key] = (current if _is_number(current) else 0) + amount


def _append(profile: dict[str, Any], key: str, value: Any) -> None:
    profile[key] = _existing_list(profile, key) + _as_list(value)


def _prepend(profile: dict[str, Any], key: str, value: Any) -> None:
    profile[key] = _as_list(value) + _existing_list(profile, key)


def _pre_insert(profile: dict[str, Any], key: str, value: Any) -> None:
    current = _existing_list(profile, key)
    profile[key] = [item for item in _as_list(value) if item not in current] + current


def _post_insert(profile: dict[str, Any], key: str, value: Any) -> None:
    current = _existing_list(profile, key)
    profile[key] = current + [item for item in _as_list(value) if item not in current]


def _remove(profile: dict[str, Any], key: str, value: Any) -> None:
    if key in profile:
        doomed = _as_list(value)
        profile[key] = [item for item in _existing_list(profile, key) if item not in doomed]


# Applied in this order, after $clearAll.
_APPLIERS: tuple[tuple[str, Callable[[dict[str, Any], str, Any], None]], ...] = (
    ("$unset", _unset),
    ("$setOnce", _set_once),
    ("$set", _set),
    ("$add", _add),
    ("$append", _append),
    ("$prepend", _prepend),
    ("$preInsert", _pre_insert),
    ("$postInsert", _post_insert),
    ("$remove", _remove),
)


def apply_operations(profile: dict[str, Any], operations: dict[str, Any]) -> None:
    """Apply normalized operations to a property dict in place."""
    if "$clearAll" in operations:
        profile.clear()
    for operator, apply in _APPLIERS:
        for key, value in operations.get(operator, {}).items():
            apply(profile, key, value)


def update_properties(
    profile: dict[str, Any], properties: Any, allowed: tuple[str, ...] = USER_OPERATORS
) -> None:
    """Validate then apply one property bag (raises ProfileError before touching the profile)."""
    apply_operations(profile, normalize_operations(properties, allowed))
