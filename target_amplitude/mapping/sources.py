"""Compile the value sources of a mapping spec into fast per-record getters.

A source is data, not code: a record field path (`"customer.id"`), a template
(`"Viewed {page}"`: any string with a `{field}`), `{"const": value}`, `{"field": path}`,
`{"template": text}`, or a list of sources (the first one that yields a value). Compiling once per
stream keeps per-record work to a few dict lookups.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

from singer_sdk.exceptions import ConfigValidationError

Getter = Callable[[dict[str, Any]], Any]
SOURCE_KEYS = frozenset({"const", "field", "template"})


def is_source_object(spec: Any) -> bool:
    """True for `{"const": ...}`, `{"field": ...}` and `{"template": ...}`."""
    return isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in SOURCE_KEYS


def compile_source(spec: Any, where: str) -> Getter | None:
    """A getter for one source spec; None when the spec unmaps the field (`null`/`false`)."""
    if spec is None or spec is False:
        return None
    if isinstance(spec, str):
        return compile_template(spec, where) if "{" in spec else compile_path(spec, where)
    if isinstance(spec, list):
        getters = [compile_source(item, where) for item in spec]
        return _first_of([getter for getter in getters if getter is not None])
    if is_source_object(spec):
        ((kind, value),) = spec.items()
        if kind == "const":
            return lambda _record: value
        if not isinstance(value, str) or not value:
            raise ConfigValidationError(
                f"{where}: `{kind}` needs a non-empty string, got {value!r}"
            )
        return compile_path(value, where) if kind == "field" else compile_template(value, where)
    raise ConfigValidationError(
        f'{where}: {spec!r} is not a source; use a field path such as "customer.id", a template '
        'such as "Viewed {page}", {"const": ...}, or a list of those'
    )


def compile_path(path: str, where: str) -> Getter:
    """Getter for a top-level field or a dotted path into nested objects."""
    if not path:
        raise ConfigValidationError(f"{where}: empty field path")
    if "." not in path:
        return lambda record: record.get(path)
    parts = tuple(path.split("."))

    def get_nested(record: dict[str, Any]) -> Any:
        if path in record:  # a flattened column literally named "a.b" wins
            return record[path]
        value: Any = record
        for part in parts:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
            if value is None:
                return None
        return value

    return get_nested


def compile_template(template: str, where: str) -> Getter:
    """Getter rendering `{field}` placeholders; yields None if any placeholder's field is empty."""
    pieces: list[tuple[str, Getter | None]] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigValidationError(f"{where}: bad template {template!r}: {exc}") from exc
    for literal, field_name, _format_spec, _conversion in parsed:
        if literal:
            pieces.append((literal, None))
        if field_name is not None:
            if not field_name:
                raise ConfigValidationError(f"{where}: template {template!r} has an empty {{}}")
            pieces.append(("", compile_path(field_name, where)))

    def render(record: dict[str, Any]) -> str | None:
        out: list[str] = []
        for literal, getter in pieces:
            if getter is None:
                out.append(literal)
                continue
            value = getter(record)
            if value is None or value == "":
                return None
            out.append(value if isinstance(value, str) else str(value))
        return "".join(out)

    return render


def direct_fields(spec: Any) -> list[str]:
    """Top-level field names a source reads directly (excluded from the property bag)."""
    if isinstance(spec, str):
        return [] if "{" in spec else [spec]
    if isinstance(spec, list):
        return [name for item in spec for name in direct_fields(item)]
    if is_source_object(spec) and "field" in spec:
        return [spec["field"]]
    return []


def _first_of(getters: list[Getter]) -> Getter | None:
    if not getters:
        return None
    if len(getters) == 1:
        return getters[0]

    def first(record: dict[str, Any]) -> Any:
        for getter in getters:
            value = getter(record)
            if value is not None and value != "":
                return value
        return None

    return first
