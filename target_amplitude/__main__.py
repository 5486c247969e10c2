"""Allow `python -m target_amplitude`."""

from target_amplitude.target import TargetAmplitude

TargetAmplitude.cli()
