"""Amplitude's data regions and where its Dashboard REST API lives, for the tap and the target.

A project's data sits in one region; both plugins default to the same one. The tap reads the
Export and Dashboard REST APIs on these hosts, and the target writes cohorts to the Behavioral
Cohorts API on them (the target's ingestion hosts are its own, in `target_amplitude.amplitude`).
"""

from __future__ import annotations

DEFAULT_REGION = "us"
DASHBOARD_HOSTS = {"us": "https://amplitude.com", "eu": "https://analytics.eu.amplitude.com"}
# Behavioral cohorts: GET lists them (the tap's `cohorts` stream); the target uploads below it.
COHORTS_PATH = "/api/3/cohorts"
