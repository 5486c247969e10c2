"""BATCH files in an S3 bucket (moto's S3 server on 127.0.0.1), read through s3fs.

The manifest names `s3://` URLs; `batch_config.storage.params` carries the s3fs options (endpoint,
key, secret), as a tap writing to S3 would pass them on.
"""

from __future__ import annotations

import gzip
import io
import json
import uuid
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import s3fs

from target_amplitude.batch_files import BatchFileError
from tests.amplitude_target_runs import config_for, run_target, schema_message
from tests.batch_messages import MAPS, STREAMS, batch, clicks, lines, states, stored

if TYPE_CHECKING:
    from collections.abc import Iterator

KEY, SECRET = "batch-test-key", "batch-test-secret"


@pytest.fixture
def bucket(moto_s3: str) -> Iterator[tuple[s3fs.S3FileSystem, str, dict[str, Any]]]:
    """A fresh bucket on the moto server; yields its filesystem, name and s3fs storage params."""
    params = {"endpoint_url": moto_s3, "key": KEY, "secret": SECRET}
    fs = s3fs.S3FileSystem(skip_instance_cache=True, **params)
    name = f"batches-{uuid.uuid4().hex[:12]}"
    fs.mkdir(name)
    yield fs, name, params
    fs.rm(name, recursive=True)


def _jsonl_gz(records: list[dict[str, Any]]) -> bytes:
    return gzip.compress("".join(json.dumps(record) + "\n" for record in records).encode())


def _parquet(records: list[dict[str, Any]]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records), sink, compression="gzip", row_group_size=10)
    return sink.getvalue()


def test_s3_manifest_lands_the_same_events_as_record_messages(emulator, bucket):
    fs, name, params = bucket
    rows = clicks(60)
    config = config_for(emulator, STREAMS, stream_maps=MAPS, batch_size_rows=25)
    schema = schema_message("clicks", ["id", "user_id", "at", "button"], ["id"])
    state = {"type": "STATE", "value": {"bookmarks": {"clicks": {"id": 59}}}}
    records = [{"type": "RECORD", "stream": "clicks", "record": record} for record in rows]
    run_target(config, lines(schema, *records, state))
    as_records = stored(emulator)
    assert len(as_records[0]) == 60

    emulator.state.reset()
    fs.pipe(
        {
            f"{name}/tap/clicks-1.json.gz": _jsonl_gz(rows[:20]),
            f"{name}/tap/clicks-2.json.gz": _jsonl_gz(rows[20:40]),
            f"{name}/tap/clicks-3.parquet": _parquet(rows[40:]),
        }
    )
    batches = [
        batch("clicks", [f"s3://{name}/tap/clicks-1.json.gz", f"s3://{name}/tap/clicks-2.json.gz"]),
        batch("clicks", [f"s3://{name}/tap/clicks-3.parquet"], "gzip", "parquet"),
    ]
    config["batch_config"] = {"storage": {"params": params}}
    stdout, _ = run_target(config, lines(schema, *batches, state))

    assert stored(emulator) == as_records
    assert states(stdout) == [state["value"]]


def test_missing_s3_object_fails_naming_it(emulator, bucket):
    _, name, params = bucket
    url = f"s3://{name}/tap/gone.json.gz"
    config = config_for(emulator, STREAMS, batch_config={"storage": {"params": params}})
    with pytest.raises(BatchFileError, match=rf"BATCH file {url} \(stream .clicks.\)") as failure:
        run_target(config, lines(schema_message("clicks"), batch("clicks", [url])))
    assert SECRET not in str(failure.value)
