"""Stream registry: every stream class the tap offers."""

from __future__ import annotations

from tap_amplitude.client import AmplitudeStream

STREAM_TYPES: list[type[AmplitudeStream]] = []

__all__ = ["STREAM_TYPES", "AmplitudeStream"]
