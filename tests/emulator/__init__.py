"""Tests of the emulator itself: it must answer as the real Amplitude does."""
