"""The tap reads the shapes real Amplitude projects return (issue 15, "Tap"), via the emulator."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest

from amplitude_emulator import PROJECT_A_ID, data
from tap_amplitude.dashboard_series import series_day
from tap_amplitude.streams import epoch_to_rfc3339
from tests.dashboard_helpers import base_config, requests_to, run_tap

if TYPE_CHECKING:
    from amplitude_emulator import Emulator

SERIES_DAYS = ["2024-03-01", "2024-03-02", "2024-03-03"]


def test_session_length_days_with_a_time_become_dates(emulator: Emulator) -> None:
    assert emulator.state.projects[PROJECT_A_ID].session_x_values_with_time  # real 2024 form
    run = run_tap(emulator, base_config(emulator), ["average_session_length"])
    assert [r["date"] for r in run.records("average_session_length")] == SERIES_DAYS
    bookmark = run.final_state["bookmarks"]["average_session_length"]["replication_key_value"]
    assert bookmark == "2024-03-03"  # a date, as the schema declares


def test_both_x_value_forms_give_the_same_rows(emulator: Emulator) -> None:
    with_time = run_tap(emulator, base_config(emulator), ["average_session_length"])
    emulator.state.projects[PROJECT_A_ID].session_x_values_with_time = False
    date_only = run_tap(emulator, base_config(emulator), ["average_session_length"])
    assert with_time.records("average_session_length") == date_only.records(
        "average_session_length"
    )


def test_an_old_date_time_bookmark_is_read_and_rewritten_as_a_date(emulator: Emulator) -> None:
    config = base_config(emulator, dashboard_lookback_days=1)
    old = {"replication_key": "date", "replication_key_value": "2024-03-03T00:00:00"}
    run = run_tap(
        emulator,
        config,
        ["average_session_length"],
        state={"bookmarks": {"average_session_length": old}},
    )
    assert requests_to(run, "/api/2/sessions/average")[0]["start"] == "20240302"
    assert [r["date"] for r in run.records("average_session_length")] == SERIES_DAYS[1:]
    bookmark = run.final_state["bookmarks"]["average_session_length"]["replication_key_value"]
    assert bookmark == "2024-03-03"


def test_annotations_are_read_from_v3(emulator: Emulator) -> None:
    run = run_tap(emulator, base_config(emulator), ["annotations"])
    assert [q.path for q in run.requests] == ["/api/3/annotations"]
    rows = run.records("annotations")
    assert [r["id"] for r in rows] == [160419, 160420, 160421]
    first = rows[0]
    assert first["start"] == "2024-02-28T09:00:00Z"
    assert first["date"] == "2024-02-28"  # the day of `start`, so a v2-era table keeps its key
    assert first["category"] == {"id": 6789, "name": "Releases"}
    assert rows[1]["details"] is None
    assert [r["chart_id"] for r in rows] == [None, None, "k3x9q1z"]
    assert {r["api_version"] for r in rows} == {3}


def test_annotations_fall_back_to_v2_on_404_with_the_same_schema(emulator: Emulator) -> None:
    v3 = run_tap(emulator, base_config(emulator), ["annotations"])
    emulator.state.projects[PROJECT_A_ID].serves_annotations_v3 = False
    v2 = run_tap(emulator, base_config(emulator), ["annotations"])
    assert [q.path for q in v2.requests] == ["/api/3/annotations", "/api/2/annotations"]
    rows = v2.records("annotations")
    assert [(r["id"], r["date"], r["api_version"]) for r in rows] == [
        (160419, "2024-02-28", 2),
        (160420, "2024-03-01", 2),
        (160421, "2024-03-03", 2),
    ]

    def schema(run: object) -> dict:
        messages = run.messages  # type: ignore[attr-defined]
        return next(m["schema"] for m in messages if m["type"] == "SCHEMA")

    assert schema(v2) == schema(v3)


def test_cohort_epoch_seconds_become_rfc_3339_and_nulls_stay(emulator: Emulator) -> None:
    run = run_tap(emulator, base_config(emulator), ["cohorts"])
    cohorts = {c["id"]: c for c in run.records("cohorts")}
    power, abandoners = cohorts["c0h0rt00"], cohorts["c0h0rt01"]
    assert power["createdAt"] == "2024-02-01T00:00:00Z"
    assert dt.datetime.fromisoformat(abandoners["lastMod"]) == dt.datetime(
        2024, 2, 1, 1, tzinfo=dt.timezone.utc
    )
    assert power["lastComputed"] == "2024-02-02T00:00:00Z"
    assert abandoners["createdAt"] is None
    assert abandoners["view_count"] is None
    assert abandoners["metadata"] is None
    nested = cohorts["c0h0rt02"]["definition"]["andClauses"][0]["orClauses"][0]
    assert nested["clauses"][0]["clauses"][0]["clauses"]  # deep definition kept whole
    schema = next(m["schema"] for m in run.messages if m["type"] == "SCHEMA")
    assert schema["properties"]["lastMod"]["format"] == "date-time"


def test_event_types_keep_waitroom_approved_and_float_deltas(emulator: Emulator) -> None:
    run = run_tap(emulator, base_config(emulator), ["event_types"])
    rows = run.records("event_types")
    assert all("waitroom_approved" in r for r in rows)
    assert {r["waitroom_approved"] for r in rows} == {None, True}
    assert all(isinstance(r["totals_delta"], float) for r in rows)
    assert -1.0 in {r["totals_delta"] for r in rows}
    schema = next(m["schema"] for m in run.messages if m["type"] == "SCHEMA")
    assert "clusters_hidden" not in schema["properties"]
    assert "waitroom_approved" in schema["properties"]


def test_user_search_reports_the_documented_match_types(emulator: Emulator) -> None:
    heavy = data.USERS[0]
    config = base_config(emulator, user_search_terms=[str(heavy.amplitude_id), "heavy.us"])
    rows = run_tap(emulator, config, ["user_search"]).records("user_search")
    assert {(r["search_term"], r["match_type"]) for r in rows} == {
        (str(heavy.amplitude_id), "match_amplitude_id"),
        ("heavy.us", "match_user_prefix"),
    }


def test_user_profiles_keep_aliasing_profiles(emulator: Emulator) -> None:
    heavy = data.USERS[0]
    config = base_config(emulator, amplitude_ids=[heavy.amplitude_id])
    (profile,) = run_tap(emulator, config, ["user_profiles"]).records("user_profiles")
    assert profile["aliasing_profiles"] == []


def test_epoch_values_and_days_that_cannot_be_read_name_the_field() -> None:
    assert epoch_to_rfc3339(1706745600000, "x") == "2024-02-01T00:00:00Z"  # milliseconds too
    assert epoch_to_rfc3339(None, "x") is None
    with pytest.raises(ValueError, match=r"cohort 'c1' field 'lastMod'"):
        epoch_to_rfc3339("yesterday", "cohort 'c1' field 'lastMod'")
    assert series_day("2024-07-01T00:00:00", "s") == series_day("2024-07-01", "s") == "2024-07-01"
    with pytest.raises(ValueError, match="average_session_length: cannot read 'Jul 1'"):
        series_day("Jul 1", "average_session_length")
