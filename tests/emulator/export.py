"""Placeholder: export endpoints (being written)."""
