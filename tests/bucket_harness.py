"""Write Amplitude's export layout into a bucket (moto S3 or a local folder); run the bucket tap."""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import itertools
import os
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import fsspec
import orjson

from amplitude_emulator.data import synthetic_rows
from tap_amplitude.tap import TapAmplitude
from tests.events_harness import Run, sync_in_process

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fsspec import AbstractFileSystem

PROJECT_ID = "187520"
ORG_ID = "3456"
UTC = dt.timezone.utc
FIRST_HOUR = dt.datetime(2024, 3, 1, tzinfo=UTC)
HOUR = dt.timedelta(hours=1)
_counter = itertools.count(1)


def hour_name(hour: dt.datetime) -> str:
    """`2024-03-01_5`: the date and the hour, not zero-padded, as Amplitude names files."""
    return f"{hour:%Y-%m-%d}_{hour.hour}"


def gz_lines(rows: list[dict[str, Any]]) -> bytes:
    return gzip.compress(b"".join(orjson.dumps(row) + b"\n" for row in rows))


@dataclass
class Store:
    """An export prefix on some filesystem, with helpers to write what Amplitude writes."""

    fs: AbstractFileSystem
    root: str  # filesystem path of the prefix (bucket/prefix, or a local folder)
    url: str  # what the tap's `bucket_url` is
    storage_options: dict[str, Any]
    kind: str
    written: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    pending: dict[str, bytes] | None = None  # set by `batch()`: writes go out together

    def _put(self, folder: str, name: str, body: bytes) -> str:
        path = f"{self.root}/{folder}/{name}"
        self.fs.makedirs(f"{self.root}/{folder}", exist_ok=True)
        if self.pending is not None:
            self.pending[path] = body
            return name
        self.fs.pipe_file(path, body)
        self._touch(path)
        return name

    def _touch(self, path: str) -> None:
        if self.kind == "local":  # a rewrite must change the local version (size@mtime)
            stamp = 1_700_000_000 + next(_counter)
            os.utime(path, (stamp, stamp))

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Collect the writes of the block and send them at once (s3fs uploads concurrently)."""
        self.pending = {}
        try:
            yield
            self.fs.pipe(self.pending)
            for path in self.pending:
                self._touch(path)
        finally:
            self.pending = None

    def events(self, hour: dt.datetime, rows: list[dict[str, Any]], part: int = 0) -> str:
        name = f"{PROJECT_ID}_{hour_name(hour)}#{part}.json.gz"
        self.written[name] = rows
        return self._put(PROJECT_ID, name, gz_lines(rows))

    def marker(self, hour: dt.datetime) -> None:
        self._put(PROJECT_ID, f"{PROJECT_ID}_{hour_name(hour)}_complete", b"")

    def merged_ids(self, hour: dt.datetime, rows: list[dict[str, Any]]) -> str:
        name = f"-{ORG_ID}_{hour_name(hour)}.json.gz"
        self.written[name] = rows
        return self._put(f"-{ORG_ID}", name, gz_lines(rows))

    def truncate(self, name: str, keep: int = 40) -> None:
        path = f"{self.root}/{PROJECT_ID}/{name}"
        self._put(PROJECT_ID, name, self.fs.cat_file(path)[:keep])

    def foreign(self, name: str) -> None:
        self._put(PROJECT_ID, name, b"not an export")


def s3_store(endpoint_url: str) -> Store:
    options = {
        "endpoint_url": endpoint_url,
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"region_name": "eu-central-1"},
    }
    fs = fsspec.filesystem("s3", skip_instance_cache=True, **options)
    bucket = f"amplitude-export-{uuid.uuid4().hex[:12]}"
    fs.mkdir(bucket)
    root = f"{bucket}/exports"
    return Store(fs, root, f"s3://{root}", options, "s3")


def local_store(folder: str) -> Store:
    fs = fsspec.filesystem("file")
    fs.makedirs(folder, exist_ok=True)
    return Store(fs, folder.rstrip("/"), f"file://{folder}", {}, "local")


def event_rows(hour: dt.datetime, count: int, seed: int) -> list[dict[str, Any]]:
    """`count` export rows uploaded during `hour` (unique uuids per seed)."""
    return list(synthetic_rows(count, hour, per_hour=count, seed=seed))


def merged_rows(hour: dt.datetime, count: int, base: int) -> list[dict[str, Any]]:
    stamp = f"{hour:%Y-%m-%d %H}:15:00.123000"
    return [
        {
            "scope": "project",
            "merge_time": stamp,
            "merge_server_time": stamp,
            "amplitude_id": base + n,
            "merged_amplitude_id": base + 1000 + n,
        }
        for n in range(count)
    ]


def bucket_config(store: Store, tmp_dir: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "api_key": "unused-in-bucket-mode",
        "secret_key": "unused-in-bucket-mode",
        "api_url": "http://127.0.0.1:9",
        "events_source": "bucket",
        "bucket_url": store.url,
        "bucket_storage_options": store.storage_options,
        "project_id": PROJECT_ID,
        "org_id": ORG_ID,
        "start_date": "2024-03-01T00:00:00Z",
        "export_max_tries": 3,
        "export_temp_dir": tmp_dir,
    }
    config.update(overrides)
    return config


def run_streams(
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    streams: tuple[str, ...] = ("events",),
) -> Run:
    """Sync the named streams in-process, capturing stdout and the log (like events_harness)."""
    catalog = TapAmplitude(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if not item["breadcrumb"]:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    tap = TapAmplitude(config=config, state=state, catalog=catalog, parse_env_config=False)
    return sync_in_process(tap)


def records_of(run: Run, stream: str) -> list[dict[str, Any]]:
    return [m["record"] for m in run.messages if m["type"] == "RECORD" and m["stream"] == stream]


def last_state(run: Run) -> dict[str, Any]:
    return run.states[-1] if run.states else {}


def bookmark(run: Run, stream: str = "events") -> str | None:
    value = last_state(run).get("bookmarks", {}).get(stream, {}).get("replication_key_value")
    return str(value) if value is not None else None
