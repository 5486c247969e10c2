"""Stream registry: every stream class the tap offers."""

from __future__ import annotations

from tap_amplitude.client import AmplitudeStream
from tap_amplitude.events import EventsStream

STREAM_TYPES: list[type[AmplitudeStream]] = [EventsStream]

__all__ = ["STREAM_TYPES", "AmplitudeStream"]
