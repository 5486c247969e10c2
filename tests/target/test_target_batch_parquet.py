"""BATCH messages with Parquet files (pyarrow): the same events as RECORDs, clear errors.

Files are written the way singer-sdk's Parquet batcher writes them (`ParquetBatcher` itself, and
`pyarrow.parquet.write_table` with the codec in the file), some with several row groups.
"""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stdout
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from singer_sdk.contrib.batch_encoder_parquet import ParquetBatcher
from singer_sdk.helpers._batch import BatchConfig

from target_amplitude.batch_files import BatchFileError
from target_amplitude.target import TargetAmplitude
from tests.amplitude_target_runs import config_for, project_b, run_target, schema_message
from tests.batch_messages import MAPS, STREAMS, batch, clicks, lines, states, stored

if TYPE_CHECKING:
    from pathlib import Path

ROWS_PER_GROUP = 8


def _rich_clicks(count: int, start: int = 0) -> list[dict[str, Any]]:
    """Clicks with the column kinds a warehouse table has: floats, nulls, objects, lists."""
    return [
        {
            **row,
            "amount": None if row["id"] % 5 == 0 else row["id"] + 0.25,
            "context": {"page": f"/p/{row['id'] % 4}", "depth": row["id"] % 3},
            "tags": [f"t{row['id'] % 2}", "all"],
        }
        for row in clicks(count, start)
    ]


def _as_numeric(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as a SQL tap hands them to its batcher: NUMERIC columns as Decimal."""
    return [
        {**row, "amount": None if row["amount"] is None else Decimal(str(row["amount"]))}
        for row in rows
    ]


def _write_parquet(path: Path, records: list[dict[str, Any]]) -> Path:
    """One Parquet file, gzip codec inside as singer-sdk writes them, in several row groups."""
    table = pa.Table.from_pylist(records)
    pq.write_table(table, path, compression="gzip", row_group_size=ROWS_PER_GROUP)
    return path


def _sdk_batches(root: Path, stream: str, records: list[dict[str, Any]], size: int) -> list[str]:
    """The manifest singer-sdk's Parquet batcher writes for the records (one file per `size`)."""
    config = BatchConfig.from_dict(
        {
            "encoding": {"format": "parquet", "compression": "gzip"},
            "storage": {"root": root.as_uri(), "prefix": f"{stream}-"},
            "batch_size": size,
        }
    )
    batcher = ParquetBatcher("tap-test", stream, config)
    return [url for manifest in batcher.get_batches(iter(records)) for url in manifest]


def test_parquet_manifest_lands_the_same_events_as_record_messages(emulator, tmp_path):
    rows = _rich_clicks(90)
    users = [{"user_id": f"user-{n:05d}", "plan": f"p{n}", "seats": n * 10} for n in range(7)]
    config = config_for(emulator, STREAMS, stream_maps=MAPS, batch_size_rows=25)
    schemas = [
        schema_message("crm", ["user_id", "plan", "seats"], ["user_id"]),
        schema_message("clicks", list(rows[0]), ["id"]),
    ]
    state = {"type": "STATE", "value": {"bookmarks": {"clicks": {"id": 89}}}}
    records = [
        {"type": "RECORD", "stream": stream, "record": record}
        for stream, stream_rows in (("crm", users), ("clicks", rows))
        for record in stream_rows
    ]
    stdout, _ = run_target(config, lines(*schemas, *records, state))
    as_records = stored(emulator)
    assert len(as_records[0]) == 90
    properties = [event["event_properties"] for event in as_records[0]]
    assert {tuple(p["tags"]) for p in properties} == {("t0", "all"), ("t1", "all")}
    assert {p.get("amount") for p in properties if p["id"] in {5, 6}} == {None, 6.25}
    assert len(as_records[1]) == 7
    assert states(stdout) == [state["value"]]

    emulator.state.reset()
    crm = _sdk_batches(tmp_path, "crm", users, size=3)
    parts = [
        _write_parquet(tmp_path / f"clicks-{n}.parquet.gz", _as_numeric(rows[n * 45 : n * 45 + 45]))
        for n in range(2)
    ]
    assert len(crm) == 3
    assert [pq.ParquetFile(path).num_row_groups for path in parts] == [6, 6]
    batches = [
        batch("crm", crm, file_format="parquet"),
        batch("clicks", [str(path) for path in parts], file_format="parquet"),
    ]
    stdout, _ = run_target(config, lines(*schemas, *batches, state))

    assert stored(emulator) == as_records
    assert states(stdout) == [state["value"]]


def _listen_until_failure(emulator, singer: str) -> tuple[BatchFileError, list[dict[str, Any]]]:
    """Run the target until the BATCH file error; return it and the STATE values written."""
    target = TargetAmplitude(
        config=config_for(emulator, STREAMS, batch_size_rows=5), parse_env_config=False
    )
    stdout = io.StringIO()
    with redirect_stdout(stdout), pytest.raises(BatchFileError) as failure:
        target.listen(io.StringIO(singer))
    target.pipeline.wait()  # lanes still finish what they hold; the next test starts clean
    return failure.value, states(stdout.getvalue())


def test_truncated_parquet_file_fails_naming_it_and_no_state_after_it(emulator, tmp_path):
    good = _write_parquet(tmp_path / "part-1.parquet.gz", _rich_clicks(20))
    whole = _write_parquet(tmp_path / "part-2.parquet.gz", _rich_clicks(20, 20))
    whole.write_bytes(whole.read_bytes()[:-40])  # the footer (schema, row groups) is cut off
    before = {"bookmarks": {"clicks": {"id": 19}}}
    after = {"bookmarks": {"clicks": {"id": 39}}}
    singer = lines(
        schema_message("clicks", ["id"], ["id"]),
        batch("clicks", [str(good)], file_format="parquet"),
        {"type": "STATE", "value": before},
        batch("clicks", [str(whole)], file_format="parquet"),
        {"type": "STATE", "value": after},
    )
    error, written = _listen_until_failure(emulator, singer)

    message = str(error)
    assert f"BATCH file {whole} (stream 'clicks', row 1) cannot be read as Parquet" in message
    assert "re-extract the file" in message
    assert after not in written
    assert len(project_b(emulator).ingested_events) == 20


def test_corrupt_row_group_fails_naming_the_row_after_the_last_good_one(emulator, tmp_path):
    path = _write_parquet(tmp_path / "clicks.parquet", _rich_clicks(2 * ROWS_PER_GROUP))
    groups = pq.ParquetFile(path).metadata
    second = groups.row_group(1).column(0)
    start = second.dictionary_page_offset or second.data_page_offset
    data = bytearray(path.read_bytes())
    data[start : start + second.total_compressed_size] = bytes(second.total_compressed_size)
    path.write_bytes(bytes(data))
    after = {"bookmarks": {"clicks": {"id": 15}}}
    singer = lines(
        schema_message("clicks", ["id"], ["id"]),
        batch("clicks", [str(path)], file_format="parquet"),
        {"type": "STATE", "value": after},
    )
    error, written = _listen_until_failure(emulator, singer)

    assert f"BATCH file {path} (stream 'clicks', row {ROWS_PER_GROUP + 1})" in str(error)
    assert written == []


def test_parquet_without_pyarrow_is_a_clear_error(emulator, tmp_path, monkeypatch):
    """A None entry in sys.modules makes `import pyarrow.parquet` raise, as if not installed."""
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    path = _write_parquet(tmp_path / "clicks.parquet", _rich_clicks(3))
    singer = lines(schema_message("clicks"), batch("clicks", [str(path)], None, "parquet"))
    with pytest.raises(BatchFileError, match=r"clicks.parquet.*need pyarrow.*singer-amplitude\["):
        run_target(config_for(emulator, STREAMS), singer)
    assert project_b(emulator).ingested_events == []
