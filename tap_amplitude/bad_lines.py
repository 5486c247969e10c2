"""`on_bad_export_line: skip`: bad lines are kept in a file and counted, never dropped silently."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)


class SkippedLines:
    """Appends each skipped raw line to `path`; counts per window and for the whole run."""

    def __init__(self, path: str | Path) -> None:
        """Lines go to `path` (created on the first bad line, appended to across runs)."""
        self.path = Path(path)
        self.window_count = 0
        self.total = 0
        self._out: IO[bytes] | None = None

    def start_window(self) -> None:
        """A new window begins: its own count starts at zero."""
        self.window_count = 0

    def __call__(self, member: str, number: int, line: bytes, reason: str) -> None:
        """Keep one bad line (as read, newline-terminated) and count it."""
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = self.path.open("ab")
        self._out.write(line if line.endswith(b"\n") else line + b"\n")
        self._out.flush()
        self.window_count += 1
        self.total += 1
        if self.total == 1:
            logger.warning(
                "Skipped line %d of export member %r (%s); written to %s. Further bad lines "
                "are counted and written there too.",
                number,
                member,
                reason,
                self.path,
            )

    def close(self) -> None:
        """Close the file (it stays on disk)."""
        if self._out is not None:
            self._out.close()
            self._out = None
