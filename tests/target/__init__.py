"""Tests of the target (target_amplitude), by subject."""
