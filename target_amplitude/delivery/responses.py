"""What to do with Amplitude's answer to one request: acknowledge, retry, split, hold or reject.

`verdicts.classify` says what a response means for each payload; `ResponseHandler.apply` acts on
it for the items of the request: marks them done, hands them to the record policies, holds the
throttled ids, regroups a batch for bisection, shrinks the caps after a 413, or schedules a retry.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from typing import TYPE_CHECKING, Any

from target_amplitude.amplitude import EVENTS
from target_amplitude.delivery.errors import ConfigurationError
from target_amplitude.delivery.verdicts import Kind, Verdict

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping

    from target_amplitude.delivery.http import HttpResult
    from target_amplitude.delivery.pending import Pending, RequestCaps
    from target_amplitude.delivery.policies import RecordPolicies
    from target_amplitude.delivery.retry import RetryBudget
    from target_amplitude.delivery.run_summary import RunSummary


class ResponseHandler:
    """Acts on verdicts for one Deliverer, shared by its lanes (per-call state is in `deliver`)."""

    def __init__(
        self,
        *,
        urls: Mapping[str, str],
        caps: RequestCaps,
        retry: RetryBudget,
        policies: RecordPolicies,
        summary: RunSummary,
        throttle_wait: Callable[[str], float],
        clock: Callable[[], float],
        logger: logging.Logger,
    ) -> None:
        """Share the Deliverer's caps, retry budget, policies, summary, clock and logger."""
        self._urls, self._caps, self._retry = urls, caps, retry
        self._policies, self._summary = policies, summary
        self._throttle_wait, self._clock, self._logger = throttle_wait, clock, logger
        self._groups = itertools.count(1)
        self.any_success = False  # a 403 before any success means a blocked region: fatal

    def apply(  # noqa: C901, PLR0911
        self,
        endpoint: str,
        batch: list[Pending],
        sent: tuple[int, HttpResult],
        verdict: Verdict,
        holds: dict[tuple[str, str], float],
    ) -> float:
        """Mark items done / held / regrouped; returns when the next request may go out."""
        size, result = sent
        now = self._clock()
        kind = verdict.kind
        if kind is Kind.ACK:
            self.any_success = True
            self._acknowledged(endpoint, batch, verdict.ingested)
            return 0.0
        if kind is Kind.FATAL:
            raise ConfigurationError(
                f"Amplitude refused the {endpoint} request to {self._urls[endpoint]}: "
                f"{verdict.detail}. Check api_key, region / api_url and the payload shape; "
                "nothing was dropped and no STATE was emitted past this point."
            )
        if kind is Kind.RETRY:
            for p in batch:
                p.tries += 1
                self._retry.check(endpoint, p, now, verdict.detail)
            for stream, count in Counter(p.item.stream for p in batch).items():
                self._summary.add(stream, retries=count)
            delay = self._retry.backoff(max(p.tries for p in batch))
            self._logger.warning(
                "%s request of %d item(s) failed (%s); retry %d in %.1f s with the same insert_ids",
                endpoint,
                len(batch),
                verdict.detail,
                max(p.tries for p in batch),
                delay,
            )
            return now + delay
        if kind in (Kind.SPLIT, Kind.BISECT) and len(batch) == 1:
            reason = (
                "payload_too_large"
                if kind is Kind.SPLIT
                else (
                    "forbidden" if result.status == 403 else "bad_request"  # noqa: PLR2004
                )
            )
            self._policies.rejected(batch[0].item, reason, verdict.detail, endpoint, result.body)
            batch[0].done = True
            return 0.0
        if kind is Kind.SPLIT:
            self._shrink(endpoint, len(batch), size)
            self._regroup(batch)
            return 0.0
        if kind is Kind.BISECT:
            self._regroup(batch)
            return 0.0
        wait = verdict.retry_after or self._throttle_wait(endpoint)
        names_nothing_here = not (
            verdict.rejected or verdict.throttled or verdict.deferred
        ) and all(p.keys.isdisjoint(verdict.held_ids) for p in batch)
        if kind is Kind.THROTTLE_ALL or names_nothing_here:
            for p in batch:
                p.throttles += 1
                self._retry.check(endpoint, p, now, "throttled (429)")
            if len(batch) > 1 and any(p.throttles > 1 for p in batch):
                self._regroup(batch)
            self._logger.warning("%s request throttled (429); waiting %.0f s", endpoint, wait)
            return now + wait
        self._partial(endpoint, batch, (verdict, result.body), holds, now + wait)
        return 0.0

    def _partial(
        self,
        endpoint: str,
        batch: list[Pending],
        answer: tuple[Verdict, Any],
        holds: dict[tuple[str, str], float],
        release: float,
    ) -> None:
        """Reject, defer or hold the named indices; the others go back at once, in order."""
        verdict, body = answer
        for index, reason in verdict.rejected.items():
            self._policies.rejected(batch[index].item, reason, verdict.detail, endpoint, body)
            batch[index].done = True
        for index in verdict.deferred:
            self._policies.deferred(batch[index].item, verdict.detail, endpoint, body)
            batch[index].done = True
        if verdict.throttled or verdict.held_ids:
            self._hold(
                endpoint, [batch[i] for i in sorted(verdict.throttled)], verdict, holds, release
            )

    def _hold(
        self,
        endpoint: str,
        throttled: list[Pending],
        verdict: Verdict,
        holds: dict[tuple[str, str], float],
        release: float,
    ) -> None:
        """Pause throttled items and every id they carry (and ids the 429 names) until `release`.

        An item throttled again goes out in smaller requests.
        """
        for key in verdict.held_ids:
            holds[key] = max(holds.get(key, 0.0), release)
        for p in throttled:
            p.throttles += 1
            self._retry.check(endpoint, p, self._clock(), "throttled (429)")
            p.not_before = release
            for key in p.keys:
                holds[key] = max(holds.get(key, 0.0), release)
            self._summary.throttled(p.item.stream, {value for _, value in p.keys})
        again = [p for p in throttled if p.throttles > 1]
        if len(again) > 1:  # an id's events may exceed its window on their own: send fewer
            self._regroup(again)
        self._logger.warning(
            "%s: Amplitude throttled %d item(s) (eps_threshold=%s, ids %s); holding only those "
            "ids for %.0f s",
            endpoint,
            len(throttled),
            verdict.eps_threshold,
            sorted({value for _, value in verdict.held_ids})[:10],
            release - self._clock(),
        )

    def _acknowledged(self, endpoint: str, batch: list[Pending], ingested: int | None) -> None:
        for p in batch:
            p.done = True
        for stream, count in Counter(p.item.stream for p in batch).items():
            self._summary.add(stream, acknowledged=count)
        if endpoint == EVENTS and ingested is not None and ingested != len(batch):
            self._logger.info(
                "Amplitude acknowledged %d events but reports %d ingested (duplicates of earlier "
                "insert_ids are not counted)",
                len(batch),
                ingested,
            )
            self._summary.add(batch[0].item.stream, not_ingested=max(0, len(batch) - ingested))

    def _regroup(self, batch: list[Pending]) -> None:
        """Re-send these items in halves, each half on its own (bisection / 413 split)."""
        group, cap = next(self._groups), math.ceil(len(batch) / 2)
        for p in batch:
            p.group, p.group_cap = group, cap

    def _shrink(self, endpoint: str, count: int, size: int) -> None:
        caps = self._caps.shrink(endpoint, count, size)
        self._logger.warning(
            "%s: payload too large (413) for %d items / %d bytes; splitting, and sending at most "
            "%d items / %d bytes per request for the rest of the run",
            endpoint,
            count,
            size,
            *caps,
        )
