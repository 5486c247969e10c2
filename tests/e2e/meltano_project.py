"""Runs `meltano` in the repository's project, isolated per test (own system DB, output folders)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MELTANO = str(Path(sys.executable).parent / "meltano")
DUCKDB_PYTHON = ROOT / ".meltano" / "loaders" / "target-duckdb" / "venv" / "bin" / "python"
# Variables of ours that a developer's shell may hold; tests set the ones they need themselves.
_OWN_PREFIXES = (
    "TAP_AMPLITUDE",
    "TARGET_AMPLITUDE",
    "TARGET_JSONL",
    "TARGET_DUCKDB",
    "TARGET_POSTGRES",
    "TAP_POSTGRES",
    "MELTANO_",
)


class MeltanoRunError(AssertionError):
    """A meltano command failed; the message carries the end of its log."""


def install_plugins(log_path: Path) -> None:
    """`meltano install` once per test session (plugins land in .meltano/ of the repository)."""
    with log_path.open("w") as log:
        result = subprocess.run(
            [MELTANO, "install"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_clean_env(),
            check=False,
            timeout=900,
        )
    if result.returncode != 0:
        raise MeltanoRunError(f"meltano install failed:\n{_tail(log_path)}")


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env["NO_COLOR"] = "1"  # plain logs in failure messages
    env["MELTANO_ENVIRONMENT"] = "dev"
    return env


def _tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Pipeline:
    """One test's Meltano context: environment, output folders and helpers to read results."""

    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    runs: int = 0

    @property
    def jsonl_dir(self) -> Path:
        return self.workdir / "jsonl"

    @property
    def duckdb_path(self) -> Path:
        return self.workdir / "warehouse.duckdb"

    def base_env(self) -> dict[str, str]:
        env = _clean_env()
        env.update(
            {
                "MELTANO_DATABASE_URI": f"sqlite:///{self.workdir / 'meltano.db'}",
                "TARGET_JSONL_DESTINATION_PATH": str(self.jsonl_dir),
                "TARGET_DUCKDB_FILEPATH": str(self.duckdb_path),
                "TARGET_DUCKDB_DEFAULT_TARGET_SCHEMA": "amplitude",
            }
        )
        env.update(self.env)
        return env

    def meltano(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        stdin: Path | None = None,
        stdout: Path | None = None,
        timeout: int = 600,
    ) -> str:
        """Run `meltano ARGS` (stdin/stdout to files if given); return the log, raise on failure."""
        self.runs += 1
        log_path = self.workdir / f"meltano-{self.runs}.log"
        self.jsonl_dir.mkdir(parents=True, exist_ok=True)
        with (
            log_path.open("w") as log,
            (stdin or Path(os.devnull)).open("rb") as source,
            (stdout or Path(os.devnull)).open("wb") as output,
        ):
            result = subprocess.run(
                [MELTANO, *args],
                cwd=ROOT,
                stdin=source,
                stdout=output if stdout else log,
                stderr=log if stdout else subprocess.STDOUT,
                env={**self.base_env(), **(env or {})},
                check=False,
                timeout=timeout,
            )
        if result.returncode != 0:
            raise MeltanoRunError(
                f"`meltano {' '.join(args)}` exited {result.returncode}:\n{_tail(log_path)}"
            )
        return log_path.read_text(errors="replace")

    def popen(
        self, *args: str, env: dict[str, str] | None = None
    ) -> tuple[subprocess.Popen[bytes], Path]:
        """Start `meltano ARGS` without waiting (for concurrent runs); returns process and log.

        Concurrent runs of one plugin would share `.meltano/run/<plugin>/` (discovered catalog,
        config files), as two workers on one checkout would; each gets its own system directory
        whose plugin folders link to the installed ones, as separate workers would have.
        """
        self.runs += 1
        log_path = self.workdir / f"meltano-{self.runs}.log"
        self.jsonl_dir.mkdir(parents=True, exist_ok=True)
        sys_dir = self.workdir / f"meltano-sys-{self.runs}"
        sys_dir.mkdir()
        for kind in ("extractors", "loaders"):
            (sys_dir / kind).symlink_to(ROOT / ".meltano" / kind)
        log = log_path.open("w")
        process = subprocess.Popen(
            [MELTANO, *args],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**self.base_env(), "MELTANO_SYS_DIR_ROOT": str(sys_dir), **(env or {})},
        )
        log.close()
        return process, log_path

    @staticmethod
    def check_finished(process: subprocess.Popen[bytes], log_path: Path, timeout: int = 600) -> str:
        """Wait for a process from `popen`; raise with its log's tail on failure."""
        returncode = process.wait(timeout)
        if returncode != 0:
            raise MeltanoRunError(f"meltano exited {returncode}:\n{_tail(log_path)}")
        return log_path.read_text(errors="replace")

    def jsonl(self, stream: str, folder: Path | None = None) -> list[dict[str, Any]]:
        """Records target-jsonl wrote for a stream (all runs appended)."""
        path = (folder or self.jsonl_dir) / f"{stream}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def jsonl_streams(self, folder: Path | None = None) -> set[str]:
        return {path.stem for path in (folder or self.jsonl_dir).glob("*.jsonl")}

    def duckdb(self, sql: str) -> list[list[Any]]:
        """Rows of a query on the DuckDB warehouse, run with the loader's own duckdb module."""
        script = (
            "import duckdb, json, sys\n"
            "con = duckdb.connect(sys.argv[1], read_only=True)\n"
            "print(json.dumps(con.execute(sys.argv[2]).fetchall(), default=str))\n"
        )
        result = subprocess.run(
            [str(DUCKDB_PYTHON), "-c", script, str(self.duckdb_path), sql],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"duckdb query failed: {sql}\n{result.stderr}")
        rows: list[list[Any]] = json.loads(result.stdout)
        return rows
