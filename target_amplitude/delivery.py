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


class Deliverer:
    """One per target run; shared by all sinks. Owns HTTP, retries, policies and the run summary.

    Contract (pinned by tests/test_target_delivery*.py):
    - `deliver(endpoint, items)` sends items in order, split into requests within the endpoint's
      count/byte caps (adaptive after 413), and returns only when each item is acknowledged or
      handled under `on_rejected`; raises `singer_sdk.exceptions.FatalAPIError` (or a subclass)
      on a fatal config error or an exhausted retry budget.
    - `reject(item, reason, detail)` applies `on_rejected` to a record that failed local validation.
    - `failed` is True once a record was rejected under `on_rejected=fail`: the target then emits no
      further STATE and exits non-zero at the end with `report()`.
    - `summary()` returns per-stream counters for the end-of-run log line.
    """
