"""Member lines come out whole across blocks and gzip members; damage is caught, never skipped."""

from __future__ import annotations

import gzip
import io
import zlib

import pytest

from tap_amplitude import member_lines
from tap_amplitude.member_lines import TruncatedMemberError


def _lines(body: bytes) -> list[bytes]:
    return list(member_lines.member_lines(io.BytesIO(body)))


@pytest.fixture(autouse=True)
def tiny_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads of 7 bytes: every line and gzip trailer straddles a block boundary."""
    monkeypatch.setattr(member_lines, "READ_BYTES", 7)


def test_lines_across_blocks_and_concatenated_gzip_members() -> None:
    body = gzip.compress(b'{"a": 1}\n{"b": 2}\n') + gzip.compress(b'{"c": 3}\n{"d": 4}')
    assert _lines(body) == [b'{"a": 1}', b'{"b": 2}', b'{"c": 3}', b'{"d": 4}']


def test_plain_json_lines_member_is_read_as_is() -> None:
    assert _lines(b'{"a": 1}\n\n{"b": 2}\n') == [b'{"a": 1}', b"", b'{"b": 2}']


def test_cut_gzip_member_is_truncated_not_short() -> None:
    whole = gzip.compress(b'{"a": 1}\n' * 100)
    with pytest.raises(TruncatedMemberError):
        _lines(whole[:-4])


def test_wrong_crc_is_an_error() -> None:
    whole = bytearray(gzip.compress(b'{"a": 1}\n' * 100))
    whole[-8] ^= 0xFF
    with pytest.raises(zlib.error, match="incorrect data check"):
        _lines(bytes(whole))


def test_wrong_length_is_an_error() -> None:
    whole = bytearray(gzip.compress(b'{"a": 1}\n' * 100))
    whole[-1] ^= 0x01
    with pytest.raises(zlib.error, match="incorrect length check"):
        _lines(bytes(whole))
