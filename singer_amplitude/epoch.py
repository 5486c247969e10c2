"""How the tap and the target tell epoch seconds from epoch milliseconds: by magnitude."""

from __future__ import annotations

# Epoch numbers at or above this are milliseconds (1e11 s is the year 5138; 1e11 ms is 1973-03-03).
EPOCH_MS_THRESHOLD = 100_000_000_000
