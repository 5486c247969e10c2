"""Amplitude's instrumentation limits: distinct names a run sends per project, warned near the cap.

Amplitude stops indexing new names past a cap of event types, event properties and user
properties per project (`amplitude.MAX_EVENT_TYPES` and its neighbours); later names are visible
only in exports. A mapping mistake (an id column mapped as `event_type`, a wide table sprayed into
event_properties) gets there in one run, so each run counts the names it sends and warns once per
limit at 80 %.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

from target_amplitude.amplitude import (
    EVENTS,
    MAX_EVENT_PROPERTIES,
    MAX_EVENT_TYPES,
    MAX_USER_PROPERTIES,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

EVENT_TYPES = "event types"
EVENT_PROPERTIES = "event properties"
USER_PROPERTIES = "user properties"
LIMITS = {
    EVENT_TYPES: MAX_EVENT_TYPES,
    EVENT_PROPERTIES: MAX_EVENT_PROPERTIES,
    USER_PROPERTIES: MAX_USER_PROPERTIES,
}
WARN_SHARE = 0.8
# What mapping puts a name into each set, for the warning (spec key -> how it is described).
MAPPING_KEYS = {
    EVENT_TYPES: "event_type",
    EVENT_PROPERTIES: "event_properties",
    USER_PROPERTIES: "user_properties",
}


class NameCounter:
    """Distinct names per limit, shared by a run's sinks (one project: one api_key)."""

    def __init__(self, warn: Callable[[str], None]) -> None:
        """`warn` receives each warning once."""
        self._warn = warn
        self._lock = threading.Lock()
        self.names: dict[str, set[str]] = {name: set() for name in LIMITS}
        self._thresholds = {name: int(limit * WARN_SHARE) for name, limit in LIMITS.items()}
        self.warned: set[str] = set()

    def add(self, limit: str, names: Any, stream: str, spec: Mapping[str, Any]) -> None:
        """Count `names` (a str or an iterable of keys); warn once when a limit nears."""
        seen = self.names[limit]
        before = len(seen)
        if isinstance(names, str):
            seen.add(names)
        else:
            seen.update(names)
        if len(seen) == before or limit in self.warned or len(seen) < self._thresholds[limit]:
            return
        with self._lock:
            if limit in self.warned:
                return
            self.warned.add(limit)
        key = MAPPING_KEYS[limit]
        source = spec.get(key)
        mapping = (
            f"streams.{stream}.{key} = {source!r}"
            if source is not None
            else f"streams.{stream}: {key} by convention (same-named field / leftover columns)"
        )
        self._warn(
            f"This run alone has sent {len(seen)} distinct {limit} (first past "
            f"{self._thresholds[limit]} in stream '{stream}', mapping {mapping}); Amplitude "
            f"stops indexing new {limit} past {LIMITS[limit]} per project. Check that mapping "
            "(e.g. a column mapped as event_type by mistake) before the limit is reached."
        )

    def count_payload(
        self, endpoint: str, payload: Mapping[str, Any], stream: str, spec: Mapping[str, Any]
    ) -> None:
        """The names one built payload sends: its event type and property keys.

        An event's user_properties are plain; an identify's are in operator form.
        """
        event_type = payload.get("event_type")
        if event_type is not None:
            self.add(EVENT_TYPES, event_type, stream, spec)
        event_properties = payload.get("event_properties")
        if event_properties:
            self.add(EVENT_PROPERTIES, event_properties, stream, spec)
        user_properties = payload.get("user_properties")
        if user_properties:
            if endpoint == EVENTS:
                self.add(USER_PROPERTIES, user_properties, stream, spec)
            else:
                for operator, values in user_properties.items():
                    if isinstance(values, dict) and operator != "$unset":
                        self.add(USER_PROPERTIES, values, stream, spec)


_COUNTERS: weakref.WeakKeyDictionary[Any, NameCounter] = weakref.WeakKeyDictionary()
_COUNTERS_LOCK = threading.Lock()


def counter_for(target: Any, warn: Callable[[str], None]) -> NameCounter:
    """The run's counter (one per target object, created by its first sink)."""
    with _COUNTERS_LOCK:
        counter = _COUNTERS.get(target)
        if counter is None:
            counter = _COUNTERS[target] = NameCounter(warn)
        return counter
