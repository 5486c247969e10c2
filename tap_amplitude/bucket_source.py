"""The export bucket through fsspec: list a day by name prefix, read an object whole or not at all.

Each object is first made local (a remote one is downloaded to a temporary file) and its gzip
stream is checked to the end (CRC and length) before a row is emitted, so a truncated or corrupt
object is retried with nothing to undo; after the last attempt the run fails naming the key.
"""

from __future__ import annotations

import gzip
import logging
import os
import tempfile
import time
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from tap_amplitude.bucket_layout import DayListing, ExportObject, Feed, object_version, sort_listing

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator

    from fsspec import AbstractFileSystem

CHUNK_BYTES = 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
TEMP_PREFIX = "tap-amplitude-bucket-"
# Object stores list by key prefix in one request; elsewhere the folder is listed and filtered.
PREFIX_LISTING_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"})
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure"}
RETRY_WAITS_SECONDS = (1.0, 4.0, 15.0, 30.0)

logger = logging.getLogger(__name__)
LocalCopy = tuple[Path, bool]  # a verified local file, and whether it is a temporary download
_sleep = time.sleep  # the wait between attempts (tests replace it)


class BucketConfigError(ValueError):
    """`bucket_url` / `bucket_storage_options` cannot open a filesystem."""


class BucketReadError(Exception):
    """An object stayed unreadable after every attempt (truncated, corrupt, or access denied)."""


def open_filesystem(url: str, storage_options: dict[str, Any]) -> tuple[AbstractFileSystem, str]:
    """(filesystem, root path) for `bucket_url`; a fresh instance, never a cached one."""
    protocol = url.split("://", 1)[0] if "://" in url else "file"
    try:
        fs, root = url_to_fs(url, skip_instance_cache=True, **storage_options)
    except ImportError as exc:
        extra = EXTRAS.get(protocol, protocol)
        msg = (
            f"bucket_url {url!r} needs the {protocol} driver: install "
            f"`singer-amplitude[{extra}]` ({exc})"
        )
        raise BucketConfigError(msg) from None
    except (TypeError, ValueError) as exc:
        msg = f"bucket_url {url!r} with bucket_storage_options does not open a filesystem: {exc}"
        raise BucketConfigError(msg) from None
    return fs, str(root).rstrip("/")


class BucketSource:
    """One export prefix: day listings and verified object reads."""

    def __init__(
        self,
        url: str,
        storage_options: dict[str, Any] | None = None,
        *,
        temp_dir: str | None = None,
        max_tries: int = 3,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        """Open the filesystem now, so a bad URL or missing driver fails before any record."""
        self.url = url
        self.fs, self.root = open_filesystem(url, dict(storage_options or {}))
        self.temp_dir = temp_dir
        self.max_tries = max(1, max_tries)
        self.sleep = sleep or _sleep
        self.is_local = isinstance(self.fs, LocalFileSystem)
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self.lists_by_prefix = bool(PREFIX_LISTING_PROTOCOLS.intersection(protocols))

    def check_root(self) -> None:
        """Fail when the bucket (or local folder) is missing: an empty listing would look done."""
        target = self.root if self.is_local else self.root.split("/", 1)[0]
        try:
            found = self.fs.isdir(target) if self.is_local else self.fs.exists(target)
        except PermissionError as exc:
            msg = f"bucket_url {self.url!r}: access to {target!r} was refused ({exc})"
            raise BucketConfigError(msg) from None
        if not found:
            what = "folder" if self.is_local else "bucket"
            msg = (
                f"bucket_url {self.url!r}: the {what} {target!r} does not exist or these "
                "credentials cannot see it; check `bucket_url` and `bucket_storage_options`"
            )
            raise BucketConfigError(msg)

    def folder(self, feed: Feed) -> str:
        """The feed's folder path on the filesystem."""
        return f"{self.root}/{feed.folder}" if self.root else feed.folder

    # --- listing ---------------------------------------------------------------------------------

    def list_day(self, feed: Feed, day: Any) -> DayListing:
        """Objects and markers whose names start with the day's prefix (one listing request)."""
        folder = self.folder(feed)
        prefix = feed.day_prefix(day)
        self.fs.invalidate_cache(folder)
        try:
            if self.lists_by_prefix:
                found = self.fs.find(folder, prefix=prefix, detail=True)
                infos = list(found.values()) if isinstance(found, dict) else []
            else:
                infos = [
                    info
                    for info in self.fs.ls(folder, detail=True)
                    if str(info["name"]).rsplit("/", 1)[-1].startswith(prefix)
                ]
        except FileNotFoundError:
            infos = []
        except PermissionError as exc:
            msg = (
                f"listing {self._shown(folder)}/{prefix}* was refused ({exc}): the credentials "
                "need list access to the export prefix (S3: s3:ListBucket; GCS: "
                "storage.objects.list; Azure: List)"
            )
            raise BucketReadError(msg) from None
        return sort_listing(feed, [info for info in infos if self._under(folder, info, prefix)])

    @staticmethod
    def _under(folder: str, info: dict[str, Any], prefix: str) -> bool:
        """Only direct children of the folder with the day's prefix (listings may go deeper)."""
        name = str(info.get("name", "")).rstrip("/")
        parent, _, base = name.rpartition("/")
        return base.startswith(prefix) and parent.rstrip("/").endswith(folder.rstrip("/"))

    def _shown(self, path: str) -> str:
        """A path as the user wrote the URL (protocol included), for messages."""
        protocol = self.url.split("://", 1)[0] if "://" in self.url else ""
        return f"{protocol}://{path}" if protocol and not self.is_local else path

    # --- reading -------------------------------------------------------------------------------

    def records(self, obj: ExportObject) -> Iterator[dict[str, Any]]:
        """Every JSON line of the object as a dict, once the whole object has been verified.

        Yields nothing when the object was deleted since it was listed (a backfill rewrites).
        """
        return self.read(obj, self._fetch_verified(obj))

    def read(self, obj: ExportObject, local: LocalCopy | None) -> Iterator[dict[str, Any]]:
        """The rows of a verified local copy (from `fetch_ahead`); a temporary copy is removed."""
        if local is None:
            return
        path, temporary = local
        try:
            yield from _json_lines(path, self._shown(obj.key))
        finally:
            if temporary:
                path.unlink(missing_ok=True)

    def fetch_ahead(self, objects: list[ExportObject]) -> Generator[LocalCopy | None, None, None]:
        """Verified local copies of `objects`, in order, the next one prepared in a thread.

        While the rows of one object are emitted, the next is downloaded and its gzip checked
        (zlib and sockets release the GIL), so neither waits on the other. An error surfaces
        when its object's turn comes; copies not handed out are removed.
        """
        if not objects:
            return
        remaining = iter(objects)
        queued: deque[Future[LocalCopy | None]] = deque()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bucket-fetch") as pool:

            def queue_next() -> None:
                obj = next(remaining, None)
                if obj is not None:
                    queued.append(pool.submit(self._fetch_verified, obj))

            queue_next()
            try:
                while queued:
                    current = queued.popleft()
                    queue_next()
                    yield current.result()
            finally:
                for future in queued:
                    if not future.cancel():
                        _discard(future)

    def _fetch_verified(self, obj: ExportObject) -> LocalCopy | None:
        """A local, checked copy of the object (path, is_temporary); retried, then fatal."""
        shown = self._shown(obj.key)
        for attempt in range(1, self.max_tries + 1):
            path: Path | None = None
            temporary = not self.is_local
            try:
                path = self._download(obj) if temporary else Path(obj.key)
                check_gzip(path)
            except FileNotFoundError:
                logger.warning("Object %s was deleted after it was listed; skipped", shown)
                return None
            except PermissionError as exc:
                msg = f"reading {shown} was refused ({exc}): the credentials need s3:GetObject"
                msg += " (GCS: storage.objects.get; Azure: Read)"
                raise BucketReadError(msg) from None
            except (OSError, EOFError, zlib.error, BucketReadError) as exc:
                if temporary and path is not None:
                    path.unlink(missing_ok=True)
                if attempt == self.max_tries:
                    msg = (
                        f"{shown} is unreadable after {attempt} attempts ({exc}). Its hour "
                        f"{obj.hour:%Y-%m-%dT%H} is not bookmarked; fix or delete the object "
                        "and re-run to resume there."
                    )
                    raise BucketReadError(msg) from None
                wait = RETRY_WAITS_SECONDS[min(attempt, len(RETRY_WAITS_SECONDS)) - 1]
                logger.warning(
                    "Object %s unreadable (attempt %d of %d: %s); retrying in %.0f s",
                    shown,
                    attempt,
                    self.max_tries,
                    exc,
                    wait,
                )
                self.sleep(wait)
            else:
                return path, temporary
        return None  # pragma: no cover  (the loop returns or raises)

    def _download(self, obj: ExportObject) -> Path:
        """Copy the object to a temporary file; a short copy of an unchanged object is an error."""
        handle, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".json.gz", dir=self.temp_dir)
        os.close(handle)
        path = Path(name)
        try:
            self.fs.get_file(obj.key, str(path))
            self._check_size(obj, path.stat().st_size)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    def _check_size(self, obj: ExportObject, written: int) -> None:
        """A copy shorter or longer than listed is an error, unless the object was rewritten."""
        if obj.size is None or written == obj.size:
            return
        if object_version(self.fs.info(obj.key)) == obj.version:
            msg = f"download ended after {written} of {obj.size} bytes"
            raise BucketReadError(msg)


def _discard(future: Future[LocalCopy | None]) -> None:
    """Remove the temporary copy a prefetch made but nobody read (its error is moot)."""
    try:
        local = future.result()
    except Exception:  # noqa: BLE001  the run is already ending on an earlier error
        return
    if local is not None and local[1]:
        local[0].unlink(missing_ok=True)


def check_gzip(path: Path) -> None:
    """Decompress a gzip file to the end (CRC and length checked); plain JSON lines pass as is."""
    with path.open("rb") as raw:
        if raw.read(2) != GZIP_MAGIC:
            return
        raw.seek(0)
        with gzip.GzipFile(fileobj=raw, mode="rb") as unpacked:
            while unpacked.read(CHUNK_BYTES):
                pass


def _open_lines(raw: IO[bytes]) -> IO[bytes] | gzip.GzipFile:
    head = raw.read(2)
    raw.seek(0)
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb")
    return raw


def _json_lines(path: Path, shown: str) -> Iterator[dict[str, Any]]:
    """Each JSON line of a verified file as a dict; blank lines skipped, others are errors."""
    loads = orjson.loads
    with path.open("rb") as raw, _open_lines(raw) as lines:
        for number, line in enumerate(lines, 1):
            try:
                record = loads(line)
            except orjson.JSONDecodeError as exc:
                if not line.strip():
                    continue
                msg = f"corrupt line in {shown}, line {number}: not JSON ({exc})"
                raise BucketReadError(msg) from None
            if not isinstance(record, dict):
                msg = f"corrupt line in {shown}, line {number}: a JSON {type(record).__name__}"
                raise BucketReadError(msg)
            yield record
