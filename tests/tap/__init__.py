"""Tests of the tap (tap_amplitude), by subject."""
