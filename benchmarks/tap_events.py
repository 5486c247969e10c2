"""Throughput and memory of the `events` stream, beside a raw ceiling measured in the same run.

Part 1, no build latency. For each archive size: build a synthetic Export API zip (realistic
events, gzipped JSON lines, several parts per hour), serve it from the emulator, and run

- the raw ceiling: one plain process that downloads the window to disk, unzips, gunzips,
  orjson-parses each line and orjson-serialises a Singer RECORD line to stdout (no timestamp
  work, no SDK);
- the tap: `python -m tap_amplitude` with a catalog selecting only `events`.

Part 2, with build latency: the emulator holds each export `--build-seconds` before its first
byte (as Amplitude does while it builds an archive); a run of `--windows` windows (each served
the `--latency-size-mb` archive, by default about as long to emit as to build, where prefetch
gains most) by the raw ceiling (sequential by nature), the tap with `export_prefetch_windows` 1
(the default) and 2, and the tap with 0 (sequential).

Every child's stdout goes to /dev/null; peak RSS is the child's own high-water mark. Floors: the
tap reaches at least 50% of the raw ceiling's records/s without latency, its peak RSS stays under
200 MB and flat across archive sizes, and with latency the prefetching run takes at most 60% of
the sequential one.

    .venv/bin/python benchmarks/tap_events.py                 # 200 MB and 1 GB, then latency
    .venv/bin/python benchmarks/tap_events.py --sizes-mb 50   # quick look
Archives are cached in --work-dir (default: $TMPDIR/tap-amplitude-bench) between runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from tap_amplitude import export, windows  # noqa: E402

START_HOUR = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
ROWS_PER_HOUR = 5000
ROWS_PER_PART = 2500
FLOOR_SHARE = 0.50
FLOOR_RSS_MB = 200
FLOOR_PREFETCH_SHARE = 0.60


def build_archive(work_dir: Path, size_mb: int) -> dict:
    """A cached synthetic archive of about `size_mb` MB of JSON lines, and what it holds."""
    from amplitude_emulator.data import synthetic_rows  # noqa: PLC0415
    from amplitude_emulator.export import write_archive  # noqa: PLC0415
    from amplitude_emulator.state import PROJECT_A_ID  # noqa: PLC0415

    path = work_dir / f"export_{size_mb}mb.zip"
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        return json.loads(meta_path.read_text())
    sample = list(synthetic_rows(200, START_HOUR, ROWS_PER_HOUR))
    row_size = sum(len(orjson.dumps(row)) + 1 for row in sample) / len(sample)
    count = int(size_mb * 1024 * 1024 / row_size)
    began = time.perf_counter()
    uncompressed = write_archive(
        path,
        synthetic_rows(count, START_HOUR, ROWS_PER_HOUR),
        PROJECT_A_ID,
        rows_per_part=ROWS_PER_PART,
    )
    hours = -(-count // ROWS_PER_HOUR)
    meta = {
        "path": str(path),
        "records": count,
        "uncompressed_bytes": uncompressed,
        "zip_bytes": path.stat().st_size,
        "hours": hours,
        "avg_event_bytes": round(uncompressed / count),
    }
    meta_path.write_text(json.dumps(meta))
    print(f"  built {path.name}: {count} events in {time.perf_counter() - began:.0f} s")
    return meta


def raw_ceiling(job_json: str) -> None:
    """Child mode: download each window to disk, then unzip, gunzip, parse, print RECORD lines."""
    import requests  # noqa: PLC0415

    job = json.loads(job_json)
    loads, dumps = orjson.loads, orjson.dumps
    out = sys.stdout.buffer
    count = 0
    with requests.Session() as session, tempfile.TemporaryDirectory() as spool:
        for start, end in job["windows"]:
            path = Path(spool) / "window.zip"
            with (
                session.get(
                    job["url"],
                    params={"start": start, "end": end},
                    auth=tuple(job["auth"]),
                    stream=True,
                    timeout=600,
                ) as response,
                path.open("wb") as disk,
            ):
                response.raise_for_status()
                for chunk in response.iter_content(1024 * 1024):
                    disk.write(chunk)
            with zipfile.ZipFile(path) as archive:
                for info in export.ordered_members(archive):
                    with archive.open(info) as raw:
                        for line in _gunzipped_lines(raw):
                            record = loads(line)
                            out.write(
                                dumps({"type": "RECORD", "stream": "events", "record": record})
                            )
                            out.write(b"\n")
                            count += 1
            path.unlink()
    out.flush()
    Path(job["count_file"]).write_text(str(count))


def _gunzipped_lines(raw: object) -> list[bytes]:
    """A member's lines: zlib in gzip mode over the whole member, split once (members are small)."""
    data = raw.read()  # type: ignore[attr-defined]
    lines: list[bytes] = []
    while data:
        inflater = zlib.decompressobj(31)
        lines.extend(inflater.decompress(data).splitlines())
        data = inflater.unused_data
    return lines


# Children report their own high-water RSS (VmHWM of the exec'd image): `ru_maxrss` from wait4
# would include the pages of this forking parent, which holds the emulator.
_REPORT_HWM = """
import atexit, os, runpy, sys
def _hwm():
    with open("/proc/self/status") as status, open(os.environ["BENCH_HWM_FILE"], "w") as out:
        out.write(next(l.split()[1] for l in status if l.startswith("VmHWM:")))
atexit.register(_hwm)
sys.argv = sys.argv[1:]
if sys.argv[0] == "-m":
    sys.argv = sys.argv[1:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    runpy.run_path(sys.argv[0], run_name="__main__")
"""


# CPU seconds (user + system) of the last child: steadier than wall time on a shared machine.
last_child_cpu = [0.0]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_child(command: list[str], stdout: int | None) -> tuple[float, float, bytes, str]:
    """(seconds, peak RSS MB, stdout, stderr) of `python <command...>` run as a child process."""
    with tempfile.NamedTemporaryFile(suffix=".hwm") as hwm:
        env = dict(os.environ, BENCH_HWM_FILE=hwm.name)
        full = [sys.executable, "-c", _REPORT_HWM, *command]
        began, cpu_before = time.perf_counter(), _children_cpu()
        child = subprocess.run(  # noqa: PLW1510  checked below
            full, stdout=stdout, stderr=subprocess.PIPE, cwd=ROOT, env=env
        )
        seconds = time.perf_counter() - began
        last_child_cpu[0] = _children_cpu() - cpu_before
        if child.returncode != 0:
            tail = child.stderr.decode(errors="replace")[-2000:]
            msg = f"{command[:3]} exited with {child.returncode}:\n{tail}"
            raise RuntimeError(msg)
        peak_kb = int(Path(hwm.name).read_text() or 0)
    return seconds, peak_kb / 1024, child.stdout or b"", child.stderr.decode(errors="replace")


def tap_files(
    work_dir: Path, emulator_url: str, meta: dict, windows_count: int = 1, **settings: object
) -> tuple[Path, Path]:
    """Config and catalog for a tap run of `windows_count` windows of the archive's hours."""
    from amplitude_emulator.state import API_KEY_A, SECRET_KEY_A  # noqa: PLC0415
    from tap_amplitude.tap import TapAmplitude  # noqa: PLC0415
    from tests.events_harness import events_only_catalog  # noqa: PLC0415

    end = START_HOUR + dt.timedelta(hours=meta["hours"] * windows_count)
    config = {
        "api_key": API_KEY_A,
        "secret_key": SECRET_KEY_A,
        "api_url": emulator_url,
        "start_date": START_HOUR.isoformat(),
        "end_date": end.isoformat(),
        "export_window_hours": meta["hours"],
        "export_temp_dir": str(work_dir),
        **settings,
    }
    config_path = work_dir / "config.json"
    catalog_path = work_dir / "catalog.json"
    config_path.write_text(json.dumps(config))
    catalog_path.write_text(json.dumps(events_only_catalog(TapAmplitude, config)))
    return config_path, catalog_path


def _window_params(meta: dict, windows_count: int) -> list[tuple[str, str]]:
    hours = meta["hours"]
    return [
        (
            windows.hour_param(START_HOUR + dt.timedelta(hours=hours * k)),
            windows.hour_param(START_HOUR + dt.timedelta(hours=hours * (k + 1) - 1)),
        )
        for k in range(windows_count)
    ]


def _serve(emulator: object, meta: dict, build_seconds: float, *, any_range: bool) -> None:
    from amplitude_emulator.export import serve_archive  # noqa: PLC0415

    state = emulator.state  # type: ignore[attr-defined]
    state.reset()
    state.limits.log_request_bodies = False
    state.limits.export_build_seconds = build_seconds
    if any_range:
        serve_archive(state, meta["path"])
    else:
        ((start, end),) = _window_params(meta, 1)
        serve_archive(state, meta["path"], start, end)


def measure(
    work_dir: Path, size_mb: int, emulator: object, repeat: int, *, sdk_default: bool = False
) -> dict:
    """Raw ceiling and tap figures for one archive size, one window, no build latency."""
    meta = build_archive(work_dir, size_mb)
    _serve(emulator, meta, 0.0, any_range=False)
    url = emulator.url  # type: ignore[attr-defined]
    config_path, catalog_path = tap_files(work_dir, url, meta)

    raw_s = tap_s = raw_cpu = tap_cpu = float("inf")
    raw_rss = tap_rss = 0.0
    for _ in range(repeat):  # alternate, keep the best of each: the machine is shared
        seconds, rss = _raw_once(work_dir, url, meta, 1)
        raw_s, raw_rss = min(raw_s, seconds), max(raw_rss, rss)
        raw_cpu = min(raw_cpu, last_child_cpu[0])
        seconds, rss = tap_once(meta["records"], config_path, catalog_path)
        tap_s, tap_rss = min(tap_s, seconds), max(tap_rss, rss)
        tap_cpu = min(tap_cpu, last_child_cpu[0])
    default_rps = None
    if sdk_default:
        seconds, _ = tap_once(meta["records"], config_path, catalog_path, sdk_default=True)
        default_rps = meta["records"] / seconds
    mb = meta["uncompressed_bytes"] / 1e6
    return {
        "default_rps": default_rps,
        **meta,
        "raw_rps": meta["records"] / raw_s,
        "raw_mbps": mb / raw_s,
        "raw_rss": raw_rss,
        "tap_rps": meta["records"] / tap_s,
        "tap_mbps": mb / tap_s,
        "tap_rss": tap_rss,
        "tap_seconds": tap_s,
        "raw_cpu_rps": meta["records"] / raw_cpu,
        "tap_cpu_rps": meta["records"] / tap_cpu,
    }


def measure_latency(
    work_dir: Path, size_mb: int, emulator: object, windows_count: int, build_seconds: float
) -> dict:
    """Seconds for `windows_count` windows under build latency: ceiling, prefetch, sequential."""
    meta = build_archive(work_dir, size_mb)
    _serve(emulator, meta, build_seconds, any_range=True)
    url = emulator.url  # type: ignore[attr-defined]
    records = meta["records"] * windows_count
    figures: dict = {"windows": windows_count, "build_seconds": build_seconds, "records": records}
    figures["raw_s"], figures["raw_rss"] = _raw_once(work_dir, url, meta, windows_count)
    for label, ahead in (("prefetch", 1), ("prefetch2", 2), ("sequential", 0)):
        config_path, catalog_path = tap_files(
            work_dir, url, meta, windows_count, export_prefetch_windows=ahead
        )
        figures[f"{label}_s"], figures[f"{label}_rss"] = tap_once(
            records, config_path, catalog_path
        )
    return figures


def _raw_once(work_dir: Path, url: str, meta: dict, windows_count: int) -> tuple[float, float]:
    from amplitude_emulator.state import API_KEY_A, SECRET_KEY_A  # noqa: PLC0415

    count_file = work_dir / "raw-count.txt"
    job = {
        "url": f"{url}/api/2/export",
        "auth": [API_KEY_A, SECRET_KEY_A],
        "windows": _window_params(meta, windows_count),
        "count_file": str(count_file),
    }
    with Path(os.devnull).open("wb") as sink:
        seconds, rss, _, _ = run_child([__file__, "--raw-ceiling", json.dumps(job)], sink.fileno())
    counted = int(count_file.read_text())
    if counted != meta["records"] * windows_count:
        msg = f"raw ceiling read {counted} of {meta['records'] * windows_count} events"
        raise RuntimeError(msg)
    return seconds, rss


def tap_once(
    records: int, config_path: Path, catalog_path: Path, *, sdk_default: bool = False
) -> tuple[float, float]:
    """(seconds, peak RSS MB) of one tap run; fails unless it emitted every record."""
    program = (
        [str(ROOT / "benchmarks" / "sdk_default_path_tap.py")]
        if sdk_default
        else ["-m", "tap_amplitude"]
    )
    command = [*program, "--config", str(config_path), "--catalog", str(catalog_path)]
    with Path(os.devnull).open("wb") as sink:
        seconds, rss, _, log = run_child(command, sink.fileno())
    # The SDK logs the record counter once a minute and at the end: the run's total is the sum.
    counted = sum(
        int(value) for value in re.findall(r'"metric":\s*"record_count",\s*"value":\s*(\d+)', log)
    )
    if counted != records:
        msg = f"the tap emitted {counted} of {records} events: {log[-1500:]}"
        raise RuntimeError(msg)
    return seconds, rss


def report(results: list[dict]) -> bool:
    """Print the no-latency figures; True when every floor is met."""
    print()
    print("without build latency (one window per archive)")
    print(
        f"{'archive':>10} {'events':>9} {'B/event':>7} | {'raw rec/s':>9} {'raw MB/s':>8} "
        f"{'raw RSS':>7} | {'tap rec/s':>9} {'tap MB/s':>8} {'tap RSS':>7} {'share':>6}"
    )
    ok = True
    for row in results:
        share = row["tap_rps"] / row["raw_rps"]
        ok = ok and share >= FLOOR_SHARE and row["tap_rss"] < FLOOR_RSS_MB
        print(
            f"{row['uncompressed_bytes'] / 1e6:>8.0f}MB {row['records']:>9} "
            f"{row['avg_event_bytes']:>7} | {row['raw_rps']:>9.0f} {row['raw_mbps']:>8.1f} "
            f"{row['raw_rss']:>5.0f}MB | {row['tap_rps']:>9.0f} {row['tap_mbps']:>8.1f} "
            f"{row['tap_rss']:>5.0f}MB {share:>6.0%}"
        )
    print(
        f"floors: tap >= {FLOOR_SHARE:.0%} of raw rec/s, tap peak RSS < {FLOOR_RSS_MB} MB "
        f"-> {'MET' if ok else 'NOT MET'}"
    )
    print("per CPU second (user + system, all threads; steadier when the machine is loaded):")
    for row in results:
        print(
            f"{row['uncompressed_bytes'] / 1e6:>8.0f}MB  raw {row['raw_cpu_rps']:>8.0f} rec/cpu-s"
            f"  tap {row['tap_cpu_rps']:>8.0f} rec/cpu-s"
            f"  share {row['tap_cpu_rps'] / row['raw_cpu_rps']:.0%}"
        )
    for row in results:
        if row["default_rps"]:
            print(
                f"SDK default path ({row['uncompressed_bytes'] / 1e6:.0f} MB): "
                f"{row['default_rps']:.0f} rec/s = {row['default_rps'] / row['raw_rps']:.0%} of raw"
            )
    return ok


def report_latency(row: dict) -> bool:
    """Print the build-latency figures; True when prefetch takes <= 60% of sequential."""
    print()
    print(
        f"with {row['build_seconds']:g} s build latency per window, {row['windows']} windows, "
        f"{row['records']} events"
    )
    print(f"{'run':>22} {'seconds':>8} {'rec/s':>8} {'peak RSS':>9}")
    for label, name in (
        ("raw ceiling", "raw"),
        ("tap, prefetch 1", "prefetch"),
        ("tap, prefetch 2", "prefetch2"),
        ("tap, prefetch 0", "sequential"),
    ):
        seconds = row[f"{name}_s"]
        print(
            f"{label:>22} {seconds:>8.1f} {row['records'] / seconds:>8.0f} "
            f"{row[f'{name}_rss']:>7.0f}MB"
        )
    share = row["prefetch_s"] / row["sequential_s"]
    ok = share <= FLOOR_PREFETCH_SHARE
    print(
        f"prefetch 1 / sequential = {share:.0%} (floor <= {FLOOR_PREFETCH_SHARE:.0%}) "
        f"-> {'MET' if ok else 'NOT MET'}; prefetch 2 / sequential = "
        f"{row['prefetch2_s'] / row['sequential_s']:.0%}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes-mb", default="200,1024", help="uncompressed sizes, comma-separated"
    )
    parser.add_argument(
        "--work-dir", default=str(Path(tempfile.gettempdir()) / "tap-amplitude-bench")
    )
    parser.add_argument("--repeat", type=int, default=2, help="runs of each, best kept")
    parser.add_argument(
        "--with-sdk-default",
        action="store_true",
        help="also time the untuned SDK path once per size (slow: about 5%% of the ceiling)",
    )
    parser.add_argument("--build-seconds", type=float, default=3.0, help="latency per window")
    parser.add_argument("--windows", type=int, default=7, help="windows of the latency run")
    parser.add_argument(
        "--latency-size-mb",
        type=int,
        default=200,
        help="archive of each latency-run window (200 MB: about 3 s of emitting here)",
    )
    parser.add_argument("--raw-ceiling", metavar="JOB", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_ceiling:
        raw_ceiling(args.raw_ceiling)
        return 0
    from amplitude_emulator import Emulator  # noqa: PLC0415

    work_dir = Path(args.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    results = []
    with Emulator() as emulator:
        for size in (int(part) for part in args.sizes_mb.split(",")):
            print(f"archive of ~{size} MB uncompressed")
            results.append(
                measure(work_dir, size, emulator, args.repeat, sdk_default=args.with_sdk_default)
            )
        # Prefetch hides the build time behind emitting: it gains most (at best half the
        # sequential time) when a window takes about as long to emit as to build and fetch.
        size = args.latency_size_mb
        print(f"latency run: {args.windows} windows of ~{size} MB")
        latency = measure_latency(work_dir, size, emulator, args.windows, args.build_seconds)
    ok = report(results)
    return 0 if report_latency(latency) and ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
