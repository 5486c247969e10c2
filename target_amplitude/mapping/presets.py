"""Ready-made stream specs. `amplitude_export` replays tap-amplitude's export rows as events.

With it, `meltano run tap-amplitude target-amplitude` copies a project's events into another
project (a migration, or a US -> EU move) keeping event time, ids, properties and `$insert_id`.
Export rows name some fields differently from the ingestion API; this table translates them, and
the export-only fields (`amplitude_id`, `uuid`, `server_*_time`, `data`, ...) are left out because
the event property bag takes only the row's own `event_properties`.
"""

from __future__ import annotations

from typing import Any

from target_amplitude.amplitude import RESERVED_EVENT_TYPES

AMPLITUDE_EXPORT: dict[str, Any] = {
    "object": "event",
    "time": "event_time",
    # The sender's dedupe key when it had one, else the export row's own unique id: a replay
    # is absorbed by Amplitude's dedupe either way.
    "insert_id": ["$insert_id", "uuid"],
    "ip": "ip_address",
    "carrier": ["carrier", "device_carrier"],
    "app_version": ["app_version", "version_name"],
    # A copy carries what the row had, nothing more: device_brand / device_model come from
    # their own columns only (never from device_family / device_type), and `library` (the
    # exporting SDK's name) is not re-sent; the ingestion docs do not list it.
    "library": None,
    # Only the row's own bags (passed through): the other export fields are Amplitude's
    # bookkeeping, so no leftover column goes into event_properties.
    "event_properties": [],
    "group_properties": False,
    # Amplitude writes these itself (identify and session bookkeeping); they cannot be re-sent.
    # Skipped rows are counted per event type in the log and the delivery summary
    # (`skipped`); the user/group property changes of `$identify` / `$groupidentify` rows are
    # not replayed (see README, "Copying a project").
    "skip_event_types": list(RESERVED_EVENT_TYPES),
}

PRESETS: dict[str, dict[str, Any]] = {"amplitude_export": AMPLITUDE_EXPORT}
