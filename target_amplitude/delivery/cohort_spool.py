"""Cohort members on disk until they are applied, so a 2M-member audience never sits in memory.

Each line holds one member id, its record key and the record (for skipped-id reports and dead
letters). `chunks(n)` reads the file back in arrival order, `n` distinct ids at a time, keeping only
each id's line offsets; `entries(offsets)` re-reads the records Amplitude skipped.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

import orjson

from target_amplitude.delivery.http import dumps

if TYPE_CHECKING:
    from collections.abc import Iterator


@dataclass
class Chunk:
    """Up to `n` distinct ids, each with the offsets of the spool lines that carried it."""

    offsets: dict[str, list[int]] = field(default_factory=dict)
    records: int = 0  # spool lines in this chunk (duplicates of an id included)

    @property
    def ids(self) -> list[str]:
        """The distinct ids, in first-seen order."""
        return list(self.offsets)


class IdSpool:
    """An append-only temporary file of (id, key, record) lines."""

    def __init__(self, directory: str | None = None) -> None:
        """Create the file (deleted when closed, or by the OS on a crash)."""
        self._file: IO[bytes] = tempfile.TemporaryFile(  # noqa: SIM115  lives as long as the spool
            prefix="target-amplitude-cohort-", dir=directory
        )
        self.count = 0

    def append(self, member_id: str, key: str, record: dict[str, Any]) -> None:
        """Add one member line at the end."""
        self._file.seek(0, 2)
        self._file.write(dumps([member_id, key, record]) + b"\n")
        self.count += 1

    def chunks(self, size: int) -> Iterator[Chunk]:
        """The spool in order, `size` distinct ids per chunk (the file may be read in between)."""
        self._file.flush()
        position = 0
        while True:
            chunk = Chunk()
            self._file.seek(position)
            while len(chunk.offsets) < size:
                offset = self._file.tell()
                line = self._file.readline()
                if not line:
                    break
                member_id = orjson.loads(line)[0]
                chunk.offsets.setdefault(member_id, []).append(offset)
                chunk.records += 1
            position = self._file.tell()
            if not chunk.records:
                return
            yield chunk
            if len(chunk.offsets) < size:
                return

    def entries(self, offsets: list[int]) -> list[tuple[str, dict[str, Any]]]:
        """(key, record) of the lines at these offsets."""
        found = []
        for offset in offsets:
            self._file.seek(offset)
            _, key, record = orjson.loads(self._file.readline())
            found.append((key, record))
        return found

    def clear(self) -> None:
        """Forget every line (after they were applied)."""
        self._file.seek(0)
        self._file.truncate()
        self.count = 0

    def close(self) -> None:
        """Delete the file."""
        self._file.close()
