"""Mapping: the `streams` setting -> per-kind plans -> Amplitude payloads (ids, insert_id, time).

Imports `validation` (reason codes) and `amplitude` below it, never `delivery` or the sinks.
"""
