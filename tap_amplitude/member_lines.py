"""Lines of one archive member: gzip decompressed by zlib itself, checked to its trailer.

zlib's gzip mode (`wbits=31`) verifies each gzip member's CRC-32 and length as it ends, without
the `gzip` module's per-line Python work; concatenated gzip members are read one after another.
Lines are split from decompressed blocks, so memory stays at a few blocks whatever the size.
"""

from __future__ import annotations

import zlib
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

GZIP_MAGIC = b"\x1f\x8b"
GZIP_WBITS = 31  # zlib: expect and check the gzip header and trailer
READ_BYTES = 256 * 1024  # compressed bytes per read; a block inflates to a few MB at most


class TruncatedMemberError(EOFError):
    """A gzip stream stopped before its end-of-stream marker and trailer."""


def _gunzip_blocks(raw: IO[bytes], first: bytes) -> Iterator[bytes]:
    inflater = zlib.decompressobj(GZIP_WBITS)
    data = first
    while True:
        while data:
            block = inflater.decompress(data)
            if block:
                yield block
            if not inflater.eof:
                break
            data = inflater.unused_data
            inflater = zlib.decompressobj(GZIP_WBITS)
            if not data:
                data = raw.read(READ_BYTES)
                if not data:
                    return
        data = raw.read(READ_BYTES)
        if not data:
            break
    msg = "compressed data ended before the end-of-stream marker was reached"
    raise TruncatedMemberError(msg)


def _plain_blocks(raw: IO[bytes], first: bytes) -> Iterator[bytes]:
    data = first
    while data:
        yield data
        data = raw.read(READ_BYTES)


def member_blocks(raw: IO[bytes]) -> Iterator[bytes]:
    """Decompressed blocks of a gzip member (checked), or the bytes of a plain JSON-lines one.

    Raises zlib.error for bad data or a wrong CRC/length, TruncatedMemberError when cut short.
    """
    first = raw.read(READ_BYTES)
    if first[:2] == GZIP_MAGIC:
        return _gunzip_blocks(raw, first)
    return _plain_blocks(raw, first)


def member_lines(raw: IO[bytes]) -> Iterator[bytes]:
    """The member's lines without their newline (a last line without one included)."""
    tail = b""
    for block in member_blocks(raw):
        lines = (tail + block if tail else block).split(b"\n")
        tail = lines.pop()
        yield from lines
    if tail:
        yield tail
