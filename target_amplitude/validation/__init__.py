"""Validation: local checks and repairs of built payloads, and the stable reason codes.

Imports only `amplitude` below it (and `delivery` if it ever needs to), never `mapping` or above.
"""
