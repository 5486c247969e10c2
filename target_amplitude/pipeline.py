"""Deliver sink batches on one background thread while the next batch is being read and built.

Reading, mapping and checking records is CPU work; delivering a batch is mostly waiting on the
network. One worker overlaps the two. It runs batches strictly in submission order (so per-user
order and "identify before events" hold across batches), keeps at most `depth` batches waiting,
and the target calls `wait()` before it writes any STATE: no STATE ever covers a batch that is
still on its way. The first failure stops the worker; it is raised again from `submit()` and
`wait()`, so the run fails without a new STATE.
"""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

IDLE_EXIT_SECONDS = 2.0  # an idle worker ends; the next submit starts a new one


class DeliveryPipeline:
    """A single ordered worker with a bounded queue of batch jobs."""

    def __init__(self, depth: int = 1) -> None:
        """`depth` jobs may wait behind the one being delivered (memory stays bounded)."""
        self._jobs: queue.Queue[Callable[[], None]] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._state = threading.Condition()  # guards _pending and _worker
        self._pending = 0
        self._worker: threading.Thread | None = None

    def submit(self, job: Callable[[], None]) -> None:
        """Queue a job (blocks while the queue is full); raises an earlier job's failure."""
        self._raise_failure()
        with self._state:
            self._pending += 1
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._run, name="amplitude-delivery", daemon=True
                )
                self._worker.start()
        self._jobs.put(job)

    def wait(self) -> None:
        """Block until every submitted job finished; raise the first failure, if any."""
        with self._state:
            while self._pending:
                self._state.wait()
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=IDLE_EXIT_SECONDS)
            except queue.Empty:
                with self._state:
                    if not self._pending:  # decided under the lock submit() takes: no job lost
                        self._worker = None
                        return
                continue
            try:
                if self._error is None:  # after a failure, later batches are never delivered
                    job()
            except BaseException as exc:  # noqa: BLE001  re-raised on the reader thread
                self._error = exc
            finally:
                with self._state:
                    self._pending -= 1
                    self._state.notify_all()
