"""What the emulator holds: the truth the pipelines' outputs are compared with."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import requests

from amplitude_emulator import API_KEY_A, PROJECT_A_ID, SECRET_KEY_A

if TYPE_CHECKING:
    from amplitude_emulator import Emulator

DEV_START = datetime(2024, 3, 1, tzinfo=timezone.utc)
DEV_END = datetime(2024, 3, 8, tzinfo=timezone.utc)  # meltano.yml dev environment `end_date`


def export_rows(
    emulator: Emulator, start: datetime = DEV_START, end: datetime = DEV_END
) -> list[dict[str, Any]]:
    """Project A's export rows uploaded in [start, end) (default: the dev environment's range)."""
    rows = emulator.state.projects[PROJECT_A_ID].export_rows
    return [row for row in rows if start <= upload_time(row) < end]


def upload_time(row: dict[str, Any]) -> datetime:
    """An export row's `server_upload_time` (raw `YYYY-MM-DD HH:MM:SS.ffffff`, UTC)."""
    raw = str(row["server_upload_time"]).replace(" ", "T")
    return datetime.fromisoformat(raw).replace(tzinfo=timezone.utc)


def dashboard_list(emulator: Emulator, path: str, key: str) -> list[Any]:
    """A Dashboard REST list endpoint of project A, as Amplitude answers it."""
    response = requests.get(f"{emulator.url}{path}", auth=(API_KEY_A, SECRET_KEY_A), timeout=30)
    response.raise_for_status()
    body: list[Any] = response.json()[key]
    return body
