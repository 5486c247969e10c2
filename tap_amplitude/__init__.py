"""Singer tap for Amplitude: Export API events and Dashboard REST API streams."""
