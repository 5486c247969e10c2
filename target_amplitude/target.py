"""TargetAmplitude: settings and stream-to-sink routing."""

from __future__ import annotations

from singer_sdk import Target
from singer_sdk import typing as th


class TargetAmplitude(Target):
    """Loads Singer records into Amplitude as events, users, devices, groups and user mappings."""

    name = "target-amplitude"
    package_name = "singer-amplitude"

    config_jsonschema = th.PropertiesList(
        # --- connection -------------------------------------------------------------------
        th.Property(
            "api_key",
            th.StringType,
            required=True,
            secret=True,
            title="API key",
            description="API key of the Amplitude project to load into (sent in each request body).",
        ),
        th.Property(
            "region",
            th.StringType,
            default="us",
            allowed_values=["us", "eu"],
            title="Data region",
            description=(
                "`us` (https://api2.amplitude.com) or `eu` (https://api.eu.amplitude.com)."
            ),
        ),
        th.Property(
            "api_url",
            th.StringType,
            title="API URL override",
            description=(
                "Base URL of the ingestion APIs (/batch, /2/httpapi, /identify, /groupidentify, "
                "/usermap); overrides `region` (for proxies and the bundled emulator)."
            ),
        ),
        # --- mapping (streams -> object kinds) ------------------------------------------------
        # --- delivery (batching, retries, rejected records) -------------------------------------
    ).to_dict()
