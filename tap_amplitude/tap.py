"""TapAmplitude: settings and the list of streams."""

from __future__ import annotations

from singer_sdk import Tap
from singer_sdk import typing as th

from tap_amplitude import streams


class TapAmplitude(Tap):
    """Extracts raw events (Export API), event types, users and analytics (Dashboard REST API) from Amplitude."""

    name = "tap-amplitude"
    package_name = "singer-amplitude"

    config_jsonschema = th.PropertiesList(
        # --- connection -------------------------------------------------------------------
        th.Property(
            "api_key",
            th.StringType,
            required=True,
            secret=True,
            title="API key",
            description="Project API key (Amplitude: Settings > Projects > General).",
        ),
        th.Property(
            "secret_key",
            th.StringType,
            required=True,
            secret=True,
            title="Secret key",
            description="Project secret key, sent with the API key as HTTP Basic auth.",
        ),
        th.Property(
            "region",
            th.StringType,
            default="us",
            allowed_values=["us", "eu"],
            title="Data region",
            description=(
                "Where the project's data lives: `us` (https://amplitude.com) or `eu` "
                "(https://analytics.eu.amplitude.com). A wrong region answers 403."
            ),
        ),
        th.Property(
            "api_url",
            th.StringType,
            title="API URL override",
            description=(
                "Base URL of the Export and Dashboard REST APIs; overrides `region` "
                "(for proxies and the bundled emulator)."
            ),
        ),
        # --- export (events stream) ---------------------------------------------------------
        # --- dashboard REST streams ---------------------------------------------------------
    ).to_dict()

    def discover_streams(self) -> list[streams.AmplitudeStream]:
        """All streams this tap offers."""
        return [stream_class(tap=self) for stream_class in streams.STREAM_TYPES]
