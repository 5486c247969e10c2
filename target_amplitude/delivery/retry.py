"""Retry arithmetic: exponential back-off with jitter, and the per-item budget that ends a run."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from target_amplitude.delivery.errors import RetriesExhaustedError

if TYPE_CHECKING:
    from target_amplitude.delivery.pending import Pending
    from target_amplitude.delivery.settings import DeliverySettings


class RetryBudget:
    """How long to wait before a re-send, and when to give up (`max_retries`, time budget)."""

    def __init__(self, settings: DeliverySettings, rng: random.Random | None = None) -> None:
        """`rng` is injectable so the jitter is reproducible in tests."""
        self.settings = settings
        self._rng = rng or random.Random()  # noqa: S311  jitter, not cryptography

    def backoff(self, attempt: int) -> float:
        """Exponential back-off with jitter: base * 2^(attempt-1), capped, times 0.5-1.0."""
        base = self.settings.retry_backoff_base_seconds
        ceiling = min(self.settings.retry_backoff_max_seconds, base * 2 ** max(0, attempt - 1))
        return ceiling * (0.5 + self._rng.random() / 2)

    def check(self, endpoint: str, p: Pending, now: float, detail: str) -> None:
        """Raise `RetriesExhaustedError` once an item failed too often or for too long."""
        if p.first_failure is None:
            p.first_failure = now
        elapsed = now - p.first_failure
        budget = self.settings.retry_time_budget_seconds
        if p.tries > self.settings.max_retries or elapsed > budget:
            raise RetriesExhaustedError(
                f"Gave up on {endpoint} delivery for stream '{p.item.stream}' (record "
                f"{p.item.key}) after {p.tries} failed attempts over {elapsed:.0f} s (max_retries="
                f"{self.settings.max_retries}, retry_time_budget_seconds={budget:.0f}); last "
                f"error: {detail}. Nothing was dropped and no STATE was emitted past this point: "
                "re-run to resume."
            )
