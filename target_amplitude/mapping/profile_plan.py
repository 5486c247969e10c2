"""Profile plans (user, device, group): plain properties become property operations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from target_amplitude.mapping.kind_plan import KindPlan
from target_amplitude.mapping.specs import property_operations

if TYPE_CHECKING:
    from collections.abc import Mapping


class ProfilePlan(KindPlan):
    """User, device and group kinds: the main bag in operator form (`$set`, `$add`, `$unset`...)."""

    def __init__(self, stream: str, kind: str, spec: Mapping[str, Any]) -> None:
        """Compile the shared parts, then `property_operations`."""
        super().__init__(stream, kind, spec)
        self.operations = property_operations(stream, spec, kind)

    def _place_bags(
        self, payload: dict[str, Any], bags: dict[str, dict[str, Any]], leftovers: dict[str, Any]
    ) -> None:
        """The main bag as operations; the other bags (groups) as they are."""
        main = self.main_bag
        if main is not None:
            operations = self._operations_bag(bags.pop(main, None), leftovers)
            if operations:
                payload[main] = operations
        for bag, value in bags.items():
            if value:
                payload[bag] = value  # noqa: PERF403  (hot path: no dict built)

    def _operations_bag(
        self, passed: dict[str, Any] | None, plain: dict[str, Any]
    ) -> dict[str, Any]:
        """Operator form for identify bags: plain properties go under $set (or their operator).

        A passed-through bag already in operator form is merged operator by operator; one that
        mixes operators and plain keys is passed on unchanged for validation to name.
        """
        if not passed:
            return self._as_operations(plain)
        operator_keys = [key for key in passed if key[:1] == "$"]
        if not operator_keys:
            return self._as_operations({**passed, **plain})
        if len(operator_keys) != len(passed):
            return {**passed, **plain}
        result = self._as_operations(plain)
        for operator, values in passed.items():
            if isinstance(values, dict) and isinstance(result.get(operator), dict):
                result[operator] = {**values, **result[operator]}
            else:
                result[operator] = values
        return result

    def _as_operations(self, properties: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Plain properties -> `{operator: {property: value}}`, honouring `null_values`."""
        result: dict[str, dict[str, Any]] = {}
        operations = self.operations
        for name, value in properties.items():
            operator = operations.get(name, "$set")
            if value is None:
                if not self.unset_nulls:
                    continue
                operator = "$unset"
            bucket = result.get(operator)
            if bucket is None:
                bucket = result[operator] = {}
            bucket[name] = "-" if operator == "$unset" else value
        return result
