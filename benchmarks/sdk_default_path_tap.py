"""The `events` stream run the untuned SDK way (default writer, recursive conformance, prune walk).

Only for `tap_events.py --with-sdk-default`: the same records as the tuned tap, the SDK's speed.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.tap.test_events_fast_path import SdkDefaultPathTap

if __name__ == "__main__":
    SdkDefaultPathTap.cli()
