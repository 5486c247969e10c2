"""The one id rule: how a warehouse value becomes the id or name string Amplitude receives.

Every payload that names a user, device or group goes through it (primary kinds, group
membership, touch events), so `12345.0` or `" dev-1 "` is the same `"12345"` / `"dev-1"` in each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


def id_string(value: Any) -> str:
    """Ids and names as Amplitude wants them: trimmed strings (10 -> "10", 10.0 -> "10")."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def group_strings(groups: Any) -> Any:
    """Group values as strings (numbers are common in warehouses); arrays element-wise."""
    if not isinstance(groups, dict):
        return groups
    out: dict[str, Any] = {}
    for group_type, value in groups.items():
        if isinstance(value, list):
            out[group_type] = [v if isinstance(v, str) else id_string(v) for v in value]
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[group_type] = id_string(value)
        else:
            out[group_type] = value
    return out


def record_key(record: Mapping[str, Any], key_properties: Sequence[str], position: int) -> str:
    """Human-readable record key for reports: `id=42` (key properties) or `#17` (position)."""
    if key_properties:
        return ",".join(f"{name}={record.get(name)}" for name in key_properties)
    return f"#{position}"
