"""Allow `python -m tap_amplitude`."""

from tap_amplitude.tap import TapAmplitude

TapAmplitude.cli()
