"""`GET /api/2/export`: the Export API's zip of gzipped JSON-lines files, windowed on upload hour.

Contract (reference b.2): `start`/`end` are `YYYYMMDDTHH` UTC hours, both included, selected on
`server_upload_time`. Malformed, reversed or longer-than-365-day ranges get 400; a range without
rows gets 404 "Raw data files were not found"; a range whose uncompressed size exceeds
`state.limits.export_max_bytes` (the 4 GB stand-in) gets 400. Otherwise a 200 `application/zip`
with members `<pid>/<pid>_<YYYY-MM-DD>_<H>#<n>.json.gz` (hour not zero-padded, a new part every
`ROWS_PER_PART` rows of an hour) written in shuffled order, after a `<pid>/` directory entry.
The `corrupt_line` fault adds one non-JSON line to one member; `truncate_member` cuts one gzip
member short and `corrupt_crc` breaks one member's gzip CRC (the zip around them stays valid).
`limits.export_build_seconds` (+ `export_build_seconds_per_mb` of zip) holds the answer before its
first byte, as Amplitude does while it builds the archive.

For benchmarks and big-archive tests:
- `write_archive(path, rows, project_id)` writes any iterable of rows (e.g.
  `data.synthetic_rows(...)`) in this layout with bounded memory;
- `serve_archive(state, path, start=None, end=None)` makes the export of project A (or
  `project_id`) answer with that file as-is for the given `start`/`end` parameters (None = any
  valid range). The file is not deleted; `state.reset()` forgets the registration.
Archives built per request are written to a temp file, streamed, and deleted once sent.
"""

from __future__ import annotations

import gzip
import os
import random
import re
import tempfile
import time
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amplitude_emulator.auth import authenticate
from amplitude_emulator.data import row_bytes
from amplitude_emulator.http import Response, dashboard_error, route
from amplitude_emulator.state import PROJECT_A_ID

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from amplitude_emulator.http import Request
    from amplitude_emulator.state import EmulatorState, Project

ROWS_PER_PART = 10  # rows per gzip member of one hour; small so the seeded hours have several parts
SHUFFLE_BUFFER = 16  # finished members held back and written in shuffled order
CORRUPT_LINE = b'{"uuid": "7e1f0c4a-broken", "event_type": "Page Viewed", "event_time": "2024-03\n'
DAMAGE_KINDS = frozenset({"corrupt_line", "truncate_member", "corrupt_crc"})
HOUR_PARAM = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})")
STREAM_CHUNK = 1024 * 1024
ZIP_TIME = (2024, 1, 1, 0, 0, 0)


def _parse_hour(name: str, raw: str | None) -> datetime | Response:
    if raw is None or not HOUR_PARAM.fullmatch(raw):
        return dashboard_error(
            400,
            "Invalid request",
            f"Parameter '{name}' must be an hour formatted YYYYMMDDTHH, got {raw!r}",
        )
    try:
        return datetime.strptime(raw, "%Y%m%dT%H").replace(tzinfo=timezone.utc)
    except ValueError:
        return dashboard_error(
            400, "Invalid request", f"Parameter '{name}' is not a valid hour: {raw}"
        )


def parse_window(request: Request, state: EmulatorState) -> tuple[datetime, datetime] | Response:
    """The inclusive (start, end) hours of an export request, or its 400 response."""
    start = _parse_hour("start", request.arg("start"))
    if isinstance(start, Response):
        return start
    end = _parse_hour("end", request.arg("end"))
    if isinstance(end, Response):
        return end
    if start > end:
        return dashboard_error(400, "Invalid request", "'start' must not be after 'end'")
    if end - start + timedelta(hours=1) > timedelta(days=state.limits.export_max_days):
        return dashboard_error(
            400,
            "Invalid request",
            f"The time range may not exceed {state.limits.export_max_days} days",
        )
    return start, end


def serve_archive(
    state: EmulatorState,
    path: str | Path,
    start: str | None = None,
    end: str | None = None,
    project_id: int = PROJECT_A_ID,
) -> None:
    """Answer exports of `project_id` for `start`/`end` (None = any range) with this zip file."""
    with state.lock:
        state.projects[project_id].export_archives.append((start or "", end or "", str(path)))


def _registered_archive(project: Project, start: str, end: str) -> Path | None:
    for archived_start, archived_end, path in project.export_archives:
        if archived_start in {"", start} and archived_end in {"", end}:
            return Path(path)
    return None


@route("GET", "/api/2/export")
def export(request: Request, state: EmulatorState) -> Response:
    """The zip of the rows uploaded in [start, end], or the documented error."""
    project = authenticate(request, state)
    if isinstance(project, Response):
        return project
    window = parse_window(request, state)
    if isinstance(window, Response):
        return window
    start, end = window
    headers = {"Content-Type": "application/zip"}
    archive = _registered_archive(project, request.arg("start") or "", request.arg("end") or "")
    if archive is not None:
        _hold_while_building(state, archive.stat().st_size)
        return Response(200, archive, headers)
    first, last = start.strftime("%Y-%m-%d %H"), end.strftime("%Y-%m-%d %H")
    with state.lock:
        rows = [
            row for row in project.export_rows if first <= row["server_upload_time"][:13] <= last
        ]
    if not rows:
        return dashboard_error(
            404,
            "Raw data files were not found.",
            f"No data uploaded between {request.arg('start')} and {request.arg('end')}",
            kind="not_found",
        )
    size = sum(len(row_bytes(row)) for row in rows)
    if size > state.limits.export_max_bytes:
        return dashboard_error(
            400,
            "Export request exceeds the maximum size of 4GB.",
            "Use a smaller time range, or Amazon S3 export for hours larger than 4GB",
        )
    fault = request.fault
    damage = fault.kind if fault is not None and fault.kind in DAMAGE_KINDS else None
    handle, name = tempfile.mkstemp(prefix="emulator-export-", suffix=".zip", dir=state.temp_dir)
    os.close(handle)
    path = Path(name)
    try:
        write_archive(
            path, rows, project.project_id, seed=f"{state.seed}-{start}-{end}", damage=damage
        )
        _hold_while_building(state, path.stat().st_size)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Response(200, SentOnceFile(path), headers, content_length=path.stat().st_size)


def _hold_while_building(state: EmulatorState, zip_bytes: int) -> None:
    """Wait the configured build time before the first byte (this request's thread only)."""
    limits = state.limits
    delay = limits.export_build_seconds + limits.export_build_seconds_per_mb * zip_bytes / 1e6
    if delay > 0:
        time.sleep(delay)


class SentOnceFile:
    """A temp file's chunks as a response body; `close` deletes the file.

    The server closes it after sending, when the client hangs up, or when a fault replaces the
    body unsent (a generator that never started could not clean up after itself).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[bytes]:
        """The file in STREAM_CHUNK pieces."""
        with self.path.open("rb") as handle:
            while chunk := handle.read(STREAM_CHUNK):
                yield chunk

    def close(self) -> None:
        """Delete the file (idempotent)."""
        self.path.unlink(missing_ok=True)


def write_archive(
    path: str | Path,
    rows: Iterable[dict[str, Any]],
    project_id: int,
    rows_per_part: int = ROWS_PER_PART,
    seed: int | str = 0,
    *,
    damage: str | None = None,
    compresslevel: int = 6,
) -> int:
    """Write `rows` as an Export API zip; returns the uncompressed bytes of the JSON lines.

    `damage` (one of DAMAGE_KINDS) spoils the first member written, once.
    """
    if damage is not None and damage not in DAMAGE_KINDS:
        msg = f"unknown archive damage {damage!r}; expected one of {sorted(DAMAGE_KINDS)}"
        raise ValueError(msg)
    rng = random.Random(seed)
    open_parts: dict[tuple[str, int], list[bytes]] = {}
    next_part: dict[tuple[str, int], int] = {}
    finished: list[tuple[str, list[bytes]]] = []
    total = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(zipfile.ZipInfo(f"{project_id}/", ZIP_TIME), b"")

        def finish(key: tuple[str, int]) -> None:
            number = next_part.get(key, 0)
            next_part[key] = number + 1
            finished.append(
                (
                    f"{project_id}/{project_id}_{key[0]}_{key[1]}#{number}.json.gz",
                    open_parts.pop(key),
                )
            )

        def flush(*, everything: bool) -> None:
            nonlocal damage
            while len(finished) >= (1 if everything else SHUFFLE_BUFFER):
                name, lines = finished.pop(rng.randrange(len(finished)))
                if damage == "corrupt_line":
                    lines.insert(len(lines) // 2, CORRUPT_LINE)
                body = gzip.compress(b"".join(lines), compresslevel=compresslevel, mtime=0)
                body = _spoil(body, damage)
                damage = None
                archive.writestr(zipfile.ZipInfo(name, ZIP_TIME), body)

        for row in rows:
            line = row_bytes(row)
            total += len(line)
            uploaded = row["server_upload_time"]
            key = (uploaded[:10], int(uploaded[11:13]))
            open_parts.setdefault(key, []).append(line)
            if len(open_parts[key]) >= rows_per_part:
                finish(key)
                flush(everything=False)
        for key in list(open_parts):
            finish(key)
        flush(everything=True)
    return total


def _spoil(member: bytes, damage: str | None) -> bytes:
    """A gzip member cut short (no trailer, half the deflate data) or with a wrong CRC-32."""
    if damage == "truncate_member":
        return member[: max(11, (len(member) - 8) // 2)]
    if damage == "corrupt_crc":
        crc = int.from_bytes(member[-8:-4], "little") ^ 0xFFFFFFFF
        return member[:-8] + crc.to_bytes(4, "little") + member[-4:]
    return member
