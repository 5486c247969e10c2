"""Placeholder: dashboard endpoints (being written)."""
