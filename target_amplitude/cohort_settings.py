"""Settings of the `cohort` kind, and the check that they are there when a cohort is mapped.

The Behavioral Cohorts API authenticates with the project's API key *and* secret key and names the
project (`app_id`) in every upload, so `secret_key` and `project_id` are needed only then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError

from target_amplitude.amplitude import MAX_COHORT_IDS
from target_amplitude.delivery.cohort_http import CohortClient
from target_amplitude.delivery.cohorts import CohortWriter

if TYPE_CHECKING:
    from collections.abc import Mapping

    from target_amplitude.delivery.deliverer import Deliverer

COHORT_SETTINGS = (
    th.Property(
        "secret_key",
        th.StringType,
        secret=True,
        title="Secret key",
        description=(
            "Project secret key. Only for `cohort` streams: the Behavioral Cohorts API takes "
            "api_key:secret_key as HTTP Basic auth. Required when a stream is mapped to `cohort`."
        ),
    ),
    th.Property(
        "project_id",
        th.IntegerType,
        title="Project id",
        description=(
            "Numeric id of the Amplitude project (Settings > Projects), sent as the cohort "
            "upload's `app_id`. Required when a stream is mapped to `cohort`."
        ),
    ),
    th.Property(
        "cohort_api_url",
        th.StringType,
        title="Cohort API URL override",
        description=(
            "Base URL of the Behavioral Cohorts API (/api/3/cohorts/...); default by `region`: "
            "https://amplitude.com or https://analytics.eu.amplitude.com (for proxies and the "
            "bundled emulator)."
        ),
    ),
    th.Property(
        "cohort_ids_per_request",
        th.IntegerType,
        default=MAX_COHORT_IDS,
        title="Ids per cohort request",
        description=(
            "Member ids per cohort upload or membership request (at most 100,000, Amplitude's "
            "cap); also the sink batch size of `add`/`remove` cohort streams."
        ),
    ),
)


def check_cohort_settings(config: Mapping[str, Any], stream: str) -> None:
    """Refuse a cohort stream without the settings the cohort API needs, naming them."""
    missing = [name for name in ("secret_key", "project_id") if not config.get(name)]
    if missing:
        raise ConfigValidationError(
            f"streams.{stream} is mapped to `cohort`, which needs "
            f"{' and '.join(f'`{name}`' for name in missing)}: the Behavioral Cohorts API "
            "authenticates with api_key:secret_key and names the project (`project_id`, the "
            "upload's app_id). Set them in the target config (Amplitude: Settings > Projects)."
        )
    per_request = int(config.get("cohort_ids_per_request") or MAX_COHORT_IDS)
    if not 1 <= per_request <= MAX_COHORT_IDS:
        raise ConfigValidationError(
            f"cohort_ids_per_request must be between 1 and {MAX_COHORT_IDS}, got {per_request}"
        )


def cohort_writer_for(config: Mapping[str, Any], deliverer: Deliverer) -> CohortWriter:
    """The run's cohort writer: the cohort API client plus the Deliverer's policies and retries."""
    client = CohortClient(
        str(config["api_key"]),
        str(config.get("secret_key") or ""),
        region=str(config.get("region") or "us"),
        api_url=config.get("cohort_api_url"),
        timeout=deliverer.settings.request_timeout,
    )
    return CohortWriter(
        client,
        deliverer,
        project_id=int(config.get("project_id") or 0),
        ids_per_request=int(config.get("cohort_ids_per_request") or MAX_COHORT_IDS),
    )
