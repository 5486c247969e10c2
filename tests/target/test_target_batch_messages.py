"""BATCH messages: manifest files are read record by record through the RECORD path.

What lands is read back from the emulator, and compared with a run of the same rows as RECORDs.
"""

from __future__ import annotations

import gzip
import io
import json
from contextlib import redirect_stdout
from typing import TYPE_CHECKING, Any

import fsspec
import pytest

from target_amplitude.batch_files import BatchFileError
from target_amplitude.target import TargetAmplitude
from tests.amplitude_target_runs import config_for, project_b, run_target, schema_message
from tests.batch_messages import MAPS, STREAMS, T0_MS, batch, clicks, lines, states, stored

if TYPE_CHECKING:
    from pathlib import Path


def _write_jsonl(path: Path, records: list[dict[str, Any]], *, gzipped: bool = True) -> Path:
    data = "".join(json.dumps(record) + "\n" for record in records).encode()
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return path


def test_batch_manifest_lands_the_same_events_as_record_messages(emulator, tmp_path):
    rows = clicks(90)
    users = [{"user_id": f"user-{n:05d}", "plan": f"p{n}"} for n in range(7)]
    config = config_for(emulator, STREAMS, stream_maps=MAPS, batch_size_rows=25)
    schemas = [
        schema_message("crm", ["user_id", "plan"], ["user_id"]),
        schema_message("clicks", ["id", "user_id", "at", "button"], ["id"]),
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
    assert {e["event_type"] for e in as_records[0]} == {"Clicked B0", "Clicked B1", "Clicked B2"}
    assert states(stdout) == [state["value"]]

    emulator.state.reset()
    manifest = [
        _write_jsonl(tmp_path / f"clicks-{part}.json.gz", rows[part * 30 : part * 30 + 30])
        for part in range(3)
    ]
    crm = _write_jsonl(tmp_path / "crm.json.gz", users)
    batches = [
        batch("crm", [crm.as_uri()]),
        batch("clicks", [str(path) for path in manifest]),
    ]
    stdout, _ = run_target(config, lines(*schemas, *batches, state))

    assert stored(emulator) == as_records
    assert states(stdout) == [state["value"]]


def test_truncated_gzip_file_fails_naming_it_and_no_state_after_it(emulator, tmp_path):
    good = _write_jsonl(tmp_path / "part-1.json.gz", clicks(20))
    whole = gzip.compress("".join(json.dumps(r) + "\n" for r in clicks(20, 20)).encode())
    truncated = tmp_path / "part-2.json.gz"
    truncated.write_bytes(whole[: len(whole) // 2])
    before = {"bookmarks": {"clicks": {"id": 19}}}
    after = {"bookmarks": {"clicks": {"id": 39}}}
    singer = lines(
        schema_message("clicks", ["id"], ["id"]),
        batch("clicks", [str(good)]),
        {"type": "STATE", "value": before},
        batch("clicks", [str(truncated)]),
        {"type": "STATE", "value": after},
    )
    target = TargetAmplitude(
        config=config_for(emulator, STREAMS, batch_size_rows=5), parse_env_config=False
    )
    stdout = io.StringIO()
    with redirect_stdout(stdout), pytest.raises(BatchFileError) as failure:
        target.listen(io.StringIO(singer))
    target.pipeline.wait()  # lanes still finish what they hold; the next test starts clean

    message = str(failure.value)
    assert str(truncated) in message
    assert "stream 'clicks'" in message
    assert "truncated or corrupt" in message
    assert after not in states(stdout.getvalue())


def test_plain_jsonl_file_is_read(emulator, tmp_path):
    plain = _write_jsonl(tmp_path / "clicks.jsonl", clicks(12), gzipped=False)
    singer = lines(schema_message("clicks", ["id"], ["id"]), batch("clicks", [str(plain)], "none"))
    run_target(config_for(emulator, STREAMS), singer)

    assert sorted(e["time"] for e in project_b(emulator).ingested_events) == [
        T0_MS + n for n in range(12)
    ]


def test_gzip_file_declared_uncompressed_is_still_read(emulator, tmp_path):
    """SDK taps (0.54) gzip their batch files whatever `compression` their config says."""
    gzipped = _write_jsonl(tmp_path / "clicks.json.gz", clicks(4))
    singer = lines(
        schema_message("clicks", ["id"], ["id"]), batch("clicks", [str(gzipped)], "none")
    )
    run_target(config_for(emulator, STREAMS), singer)

    assert len(project_b(emulator).ingested_events) == 4


def test_file_url_and_plain_path_in_one_manifest(emulator, tmp_path):
    by_url = _write_jsonl(tmp_path / "a.json.gz", clicks(3))
    by_path = _write_jsonl(tmp_path / "b.json.gz", clicks(3, 3))
    manifest = [by_url.as_uri(), str(by_path)]
    assert manifest[0].startswith("file://")
    singer = lines(schema_message("clicks", ["id"], ["id"]), batch("clicks", manifest))
    run_target(config_for(emulator, STREAMS), singer)

    assert sorted(e["event_properties"]["id"] for e in project_b(emulator).ingested_events) == [
        0,
        1,
        2,
        3,
        4,
        5,
    ]


def test_fsspec_url_is_read_through_its_filesystem(emulator):
    memory = fsspec.filesystem("memory")
    memory.pipe(
        "/batches/clicks.json.gz",
        gzip.compress(f'{{"user_id": "user-00042", "at": {T0_MS}, "button": "b"}}\n'.encode()),
    )
    try:
        singer = lines(
            schema_message("clicks"), batch("clicks", ["memory://batches/clicks.json.gz"])
        )
        run_target(config_for(emulator, STREAMS), singer)
    finally:
        memory.rm("/batches", recursive=True)

    (event,) = project_b(emulator).ingested_events
    assert event["user_id"] == "user-00042"


def test_storage_root_reads_manifest_files_by_name_under_it(emulator, tmp_path):
    _write_jsonl(tmp_path / "clicks-1.json.gz", clicks(5))
    elsewhere = "file:///mnt/where-the-tap-wrote/clicks-1.json.gz"
    config = config_for(emulator, STREAMS, batch_config={"storage": {"root": str(tmp_path)}})
    run_target(config, lines(schema_message("clicks"), batch("clicks", [elsewhere])))

    assert len(project_b(emulator).ingested_events) == 5


def test_missing_file_fails_naming_it(emulator, tmp_path):
    missing = tmp_path / "gone.json.gz"
    singer = lines(schema_message("clicks"), batch("clicks", [str(missing)]))
    with pytest.raises(BatchFileError, match=r"gone\.json\.gz.*cannot be opened"):
        run_target(config_for(emulator, STREAMS), singer)


def test_bad_json_line_fails_naming_file_and_line(emulator, tmp_path):
    bad = tmp_path / "clicks.jsonl"
    bad.write_text('{"user_id": "user-00001", "at": 1}\n\n{"user_id": oops}\n')
    singer = lines(schema_message("clicks"), batch("clicks", [str(bad)], "none"))
    with pytest.raises(BatchFileError, match=r"clicks.jsonl \(stream 'clicks', line 3\) is not"):
        run_target(config_for(emulator, STREAMS), singer)


def test_line_that_is_not_an_object_fails_naming_it(emulator, tmp_path):
    bad = _write_jsonl(tmp_path / "clicks.json.gz", [])
    bad.write_bytes(gzip.compress(b"[1, 2]\n"))
    singer = lines(schema_message("clicks"), batch("clicks", [str(bad)]))
    with pytest.raises(BatchFileError, match="line 1\\) is a JSON list, not a record object"):
        run_target(config_for(emulator, STREAMS), singer)


def test_unknown_compression_is_a_clear_error(emulator, tmp_path):
    path = _write_jsonl(tmp_path / "clicks.json.zst", clicks(1))
    singer = lines(schema_message("clicks"), batch("clicks", [str(path)], "zstd"))
    with pytest.raises(BatchFileError, match="compression 'zstd' is not supported"):
        run_target(config_for(emulator, STREAMS), singer)


def test_credentials_in_a_file_url_are_masked_in_errors(emulator):
    url = "memory://user:s3cr3t@host/none.json.gz?X-Amz-Signature=abc"
    singer = lines(schema_message("clicks"), batch("clicks", [url]))
    with pytest.raises(BatchFileError) as failure:
        run_target(config_for(emulator, STREAMS), singer)
    assert "s3cr3t" not in str(failure.value)
    assert "abc" not in str(failure.value)


def test_batch_capability_is_advertised():
    assert "batch" in [str(c) for c in TargetAmplitude.capabilities]


def test_manifest_that_is_not_a_list_is_a_clear_error(emulator):
    message = batch("clicks", [])
    message["manifest"] = "file:///tmp/one.json.gz"
    with pytest.raises(BatchFileError, match=r"stream 'clicks'.*`manifest` a list of file URLs"):
        run_target(config_for(emulator, STREAMS), lines(schema_message("clicks"), message))
