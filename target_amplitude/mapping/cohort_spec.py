"""The `cohort` kind's spec: which cohort, which id, how the stream changes its members.

```yaml
streams:
  warehouse-churn_risk:
    object: cohort
    cohort_name: Churn risk          # or cohort_id: 1a2bc3d (an existing cohort)
    id_type: user_id                 # or amplitude_id
    user_id: customer.email          # where the id is (default: the field named like id_type)
    mode: replace                    # replace (default) | add | remove
    owner: analyst@example.com       # login email of the owner (uploads need it)
    published: true
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import ConfigValidationError

from target_amplitude.amplitude import COHORT_UPLOAD_ID_TYPES, MAX_STRING_LENGTH
from target_amplitude.mapping.ids import id_string
from target_amplitude.mapping.sources import compile_source
from target_amplitude.validation.reasons import (
    INVALID_AMPLITUDE_ID,
    MISSING_ID,
    STRING_TOO_LONG,
    RecordCheckError,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from target_amplitude.mapping.sources import Getter

REPLACE, ADD, REMOVE = "replace", "add", "remove"
MODES = (REPLACE, ADD, REMOVE)
COHORT_SPEC_KEYS = frozenset(
    ("object", "cohort_id", "cohort_name", "id_type", "mode", "owner", "published")
)
ID_TYPES = tuple(COHORT_UPLOAD_ID_TYPES)


@dataclass(frozen=True)
class CohortSpec:
    """One stream's cohort: the target cohort, the id to read and the mode."""

    stream: str
    cohort_id: str | None
    cohort_name: str | None
    id_type: str
    mode: str
    owner: str | None
    published: bool
    id_getter: Getter

    @property
    def label(self) -> str:
        """How logs and errors name the cohort."""
        if self.cohort_id is not None:
            return f"cohort {self.cohort_id}"
        return f"cohort {self.cohort_name!r}"

    def member_id(self, record: dict[str, Any]) -> str:
        """The record's member id as Amplitude wants it (a string), or RecordCheckError."""
        value = self.id_getter(record)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise RecordCheckError(MISSING_ID, self.id_type, "no id in the record")
        if self.id_type == "amplitude_id":
            return _amplitude_id(value)
        text = id_string(value)
        if len(text) > MAX_STRING_LENGTH:
            raise RecordCheckError(
                STRING_TOO_LONG,
                self.id_type,
                f"{len(text)} characters (at most {MAX_STRING_LENGTH})",
            )
        return text


def _amplitude_id(value: Any) -> str:
    if isinstance(value, bool):
        raise RecordCheckError(INVALID_AMPLITUDE_ID, "amplitude_id", f"{value!r} is not a number")
    text = id_string(value)
    if not text.isdigit():
        raise RecordCheckError(
            INVALID_AMPLITUDE_ID, "amplitude_id", f"{value!r} is not an Amplitude id (digits)"
        )
    return str(int(text))


def _owner(where: str, owner: Any, mode: str, *, creates: bool) -> str | None:
    """The owner's login email; uploads (replace, or an add that creates the cohort) need it."""
    if owner is not None and (not isinstance(owner, str) or "@" not in owner):
        raise ConfigValidationError(
            f"{where}.owner: expected the login email of the cohort's owner, got {owner!r}"
        )
    if owner is None and (mode == REPLACE or (creates and mode == ADD)):
        raise ConfigValidationError(
            f"{where}.owner: required for mode {mode!r}"
            + (" with cohort_name" if mode == ADD else "")
            + ": Amplitude's cohort upload names the owner's login email"
        )
    return owner


def parse_cohort_spec(stream: str, spec: Mapping[str, Any]) -> CohortSpec:
    """Check a `cohort` spec and compile its id source; errors name the key at fault."""
    where = f"streams.{stream}"
    id_type = spec.get("id_type", "user_id")
    if id_type not in ID_TYPES:
        raise ConfigValidationError(
            f"{where}.id_type: {id_type!r} is not one of {', '.join(ID_TYPES)}"
        )
    unknown = sorted(set(spec) - COHORT_SPEC_KEYS - {id_type})
    if unknown:
        raise ConfigValidationError(
            f"{where}: {', '.join(map(repr, unknown))} is not a cohort option; a cohort spec "
            f"takes {', '.join(sorted(COHORT_SPEC_KEYS | {id_type}))}"
        )
    cohort_id, cohort_name = spec.get("cohort_id"), spec.get("cohort_name")
    if (cohort_id is None) == (cohort_name is None):
        raise ConfigValidationError(
            f"{where}: name the cohort with exactly one of `cohort_id` (an existing cohort) or "
            "`cohort_name` (created on the first run, then updated)"
        )
    for key, value in (("cohort_id", cohort_id), ("cohort_name", cohort_name)):
        if value is not None and (not isinstance(value, (str, int)) or not str(value).strip()):
            raise ConfigValidationError(f"{where}.{key}: expected a non-empty string")
    mode = spec.get("mode", REPLACE)
    if mode not in MODES:
        raise ConfigValidationError(f"{where}.mode: {mode!r} is not one of {', '.join(MODES)}")
    owner = _owner(where, spec.get("owner"), mode, creates=cohort_name is not None)
    published = spec.get("published", True)
    if not isinstance(published, bool):
        raise ConfigValidationError(f"{where}.published: expected true or false")
    getter = compile_source(spec.get(id_type, id_type), f"{where}.{id_type}")
    if getter is None:
        raise ConfigValidationError(f"{where}.{id_type}: a cohort stream needs its member id")
    return CohortSpec(
        stream=stream,
        cohort_id=None if cohort_id is None else str(cohort_id).strip(),
        cohort_name=None if cohort_name is None else str(cohort_name).strip(),
        id_type=id_type,
        mode=mode,
        owner=owner,
        published=published,
        id_getter=getter,
    )
