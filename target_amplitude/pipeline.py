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

_STOP = object()


class DeliveryPipeline:
    """A single ordered worker with a bounded queue of batch jobs."""

    def __init__(self, depth: int = 1) -> None:
        """`depth` jobs may wait behind the one being delivered (memory stays bounded)."""
        self._jobs: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._idle = threading.Condition()
        self._pending = 0
        self._thread: threading.Thread | None = None

    def submit(self, job: Callable[[], None]) -> None:
        """Queue a job (blocks while the queue is full); raises an earlier job's failure."""
        self._raise_failure()
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="amplitude-delivery", daemon=True
            )
            self._thread.start()
        with self._idle:
            self._pending += 1
        self._jobs.put(job)

    def wait(self) -> None:
        """Block until every submitted job finished; raise the first failure, if any."""
        with self._idle:
            while self._pending:
                self._idle.wait()
        self._raise_failure()

    def close(self) -> None:
        """Wait for the queue to drain and stop the worker."""
        if self._thread is not None:
            with self._idle:
                while self._pending:
                    self._idle.wait()
            self._jobs.put(_STOP)
            self._thread.join()
            self._thread = None

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            try:
                if self._error is None:  # after a failure, later batches are never delivered
                    job()  # type: ignore[operator]
            except BaseException as exc:  # noqa: BLE001  re-raised on the reader thread
                self._error = exc
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()
