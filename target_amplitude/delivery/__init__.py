"""Delivery: requests, lanes, retries, verdicts, policies, dead letters, summary and HTTP.

Imports only `amplitude` below it; knows nothing of mapping, validation or sinks.
"""
