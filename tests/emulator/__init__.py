"""A loopback Amplitude: Export, Dashboard REST and ingestion APIs as documented, for tests only."""

from tests.emulator.server import Emulator
from tests.emulator.state import (
    API_KEY_A,
    API_KEY_B,
    PROJECT_A_ID,
    PROJECT_B_ID,
    SECRET_KEY_A,
    SECRET_KEY_B,
)

__all__ = [
    "API_KEY_A",
    "API_KEY_B",
    "PROJECT_A_ID",
    "PROJECT_B_ID",
    "SECRET_KEY_A",
    "SECRET_KEY_B",
    "Emulator",
]
