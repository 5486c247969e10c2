"""Record -> Amplitude payload, driven by the `streams` setting (configuration is data).

Each resolved spec (see `specs.py`) compiles once into one `KindPlan` per object kind. Building a
payload is then a single pass over the record plus the compiled getters:

- a record field named like an Amplitude key of the kind maps to it (convention);
- `event_properties` / `user_properties` / `groups` / `group_properties` objects pass through;
- every other field lands in the kind's property bag (narrowed by include/exclude);
- explicit spec entries (field path, template or constant) win over the convention.
"""

from __future__ import annotations

import contextlib
import fnmatch
from collections import Counter
from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import ConfigValidationError

from target_amplitude.amplitude import (
    ID_FIELDS,
    RESERVED_OBJECTS,
    SKIP_USER_PROPERTIES_SYNC,
    STRING_FIELDS,
    has_reserved_shape,
)
from target_amplitude.mapping.insert_ids import derive_insert_id
from target_amplitude.mapping.sources import (
    Getter,
    compile_source,
    direct_fields,
    is_source_object,
)
from target_amplitude.mapping.specs import (
    ALIASES,
    DEVICE,
    EVENT,
    GROUP,
    KNOWN_FIELD_KEYS,
    SHAPES,
    SPEC_CONTROL_KEYS,
    USER,
    USER_MAPPING,
    KindShape,
    property_operations,
)
from target_amplitude.mapping.timeconv import MS_THRESHOLD, TimeParseError, to_epoch_ms
from target_amplitude.validation.reasons import INVALID_TIME, MISSING_TIME, RecordCheckError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


class KindPlan:
    """One object kind of one stream, compiled: `build(record, identity)` returns the payload."""

    def __init__(self, stream: str, kind: str, spec: Mapping[str, Any]) -> None:
        """Compile the spec's sources, bags and operations for this kind."""
        self.stream = stream
        self.kind = kind
        shape = SHAPES[kind]
        self.endpoint = shape.endpoint
        self.main_bag = shape.main_bag
        self.string_keys = tuple(key for key in STRING_FIELDS if key in shape.keys)
        where = f"streams.{stream}"
        for key in spec:
            if key not in SPEC_CONTROL_KEYS and ALIASES.get(key, key) not in KNOWN_FIELD_KEYS:
                raise ConfigValidationError(
                    f"{where}: {key!r} is neither an Amplitude field nor a mapping option"
                )
        consumed: set[str] = set()
        self.explicit: list[tuple[str, Getter]] = []
        self.convention: dict[str, str] = {}
        self._compile_fields(spec, shape, where, consumed)
        self.pass_through = tuple(n for n in shape.pass_through if spec.get(n) is not False)
        self.group_getters = self._compile_groups(spec.get("groups"), where, consumed)
        self.side_bags: dict[str, tuple[str, ...]] = {}
        self.bag_include: frozenset[str] | None = None
        self.bag_exclude: frozenset[str] = frozenset()
        self.bag_field: Getter | None = None
        self.take_leftovers = self.main_bag is not None
        for bag in ("event_properties", "user_properties", "group_properties"):
            selector = spec.get(bag)
            if bag == self.main_bag and selector is False:
                self.take_leftovers = False
            elif bag in shape.pass_through and selector is not None and selector is not False:
                self._compile_bag(bag, selector, f"{where}.{bag}", consumed)
        self.skip_fields = frozenset(consumed | set(self.pass_through))
        self.operations = (
            property_operations(stream, spec, kind) if kind in (USER, DEVICE, GROUP) else {}
        )
        null_values = spec.get("null_values", "skip")
        if null_values not in ("skip", "unset"):
            raise ConfigValidationError(f"{where}.null_values must be `skip` or `unset`")
        self.unset_nulls = null_values == "unset"
        self.allow_missing_time = bool(spec.get("allow_missing_time", False))
        skip_sync = spec.get("skip_user_properties_sync", False)
        if not isinstance(skip_sync, bool):
            raise ConfigValidationError(f"{where}.skip_user_properties_sync must be true or false")
        self.skip_user_properties_sync = skip_sync and kind == EVENT
        skip_types = spec.get("skip_event_types") or ()
        self.skip_event_types = frozenset(t for t in skip_types if "*" not in t)
        # Only `*` is a wildcard: "[Amplitude] *" must not read as a character class.
        self.skip_event_globs = tuple(t.replace("[", "[[]") for t in skip_types if "*" in t)
        self.skipped: Counter[str] = Counter()  # event type -> records skipped so far

    def _compile_fields(
        self, spec: Mapping[str, Any], shape: KindShape, where: str, consumed: set[str]
    ) -> None:
        """Explicit sources for the kind's Amplitude keys; same-named record fields for the rest."""
        unmapped: set[str] = set()
        for raw_key, source in spec.items():
            key = ALIASES.get(raw_key, raw_key)
            if raw_key in SPEC_CONTROL_KEYS or key not in shape.keys:
                continue
            if key == "insert_id" and source == "auto":
                continue  # the default: the record's insert_id, else a derived one
            getter = compile_source(source, f"{where}.{raw_key}")
            consumed.update(direct_fields(source))
            if getter is None:
                unmapped.add(key)
            else:
                self.explicit.append((key, getter))
        taken = {key for key, _ in self.explicit} | unmapped
        # Plain top-level fields skip the getter call (the common case, on the hot path).
        self.explicit_fields = [
            (key, spec_source)
            for key, spec_source in (
                (ALIASES.get(raw, raw), spec[raw]) for raw in spec if raw not in SPEC_CONTROL_KEYS
            )
            if key in shape.keys and _is_plain_field(spec_source)
        ]
        plain = {key for key, _ in self.explicit_fields}
        self.explicit = [(key, getter) for key, getter in self.explicit if key not in plain]
        self.convention = {name: name for name in shape.keys if name not in taken}
        self.convention.update(
            {alias: key for alias, key in ALIASES.items() if key in self.convention}
        )
        self.shaped_convention = frozenset(set(RESERVED_OBJECTS) & set(self.convention))

    def _compile_groups(
        self, groups: Any, where: str, consumed: set[str]
    ) -> list[tuple[str, Getter]]:
        """`groups: {group_type: source}` for events and identifies; a source is a plain path."""
        if groups is None or groups is False or "groups" not in SHAPES[self.kind].pass_through:
            return []
        if isinstance(groups, str) or is_source_object(groups):
            getter = compile_source(groups, f"{where}.groups")
            consumed.update(direct_fields(groups))
            return [("*", getter)] if getter is not None else []
        if not isinstance(groups, dict):
            raise ConfigValidationError(f"{where}.groups: map group types to sources")
        compiled = []
        for group_type, source in groups.items():
            getter = compile_source(source, f"{where}.groups.{group_type}")
            consumed.update(direct_fields(source))
            if getter is not None:
                compiled.append((group_type, getter))
        return compiled

    def _compile_bag(self, bag: str, selector: Any, where: str, consumed: set[str]) -> None:
        """`"*"`, a list of fields, `{include, exclude}`, or `{"field": path}` to an object."""
        if bag != self.main_bag:
            if not isinstance(selector, list):
                raise ConfigValidationError(f"{where}: list the fields to put in {bag}")
            self.side_bags[bag] = tuple(selector)
            consumed.update(selector)
            return
        if selector == "*":
            return
        if isinstance(selector, list):
            self.bag_include = frozenset(selector)
        elif isinstance(selector, dict) and set(selector) <= {"include", "exclude"}:
            if "include" in selector:
                self.bag_include = frozenset(selector["include"])
            self.bag_exclude = frozenset(selector.get("exclude", ()))
        elif is_source_object(selector) and "field" in selector:
            self.bag_field = compile_source(selector, where)
            consumed.update(direct_fields(selector))
            self.take_leftovers = False
        else:
            raise ConfigValidationError(
                f'{where}: use "*", a list of fields, {{"include": [...], "exclude": [...]}} '
                'or {"field": "path.to.object"}'
            )

    # --- per record -------------------------------------------------------------------------

    def build(self, record: dict[str, Any], identity: Any) -> dict[str, Any] | None:
        """The payload for one record, or None for a skipped event type.

        Raises RecordCheckError when a value cannot be converted.
        """
        payload, bags, leftovers = self._scan(record)
        for key, name in self.explicit_fields:
            value = record.get(name)
            if value is not None:
                payload[key] = value
        for key, getter in self.explicit:
            value = getter(record)
            if value is not None:
                payload[key] = value
        if self.kind == EVENT and self._skipped(payload.get("event_type")):
            self.skipped[str(payload.get("event_type"))] += 1
            return None
        self._normalise_strings(payload)
        if self.kind == EVENT:
            self._finish_event(payload, identity)
            if self.skip_user_properties_sync:
                payload[SKIP_USER_PROPERTIES_SYNC] = True
        self._finish_bags(payload, record, bags, leftovers)
        return payload

    def _scan(
        self, record: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Any]]:
        """One pass over the record: convention keys, pass-through bags, leftover fields."""
        payload: dict[str, Any] = {}
        bags: dict[str, dict[str, Any]] = {}
        leftovers: dict[str, Any] = {}
        skip = self.skip_fields
        convention = self.convention
        shaped = self.shaped_convention
        include = self.bag_include
        exclude = self.bag_exclude
        take = self.take_leftovers
        for name, value in record.items():
            if name in skip:
                if value and name in self.pass_through and isinstance(value, dict):
                    bags[name] = value
            elif name in convention and (name not in shaped or has_reserved_shape(name, value)):
                if value is not None:
                    payload[convention[name]] = value
            elif (
                take
                and (include is None or name in include)
                and name not in exclude
                and not name.startswith("_sdc_")
            ):
                leftovers[name] = value
        return payload, bags, leftovers

    def _skipped(self, event_type: Any) -> bool:
        if not isinstance(event_type, str):
            return False
        if event_type in self.skip_event_types:
            return True
        return any(fnmatch.fnmatchcase(event_type, glob) for glob in self.skip_event_globs)

    def _normalise_strings(self, payload: dict[str, Any]) -> None:
        """Ids and names as trimmed strings (warehouses often hold them as numbers)."""
        for key in ID_FIELDS:
            value = payload.get(key)
            if value is not None and (type(value) is not str or value != value.strip()):
                payload[key] = _id_string(value)
        for key in self.string_keys:
            value = payload.get(key)
            if value is not None and type(value) is not str:
                payload[key] = _id_string(value)
        if self.kind == USER_MAPPING and "unmap" in payload:
            payload["unmap"] = bool(payload["unmap"])

    def _finish_event(self, payload: dict[str, Any], identity: Any) -> None:
        """Time as integer ms (required unless allowed missing) and a deterministic insert_id."""
        raw_time = payload.get("time")
        if raw_time is None:
            if not self.allow_missing_time:
                raise RecordCheckError(
                    MISSING_TIME,
                    "time",
                    "events need a time (map `time` to a field, or set allow_missing_time)",
                )
        elif type(raw_time) is not int or raw_time < MS_THRESHOLD:
            try:
                payload["time"] = to_epoch_ms(raw_time)
            except TimeParseError as exc:
                raise RecordCheckError(INVALID_TIME, "time", str(exc)) from None
        if "insert_id" not in payload:
            payload["insert_id"] = derive_insert_id(
                self.stream, identity, payload.get("event_type"), payload.get("time")
            )
        session = payload.get("session_id")
        if isinstance(session, str) and not session.lstrip("-").isdigit():
            with contextlib.suppress(TimeParseError):  # else validation names the bad value
                payload["session_id"] = to_epoch_ms(session)

    def _finish_bags(
        self,
        payload: dict[str, Any],
        record: dict[str, Any],
        bags: dict[str, dict[str, Any]],
        leftovers: dict[str, Any],
    ) -> None:
        """Assemble property bags: pass-through objects, chosen fields, leftovers, groups."""
        main = self.main_bag
        leftovers = self._gather(record, bags, leftovers)
        if "groups" in bags:
            bags["groups"] = _group_strings(bags["groups"])
        if self.kind in (USER, DEVICE, GROUP) and main is not None:
            operations = self._operations_bag(bags.pop(main, None), leftovers)
            if operations:
                payload[main] = operations
        elif main is not None and leftovers:
            bags[main] = {**bags[main], **leftovers} if main in bags else leftovers
        drop_nulls = self.kind == EVENT
        for bag, value in bags.items():
            cleaned = {k: v for k, v in value.items() if v is not None} if drop_nulls else value
            if cleaned:
                payload[bag] = cleaned

    def _gather(
        self, record: dict[str, Any], bags: dict[str, dict[str, Any]], leftovers: dict[str, Any]
    ) -> dict[str, Any]:
        """Side-bag fields and groups into `bags`; returns the main bag's plain properties."""
        for bag, fields in self.side_bags.items():
            chosen = {name: record[name] for name in fields if name in record}
            if chosen:
                bags[bag] = {**bags.get(bag, {}), **chosen}
        if self.group_getters:
            self._collect_groups(record, bags)
        if self.bag_field is not None:
            value = self.bag_field(record)
            if isinstance(value, dict) and value:
                return {**value, **leftovers}
        return leftovers

    def _collect_groups(self, record: dict[str, Any], bags: dict[str, dict[str, Any]]) -> None:
        groups = dict(bags.get("groups") or {})
        for group_type, getter in self.group_getters:
            value = getter(record)
            if group_type == "*":
                if isinstance(value, dict):
                    groups.update(value)
            elif value is not None:
                groups[group_type] = value
        if groups:
            bags["groups"] = groups

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


def _is_plain_field(source: Any) -> bool:
    """A source that is one top-level field name (no path, template or fallback list)."""
    return isinstance(source, str) and source != "auto" and not set(source) & set(".{}")


def _id_string(value: Any) -> str:
    """Ids and names as Amplitude wants them: strings (10 -> "10", 10.0 -> "10")."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _group_strings(groups: Any) -> Any:
    """Group values as strings (numbers are common in warehouses); arrays element-wise."""
    if not isinstance(groups, dict):
        return groups
    out: dict[str, Any] = {}
    for group_type, value in groups.items():
        if isinstance(value, list):
            out[group_type] = [v if isinstance(v, str) else _id_string(v) for v in value]
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[group_type] = _id_string(value)
        else:
            out[group_type] = value
    return out


def record_key(record: Mapping[str, Any], key_properties: Sequence[str], position: int) -> str:
    """Human-readable record key for reports: `id=42` (key properties) or `#17` (position)."""
    if key_properties:
        return ",".join(f"{name}={record.get(name)}" for name in key_properties)
    return f"#{position}"
