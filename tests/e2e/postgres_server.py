"""A throwaway PostgreSQL server on 127.0.0.1 for the warehouse round trip (Debian's binaries)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

USER = "warehouse"
PASSWORD = "warehouse-password"  # trust auth on loopback; the loader still wants one
DATABASE = "warehouse"


class PostgresUnavailableError(RuntimeError):
    """The server could not be started; the message says why (tests fail, never skip)."""


def find_bindir() -> Path:
    """Directory holding initdb/pg_ctl/psql: the newest Debian version, else the PATH."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    for candidate in reversed(candidates):
        if (candidate / "initdb").exists():
            return candidate
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PostgresUnavailableError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: run `make test` (it calls "
        "scripts/ensure_postgres.sh, which installs Debian's postgresql package) or install them."
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PostgresServer:
    """A running server: connection settings and `psql` for assertions."""

    bindir: Path
    datadir: Path
    port: int
    host: str = "127.0.0.1"
    user: str = USER
    password: str = PASSWORD
    database: str = DATABASE

    def _as_owner(self, command: list[str]) -> list[str]:
        """PostgreSQL refuses to run as root: run server commands as the `postgres` user."""
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *command]
        return command

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.datadir, "postgres", "postgres")
        self._run(
            self._as_owner(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.datadir / "data"),
                    "-U",
                    self.user,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            "initdb",
        )
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.datadir} -c fsync=off"
        self._run(
            self._as_owner(
                [
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.datadir / "data"),
                    "-o",
                    options,
                    "-l",
                    str(self.datadir / "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            "pg_ctl start",
        )
        self.psql(f"CREATE DATABASE {self.database}", database="postgres")

    def stop(self) -> None:
        subprocess.run(
            self._as_owner(
                [
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.datadir / "data"),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ]
            ),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.datadir, ignore_errors=True)

    def _run(self, command: list[str], what: str) -> None:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log = self.datadir / "server.log"
            server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresUnavailableError(
                f"{what} failed ({result.returncode}): {result.stderr.strip()[-2000:]}\n"
                f"{server_log}"
            )

    def psql(self, sql: str, database: str | None = None) -> list[list[str]]:
        """Rows of a query (values as text), through the psql client over TCP."""
        result = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                database or self.database,
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-F",
                "\t",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"psql failed: {sql}\n{result.stderr}")
        return [line.split("\t") for line in result.stdout.splitlines()]

    def meltano_env(self, prefix: str) -> dict[str, str]:
        """Connection settings as Meltano env vars for a plugin (TARGET_POSTGRES / TAP_POSTGRES)."""
        return {
            f"{prefix}_HOST": self.host,
            f"{prefix}_PORT": str(self.port),
            f"{prefix}_USER": self.user,
            f"{prefix}_PASSWORD": self.password,
            f"{prefix}_DATABASE": self.database,
        }


def start_server() -> PostgresServer:
    """initdb + start a server in a fresh directory under /tmp (reachable by `postgres`)."""
    bindir = find_bindir()
    datadir = Path(tempfile.mkdtemp(prefix="singer-amplitude-pg-"))
    server = PostgresServer(bindir=bindir, datadir=datadir, port=_free_port())
    try:
        server.start()
    except Exception:
        server.stop()
        raise
    return server
