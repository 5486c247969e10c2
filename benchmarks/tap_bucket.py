"""Bucket mode beside the Export API on the same rows: records/s and peak RSS of each tap run.

For each size: a synthetic Export API zip (realistic events as in benchmarks/tap_events.py, one
gzipped JSON-lines member of `--rows-per-object` events per upload hour, ~170 MB each by default:
large files) is served by the emulator for the Export API run, and its members are unpacked into
a local folder for the bucket run: the zip's members already have the bucket's names
(`<pid>/<pid>_<date>_<H>#<n>.json.gz`). Both runs are
`python -m tap_amplitude` with only `events` selected, stdout to /dev/null, as child processes
that report their own peak RSS.

    .venv/bin/python benchmarks/tap_bucket.py                  # 200 MB and 1 GB uncompressed
    .venv/bin/python benchmarks/tap_bucket.py --sizes-mb 50    # quick look
    .venv/bin/python benchmarks/tap_bucket.py --sizes-mb 200 --s3   # also via s3fs from moto
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import orjson  # noqa: E402
from tap_events import START_HOUR, tap_files, tap_once  # noqa: E402

from tap_amplitude import windows  # noqa: E402

DEFAULT_ROWS_PER_OBJECT = 100_000  # ~170 MB of JSON per bucket object (one upload hour)


def build_archive(work_dir: Path, size_mb: int, rows_per_object: int) -> dict:
    """A cached Export API zip of about `size_mb` MB, one gzip member per upload hour."""
    from amplitude_emulator.data import synthetic_rows  # noqa: PLC0415
    from amplitude_emulator.export import write_archive  # noqa: PLC0415
    from amplitude_emulator.state import PROJECT_A_ID  # noqa: PLC0415

    path = work_dir / f"bucket_{size_mb}mb_{rows_per_object}.zip"
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        return dict(json.loads(meta_path.read_text()))
    sample = list(synthetic_rows(200, START_HOUR, rows_per_object))
    row_size = sum(len(orjson.dumps(row)) + 1 for row in sample) / len(sample)
    count = int(size_mb * 1024 * 1024 / row_size)
    rows = synthetic_rows(count, START_HOUR, rows_per_object)
    uncompressed = write_archive(path, rows, PROJECT_A_ID, rows_per_part=rows_per_object)
    meta = {
        "path": str(path),
        "records": count,
        "uncompressed_bytes": uncompressed,
        "hours": -(-count // rows_per_object),
        "avg_event_bytes": round(uncompressed / count),
    }
    meta_path.write_text(json.dumps(meta))
    return meta


def unpack_bucket(work_dir: Path, meta: dict) -> Path:
    """The archive's members as a local export folder (cached beside the archive)."""
    folder = work_dir / (Path(meta["path"]).stem + "_bucket")
    done = folder / ".complete"
    if done.exists():
        return folder
    with zipfile.ZipFile(meta["path"]) as archive:
        for info in archive.infolist():
            if not info.is_dir():
                archive.extract(info, folder)
    done.write_text("")
    return folder


def bucket_files(work_dir: Path, folder: Path, base_config: Path) -> Path:
    """The Export API run's config switched to the bucket folder."""
    from amplitude_emulator.state import PROJECT_A_ID  # noqa: PLC0415

    config = json.loads(base_config.read_text())
    config.update(
        {
            "events_source": "bucket",
            "bucket_url": str(folder),
            "project_id": str(PROJECT_A_ID),
        }
    )
    path = work_dir / "config_bucket.json"
    path.write_text(json.dumps(config))
    return path


S3_OPTIONS = {"key": "bench", "secret": "bench", "client_kwargs": {"region_name": "eu-central-1"}}


def s3_files(work_dir: Path, folder: Path, bucket_config: Path, endpoint_url: str) -> Path:
    """The bucket folder uploaded to moto's S3 server, and a config reading it through s3fs."""
    import fsspec  # noqa: PLC0415

    options = {**S3_OPTIONS, "endpoint_url": endpoint_url}
    fs = fsspec.filesystem("s3", skip_instance_cache=True, **options)
    bucket = f"bench-{folder.name.replace('_', '-').lower()}"[:60]
    if not fs.exists(bucket):
        fs.mkdir(bucket)
    for path in sorted(folder.rglob("*.json.gz")):
        fs.put_file(str(path), f"{bucket}/exports/{path.relative_to(folder).as_posix()}")
    config = json.loads(bucket_config.read_text())
    config.update({"bucket_url": f"s3://{bucket}/exports", "bucket_storage_options": options})
    target = work_dir / "config_s3.json"
    target.write_text(json.dumps(config))
    return target


def measure(
    work_dir: Path,
    size_mb: int,
    emulator: object,
    repeat: int,
    rows_per_object: int,
    *,
    s3_endpoint: str | None = None,
) -> dict:
    from amplitude_emulator.export import serve_archive  # noqa: PLC0415

    meta = build_archive(work_dir, size_mb, rows_per_object)
    folder = unpack_bucket(work_dir, meta)
    state = emulator.state  # type: ignore[attr-defined]
    state.reset()
    state.limits.log_request_bodies = False
    last = START_HOUR + dt.timedelta(hours=meta["hours"] - 1)
    serve_archive(state, meta["path"], windows.hour_param(START_HOUR), windows.hour_param(last))
    export_config, catalog = tap_files(work_dir, emulator.url, meta)  # type: ignore[attr-defined]
    bucket_config = bucket_files(work_dir, folder, export_config)
    export_s = bucket_s = float("inf")
    export_rss = bucket_rss = 0.0
    for _ in range(repeat):  # alternate and keep the best time of each: the machine is shared
        seconds, rss = tap_once(meta["records"], export_config, catalog)
        export_s, export_rss = min(export_s, seconds), max(export_rss, rss)
        seconds, rss = tap_once(meta["records"], bucket_config, catalog)
        bucket_s, bucket_rss = min(bucket_s, seconds), max(bucket_rss, rss)
    s3_rps = s3_rss = None
    if s3_endpoint:
        s3_config = s3_files(work_dir, folder, bucket_config, s3_endpoint)
        seconds, s3_rss = tap_once(meta["records"], s3_config, catalog)
        s3_rps = meta["records"] / seconds
    objects = sum(1 for _ in folder.rglob("*.json.gz"))
    largest = max(path.stat().st_size for path in folder.rglob("*.json.gz"))
    return {
        **meta,
        "objects": objects,
        "largest_object_bytes": largest,
        "export_rps": meta["records"] / export_s,
        "export_rss": export_rss,
        "bucket_rps": meta["records"] / bucket_s,
        "bucket_rss": bucket_rss,
        "s3_rps": s3_rps,
        "s3_rss": s3_rss,
    }


def report(results: list[dict]) -> None:
    """One line per size; the S3 line (moto on 127.0.0.1, one run) when measured."""
    print()
    print(
        f"{'size':>8} {'events':>9} {'objects':>7} {'largest':>8} | {'export rec/s':>12} "
        f"{'RSS':>6} | {'bucket rec/s':>12} {'RSS':>6} {'ratio':>6}"
    )
    for row in results:
        print(
            f"{row['uncompressed_bytes'] / 1e6:>6.0f}MB {row['records']:>9} {row['objects']:>7} "
            f"{row['largest_object_bytes'] / 1e6:>6.1f}MB | {row['export_rps']:>12.0f} "
            f"{row['export_rss']:>4.0f}MB | {row['bucket_rps']:>12.0f} {row['bucket_rss']:>4.0f}MB "
            f"{row['bucket_rps'] / row['export_rps']:>6.2f}"
        )
    for row in results:
        if row["s3_rps"]:
            print(
                f"{row['uncompressed_bytes'] / 1e6:>6.0f}MB through s3fs from moto's S3 server: "
                f"{row['s3_rps']:.0f} rec/s, peak RSS {row['s3_rss']:.0f} MB"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", default="200,1024", help="uncompressed sizes, comma list")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the best is kept")
    parser.add_argument(
        "--rows-per-object",
        type=int,
        default=DEFAULT_ROWS_PER_OBJECT,
        help="events per bucket object (one object per upload hour)",
    )
    parser.add_argument(
        "--s3", action="store_true", help="also read the objects from moto's S3 server via s3fs"
    )
    parser.add_argument(
        "--work-dir",
        default=str(Path(tempfile.gettempdir()) / "tap-amplitude-bench"),
        help="where archives and bucket folders are cached",
    )
    args = parser.parse_args()
    work_dir = Path(args.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    from amplitude_emulator import Emulator  # noqa: PLC0415
    from tests.moto_server import moto_server  # noqa: PLC0415

    results = []
    with Emulator() as emulator, contextlib.ExitStack() as stack:
        endpoint = stack.enter_context(moto_server()) if args.s3 else None
        for size in (int(part) for part in args.sizes_mb.split(",")):
            print(f"{size} MB: measuring (repeat {args.repeat})")
            results.append(
                measure(
                    work_dir,
                    size,
                    emulator,
                    args.repeat,
                    args.rows_per_object,
                    s3_endpoint=endpoint,
                )
            )
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
