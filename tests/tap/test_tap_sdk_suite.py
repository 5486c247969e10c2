"""The singer-sdk standard tap tests over every stream, offline against the session emulator.

The SDK builds the test parameters (one per stream and attribute) when this module is imported,
before any fixture exists, so the class is built with a placeholder URL (no request is made at
that point: the custom stream declares its schema) and the class-scoped `runner` is replaced
by one pointing at the running emulator.
"""

from __future__ import annotations

from typing import Any

import pytest
from singer_sdk.testing import SuiteConfig, TapTestRunner, get_tap_test_class

from amplitude_emulator import API_KEY_A, SECRET_KEY_A, Emulator, data
from tap_amplitude.tap import TapAmplitude

PLACEHOLDER_URL = "http://127.0.0.1:9"
SUITE_CONFIG = SuiteConfig(max_records_limit=150)


def suite_config(api_url: str) -> dict[str, Any]:
    """Small slices of every stream: three export hours, two users, three days, one cohort."""
    return {
        "api_key": API_KEY_A,
        "secret_key": SECRET_KEY_A,
        "api_url": api_url,
        "start_date": "2024-03-01T00:00:00Z",
        "end_date": "2024-03-01T03:00:00Z",
        "dashboard_start_date": "2024-03-01",
        "dashboard_end_date": "2024-03-03",
        "user_search_terms": ["alice"],
        "amplitude_ids": [data.USERS[2].amplitude_id],
        "user_api_max_requests_per_hour": 10_000_000,
        "cohort_ids": ["c0h0rt01"],  # cohort_members is opt-in: one small cohort
        "cohort_poll_interval_seconds": 0.05,
        "custom_streams": [
            {
                "name": "custom_annotations",
                "path": "/api/2/annotations",
                "records_path": "$.data[*]",
                "primary_keys": ["id"],
                "schema": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "date": {"type": ["string", "null"], "format": "date"},
                        "label": {"type": ["string", "null"]},
                    },
                },
            }
        ],
    }


_SdkSuite = get_tap_test_class(
    TapAmplitude,
    config=suite_config(PLACEHOLDER_URL),
    parse_env_config=False,
    suite_config=SUITE_CONFIG,
)


class TestTapAmplitudeStandard(_SdkSuite):  # type: ignore[misc,valid-type]
    """Every standard tap, stream and attribute test, synced once against the emulator."""

    @pytest.fixture(scope="class")
    @classmethod
    def runner(cls, emulator_session: Emulator) -> TapTestRunner:
        emulator_session.state.reset()
        runner = TapTestRunner(
            TapAmplitude,
            config=suite_config(emulator_session.url),
            suite_config=SUITE_CONFIG,
            parse_env_config=False,
        )
        runner.sync_all()
        return runner
