"""Mapping: the `streams` setting -> per-kind plans -> Amplitude payloads (ids, insert_id, time).

Imports only the layers below it (`validation` for reason codes, `amplitude` for the facts).
"""
