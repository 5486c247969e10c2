"""Record -> Amplitude payload, driven by the `streams` setting (configuration is data).

Each resolved spec (see `specs.py`) compiles once into one plan per object kind: `EventPlan`
(`event_plan.py`), `ProfilePlan` (`profile_plan.py`, users, devices and groups) or this module's
`KindPlan` (user mappings, and the parts every kind shares). Building a payload is then a single
pass over the record plus the compiled getters:

- a record field named like an Amplitude key of the kind maps to it (convention);
- `event_properties` / `user_properties` / `groups` / `group_properties` objects pass through;
- every other field lands in the kind's property bag (narrowed by include/exclude);
- explicit spec entries (field path, template or constant) win over the convention.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import ConfigValidationError

from target_amplitude.amplitude import (
    ID_FIELDS,
    RESERVED_OBJECTS,
    STRING_FIELDS,
    has_reserved_shape,
)
from target_amplitude.mapping.ids import group_strings, id_string
from target_amplitude.mapping.sources import (
    Getter,
    compile_source,
    direct_fields,
    is_source_object,
)
from target_amplitude.mapping.specs import (
    ALIASES,
    KNOWN_FIELD_KEYS,
    SHAPES,
    SPEC_CONTROL_KEYS,
    USER_MAPPING,
    KindShape,
)

if TYPE_CHECKING:
    from collections.abc import Mapping


Found = tuple[dict[str, dict[str, Any]], dict[str, Any]]  # pass-through bags, leftover fields


class KindPlan:
    """One object kind of one stream, compiled: `build(record, identity)` returns the payload."""

    drop_nulls = False  # leave null properties out of the bags

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
        # Options every kind of the spec shares are checked whichever kind reads them.
        null_values = spec.get("null_values", "skip")
        if null_values not in ("skip", "unset"):
            raise ConfigValidationError(f"{where}.null_values must be `skip` or `unset`")
        self.unset_nulls = null_values == "unset"
        skip_sync = spec.get("skip_user_properties_sync", False)
        if not isinstance(skip_sync, bool):
            raise ConfigValidationError(f"{where}.skip_user_properties_sync must be true or false")
        self.skip_user_properties_sync = skip_sync
        self.skipped: Counter[str] = Counter()  # event type -> records skipped (events only)

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
        return self._finish(payload, record, identity, (bags, leftovers))

    def _finish(
        self,
        payload: dict[str, Any],
        record: dict[str, Any],
        identity: Any,
        found: Found,
    ) -> dict[str, Any] | None:
        """Kind-specific completion of a payload whose keys are gathered (here: user mappings)."""
        del identity
        self._normalise_strings(payload)
        self._finish_bags(payload, record, *found)
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

    def _normalise_strings(self, payload: dict[str, Any]) -> None:
        """Ids and names as trimmed strings (warehouses often hold them as numbers)."""
        for key in ID_FIELDS:
            value = payload.get(key)
            if value is not None and (type(value) is not str or value != value.strip()):
                payload[key] = id_string(value)
        for key in self.string_keys:
            value = payload.get(key)
            if value is not None and type(value) is not str:
                payload[key] = id_string(value)
        if self.kind == USER_MAPPING and "unmap" in payload:
            payload["unmap"] = bool(payload["unmap"])

    def _finish_bags(
        self,
        payload: dict[str, Any],
        record: dict[str, Any],
        bags: dict[str, dict[str, Any]],
        leftovers: dict[str, Any],
    ) -> None:
        """Assemble property bags: pass-through objects, chosen fields, leftovers, groups."""
        leftovers = self._gather(record, bags, leftovers)
        if "groups" in bags:
            bags["groups"] = group_strings(bags["groups"])
        self._place_bags(payload, bags, leftovers)

    def _place_bags(
        self, payload: dict[str, Any], bags: dict[str, dict[str, Any]], leftovers: dict[str, Any]
    ) -> None:
        """Leftover fields into the main bag, then every non-empty bag into the payload."""
        main = self.main_bag
        if main is not None and leftovers:
            bags[main] = {**bags[main], **leftovers} if main in bags else leftovers
        drop_nulls = self.drop_nulls
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


def _is_plain_field(source: Any) -> bool:
    """A source that is one top-level field name (no path, template or fallback list)."""
    return isinstance(source, str) and source != "auto" and not set(source) & set(".{}")
