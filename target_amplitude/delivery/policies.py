"""What happens to a record Amplitude will never take: `on_rejected` and `on_deferred`.

`fail` keeps the run delivering but marks it failed (no further STATE, non-zero exit with a report);
`dead_letter` appends the record, its payload and Amplitude's reason to a JSONL file; `skip` logs.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from target_amplitude.delivery.dead_letters import DeadLetterFile
    from target_amplitude.delivery.pending import Item
    from target_amplitude.delivery.run_summary import RunSummary

REPORT_EXAMPLES = 50  # records listed one by one in logs and in the final report
DAILY_QUOTA = "exceeded_daily_quota"


class RecordPolicies:
    """Applies the policies, counts per reason, and keeps the report of a failed run."""

    def __init__(
        self,
        *,
        on_rejected: str,
        on_deferred: str,
        summary: RunSummary,
        dead_letters: DeadLetterFile,
        mask: Callable[[str], str],
        logger: logging.Logger,
    ) -> None:
        """Share the run's summary and dead-letter file with the Deliverer."""
        self.on_rejected, self.on_deferred = on_rejected, on_deferred
        self._summary, self._dead_letters = summary, dead_letters
        self._mask, self._logger = mask, logger
        self._lock = threading.Lock()
        self._failed = False
        self._examples: list[str] = []
        self._count = 0
        self._logged = 0

    @property
    def failed(self) -> bool:
        """Whether a record was rejected or deferred under policy `fail`."""
        return self._failed

    def rejected(
        self, item: Item, reason: str, detail: str, endpoint: str | None, response: Any
    ) -> None:
        """Handle a record Amplitude (or local validation) refused for good."""
        self._summary.reject(item.stream, reason)
        self._apply(
            "rejected",
            self.on_rejected,
            item,
            reason=reason,
            detail=detail,
            endpoint=endpoint,
            response=response,
        )

    def deferred(self, item: Item, detail: str, endpoint: str, response: Any) -> None:
        """Handle a record whose user/device is over Amplitude's daily quota (up to 24 h)."""
        self._summary.add(item.stream, deferred=1)
        self._apply(
            "deferred",
            self.on_deferred,
            item,
            reason=DAILY_QUOTA,
            detail=detail,
            endpoint=endpoint,
            response=response,
        )

    def _apply(
        self,
        kind: str,
        policy: str,
        item: Item,
        *,
        reason: str,
        detail: str,
        endpoint: str | None,
        response: Any,
    ) -> None:
        detail = self._mask(detail)
        if isinstance(response, dict):  # its index maps name the whole request: keep the gist
            response = {k: v for k, v in response.items() if isinstance(v, (str, int, float))}
        if policy == "dead_letter":
            self._dead_letters.append(
                kind=kind,
                stream=item.stream,
                key=item.key,
                reason=reason,
                detail=detail,
                record=item.record,
                payload=item.payload,
                response=response,
                endpoint=endpoint,
            )
        with self._lock:
            self._logged += 1
            log_it = self._logged <= REPORT_EXAMPLES
            if policy == "fail":
                self._failed = True
                self._count += 1
                if len(self._examples) < REPORT_EXAMPLES:
                    self._examples.append(f"  {kind} {item.stream} {item.key}: {reason} ({detail})")
        if log_it:
            self._logger.log(
                logging.ERROR if policy == "fail" else logging.WARNING,
                "%s record %s of stream '%s': %s (%s); on_%s=%s%s",
                kind.capitalize(),
                item.key,
                item.stream,
                reason,
                detail,
                kind,
                policy,
                " (further records only in the summary)" if self._logged == REPORT_EXAMPLES else "",
            )

    def report(self) -> str:
        """What was not delivered under policy `fail`, for the final error (examples capped)."""
        with self._lock:
            lines = [
                (
                    f"{self._count} record(s) were rejected or deferred under policy 'fail'; no "
                    "STATE was emitted after the first one. Fix the data (or set on_rejected / "
                    "on_deferred) and re-run from the last STATE: insert_ids make re-runs safe."
                ),
                *self._examples,
            ]
            if self._count > len(self._examples):
                lines.append(f"  ... and {self._count - len(self._examples)} more")
        return "\n".join(lines)
