"""Append-only JSONL file of records Amplitude will not take (policy `dead_letter`).

Each line is written and flushed before the record counts as handled; `sync()` makes the file
durable before the target may emit a STATE covering those records. A crash between the two can
repeat a line on the re-run, never lose one.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path
from typing import IO, Any

from target_amplitude.delivery.http import dumps


class DeadLetterFile:
    """Opened lazily on the first dead letter, so a clean run leaves no empty file behind."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Remember the path; nothing is created yet."""
        self.path = Path(path)
        self._lock = threading.Lock()
        self._handle: IO[bytes] | None = None
        self._dirty = False
        self.written = 0

    def append(
        self,
        *,
        kind: str,
        stream: str,
        key: str,
        reason: str,
        detail: str,
        record: dict[str, Any],
        payload: dict[str, Any] | None,
        response: Any = None,
        endpoint: str | None = None,
    ) -> None:
        """Write one line: the record, the payload we built and Amplitude's reason."""
        line = {
            "kind": kind,
            "stream": stream,
            "key": key,
            "reason": reason,
            "detail": detail,
            "endpoint": endpoint,
            "record": record,
            "payload": payload,
            "response": response,
            "at": dt.datetime.now(dt.timezone.utc).isoformat(),
        }
        data = dumps(line) + b"\n"
        with self._lock:
            if self._handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = self.path.open("ab")
            self._handle.write(data)
            self._handle.flush()
            self._dirty = True
            self.written += 1

    def sync(self) -> None:
        """Force to disk what was appended since the last call, and close the file until then."""
        with self._lock:
            if self._handle is None:
                return
            if self._dirty:
                os.fsync(self._handle.fileno())
                self._dirty = False
            self._handle.close()
            self._handle = None

    def close(self) -> None:
        """Sync and close (the file reopens if anything is appended later)."""
        self.sync()
