"""Concurrent delivery in identity lanes: hide the network, keep per-device order.

Amplitude processes one device's events in the order received and has no order across devices;
its backfill guide partitions by device_id and sends partitions in parallel. Each sink batch is
split into `max_concurrent_requests` lanes by a stable hash of the identity Amplitude orders by
(device_id, else user_id; group calls by their group, user mappings by user_id). A lane is one
thread delivering its jobs strictly in submission order, so per-identity order holds, and a 429
or a 5xx back-off (handled by `Deliverer.deliver` on that lane) stalls only that lane.

- Identifies must reach Amplitude before the events read after them. When consecutive jobs change
  endpoint (identify -> events), every lane drains first (a barrier); a pure event or user load
  never waits on one.
- Memory stays bounded: each lane keeps at most `depth` jobs waiting; `submit_batch` (the reader)
  blocks while a lane is full.
- `AdaptiveLimit` caps requests in flight: halved on a 429/5xx/timeout (at most once per window
  of requests), raised by one after a run of healthy answers, never above the setting.
- `earliest_unfinished()` is the sequence number of the earliest record still on its way, so the
  target emits a STATE as soon as every record before it is acknowledged, however lanes finish.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import zlib
from collections import Counter
from typing import TYPE_CHECKING, Any

from target_amplitude.amplitude import GROUP_IDENTIFY, USERMAP

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from target_amplitude.delivery.deliverer import Deliverer
    from target_amplitude.delivery.pending import Item

LANE_DEPTH = 1  # jobs waiting per lane behind the one being delivered (bounded memory)


def lane_key(endpoint: str, payload: dict[str, Any]) -> str:
    """The identity Amplitude orders this payload by."""
    if endpoint == GROUP_IDENTIFY:
        return f"g\x1f{payload.get('group_type')}\x1f{payload.get('group_value')}"
    if endpoint != USERMAP:
        device = payload.get("device_id")
        if device not in (None, ""):
            return f"d\x1f{device}"
    return f"u\x1f{payload.get('user_id')}"


def lane_of(endpoint: str, payload: dict[str, Any], lanes: int) -> int:
    """Stable lane index (the same across runs and processes, unlike `hash()`)."""
    if lanes == 1:
        return 0
    return zlib.crc32(lane_key(endpoint, payload).encode("utf-8", "surrogatepass")) % lanes


class AdaptiveLimit:
    """Requests in flight, at most `limit`; the limit shrinks on trouble and recovers."""

    def __init__(self, ceiling: int) -> None:
        """Start at the ceiling (`max_concurrent_requests`)."""
        self.ceiling = self.limit = self.lowest = ceiling
        self._in_flight = 0
        self._started = 0
        self._cut_at = 0  # requests started before the last cut do not cut again
        self._healthy = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def slot(self) -> Iterator[int]:
        """Hold one in-flight slot for a request; yields the request's sequence number."""
        with self._cond:
            while self._in_flight >= self.limit:
                self._cond.wait()
            self._in_flight += 1
            self._started += 1
            number = self._started
        try:
            yield number
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def record(self, number: int, *, healthy: bool) -> None:
        """Feed one answer: trouble halves the limit (once per window), health raises it by one."""
        with self._cond:
            if healthy:
                self._healthy += 1
                if self.limit < self.ceiling and self._healthy >= self.limit:
                    self.limit += 1
                    self._healthy = 0
                    self._cond.notify_all()
                return
            self._healthy = 0
            if number > self._cut_at and self.limit > 1:
                self.limit = max(1, self.limit // 2)
                self.lowest = min(self.lowest, self.limit)
                self._cut_at = self._started


class _Ticket:
    """One sink batch: finished when its last lane job finished."""

    def __init__(self, parts: int, first_seq: int, done: Callable[[], None]) -> None:
        self.parts, self.first_seq, self.done = parts, first_seq, done


class LanePipeline:
    """`concurrency` sequential lanes fed by the reader thread; see the module docstring."""

    def __init__(self, deliverer: Deliverer, concurrency: int, depth: int = LANE_DEPTH) -> None:
        """Lanes start lazily; `concurrency=1` is one ordered worker (the pre-lane behaviour)."""
        if concurrency < 1:
            raise ValueError(f"max_concurrent_requests must be >= 1, got {concurrency}")
        self.deliverer, self.concurrency, self._depth = deliverer, concurrency, depth
        self.limit = AdaptiveLimit(concurrency)
        deliverer.limiter = self.limit if concurrency > 1 else None
        self._queues: list[queue.Queue[tuple[str, list[Item], _Ticket]]] = [
            queue.Queue(maxsize=depth) for _ in range(concurrency)
        ]
        self._threads: list[threading.Thread | None] = [None] * concurrency
        self._cond = threading.Condition()  # guards the counters below
        self._jobs = 0  # lane jobs submitted and not finished
        self._outstanding: Counter[int] = Counter()  # first_seq of unfinished batches
        self._error: BaseException | None = None
        self._last_endpoint: str | None = None

    # --- reader side -------------------------------------------------------------------------

    def submit_batch(
        self, queues: dict[str, list[Item]], order: Sequence[str], first_seq: int, done: Callable
    ) -> None:
        """Fan one sink batch out over the lanes; `done()` runs once all of it is delivered.

        Blocks while a lane is full (bounded memory) or at an endpoint barrier; raises an earlier
        failure. Earlier local rejections become durable here, before the batch can finish.
        """
        self._raise_failure()
        self.deliverer.deliver(order[0], [])  # syncs dead letters of locally rejected records
        jobs: list[tuple[int, str, list[Item]]] = []
        for endpoint in order:
            items = queues[endpoint]
            if not items:
                continue
            parts: list[list[Item]] = [[] for _ in range(self.concurrency)]
            for item in items:
                parts[lane_of(endpoint, item.payload, self.concurrency)].append(item)
            jobs.extend((lane, endpoint, part) for lane, part in enumerate(parts) if part)
        if not jobs:
            done()
            return
        ticket = _Ticket(len(jobs), first_seq, done)
        with self._cond:
            self._outstanding[first_seq] += 1
        for lane, endpoint, part in jobs:
            if self._last_endpoint not in (None, endpoint):
                self._drain()  # identifies land before the events read after them
            self._last_endpoint = endpoint
            self._put(lane, (endpoint, part, ticket))

    def wait(self) -> None:
        """Block until every submitted batch finished; raise the first failure, if any."""
        self._drain()
        self._raise_failure()

    def earliest_unfinished(self) -> int | None:
        """First record sequence number of the earliest batch still on its way (None: none)."""
        with self._cond:
            return min(self._outstanding) if self._outstanding else None

    @property
    def failure(self) -> BaseException | None:
        """The first delivery failure (no STATE may be written after it)."""
        return self._error

    def _drain(self) -> None:
        with self._cond:
            while self._jobs:
                self._cond.wait()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _put(self, lane: int, job: tuple[str, list[Item], _Ticket]) -> None:
        with self._cond:
            self._jobs += 1
            if self._threads[lane] is None:
                thread = threading.Thread(
                    target=self._run, args=(lane,), name=f"amplitude-lane-{lane}", daemon=True
                )
                self._threads[lane] = thread
                thread.start()
        self._queues[lane].put(job)

    # --- lane side ---------------------------------------------------------------------------

    def _run(self, lane: int) -> None:
        jobs = self._queues[lane]
        while True:
            endpoint, items, ticket = jobs.get()
            try:
                if self._error is None:  # after a failure nothing more is delivered
                    self.deliverer.deliver(endpoint, items)
            except BaseException as exc:  # noqa: BLE001  re-raised on the reader thread
                with self._cond:
                    if self._error is None:
                        self._error = exc
            finally:
                self._finish(ticket)

    def _finish(self, ticket: _Ticket) -> None:
        with self._cond:
            ticket.parts -= 1
            finished = ticket.parts == 0 and self._error is None
        if finished:
            ticket.done()
        with self._cond:
            # Only the lane that finished the ticket's last part retires it: another lane may
            # reach this block after the count reached zero and must not retire it twice.
            if finished:
                self._outstanding[ticket.first_seq] -= 1
                if not self._outstanding[ticket.first_seq]:
                    del self._outstanding[ticket.first_seq]
            self._jobs -= 1
            self._cond.notify_all()
