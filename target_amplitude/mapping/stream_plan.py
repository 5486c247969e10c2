"""A stream's compiled plan: which payloads each record becomes, in which order, and their checks.

Built once per sink from the resolved spec; per record it yields `(endpoint, kind, payload)` or a
`RecordCheckError`, so the sink only queues and hands over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from singer_sdk.exceptions import ConfigValidationError

from target_amplitude.amplitude import EVENTS, GROUP_IDENTIFY, ID_FIELDS, IDENTIFY, USERMAP
from target_amplitude.mapping.derived import (
    MEMBERSHIP,
    TOUCH_EVENT,
    MembershipPlan,
    TouchEventPlan,
)
from target_amplitude.mapping.event_plan import EventPlan
from target_amplitude.mapping.kind_plan import KindPlan
from target_amplitude.mapping.profile_plan import ProfilePlan
from target_amplitude.mapping.specs import DEVICE, EVENT, GROUP, USER, USER_MAPPING, spec_kinds

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from target_amplitude.validation.checker import Checker

# Identifies land before groups and events, so properties are in place when the events arrive.
ENDPOINT_ORDER = (IDENTIFY, GROUP_IDENTIFY, USERMAP, EVENTS)


PLAN_CLASSES: dict[str, type[KindPlan]] = {
    EVENT: EventPlan,
    USER: ProfilePlan,
    DEVICE: ProfilePlan,
    GROUP: ProfilePlan,
    USER_MAPPING: KindPlan,
}


def compile_kind(stream: str, kind: str, spec: Mapping[str, Any]) -> KindPlan:
    """The compiled plan of one kind of a stream (events and profiles each have their own)."""
    return PLAN_CLASSES[kind](stream, kind, spec)


class DerivedPlan(Protocol):
    """A payload built from a primary payload (touch event, group membership)."""

    kind: str
    endpoint: str

    def build(
        self, record: dict[str, Any], identity: Any, primary: dict[str, Any]
    ) -> dict[str, Any]:
        """The derived payload."""
        ...


@dataclass
class Step:
    """One primary kind and the payloads derived from it."""

    plan: KindPlan
    derived: list[DerivedPlan] = field(default_factory=list)


def checks_for(checker: Checker) -> dict[str, Callable[[dict[str, Any]], None]]:
    """Kind -> validation of its payload."""
    return {
        EVENT: checker.check_event,
        TOUCH_EVENT: checker.check_event,
        USER: lambda p: checker.check_identify(p, required=("user_id",)),
        DEVICE: lambda p: checker.check_identify(p, required=("device_id",)),
        MEMBERSHIP: lambda p: checker.check_identify(p, required=ID_FIELDS),
        GROUP: checker.check_group,
        USER_MAPPING: checker.check_user_mapping,
    }


class StreamPlan:
    """Every payload one record of a stream turns into."""

    def __init__(
        self,
        stream: str,
        spec: Mapping[str, Any],
        key_properties: Sequence[str],
        fallback_time_ms: int,
    ) -> None:
        """Compile each kind the spec names, plus its touch event and group membership."""
        self.stream = stream
        self.key_properties = tuple(key_properties)
        self.steps: list[Step] = []
        kinds = spec_kinds(stream, spec)
        for kind in kinds:
            step = Step(compile_kind(stream, kind, spec))
            if kind == GROUP and spec.get(MEMBERSHIP):
                step.derived.append(MembershipPlan(stream, spec))
            if kind in (USER, DEVICE, GROUP) and spec.get(TOUCH_EVENT):
                step.derived.append(TouchEventPlan(stream, kind, spec, fallback_time_ms))
            self.steps.append(step)
        if spec.get(TOUCH_EVENT) and not any(k in (USER, DEVICE, GROUP) for k in kinds):
            raise ConfigValidationError(
                f"streams.{stream}.touch_event: only user, device and group streams take one"
            )
        if spec.get(MEMBERSHIP) and GROUP not in kinds:
            raise ConfigValidationError(
                f"streams.{stream}.group_membership: only group streams take one"
            )

    def identity(self, record: dict[str, Any]) -> Any:
        """What makes a record itself, for insert_ids: its key values, else the whole record."""
        if self.key_properties:
            return [record.get(name) for name in self.key_properties]
        if any(name.startswith("_sdc_") for name in record):
            return {k: v for k, v in record.items() if not k.startswith("_sdc_")}
        return record
