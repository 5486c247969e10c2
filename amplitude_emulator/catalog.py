"""The seeded project's catalog: event types, chart annotations and behavioral cohorts."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

HIDDEN_EVENT_NAME = "Internal Debug Ping"  # listed as hidden, so /events/list leaves it out
LARGE_COHORT_ID = "c0h0rt03"  # 50k members: the cohort download's memory test
LARGE_COHORT_SIZE = 50_000
SEEDED_COHORTS = (
    ("Power users", 1),
    ("Cart abandoners", 3),
    ("Trial (archived)", 0),
    ("Newsletter subscribers", LARGE_COHORT_SIZE),
)


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
            "totals_delta": float((index * 7) % 23 - 11),  # real rows: floats such as -1.0
            "deleted": False,
            "hidden": name == HIDDEN_EVENT_NAME,
            "non_active": totals.get(name, 0) == 0,
            "flow_hidden": False,
            "autohidden": False,
            "in_waitroom": False,
            "waitroom_approved": True if index % 4 == 1 else None,  # real rows: mostly null
            "timeline_hidden": False,
        }
        for index, name in enumerate(names)
    ]


def chart_annotations() -> list[dict[str, Any]]:
    """Annotations in the legacy v2 shape `{id, date, label, details}`."""
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


ANNOTATION_CATEGORIES = ({"id": 6789, "name": "Releases"}, None, {"id": 12345, "name": "Alerts"})


def chart_annotations_v3(v2_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same annotations in the v3 shape `{id, start, end, details, category, label, chart_id}`.

    Real v3 items can have null `details` and no category; the last one spans several hours.
    """
    rows: list[dict[str, Any]] = []
    for index, item in enumerate(v2_rows):
        start = f"{item['date']}T09:00:00Z"
        rows.append(
            {
                "id": item["id"],
                "start": start,
                "end": f"{item['date']}T17:00:00Z" if index == len(v2_rows) - 1 else start,
                "details": None if index == 1 else item["details"],
                "category": ANNOTATION_CATEGORIES[index % len(ANNOTATION_CATEGORIES)],
                "label": item["label"],
                "chart_id": None if index != 2 else "k3x9q1z",
            }
        )
    return rows


def _nested_definition(depth: int) -> dict[str, Any]:
    """A cohort definition nested `depth` levels, as real behavioral cohorts are."""
    clause: dict[str, Any] = {"type": "event", "event_type": "Purchase", "operator": ">="}
    for level in range(depth):
        clause = {
            "type": "or" if level % 2 else "and",
            "clauses": [clause, {"type": "prop", "prop": f"gp:level_{level}", "values": ["x"]}],
        }
    return {"version": 3, "cohortType": "UNIQUES", "andClauses": [{"orClauses": [clause]}]}


def cohorts(app_id: int) -> list[dict[str, Any]]:
    """Cohorts as real `/api/3/cohorts` listings carry them: epoch SECONDS, some nulls."""
    base_s = int(datetime(2024, 2, 1, tzinfo=timezone.utc).timestamp())
    cohorts: list[dict[str, Any]] = []
    for index, (name, size) in enumerate(SEEDED_COHORTS):
        cohorts.append(
            {
                "appId": app_id,
                "archived": index == 2,
                "definition": _nested_definition(4 * index),
                "description": f"{name} seeded by the emulator",
                "finished": True,
                "id": f"c0h0rt{index:02d}",
                "name": name,
                "owners": ["owner@example.com"],
                "viewers": [],
                "published": index != 2,
                "size": size,
                "type": "redshift",
                "lastMod": base_s + index * 3600,
                "createdAt": None if index == 1 else base_s,
                "lastComputed": base_s + 86400,
                "hidden": False,
                "metadata": None if index != 0 else ["sample"],
                "view_count": None if index == 1 else 10 * index,
                "popularity": index,
                "last_viewed": (base_s + 2 * 86400) * 1000,
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
