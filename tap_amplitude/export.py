"""Export archives: spool the zip to a temporary file, prove it whole, then read it line by line.

Nothing of a window is emitted before its archive is on disk and its central directory reads, so a
failed download can be retried without duplicating rows. Members are gzipped JSON lines, read
through streaming gzip: memory stays flat whatever the archive size.
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

import orjson
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_amplitude.member_lines import member_blocks, member_lines

if TYPE_CHECKING:
    import threading
    from collections.abc import Iterator

    import requests

CHUNK_BYTES = 1024 * 1024
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a first local header, or an empty archive
TEMP_PREFIX = "tap-amplitude-export-"

# `<project>/<project>_YYYY-MM-DD_H#part.json.gz`; the hour is not zero-padded.
_MEMBER_NAME = re.compile(r"(?:\d+_)?(\d{4}-\d{2}-\d{2})_(\d{1,2})#(\d+)\.json(?:\.gz)?")


class ExportDownloadError(RetriableAPIError):
    """The body is not a whole zip (cut off, an HTML page, wrong length): retry the window."""


class ExportArchiveError(FatalAPIError):
    """A member of a downloaded archive cannot be read (bad gzip, bad CRC, corrupt line)."""


class DownloadCancelledError(Exception):
    """The run is ending (or the window was re-planned): a prefetch stops downloading."""


def spool_to_file(
    response: requests.Response,
    directory: str | Path | None = None,
    stop: threading.Event | None = None,
) -> Path:
    """Write the body to a new temporary file and check it whole: zip, members, gzip CRCs.

    The file is removed again if anything fails. Raises ExportDownloadError when the body is
    shorter than its Content-Length, is not a zip archive, or a member does not decompress.
    """
    handle, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".zip", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            written = _copy_body(response, out, stop)
        _check_length(response, written)
        check_zip(path)
        verify_members(path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _copy_body(response: requests.Response, out: IO[bytes], stop: threading.Event | None) -> int:
    """Body bytes to `out` chunk by chunk; stops early (raising) once `stop` is set."""
    written = 0
    for chunk in response.iter_content(CHUNK_BYTES):
        if stop is not None and stop.is_set():
            msg = "export download cancelled: the run is ending"
            raise DownloadCancelledError(msg)
        out.write(chunk)
        written += len(chunk)
    return written


def _check_length(response: requests.Response, written: int) -> None:
    """A short body is a dropped download, even when the connection closed cleanly."""
    expected = response.headers.get("Content-Length")
    if expected is None or response.headers.get("Content-Encoding"):
        return
    if expected.isdigit() and int(expected) != written:
        msg = f"export download ended after {written} of {expected} bytes"
        raise ExportDownloadError(msg, response)


def check_zip(path: Path) -> None:
    """Raise ExportDownloadError unless `path` starts like a zip and its central directory reads."""
    with path.open("rb") as handle:
        head = handle.read(64)
    if head[:4] not in ZIP_MAGICS:
        shown = head[:40].decode("utf-8", "replace")
        msg = f"export answered 200 with a body that is not a zip archive (starts {shown!r})"
        raise ExportDownloadError(msg)
    try:
        with zipfile.ZipFile(path) as archive:
            archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        msg = f"export archive is truncated or corrupt ({exc})"
        raise ExportDownloadError(msg) from None


def verify_members(path: Path) -> None:
    """Decompress every member to its end, so zip and gzip CRC-32 and lengths are all checked.

    zlib releases the GIL: this runs beside the emitting thread. A failure is a bad download
    (the same request usually succeeds next time), raised as ExportDownloadError.
    """
    with zipfile.ZipFile(path) as archive:
        for info in ordered_members(archive):
            _read_to_end(archive, info)


def _read_to_end(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    try:
        with archive.open(info) as raw:
            for _ in member_blocks(raw):
                pass
    except (zlib.error, EOFError, zipfile.BadZipFile, OSError) as exc:
        msg = f"export member {info.filename!r} does not decompress ({exc})"
        raise ExportDownloadError(msg) from None


def member_sort_key(name: str) -> tuple[int, str, int, int, str]:
    """Order members by (date, hour, part) parsed from the name; unknown names go last, by name."""
    base = name.rsplit("/", 1)[-1]
    match = _MEMBER_NAME.fullmatch(base)
    if match is None:
        return (1, "", 0, 0, name)
    return (0, match.group(1), int(match.group(2)), int(match.group(3)), name)


def ordered_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The archive's data members in export order (directories and `_complete` markers skipped)."""
    members = [
        info
        for info in archive.infolist()
        if not info.is_dir() and not info.filename.endswith("_complete")
    ]
    return sorted(members, key=lambda info: member_sort_key(info.filename))


class BadLineHandler(Protocol):
    """Told about a line that is not a JSON object; returns normally to skip it."""

    def __call__(self, member: str, number: int, line: bytes, reason: str) -> None:
        """Record (or refuse, by raising) one bad line."""


def fail_on_bad_line(member: str, number: int, line: bytes, reason: str) -> None:  # noqa: ARG001
    """`on_bad_export_line: fail`: the window stops with the member and line named."""
    msg = (
        f"corrupt line in export member {member!r}, line {number}: {reason}. The window is "
        "not bookmarked; re-run to retry it, or set `on_bad_export_line: skip`."
    )
    raise ExportArchiveError(msg)


def iter_member_records(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    on_bad_line: BadLineHandler = fail_on_bad_line,
) -> Iterator[dict[str, Any]]:
    """Each JSON line of one member as a dict; blank lines skipped, bad ones to `on_bad_line`."""
    number = 0
    loads = orjson.loads
    try:
        with archive.open(info) as raw:
            for number, line in enumerate(member_lines(raw), 1):
                try:
                    record = loads(line)
                except orjson.JSONDecodeError as exc:
                    if not line.strip():
                        continue
                    on_bad_line(info.filename, number, line, f"not JSON ({exc})")
                    continue
                if record.__class__ is not dict:
                    reason = f"a JSON {type(record).__name__}, not an event object"
                    on_bad_line(info.filename, number, line, reason)
                    continue
                yield record
    except (zlib.error, EOFError, zipfile.BadZipFile) as exc:
        msg = (
            f"export member {info.filename!r} cannot be decompressed after line {number} "
            f"({exc}). The window is not bookmarked; re-run to retry it."
        )
        raise ExportArchiveError(msg) from None


def iter_archive_records(
    path: Path, on_bad_line: BadLineHandler = fail_on_bad_line
) -> Iterator[dict[str, Any]]:
    """Every line of every member as a dict, members in (date, hour, part) order."""
    with zipfile.ZipFile(path) as archive:
        for info in ordered_members(archive):
            yield from iter_member_records(archive, info, on_bad_line)


def member_names(path: Path) -> list[str]:
    """The data members of a downloaded archive, in the order they are read (for logs)."""
    with zipfile.ZipFile(path) as archive:
        return [info.filename for info in ordered_members(archive)]
