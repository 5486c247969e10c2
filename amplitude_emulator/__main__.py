"""Run the emulator from the command line: prints one JSON line with its URL, stops on SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from amplitude_emulator.server import Emulator


def main() -> None:
    """Parse arguments, serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m amplitude_emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = a free one)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated data set")
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with Emulator(port=args.port, seed=args.seed) as emulator:
        sys.stdout.write(emulator.describe() + "\n")
        sys.stdout.flush()
        stop.wait()


if __name__ == "__main__":
    main()
