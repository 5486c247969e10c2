"""Per-run spool folders for export archives: removed at exit, and after a crash by the next run.

Each run spools into its own `tap-amplitude-run-*` folder holding a `.lock` file that the run keeps
locked (`flock`) while it lives. The kernel drops that lock when the process ends, however it
ends (SIGKILL included), so a later run can tell a dead run's folder (lock free: removed) from a
live one's (lock held: kept) without trusting pids, which the system reuses.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

FOLDER_PREFIX = "tap-amplitude-run-"
LOCK_NAME = ".lock"
# A folder without its lock file may be one that another run is creating right now.
UNLOCKED_GRACE_SECONDS = 60

logger = logging.getLogger(__name__)


def _try_lock(handle: int) -> bool:
    """Take an exclusive lock without waiting; False when another process holds it."""
    if sys.platform == "win32":  # no flock: every folder counts as live
        return False
    import fcntl  # noqa: PLC0415

    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class RunSpool:
    """This run's spool folder under `base` (default: the system temp directory)."""

    def __init__(self, base: str | None = None) -> None:
        """Create and lock the folder; stale folders of dead runs under `base` go first."""
        self.base = Path(base or tempfile.gettempdir())
        self.base.mkdir(parents=True, exist_ok=True)
        self.removed_stale = remove_stale_folders(self.base)
        self.path = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=self.base))
        self._lock = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        _try_lock(self._lock)
        os.write(self._lock, f"{os.getpid()}\n".encode())
        atexit.register(self.close)

    def close(self) -> None:
        """Remove the folder and everything in it (idempotent)."""
        if self._lock < 0:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.close(self._lock)
        self._lock = -1
        atexit.unregister(self.close)


def remove_stale_folders(base: Path) -> list[Path]:
    """Remove the spool folders under `base` whose run is no longer alive; return them."""
    removed: list[Path] = []
    for folder in sorted(base.glob(FOLDER_PREFIX + "*")):
        if folder.is_dir() and _is_stale(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
            logger.info("Removed the spool folder of a run that is no longer alive: %s", folder)
    return removed


def _is_stale(folder: Path) -> bool:
    """True when no live process holds the folder's lock."""
    lock = folder / LOCK_NAME
    try:
        handle = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        try:
            age = time.time() - folder.stat().st_mtime
        except FileNotFoundError:
            return False
        return age > UNLOCKED_GRACE_SECONDS
    except OSError:
        return False
    try:
        return _try_lock(handle)
    finally:
        os.close(handle)
