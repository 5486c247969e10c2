"""HTTP Basic auth (api_key:secret_key) of the Export and Dashboard REST APIs, as Amplitude answers.

No or unreadable credentials get 401; credentials that open no project get 403 with
`metadata.details` "Invalid API Key" (the body PostHog's inventory recorded).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from amplitude_emulator.http import Response, dashboard_error

if TYPE_CHECKING:
    from amplitude_emulator.http import Request
    from amplitude_emulator.state import EmulatorState, Project


def authenticate(request: Request, state: EmulatorState) -> Project | Response:
    """The project the request's Basic credentials open, or the 401/403 response to send."""
    credentials = request.basic_auth()
    if credentials is None or not credentials[0]:
        response = dashboard_error(
            401,
            "Unauthorized",
            "Missing or malformed Basic credentials (api_key:secret_key)",
            kind="unauthorized",
        )
        response.headers["WWW-Authenticate"] = 'Basic realm="Amplitude"'
        return response
    project = state.project_by_credentials(*credentials)
    if project is None:
        return dashboard_error(403, "Forbidden", "Invalid API Key", kind="forbidden")
    return project
