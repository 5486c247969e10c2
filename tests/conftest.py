"""Shared fixtures: one loopback Amplitude emulator per test session, reset before each test."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from amplitude_emulator import Emulator
from tests.moto_server import moto_server

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def emulator_session() -> Iterator[Emulator]:
    """The one emulator of this run (class-scoped SDK suites use it directly)."""
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def emulator(emulator_session: Emulator) -> Emulator:
    """The session emulator, freshly reseeded: no faults, default limits, empty request log.

    Requests still in flight from an earlier test finish first, so none lands in this test's log.
    """
    emulator_session.state.wait_idle()
    emulator_session.state.reset()
    return emulator_session


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """moto's standalone S3 server on 127.0.0.1 (a subprocess); yields its endpoint URL."""
    with moto_server() as endpoint_url:
        yield endpoint_url
