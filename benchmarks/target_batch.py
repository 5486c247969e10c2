"""target-amplitude reading BATCH files: peak RSS stays flat as one file grows (prints figures).

For each row count, one gzipped JSON Lines file of N event rows (about 330 bytes each before
gzip) is named by one BATCH message, and so is one Parquet file of the same rows (gzip codec, all
N rows in ONE row group: the worst case; singer-sdk's batcher writes one row group per file). The
target runs as a child process (as Meltano runs it) against the emulator in its own process
(ack-only: /batch counts and drops events). The same rows as RECORD messages are measured once,
at the smallest N, as the baseline. Peak RSS is the child's, sampled every 10 ms. Floor, per
format: the largest file's peak RSS is within 1.25 x the smallest's. Writing the Parquet file
holds its row group in this process's memory, not in the measured child's.

    .venv/bin/python benchmarks/target_batch.py                    # 200,000 and 1,000,000 rows
    .venv/bin/python benchmarks/target_batch.py --rows 100000,2000000
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.target_events import EVENT_TYPES, STREAMS, ChildRun, Receiver, run_target

SCHEMA = {
    "type": "SCHEMA",
    "stream": "events",
    "schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
    "key_properties": ["id"],
}
FLAT_FACTOR = 1.25


def rows(count: int) -> Any:
    """N event rows, deterministic (the shape of benchmarks/target_events.py's events)."""
    rnd = random.Random(7)
    for n in range(count):
        who = rnd.randrange(5000)
        yield {
            "id": n,
            "user_id": f"user-{who:06d}",
            "device_id": f"device-{who:06d}-{who % 3}",
            "event_type": rnd.choice(EVENT_TYPES),
            "occurred_at": f"2024-05-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:07.{n % 1000:03d}Z",
            "page": f"/products/{rnd.randrange(500)}",
            "sku": f"SKU-{rnd.randrange(10_000)}",
            "duration_ms": rnd.randrange(100_000),
            "experiment": {"name": "checkout-v2", "variant": "control" if n % 2 else "test"},
        }


def write_batch_input(work: Path, count: int) -> tuple[Path, int]:
    """The gzipped batch file and the Singer input naming it; returns (input, raw bytes)."""
    data = work / f"events-{count}.json.gz"
    raw = 0
    if not data.exists():
        with gzip.open(data, "wb", compresslevel=1) as out:
            for row in rows(count):
                line = (json.dumps(row) + "\n").encode()
                raw += len(line)
                out.write(line)
    else:
        with gzip.open(data, "rb") as handle:
            raw = sum(len(line) for line in handle)
    batch = {
        "type": "BATCH",
        "stream": "events",
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "manifest": [data.as_uri()],
    }
    singer = work / f"batch-{count}.singer"
    state = {"type": "STATE", "value": {"events": count}}
    singer.write_text("".join(json.dumps(m) + "\n" for m in (SCHEMA, batch, state)))
    return singer, raw


def write_parquet_input(work: Path, count: int) -> tuple[Path, Path]:
    """The Parquet file (one row group of all rows) and the Singer input naming it."""
    import pyarrow as pa  # noqa: PLC0415  the dev extra has it; users get it from `parquet`
    import pyarrow.parquet as pq  # noqa: PLC0415

    data = work / f"events-{count}.parquet"
    if not data.exists():
        chunks, chunk = [], []
        for row in rows(count):
            chunk.append(row)
            if len(chunk) == 50_000:
                chunks.append(pa.RecordBatch.from_pylist(chunk))
                chunk = []
        if chunk:
            chunks.append(pa.RecordBatch.from_pylist(chunk))
        table = pa.Table.from_batches(chunks)
        pq.write_table(table, data, compression="gzip", row_group_size=count)
        del table, chunks
    batch = {
        "type": "BATCH",
        "stream": "events",
        "encoding": {"format": "parquet", "compression": "gzip"},
        "manifest": [data.as_uri()],
    }
    singer = work / f"batch-{count}.parquet.singer"
    state = {"type": "STATE", "value": {"events": count}}
    singer.write_text("".join(json.dumps(m) + "\n" for m in (SCHEMA, batch, state)))
    return singer, data


def write_record_input(work: Path, count: int) -> Path:
    """The same rows as RECORD messages (the baseline)."""
    singer = work / f"records-{count}.singer"
    with singer.open("w") as out:
        out.write(json.dumps(SCHEMA) + "\n")
        for row in rows(count):
            out.write(json.dumps({"type": "RECORD", "stream": "events", "record": row}) + "\n")
        out.write(json.dumps({"type": "STATE", "value": {"events": count}}) + "\n")
    return singer


def measure(
    work: Path, config: dict[str, Any], receiver: Receiver, singer: Path, count: int
) -> ChildRun:
    """One target run over the input, checked to have delivered every row."""
    receiver.reset()
    run = run_target(work, config, singer)
    if receiver.events_received() != count:
        raise SystemExit(f"{receiver.events_received()} of {count} events arrived from {singer}")
    return run


def line(name: str, count: int, run: ChildRun, size: str) -> None:
    """One row of the table."""
    rate = count / run.wall
    print(f"{name:30} {count:>10,} {size:>12} {run.wall:>8.1f} {rate:>10,.0f} {run.rss_mb:>12.0f}")


def main() -> None:
    """Measure the RECORD baseline and each BATCH file size, then the floor."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="200000,1000000", help="row counts, comma-separated")
    default_work = Path(tempfile.gettempdir()) / "target-amplitude-batch-bench"
    parser.add_argument("--work-dir", type=Path, default=default_work)
    args = parser.parse_args()
    counts = sorted(int(n) for n in args.rows.split(","))
    args.work_dir.mkdir(parents=True, exist_ok=True)
    receiver = Receiver()
    peaks: dict[str, list[float]] = {"jsonl": [], "parquet": []}
    try:
        config = {"api_key": receiver.api_key, "api_url": receiver.url, "streams": STREAMS}
        print(
            f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
            "emulator ack-only, 0 ms latency, target defaults (8 lanes)"
        )
        print(
            f"{'input':30} {'rows':>10} {'file MB':>12} {'seconds':>8} {'rows/s':>10} "
            f"{'peak RSS MB':>12}"
        )
        records = write_record_input(args.work_dir, counts[0])
        receiver.reset()
        run = run_target(args.work_dir, config, records)
        line("RECORD messages (baseline)", counts[0], run, "-")
        for count in counts:
            singer, raw = write_batch_input(args.work_dir, count)
            gz = (args.work_dir / f"events-{count}.json.gz").stat().st_size
            run = measure(args.work_dir, config, receiver, singer, count)
            line("BATCH, one gzipped JSONL file", count, run, f"{gz / 2**20:.0f}/{raw / 2**20:.0f}")
            peaks["jsonl"].append(run.rss_mb)
        for count in counts:
            singer, data = write_parquet_input(args.work_dir, count)
            run = measure(args.work_dir, config, receiver, singer, count)
            line("BATCH, Parquet, 1 row group", count, run, f"{data.stat().st_size / 2**20:.0f}")
            peaks["parquet"].append(run.rss_mb)
    finally:
        receiver.stop()
    print("file MB: JSONL gzipped/raw, Parquet on disk; seconds include the target's start-up")
    for name, peak in peaks.items():
        ok = peak[-1] <= FLAT_FACTOR * peak[0]
        print(
            f"{'PASS' if ok else 'FAIL'}  {name}: peak RSS at {counts[-1]:,} rows <= "
            f"{FLAT_FACTOR} x at {counts[0]:,}: {peak[-1] / peak[0]:.2f}x"
        )


if __name__ == "__main__":
    main()
