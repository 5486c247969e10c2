"""Delivery contract between the sinks and the HTTP layer (implementation in progress).

Sinks turn records into payloads (`Item`s) and call `Deliverer.deliver(...)`, which returns only when
every item was acknowledged by Amplitude or handled under `on_rejected`, and raises otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Endpoints a sink can deliver to.
EVENTS = "events"  # /batch or /2/httpapi, per `event_endpoint`
IDENTIFY = "identify"  # /identify, form-encoded `identification` array
GROUP_IDENTIFY = "groupidentify"  # /groupidentify, form-encoded `identification` array
USERMAP = "usermap"  # /usermap, form-encoded `mapping` array


@dataclass
class Item:
    """One payload bound for Amplitude, with the record it came from (for reports and dead letters)."""

    payload: dict[str, Any]
    record: dict[str, Any]
    stream: str
    key: str  # human-readable record key: key properties or the record's position
