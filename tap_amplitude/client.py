"""AmplitudeStream: host by region, HTTP Basic auth, and Amplitude's error mapping."""

from __future__ import annotations

from functools import cached_property

from singer_sdk import RESTStream
from singer_sdk.authenticators import BasicAuthenticator

REGION_HOSTS = {"us": "https://amplitude.com", "eu": "https://analytics.eu.amplitude.com"}


class AmplitudeStream(RESTStream[int]):
    """Base of every stream that calls Amplitude's Export or Dashboard REST API."""

    @property
    def url_base(self) -> str:
        """`api_url` when set, else the region's host."""
        override = self.config.get("api_url")
        if override:
            return str(override).rstrip("/")
        return REGION_HOSTS[self.config.get("region", "us")]

    @cached_property
    def authenticator(self) -> BasicAuthenticator:
        """HTTP Basic with the project's API key and secret key."""
        return BasicAuthenticator(
            username=self.config["api_key"], password=self.config["secret_key"]
        )


def auth_failure_message(config: dict, status: int) -> str:
    """The one message for 401/403 on any endpoint: names the region in use, never the keys."""
    where = config.get("api_url") or REGION_HOSTS[config.get("region", "us")]
    region = config.get("region", "us")
    return (
        f"Amplitude answered {status}: invalid key or wrong region "
        f"(region={region!r}, host={where}). Check `api_key`/`secret_key` and that `region` "
        "matches the project's data residency."
    )
