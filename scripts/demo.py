"""`make demo`: Meltano pipelines against the bundled emulator (or a real project), then a report.

Emulator mode (default): starts `python -m amplitude_emulator`, extracts project A into JSON Lines
files and DuckDB, copies project A's events into project B through target-amplitude, then prints
where everything landed. Real mode (TAP_AMPLITUDE_API_KEY set in the shell or .env): extracts the
last 7 days of that project into the same local files and never writes to Amplitude.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MELTANO = str(BIN / "meltano")
DEFAULT_OUT = ROOT / "output" / "demo"
DUCKDB_PYTHON = ROOT / ".meltano" / "loaders" / "target-duckdb" / "venv" / "bin" / "python"


def dotenv_value(name: str) -> str | None:
    """A variable from the shell, else from .env (the same precedence Meltano uses)."""
    if os.environ.get(name):
        return os.environ[name]
    env_file = ROOT / ".env"
    if not env_file.exists():
        return None
    for line in env_file.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.strip() == name and not key.startswith("#"):
            return value.strip().strip("'\"") or None
    return None


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def meltano(*args: str, env: dict[str, str]) -> None:
    """Run one meltano command in the repo's project; stop the demo if it fails."""
    print("$ meltano " + " ".join(args), flush=True)
    result = subprocess.run([MELTANO, *args], cwd=ROOT, env=env, check=False)
    if result.returncode != 0:
        sys.exit(f"demo failed: `meltano {' '.join(args)}` exited {result.returncode}")


def start_emulator(out: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """The bundled emulator as a child process, and the JSON line it prints (url, projects)."""
    with (out / "emulator.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "amplitude_emulator"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(10)
        sys.exit(f"demo failed: the emulator exited with {process.returncode} before serving")
    return process, json.loads(line)


def fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310  loopback emulator
        return json.load(response)


def shown(path: Path) -> str:
    """A path as the user should see it: relative to the checkout when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def jsonl_counts(folder: Path) -> dict[str, int]:
    """Rows per file written by target-jsonl."""
    return {shown(path): sum(1 for _ in path.open()) for path in sorted(folder.glob("*.jsonl"))}


def duckdb_counts(database: Path, schema: str) -> dict[str, int]:
    """Rows per table in the DuckDB file, read with the loader's own duckdb module."""
    if not database.exists():
        return {}
    script = """
import duckdb, json, sys
con = duckdb.connect(sys.argv[1], read_only=True)
query = "select table_name from information_schema.tables where table_schema = ? order by 1"
tables = [row[0] for row in con.execute(query, [sys.argv[2]]).fetchall()]
count = 'select count(*) from "{}"."{}"'
print(json.dumps({t: con.execute(count.format(sys.argv[2], t)).fetchone()[0] for t in tables}))
"""
    result = subprocess.run(
        [str(DUCKDB_PYTHON), "-c", script, str(database), schema],
        capture_output=True,
        text=True,
        check=True,
    )
    counts: dict[str, int] = json.loads(result.stdout)
    return counts


def base_env(out: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "MELTANO_DATABASE_URI": f"sqlite:///{out / 'meltano.db'}",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "TARGET_JSONL_DESTINATION_PATH": str(out / "jsonl"),
            "TARGET_DUCKDB_FILEPATH": str(out / "warehouse.duckdb"),
            "TARGET_DUCKDB_DEFAULT_TARGET_SCHEMA": "amplitude",
        }
    )
    return env


def report_local(env: dict[str, str]) -> None:
    step("Where the data landed")
    for name, count in jsonl_counts(Path(env["TARGET_JSONL_DESTINATION_PATH"])).items():
        print(f"  {name}: {count} rows")
    database = Path(env["TARGET_DUCKDB_FILEPATH"])
    for table, count in duckdb_counts(database, "amplitude").items():
        print(f"  {shown(database)} amplitude.{table}: {count} rows")


def run_emulator_demo(env: dict[str, str], out: Path) -> None:
    step("Starting the bundled Amplitude emulator (python -m amplitude_emulator)")
    process, described = start_emulator(out)
    try:
        url = described["url"]
        source, destination = described["projects"][0], described["projects"][1]
        print(
            f"  emulator at {url}; reading project {source['project_id']}, "
            f"writing project {destination['project_id']}"
        )
        env.update(
            {
                "MELTANO_ENVIRONMENT": "dev",
                "TAP_AMPLITUDE_API_URL": url,
                "TAP_AMPLITUDE_API_KEY": source["api_key"],
                "TAP_AMPLITUDE_SECRET_KEY": source["secret_key"],
                "TARGET_AMPLITUDE_API_URL": url,
                "TARGET_AMPLITUDE_API_KEY": destination["api_key"],
            }
        )
        step("Extract: tap-amplitude -> target-jsonl (files)")
        meltano("run", "tap-amplitude", "target-jsonl", env=env)
        step("Extract: tap-amplitude--warehouse -> target-duckdb (embedded warehouse)")
        meltano("run", "tap-amplitude--warehouse", "target-duckdb", env=env)
        step(
            f"Reverse sync: project {source['project_id']} -> target-amplitude -> "
            f"project {destination['project_id']} (export preset)"
        )
        meltano("run", "tap-amplitude--events", "target-amplitude", env=env)
        report_local(env)
        stored = fetch_json(f"{url}/__emulator__/projects/{destination['project_id']}/events")
        users = {event.get("user_id") or event.get("device_id") for event in stored}
        kinds = Counter(event["event_type"] for event in stored).most_common(3)
        print(
            f"  emulator project {destination['project_id']}: {len(stored)} events ingested "
            f"from {len(users)} users/devices; most common: "
            + ", ".join(f"{name} ({count})" for name, count in kinds)
        )
    finally:
        process.terminate()
        process.wait(10)


def run_real_demo(env: dict[str, str]) -> None:
    step("TAP_AMPLITUDE_API_KEY is set: extracting from that real project (environment prod)")
    env["MELTANO_ENVIRONMENT"] = "prod"
    meltano("run", "tap-amplitude", "target-jsonl", env=env)
    meltano("run", "tap-amplitude--warehouse", "target-duckdb", env=env)
    report_local(env)


def reset_output(out: Path) -> None:
    """Remove only the demo's own files from an earlier run, so the counts are fresh."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "jsonl", ignore_errors=True)
    for name in ("warehouse.duckdb", "meltano.db", "emulator.log"):
        (out / name).unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUT, help="folder for files, DuckDB and state"
    )
    parser.add_argument(
        "--emulator", action="store_true", help="use the emulator even if .env names a project"
    )
    parser.add_argument(
        "--no-install", action="store_true", help="skip `meltano install` (plugins already there)"
    )
    args = parser.parse_args()
    out: Path = args.output.resolve()
    started = time.monotonic()
    reset_output(out)
    env = base_env(out)
    if not args.no_install:
        step("Installing the Meltano plugins (meltano install)")
        meltano("install", env=env)
    if dotenv_value("TAP_AMPLITUDE_API_KEY") and not args.emulator:
        run_real_demo(env)
    else:
        run_emulator_demo(env, out)
    print(f"\nDone in {time.monotonic() - started:.0f} s. Meltano state: {out / 'meltano.db'}")


if __name__ == "__main__":
    main()
