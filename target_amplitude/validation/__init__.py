"""Validation: local checks and repairs of built payloads, and the stable reason codes.

Imports only the layers below it (`delivery`, `amplitude`), never `mapping` or the sinks.
"""
