"""End-to-end fixtures: ONE `meltano install` and ONE emulator per session, a PostgreSQL server.

The emulator is the session's in-process one (tests/conftest.py), reseeded before each test by the
`emulator` fixture; Meltano's plugin subprocesses reach it on 127.0.0.1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from amplitude_emulator import API_KEY_A, API_KEY_B, SECRET_KEY_A
from tests.e2e.meltano_project import Pipeline, install_plugins
from tests.e2e.postgres_server import PostgresServer, start_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from amplitude_emulator import Emulator


@pytest.fixture(scope="session")
def meltano_installed(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The plugins of meltano.yml, installed once for the whole run."""
    install_plugins(tmp_path_factory.mktemp("meltano-install") / "install.log")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server on 127.0.0.1; fails (never skips) when it cannot start."""
    server = start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pipeline(meltano_installed: None, emulator: Emulator, tmp_path: Path) -> Pipeline:
    """Meltano pointed at the emulator: tap reads project A, target writes project B."""
    return Pipeline(
        workdir=tmp_path,
        env={
            "TAP_AMPLITUDE_API_URL": emulator.url,
            "TAP_AMPLITUDE_API_KEY": API_KEY_A,
            "TAP_AMPLITUDE_SECRET_KEY": SECRET_KEY_A,
            "TARGET_AMPLITUDE_API_URL": emulator.url,
            "TARGET_AMPLITUDE_API_KEY": API_KEY_B,
        },
    )
