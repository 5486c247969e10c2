"""The items of one `deliver()` call on their way, and how the next request is filled from them."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from target_amplitude.amplitude import ENDPOINTS, GROUP_IDENTIFY

if TYPE_CHECKING:
    from target_amplitude.delivery.settings import DeliverySettings


@dataclass
class Item:
    """One payload bound for Amplitude, with its record (for reports and dead letters)."""

    payload: dict[str, Any]
    record: dict[str, Any]
    stream: str
    key: str  # human-readable record key: key properties or the record's position


def identity_keys(endpoint: str, payload: dict[str, Any]) -> frozenset[tuple[str, str]]:
    """The ids Amplitude throttles (and orders) this payload by."""
    keys: set[tuple[str, str]] = set()
    if endpoint == GROUP_IDENTIFY:
        group = (payload.get("group_type"), payload.get("group_value"))
        return frozenset({("group", f"{group[0]}\x1f{group[1]}")})
    for field_name, kind in (("user_id", "user"), ("device_id", "device")):
        value = payload.get(field_name)
        if value not in (None, ""):
            keys.add((kind, str(value)))
    return frozenset(keys)


class Pending:
    """An item on its way: its encoded bytes, ids, and its retry history."""

    __slots__ = (
        "done",
        "first_failure",
        "group",
        "group_cap",
        "item",
        "keys",
        "not_before",
        "part",
        "sent",
        "throttles",
        "tries",
    )

    def __init__(self, item: Item, part: bytes, keys: frozenset[tuple[str, str]]) -> None:
        """A fresh item: never sent, no failures, not held, in no bisection group."""
        self.item, self.part, self.keys = item, part, keys
        self.tries = self.throttles = 0
        self.first_failure: float | None = None
        self.not_before = 0.0
        self.group: int | None = None  # bisection/split group: sent only with its own group
        self.group_cap = 0
        self.done = self.sent = False


class RequestCaps:
    """Items and bytes per request for each endpoint; a 413 halves them for the rest of the run."""

    def __init__(self, settings: DeliverySettings) -> None:
        """Start from the settings' caps (lanes share one instance, so changes take a lock)."""
        self._lock = threading.Lock()
        self._counts = {endpoint: settings.count_cap(endpoint) for endpoint in ENDPOINTS}
        self._bytes = {endpoint: settings.byte_cap(endpoint) for endpoint in ENDPOINTS}

    def get(self, endpoint: str) -> tuple[int, int]:
        """Current (items, bytes) per request."""
        with self._lock:
            return self._counts[endpoint], self._bytes[endpoint]

    def shrink(self, endpoint: str, count: int, size: int) -> tuple[int, int]:
        """At most half of a request that was too large, from now on; returns the new caps."""
        with self._lock:
            self._counts[endpoint] = min(self._counts[endpoint], math.ceil(count / 2))
            self._bytes[endpoint] = min(self._bytes[endpoint], max(1, size // 2))
            return self._counts[endpoint], self._bytes[endpoint]


def fill_request(
    pending: list[Pending],
    holds: dict[tuple[str, str], float],
    now: float,
    *,
    caps: tuple[int, int],
    framing: tuple[int, int],
) -> tuple[list[Pending], int]:
    """The next request: the earliest sendable items within (count, bytes) caps, and its size.

    Items of a held id are skipped, and so is every later item sharing an id with a skipped one,
    which keeps per-user and per-device order. Items being bisected or split (`group`) only go
    out with their own group. A lone item over the byte cap still goes out, alone: Amplitude's
    answer (413) decides.
    """
    count_cap, byte_cap = caps
    size, sep = framing
    blocked = set(holds)
    batch: list[Pending] = []
    limit = count_cap
    for p in pending:
        if p.not_before > now or (p.keys and not blocked.isdisjoint(p.keys)):
            blocked.update(p.keys)
            continue
        if not batch:
            limit = p.group_cap if p.group is not None else count_cap
            size += len(p.part)
        elif (
            p.group != batch[0].group or len(batch) >= limit or size + sep + len(p.part) > byte_cap
        ):
            break
        else:
            size += sep + len(p.part)
        batch.append(p)
    return batch, size
