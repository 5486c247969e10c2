"""A loopback Amplitude (Export, Dashboard REST, ingestion APIs) for tests, demo and benchmarks."""

from amplitude_emulator.server import Emulator
from amplitude_emulator.state import (
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
