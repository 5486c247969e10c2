"""Singer target for Amplitude: records to events, users, devices, groups and user mappings."""
