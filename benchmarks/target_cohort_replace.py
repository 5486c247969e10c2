"""target-amplitude `cohort` kind, mode `replace`: time and peak memory against the audience size.

The emulator runs in its own process with N known users; the target runs as a child process over
a Singer file of N audience rows (user_id plus three columns) and replaces a cohort with them
(one upload of 100,000 ids, then membership ADDs). Peak RSS is the child's sampled RSS: ids wait
in a spool file, so it should grow with one request's ids (at most 100k), not with N.

    .venv/bin/python -m benchmarks.target_cohort_replace                  # N = 20,000 and 300,000
    .venv/bin/python -m benchmarks.target_cohort_replace --sizes 50000 500000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

from amplitude_emulator import API_KEY_B, PROJECT_B_ID, SECRET_KEY_B
from benchmarks.target_events import ROOT, run_target

CONTROL = f"/__emulator__/projects/{PROJECT_B_ID}"


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    """`python -m amplitude_emulator` in its own process; returns it and its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "amplitude_emulator"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None  # noqa: S101
    return proc, json.loads(proc.stdout.readline())["url"]


def prepare(url: str, work: Path, count: int) -> Path:
    """Reset the emulator, make N users known, write the Singer input."""
    requests.post(url + "/__emulator__/reset", timeout=60)
    requests.post(url + "/__emulator__/limits", json={"log_request_bodies": False}, timeout=60)
    user_ids = [f"audience-user-{n:08d}" for n in range(count)]
    for start in range(0, count, 50_000):
        batch = {"user_ids": user_ids[start : start + 50_000]}
        requests.post(url + CONTROL + "/users", json=batch, timeout=300)
    source = work / f"audience-{count}.jsonl"
    with source.open("w") as out:
        schema = {"type": "object", "properties": {"user_id": {"type": "string"}}}
        out.write(json.dumps({"type": "SCHEMA", "stream": "audience", "schema": schema,
                              "key_properties": ["user_id"]}) + "\n")  # fmt: skip
        for n, user_id in enumerate(user_ids):
            record = {"user_id": user_id, "segment": "churn-risk", "score": n % 97, "region": "eu"}
            out.write(json.dumps({"type": "RECORD", "stream": "audience", "record": record}) + "\n")
        out.write(json.dumps({"type": "STATE", "value": {"bookmarks": {}}}) + "\n")
    return source


def main() -> None:
    """Measure each size and print one line per run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 300_000])
    args = parser.parse_args()
    proc, url = start_emulator()
    config = {
        "api_key": API_KEY_B,
        "api_url": url,
        "secret_key": SECRET_KEY_B,
        "project_id": PROJECT_B_ID,
        "cohort_api_url": url,
        "streams": {
            "audience": {
                "object": "cohort",
                "cohort_name": "Benchmark audience",
                "owner": "bench@example.com",
            }
        },
    }
    print(f"{'audience ids':>12} {'requests':>9} {'wall s':>7} {'ids/s':>9} {'peak RSS MB':>12}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            for count in args.sizes:
                source = prepare(url, work, count)
                run = run_target(work, config, source)
                log = requests.get(url + "/__emulator__/requests", timeout=60).json()
                calls = [r for r in log if r["path"].startswith("/api/3/cohorts/")]
                listing = requests.get(
                    url + "/api/3/cohorts", auth=(API_KEY_B, SECRET_KEY_B), timeout=60
                ).json()["cohorts"]
                (cohort,) = [c for c in listing if c["name"] == "Benchmark audience"]
                if cohort["size"] != count:
                    raise SystemExit(f"cohort holds {cohort['size']} ids, expected {count}")
                rate = count / run.wall
                print(
                    f"{count:>12,} {len(calls):>9} {run.wall:>7.1f} {rate:>9,.0f} "
                    f"{run.rss_mb:>12.0f}"
                )
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
