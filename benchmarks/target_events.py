"""target-amplitude throughput, request count and memory, beside the official Python SDK.

One run, one emulator (its own process, ack-only mode: /batch only parses and counts):

- receiver ceiling: pre-built /batch bodies of 2000 events posted back to back on one
  connection (what the receiver can take; nothing else can beat it);
- target, dry_run: N events + N user rows, payloads built and validated, nothing sent (CPU path);
- target, events: the N events -> /batch; events/s, requests vs the minimum for the caps;
- target, users: the N user rows -> /identify; requests vs the minimum for the configured cap;
- official SDK (`amplitude-analytics`, defaults plus use_batch): the same N events (same
  insert_ids and fields), tracked then flushed; events/s and requests.

Every measured program runs as a child process; wall time includes its start-up, and peak RSS is
the child's sampled peak RSS. The clients run at each `--latency-ms` (the emulator holds every
ingestion request that long, as a real round trip to Amplitude would). Floors: events requests
<= 1.15 x the minimum (one request per lane per sink batch, plus the last batch's tails); at the
far latency events/s >= 2 x the official SDK's and >= 75% of the target's own near figure, users
likewise >= 75%; dry_run >= 10,000 records/s.

    .venv/bin/python benchmarks/target_events.py               # N = 100,000 at 0 and 150 ms
    .venv/bin/python benchmarks/target_events.py --events 200000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from target_amplitude.delivery.settings import DEFAULT_BYTES, DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# The target's defaults, so the ceiling's requests are the same size as the target's.
EVENTS_PER_REQUEST = DEFAULTS["events_per_request"]  # Amplitude's /batch cap
BATCH_BYTE_CAP = DEFAULT_BYTES["batch"]  # under Amplitude's /batch body cap
EVENT_TYPES = ["Page Viewed", "Button Clicked", "Signup", "Login", "Search Performed"]
STREAMS = {
    "events": {"event_type": "event_type", "time": "occurred_at", "productId": "sku"},
    "users": {"object": "user", "property_operations": {"logins": "add"}},
}


# --- input ------------------------------------------------------------------------------------


def write_inputs(work: Path, count: int) -> tuple[Path, Path]:
    """Singer files: N events (about 450 bytes of payload each) and N user rows."""
    rnd = random.Random(7)
    events, users = work / f"events_{count}.singer", work / f"users_{count}.singer"
    with events.open("w") as out:
        schema = {"type": "object", "properties": {"id": {"type": "integer"}}}
        out.write(
            json.dumps(
                {"type": "SCHEMA", "stream": "events", "schema": schema, "key_properties": ["id"]}
            )
            + "\n"
        )
        for n in range(count):
            who = rnd.randrange(5000)
            record = {
                "id": n,
                "user_id": f"user-{who:06d}",
                "device_id": f"device-{who:06d}-{who % 3}",
                "event_type": rnd.choice(EVENT_TYPES),
                "occurred_at": (
                    f"2024-05-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:07.{n % 1000:03d}Z"
                ),
                "page": f"/products/{rnd.randrange(500)}",
                "sku": f"SKU-{rnd.randrange(10_000)}",
                "referrer": None if n % 3 else "https://example.com/",
                "duration_ms": rnd.randrange(100_000),
                "tags": ["returning", "promo"][: n % 3],
                "experiment": {"name": "checkout-v2", "variant": "control" if n % 2 else "test"},
            }
            out.write(json.dumps({"type": "RECORD", "stream": "events", "record": record}) + "\n")
        out.write(json.dumps({"type": "STATE", "value": {"events": count}}) + "\n")
    with users.open("w") as out:
        schema = {"type": "object", "properties": {"user_id": {"type": "string"}}}
        out.write(
            json.dumps(
                {
                    "type": "SCHEMA",
                    "stream": "users",
                    "schema": schema,
                    "key_properties": ["user_id"],
                }
            )
            + "\n"
        )
        for n in range(count):
            record = {
                "user_id": f"user-{n:07d}",
                "plan": rnd.choice(["free", "pro", "team"]),
                "country": "Germany",
                "logins": rnd.randrange(100),
                "company": f"company-{n % 300}",
            }
            out.write(json.dumps({"type": "RECORD", "stream": "users", "record": record}) + "\n")
        out.write(json.dumps({"type": "STATE", "value": {"users": count}}) + "\n")
    return events, users


# --- emulator ---------------------------------------------------------------------------------


class Receiver:
    """The emulator in its own process, switched to ack-only with no request-body log."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "amplitude_emulator"], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        if self.proc.stdout is None:
            raise SystemExit("the emulator did not start")
        described = json.loads(self.proc.stdout.readline())
        self.url: str = described["url"]
        self.api_key: str = described["projects"][1]["api_key"]
        self.project_id: int = described["projects"][1]["project_id"]
        import requests  # noqa: PLC0415

        self.session = requests.Session()
        self.reset()

    def reset(self, latency: float = 0.0) -> None:
        """Empty request log and projects; ack-only again, holding each request `latency` s."""
        self.session.post(f"{self.url}/__emulator__/reset", json={}).raise_for_status()
        limits = {
            "ack_only": True,
            "log_request_bodies": False,
            "ingestion_latency_seconds": latency,
        }
        self.session.post(f"{self.url}/__emulator__/limits", json=limits).raise_for_status()

    def events_received(self) -> int:
        """Events acknowledged by /batch since the last reset (ack-only counter)."""
        url = f"{self.url}/__emulator__/projects/{self.project_id}/counters"
        return int(self.session.get(url).json().get("events_received", 0))

    def requests_by_path(self) -> dict[str, int]:
        """How many requests each path received since the last reset."""
        rows = self.session.get(f"{self.url}/__emulator__/requests").json()
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["path"]] = counts.get(row["path"], 0) + 1
        return counts

    def stop(self) -> None:
        """Terminate the emulator process."""
        self.proc.terminate()
        self.proc.wait(timeout=10)


# --- measured children ------------------------------------------------------------------------


@dataclass
class ChildRun:
    """What one measured child did."""

    wall: float  # seconds from start to exit
    cpu: float  # user + system seconds of the child itself
    rss_mb: float  # peak RSS, sampled
    stderr: str
    delivered_at: float | None  # seconds from start until `delivered()` first held


def run_child(argv: list[str], stdin: Path | None = None, delivered: Any = None) -> ChildRun:
    """Run a child, sampling its RSS (and `delivered()`) every 10 ms.

    RSS is sampled because a forked child's `ru_maxrss` would include this process's memory.
    `delivered` times a client by what the receiver got, not by when the client returned.
    """
    import psutil  # noqa: PLC0415

    began = time.perf_counter()
    landed: list[float] = []
    peak = [0]
    finished = threading.Event()

    def watch(pid: int) -> None:
        with contextlib.suppress(psutil.Error):
            child = psutil.Process(pid)
            while not finished.is_set():
                peak[0] = max(peak[0], child.memory_info().rss)
                if delivered is not None and not landed and delivered():
                    landed.append(time.perf_counter() - began)
                time.sleep(0.01)

    with contextlib.ExitStack() as stack:
        source = stack.enter_context((stdin or Path(os.devnull)).open("rb"))
        err = stack.enter_context(tempfile.TemporaryFile())
        proc = subprocess.Popen(argv, cwd=ROOT, stdin=source, stdout=subprocess.DEVNULL, stderr=err)
        watcher = threading.Thread(target=watch, args=(proc.pid,), daemon=True)
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        finished.set()
        watcher.join()
        if delivered is not None and not landed and delivered():
            landed.append(wall)
        err.seek(0)
        tail = err.read().decode(errors="replace")[-2000:]
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed ({proc.returncode}):\n{tail}")
    cpu = usage.ru_utime + usage.ru_stime
    return ChildRun(wall, cpu, peak[0] / 2**20, tail, landed[0] if landed else None)


def run_target(work: Path, config: dict[str, Any], source: Path, delivered: Any = None) -> ChildRun:
    """target-amplitude over a Singer file, as Meltano runs it."""
    path = work / "config.json"
    path.write_text(json.dumps(config))
    return run_child([PYTHON, "-m", "target_amplitude", "--config", str(path)], source, delivered)


SDK_CHILD = r"""
import sys, orjson
from amplitude import Amplitude, BaseEvent, Config
url, api_key, path = sys.argv[1:4]
payloads = [orjson.loads(line)["payload"] for line in open(path, "rb")]
payloads = [p for p in payloads if "event_type" in p and "group_type" not in p]
client = Amplitude(api_key, Config(server_url=url + "/batch", use_batch=True))
for p in payloads:
    client.track(BaseEvent(
        event_type=p["event_type"], user_id=p.get("user_id"), device_id=p.get("device_id"),
        time=p.get("time"), insert_id=p.get("insert_id"), product_id=p.get("productId"),
        event_properties=p.get("event_properties"),
    ))
client.flush()
client.shutdown()
"""


# --- ceiling ----------------------------------------------------------------------------------


def receiver_ceiling(receiver: Receiver, payload_file: Path, count: int) -> float:
    """Events/s the receiver takes from pre-built 2000-event /batch bodies on one connection."""
    import orjson  # noqa: PLC0415

    events = []
    with payload_file.open("rb") as handle:
        for line in handle:
            row = orjson.loads(line)
            if row["endpoint"] == "events":
                events.append(row["payload"])
    bodies = [
        orjson.dumps({"api_key": receiver.api_key, "events": events[i : i + EVENTS_PER_REQUEST]})
        for i in range(0, len(events), EVENTS_PER_REQUEST)
    ]
    headers = {"Content-Type": "application/json"}
    began = time.perf_counter()
    for body in bodies:
        receiver.session.post(
            f"{receiver.url}/batch", data=body, headers=headers
        ).raise_for_status()
    return count / (time.perf_counter() - began)


# --- main -------------------------------------------------------------------------------------


def minimum_event_requests(payload_file: Path, count: int) -> int:
    """Fewest /batch requests for these events: the count cap or the byte cap, whichever binds."""
    with payload_file.open("rb") as handle:
        size = sum(len(line) for line in handle)  # payload lines are a bit larger than events
    return max(math.ceil(count / EVENTS_PER_REQUEST), math.ceil(size / BATCH_BYTE_CAP))


@dataclass
class AtLatency:
    """The clients measured with the receiver holding each request `latency` seconds."""

    latency: float
    events: ChildRun
    event_requests: int
    users: ChildRun
    user_requests: int
    sdk: ChildRun
    sdk_requests: int


@dataclass
class Results:
    """Every measurement of one benchmark run."""

    count: int
    ceiling: float
    dry: ChildRun
    runs: list[AtLatency]
    minimum: int


def measure(work: Path, count: int, latencies: list[float]) -> Results:
    """Run the children against one emulator and collect the figures."""
    events_file, users_file = write_inputs(work, count)
    both = work / f"both_{count}.singer"
    both.write_bytes(events_file.read_bytes() + users_file.read_bytes())
    payloads = work / "dry_run_payloads.jsonl"
    payloads.unlink(missing_ok=True)
    event_payloads = work / "event_payloads.jsonl"
    receiver = Receiver()
    runs: list[AtLatency] = []
    try:
        all_events = lambda: receiver.events_received() >= count  # noqa: E731
        base = {"api_key": receiver.api_key, "api_url": receiver.url, "streams": STREAMS}
        dry = run_target(work, {**base, "dry_run": True, "dry_run_path": str(payloads)}, both)
        with payloads.open("rb") as src, event_payloads.open("wb") as dst:
            dst.writelines(line for line in src if b'"endpoint":"events"' in line)
        ceiling = receiver_ceiling(receiver, event_payloads, count)
        for latency in latencies:
            receiver.reset(latency)
            events = run_target(work, base, events_file, delivered=all_events)
            event_requests = receiver.requests_by_path().get("/batch", 0)
            receiver.reset(latency)
            users = run_target(work, base, users_file)
            user_requests = receiver.requests_by_path().get("/identify", 0)
            receiver.reset(latency)
            sdk_argv = [PYTHON, "-c", SDK_CHILD, receiver.url, receiver.api_key]
            sdk = run_child([*sdk_argv, str(event_payloads)], delivered=all_events)
            sdk_requests = receiver.requests_by_path().get("/batch", 0)
            if events.delivered_at is None or sdk.delivered_at is None:
                raise SystemExit("a client did not deliver every event")
            runs.append(
                AtLatency(latency, events, event_requests, users, user_requests, sdk, sdk_requests)
            )
    finally:
        receiver.stop()
    minimum = minimum_event_requests(event_payloads, count)
    return Results(count, ceiling, dry, runs, minimum)


def _rates(count: int, run: AtLatency) -> tuple[float, float, float]:
    """Events/s of the target and the SDK (until the receiver had all), users rows/s."""
    return (
        count / (run.events.delivered_at or run.events.wall),
        count / (run.sdk.delivered_at or run.sdk.wall),
        count / run.users.wall,
    )


def report(r: Results) -> None:
    """One table per latency, the notes, and the floors."""
    count = r.count
    dry_rate = 2 * count / r.dry.wall
    print(
        f"N = {count:,} events and {count:,} user rows; machine load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    header = f"{'path':46} {'rate':>16} {'requests':>9} {'peak RSS MB':>12} {'CPU us/record':>14}"
    print(header)
    print(f"{'receiver ceiling (/batch, 2000/req, 1 conn)':46} {r.ceiling:>10,.0f} ev/s")
    rss, per = f"{r.dry.rss_mb:.0f}", f"{1e6 * r.dry.cpu / (2 * count):.1f}"
    dry_name = "target dry_run (events + users)"
    print(f"{dry_name:46} {dry_rate:>9,.0f} rec/s {'0':>9} {rss:>12} {per:>14}")
    for run in r.runs:
        ev_rate, sdk_rate, user_rate = _rates(count, run)
        ms = f"{1000 * run.latency:.0f} ms"
        rows = [
            (
                f"target events -> /batch @ {ms}",
                f"{ev_rate:,.0f} ev/s",
                run.event_requests,
                run.events,
            ),
            (
                f"target users -> /identify @ {ms}",
                f"{user_rate:,.0f} rows/s",
                run.user_requests,
                run.users,
            ),
            (
                f"official SDK (use_batch) events @ {ms}",
                f"{sdk_rate:,.0f} ev/s",
                run.sdk_requests,
                run.sdk,
            ),
        ]
        for name, rate, made, child in rows:
            rss, per = f"{child.rss_mb:.0f}", f"{1e6 * child.cpu / count:.1f}"
            print(f"{name:46} {rate:>16} {made:>9} {rss:>12} {per:>14}")
    print("event rates: N / seconds from process start until the receiver had all N events")
    print(
        f"minimum /batch requests for {count:,} events: {r.minimum}; /identify minimum at "
        f"500/request (target default): {math.ceil(count / 500)}"
    )
    first, last = r.runs[0], r.runs[-1]
    floors = [
        (
            f"events requests <= 1.15 x minimum @ {1000 * run.latency:.0f} ms",
            run.event_requests <= 1.15 * r.minimum,
            f"{run.event_requests / r.minimum:.2f}x (SDK {run.sdk_requests / r.minimum:.1f}x)",
        )
        for run in r.runs
    ]
    ev_far, sdk_far, users_far = _rates(count, last)
    ev_near, _, users_near = _rates(count, first)
    ms = f"{1000 * last.latency:.0f} ms"
    floors += [
        (f"events/s >= 2 x official SDK @ {ms}", ev_far >= 2 * sdk_far, f"{ev_far / sdk_far:.2f}x"),
        (
            f"events/s @ {ms} >= 75% of @ {1000 * first.latency:.0f} ms",
            ev_far >= 0.75 * ev_near,
            f"{ev_far / ev_near:.0%}",
        ),
        (
            f"users/s @ {ms} >= 75% of @ {1000 * first.latency:.0f} ms",
            users_far >= 0.75 * users_near,
            f"{users_far / users_near:.0%}",
        ),
        ("dry_run >= 10,000 records/s", dry_rate >= 10_000, f"{dry_rate:,.0f}"),
    ]
    for name, ok, figure in floors:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {figure}")


def main() -> None:
    """Parse arguments, measure, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument(
        "--latency-ms",
        default="0,150",
        help="receiver round trips to measure at, comma-separated (the last one is 'far away')",
    )
    default_work = Path(tempfile.gettempdir()) / "target-amplitude-bench"
    parser.add_argument("--work-dir", type=Path, default=default_work)
    args = parser.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    latencies = [float(ms) / 1000 for ms in args.latency_ms.split(",")]
    report(measure(args.work_dir, args.events, latencies))


if __name__ == "__main__":
    main()
