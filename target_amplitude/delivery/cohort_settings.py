"""Delivery settings of the `cohort` kind, the check that they are set, and the cohort writer.

Like `delivery.settings` for the ingestion endpoints: `COHORT_SETTINGS` is the one place each
cohort setting's default, bounds and description are written, and `cohort_writer_for` builds the
run's writer from them. The Behavioral Cohorts API authenticates with the project's API key *and*
secret key and names the project (`app_id`) in every upload, so `secret_key` and `project_id` are
needed only when a stream is mapped to `cohort`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError

from target_amplitude.amplitude import (
    COHORT_HOSTS,
    COHORT_LIST_PATH,
    DEFAULT_REGION,
    MAX_COHORT_IDS,
)
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
            f"Base URL of the Behavioral Cohorts API ({COHORT_LIST_PATH}/...); default by "
            f"`region`: {' or '.join(COHORT_HOSTS.values())} (for proxies and the bundled "
            "emulator)."
        ),
    ),
    th.Property(
        "cohort_ids_per_request",
        th.IntegerType(minimum=1, maximum=MAX_COHORT_IDS),
        default=MAX_COHORT_IDS,
        title="Ids per cohort request",
        description=(
            f"Member ids per cohort upload or membership request (at most {MAX_COHORT_IDS:,}, "
            "Amplitude's cap); also the sink batch size of `add`/`remove` cohort streams."
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


def cohort_writer_for(config: Mapping[str, Any], deliverer: Deliverer) -> CohortWriter:
    """The run's cohort writer: the cohort API client plus the Deliverer's policies and retries."""
    client = CohortClient(
        str(config["api_key"]),
        str(config.get("secret_key") or ""),
        region=str(config.get("region") or DEFAULT_REGION),
        api_url=config.get("cohort_api_url"),
        timeout=deliverer.settings.request_timeout,
    )
    return CohortWriter(
        client,
        deliverer,
        project_id=int(config.get("project_id") or 0),
        ids_per_request=int(config.get("cohort_ids_per_request") or MAX_COHORT_IDS),
    )
