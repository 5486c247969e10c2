"""Download the next export windows in the background while the current one is emitted.

Up to `ahead` worker threads fetch the windows after the one being emitted (a fetch spools and
checks the whole archive, retries included): their builds at Amplitude overlap, and at most
`ahead` archives wait on disk beside the one being emitted. A window's
result (its archive, None for no data, or its error) reaches the consumer only when it asks for
that window: a failure of a prefetched window surfaces when the tap gets there.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tap_amplitude.windows import Window


class WindowSkippedError(Exception):
    """A queued window was not requested because a window before it failed."""


class WindowPrefetcher:
    """Hands out windows' archives in the order asked for, fetching up to `ahead` in advance."""

    def __init__(
        self,
        fetch: Callable[[Window], Path | None],
        ahead: int,
        discard: Callable[[Path], None],
    ) -> None:
        """`fetch` downloads one window; `discard` removes an archive nobody will read."""
        self._fetch = fetch
        self._ahead = max(0, ahead)
        self._discard = discard
        self.stop = threading.Event()  # set on close: a running download gives up
        # Set when a fetch fails: the windows queued after it were planned on a window that
        # will be re-planned (400/504) or ends the run, so those not started are not requested.
        self._halted = threading.Event()
        self._pending: deque[tuple[Window, Future[Path | None]]] = deque()
        self._executor = (
            ThreadPoolExecutor(max_workers=self._ahead, thread_name_prefix="export-prefetch")
            if self._ahead
            else None
        )

    def get(self, window: Window, following: Callable[[Window], Window | None]) -> Path | None:
        """`window`'s archive; the `ahead` windows after it (per `following`) start downloading.

        A request for another window than the one prefetched (the plan changed, e.g. after a
        400 halved the window size) drops what was fetched ahead and starts again from `window`.
        """
        if self._executor is None:
            return self._fetch(window)
        if not self._pending or self._pending[0][0] != window:
            self._drop_pending()
            self._halted.clear()
            self._submit(window)
        last = self._pending[-1][0]
        while len(self._pending) < 1 + self._ahead:
            upcoming = following(last)
            if upcoming is None:
                break
            self._submit(upcoming)
            last = upcoming
        _, future = self._pending.popleft()
        return future.result()

    def close(self) -> None:
        """Stop fetching, wait for the worker, and remove every archive fetched ahead."""
        self.stop.set()
        self._drop_pending()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def _submit(self, window: Window) -> None:
        assert self._executor is not None  # noqa: S101  only called with a worker
        self._pending.append((window, self._executor.submit(self._fetch_in_order, window)))

    def _fetch_in_order(self, window: Window) -> Path | None:
        if self._halted.is_set():
            msg = f"window {window.label} not requested: an earlier window failed"
            raise WindowSkippedError(msg)
        try:
            return self._fetch(window)
        except BaseException:
            self._halted.set()
            raise

    def _drop_pending(self) -> None:
        """Forget the windows fetched ahead; their archives are removed once they arrive.

        A download already running is let finish (it may be sharing its connection); only
        `close` interrupts one.
        """
        while self._pending:
            _, future = self._pending.popleft()
            if not future.cancel():
                future.add_done_callback(self._discard_result)

    def _discard_result(self, future: Future[Path | None]) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        archive = future.result()
        if archive is not None:
            self._discard(archive)
