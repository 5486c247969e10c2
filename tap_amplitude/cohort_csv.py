"""Reading a cohort file as it streams in: gzip (or plain) quoted CSV, one member at a time.

Amplitude serves the file gzip-compressed, either as a `.csv.gz` body or with
`Content-Encoding: gzip`; both are read here (the gzip magic bytes decide), through fixed-size
buffers, so memory stays flat whatever the cohort size. Columns: `amplitude_id`, `user_id`, then
one per requested user property.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterator

GZIP_MAGIC = b"\x1f\x8b"
READ_BUFFER_BYTES = 64 * 1024
ID_COLUMNS = ("amplitude_id", "user_id")


class CohortFileError(ValueError):
    """The file is not the CSV Amplitude documents (no header, no `amplitude_id`, a bad id)."""


@dataclass(frozen=True)
class CohortRow:
    """One member as the file lists it."""

    amplitude_id: int
    user_id: str | None
    properties: dict[str, Any]


class _Source(io.RawIOBase):
    """A raw stream over anything with `read(n)`; reads after its end (or close) give b""."""

    def __init__(self, source: SupportsRead) -> None:
        self._source = source
        self._ended = False

    def readable(self) -> bool:
        """Always: it only reads."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill `buffer` from the source; 0 at the end."""
        if self._ended:
            return 0
        data = self._source.read(len(buffer))
        if not data:
            self._ended = True
            return 0
        buffer[: len(data)] = data
        return len(data)


class SupportsRead(Protocol):
    """What the reader needs of a response body: `read(n)`."""

    def read(self, size: int, /) -> bytes:
        """Up to `size` bytes; b"" at the end."""
        ...


def _text(binary: SupportsRead) -> io.TextIOWrapper:
    buffered = io.BufferedReader(_Source(binary), buffer_size=READ_BUFFER_BYTES)
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        unzipped = gzip.GzipFile(fileobj=buffered, mode="rb")
        return io.TextIOWrapper(unzipped, encoding="utf-8", newline="")
    return io.TextIOWrapper(buffered, encoding="utf-8", newline="")


def read_members(binary: SupportsRead, what: str) -> Iterator[CohortRow]:
    """Members of the cohort file `binary` (`what` names it in errors), in file order."""
    reader = csv.reader(_text(binary))
    header = next(reader, None)
    if header is None:
        raise CohortFileError(f"{what} is empty: expected a CSV header with `amplitude_id`")
    header = [name.strip() for name in header]
    if "amplitude_id" not in header:
        raise CohortFileError(f"{what} has no `amplitude_id` column (header: {header[:10]})")
    id_at = header.index("amplitude_id")
    user_at = header.index("user_id") if "user_id" in header else None
    properties = [(i, name) for i, name in enumerate(header) if name not in ID_COLUMNS]
    for cells in reader:
        if not cells:
            continue
        raw_id = cells[id_at].strip() if id_at < len(cells) else ""
        if not raw_id.isdigit():
            raise CohortFileError(
                f"{what} line {reader.line_num}: `amplitude_id` {raw_id[:40]!r} is not a number"
            )
        user_id = cells[user_at] if user_at is not None and user_at < len(cells) else ""
        yield CohortRow(
            amplitude_id=int(raw_id),
            user_id=user_id or None,
            properties={
                name: (cells[i] if i < len(cells) and cells[i] != "" else None)
                for i, name in properties
            },
        )
