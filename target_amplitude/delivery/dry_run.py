"""`dry_run`: every built payload as a JSON line (to a file, or the log), nothing sent."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from target_amplitude.delivery.pending import Item


class DryRunWriter:
    """`dry_run`: every built payload as a JSON line (to a file, or the log), nothing sent."""

    def __init__(self, path: Path | None, logger: Any) -> None:
        """Open the file once; sinks may drain in parallel, so writes take a lock."""
        self._lock = threading.Lock()
        self._logger = logger
        self._file = path.open("ab") if path is not None else None
        self.written = 0

    def write(self, endpoint: str, items: Sequence[Item]) -> None:
        """Append one line per payload: stream, record key, endpoint and payload."""
        lines = b"".join(
            orjson.dumps(
                {"stream": i.stream, "key": i.key, "endpoint": endpoint, "payload": i.payload},
                default=str,
            )
            + b"\n"
            for i in items
        )
        with self._lock:
            self.written += len(items)
            if self._file is not None:
                self._file.write(lines)
            else:
                self._logger.info("dry_run %s payloads:\n%s", endpoint, lines.decode().rstrip())

    def close(self) -> None:
        """Flush and close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None
