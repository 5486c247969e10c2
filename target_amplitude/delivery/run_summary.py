"""Per-stream delivery counters for the end-of-run summary.

Invariant once a run finished without a fatal error, per stream:
`records == acknowledged + sum(rejected.values()) + deferred`.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StreamCounters:
    """What happened to one stream's records on their way to Amplitude."""

    records: int = 0  # records handed to the deliverer (including locally rejected ones)
    sent: int = 0  # records put on the wire at least once
    acknowledged: int = 0
    rejected: Counter[str] = field(default_factory=Counter)  # reason -> records
    deferred: int = 0
    retries: int = 0  # items re-sent after a 5xx / timeout / dropped connection
    throttled_ids: set[str] = field(default_factory=set)
    requests: int = 0
    bytes: int = 0
    not_ingested: int = 0  # acknowledged but missing from `events_ingested` (duplicates, ...)
    skipped: dict[str, int] = field(default_factory=dict)  # event type -> skip_event_types hits

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view (throttled ids as a count plus a few examples)."""
        return {
            "records": self.records,
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "rejected": dict(self.rejected),
            "deferred": self.deferred,
            "retries": self.retries,
            "throttled_ids": len(self.throttled_ids),
            "throttled_id_examples": sorted(self.throttled_ids)[:5],
            "requests": self.requests,
            "bytes": self.bytes,
            "not_ingested": self.not_ingested,
            "skipped": dict(self.skipped),
        }


class RunSummary:
    """Thread-safe counters keyed by stream (sinks may drain in parallel)."""

    def __init__(self) -> None:
        """Start empty."""
        self._lock = threading.Lock()
        self._streams: dict[str, StreamCounters] = {}

    def add(self, stream: str, **increments: int) -> None:
        """Add to integer counters of one stream, e.g. `add("orders", acknowledged=3)`."""
        with self._lock:
            counters = self._streams.setdefault(stream, StreamCounters())
            for name, value in increments.items():
                setattr(counters, name, getattr(counters, name) + value)

    def reject(self, stream: str, reason: str) -> None:
        """Count one rejected record."""
        with self._lock:
            self._streams.setdefault(stream, StreamCounters()).rejected[reason] += 1

    def set_skipped(self, stream: str, skipped: dict[str, int]) -> None:
        """Records the stream skipped so far by `skip_event_types`, per event type (not sent)."""
        with self._lock:
            self._streams.setdefault(stream, StreamCounters()).skipped = dict(skipped)

    def throttled(self, stream: str, ids: set[str]) -> None:
        """Remember ids Amplitude throttled."""
        with self._lock:
            self._streams.setdefault(stream, StreamCounters()).throttled_ids.update(ids)

    def streams(self) -> dict[str, dict[str, Any]]:
        """A snapshot: stream -> counters."""
        with self._lock:
            return {name: c.as_dict() for name, c in sorted(self._streams.items())}
