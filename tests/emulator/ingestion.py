"""Placeholder: ingestion endpoints (being written)."""
