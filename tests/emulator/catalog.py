"""The seeded project's catalog: event types, chart annotations and behavioral cohorts."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

HIDDEN_EVENT_NAME = "Internal Debug Ping"  # listed as hidden, so /events/list leaves it out


def event_types(rows: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """Event types with this week's totals, as /api/2/events/list describes them."""
    totals: dict[str, int] = {}
    for row in rows:
        totals[row["event_type"]] = totals.get(row["event_type"], 0) + 1
    names = [*names, HIDDEN_EVENT_NAME]
    return [
        {
            "id": 1000 + index,
            "value": name,
            "name": name,
            "display": name,
            "totals": totals.get(name, 0),
            "totals_delta": (index * 7) % 23 - 11,
            "deleted": False,
            "hidden": name == HIDDEN_EVENT_NAME,
            "non_active": totals.get(name, 0) == 0,
            "flow_hidden": False,
            "autohidden": False,
            "clusters_hidden": False,
            "in_waitroom": False,
            "timeline_hidden": False,
        }
        for index, name in enumerate(names)
    ]


def chart_annotations() -> list[dict[str, Any]]:
    return [
        {
            "id": 160419,
            "date": "2024-02-28",
            "label": "Release 2.14",
            "details": "Checkout v2 behind a flag",
        },
        {
            "id": 160420,
            "date": "2024-03-01",
            "label": "Spring campaign",
            "details": "Email + paid social",
        },
        {
            "id": 160421,
            "date": "2024-03-03",
            "label": "Incident",
            "details": "Search latency for 40 minutes",
        },
    ]


def cohorts(app_id: int) -> list[dict[str, Any]]:
    base_ms = int(datetime(2024, 2, 1, tzinfo=timezone.utc).timestamp() * 1000)
    cohorts: list[dict[str, Any]] = []
    for index, (name, size) in enumerate(
        [("Power users", 1), ("Cart abandoners", 3), ("Trial (archived)", 0)]
    ):
        cohorts.append(
            {
                "appId": app_id,
                "archived": index == 2,
                "definition": {"version": 3, "cohortType": "UNIQUES", "andClauses": []},
                "description": f"{name} seeded by the emulator",
                "finished": True,
                "id": f"c0h0rt{index:02d}",
                "name": name,
                "owners": ["owner@example.com"],
                "viewers": [],
                "published": index != 2,
                "size": size,
                "type": "redshift",
                "lastMod": base_ms + index * 3600_000,
                "createdAt": base_ms,
                "lastComputed": base_ms + 86400_000,
                "hidden": False,
                "metadata": [],
                "view_count": 10 * index,
                "popularity": index,
                "last_viewed": base_ms + 2 * 86400_000,
                "chart_id": None,
                "edit_id": None,
                "is_predictive": False,
                "is_official_content": index == 0,
                "location_id": None,
                "shortcut_ids": [],
                "syncMetadata": [],
            }
        )
    return cohorts
