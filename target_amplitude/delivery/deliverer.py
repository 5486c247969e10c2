"""Delivery of payloads to Amplitude that loses nothing.

Sinks turn records into payloads (`Item`s) and call `Deliverer.deliver(...)`, which returns only
when every item was acknowledged by Amplitude or handled under `on_rejected` / `on_deferred`, and
raises otherwise, so singer-sdk never emits a STATE that covers an undelivered record.

Re-sends (after 5xx, timeouts, dropped connections, and re-runs from the last STATE) carry the same
bytes, hence the same insert_ids, which Amplitude deduplicates for 7 days: events land exactly once.
Additive user-property operations ($add, $append, $prepend, $preInsert, $postInsert, $remove) have
no such guard on /identify and are at-least-once under retries; $set/$setOnce/$unset are idempotent.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from target_amplitude.amplitude import DEFAULT_REGION
from target_amplitude.delivery.dead_letters import DeadLetterFile
from target_amplitude.delivery.http import AmplitudeClient, HttpResult
from target_amplitude.delivery.pending import (
    Item,
    Pending,
    RequestCaps,
    fill_request,
    identity_keys,
)
from target_amplitude.delivery.policies import RecordPolicies
from target_amplitude.delivery.responses import ResponseHandler
from target_amplitude.delivery.retry import RetryBudget
from target_amplitude.delivery.run_summary import RunSummary
from target_amplitude.delivery.settings import DeliverySettings
from target_amplitude.delivery.verdicts import classify

if TYPE_CHECKING:
    import random
    from collections.abc import Callable, Mapping

    from target_amplitude.delivery.lanes import AdaptiveLimit


def _healthy(result: HttpResult) -> bool:
    """Whether an answer says Amplitude is keeping up (no 429, no 5xx, no timeout)."""
    status = result.status
    if status is None or status >= 500 or status == 429:  # noqa: PLR2004
        return False
    return not (isinstance(result.body, dict) and result.body.get("code") == 429)  # noqa: PLR2004


class Deliverer:
    """One per target run; shared by all sinks. Owns the queue of each `deliver()` call.

    What an answer means is `verdicts.classify`; acting on it is `responses.ResponseHandler`;
    back-off and the retry budget are `retry.RetryBudget`; per-request caps `pending.RequestCaps`.

    - `deliver(endpoint, items)` sends items in order, split into requests within the endpoint's
      count/byte caps (adaptive after 413), and returns only when each item is acknowledged or
      handled under `on_rejected`/`on_deferred`; raises `DeliveryError` (a `FatalAPIError`) on a
      fatal config error or an exhausted retry budget.
    - `reject(item, reason, detail)` applies `on_rejected` to a record that failed local validation.
    - `failed` is True once a record was rejected/deferred under policy `fail`: the target then
      emits no further STATE and exits non-zero at the end with `report()`.
    - `summary()` returns per-stream counters for the end-of-run log line.

    `deliver()` runs on several identity lanes at once (`lanes.py`); each call is sequential, and
    with a `limiter` set every request holds one of its in-flight slots and reports its health.
    """

    def __init__(
        self,
        settings: DeliverySettings,
        client: AmplitudeClient,
        *,
        logger: logging.Logger | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        """`sleep`/`clock` are injectable so holds and back-off run on a fake clock in tests."""
        self.settings, self.client = settings, client
        self.logger = logger or logging.getLogger("target-amplitude.delivery")
        self._sleep, self._clock = sleep, clock
        self._caps = RequestCaps(settings)
        self.limiter: AdaptiveLimit | None = None  # set by a LanePipeline with several lanes
        self.run_summary = RunSummary()
        self.dead_letters = DeadLetterFile(settings.dead_letter_path)
        self.policies = RecordPolicies(
            on_rejected=settings.on_rejected,
            on_deferred=settings.on_deferred,
            summary=self.run_summary,
            dead_letters=self.dead_letters,
            mask=client.mask,
            logger=self.logger,
        )
        self._responses = ResponseHandler(
            urls=client.urls,
            caps=self._caps,
            retry=RetryBudget(settings, rng),
            policies=self.policies,
            summary=self.run_summary,
            throttle_wait=settings.throttle_wait,
            clock=clock,
            logger=self.logger,
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **kwargs: Any) -> Deliverer:
        """Build from the target config (`api_key`, `region`, `api_url` + the delivery settings)."""
        settings = DeliverySettings.from_config(config)
        client = AmplitudeClient(
            str(config["api_key"]),
            region=str(config.get("region") or DEFAULT_REGION),
            api_url=config.get("api_url"),
            event_endpoint=settings.event_endpoint,
            min_id_length=settings.min_id_length,
            timeout=settings.request_timeout,
        )
        return cls(settings, client, **kwargs)

    # --- public -------------------------------------------------------------------------------

    @property
    def failed(self) -> bool:
        """Whether a record was rejected or deferred under policy `fail` (no further STATE)."""
        return self.policies.failed

    def caps(self, endpoint: str) -> tuple[int, int]:
        """Current (items, bytes) per request for an endpoint; both shrink after a 413."""
        return self._caps.get(endpoint)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per-stream counters: records, sent, acknowledged, rejected by reason, deferred, ..."""
        return self.run_summary.streams()

    def reject(self, item: Item, reason: str, detail: str) -> None:
        """Apply `on_rejected` to a record that failed local validation (never sent)."""
        self.run_summary.add(item.stream, records=1)
        self.policies.rejected(item, reason, detail, endpoint=None, response=None)

    def deliver(self, endpoint: str, items: list[Item]) -> None:
        """Send `items` in order; return once each is acknowledged or handled under policy.

        Also makes earlier `reject()` dead letters durable, so call it (even with no items) after
        rejecting records of a batch and before the batch counts as drained.
        """
        if not items:
            self.dead_letters.sync()
            return
        for stream, count in Counter(item.stream for item in items).items():
            self.run_summary.add(stream, records=count)
        encode = self.client.encode_item
        pending = [
            Pending(item, encode(endpoint, item.payload), identity_keys(endpoint, item.payload))
            for item in items
        ]
        holds: dict[tuple[str, str], float] = {}
        resume_at = 0.0
        while pending:
            now = self._clock()
            if resume_at > now:
                self._sleep(resume_at - now)
                continue
            for key in [key for key, until in holds.items() if until <= now]:
                del holds[key]
            batch, size = self._next_request(endpoint, pending, holds, now)
            if not batch:
                later = [p.not_before for p in pending if p.not_before > now]
                self._sleep(max(0.0, min([*holds.values(), *later]) - now))
                continue
            result = self._send(endpoint, batch, size)
            payloads = [p.item.payload for p in batch]
            verdict = classify(result, payloads, first_request=not self._responses.any_success)
            resume_at = self._responses.apply(endpoint, batch, (size, result), verdict, holds)
            pending = [p for p in pending if not p.done]
        self.dead_letters.sync()

    def report(self) -> str:
        """What was not delivered under policy `fail`, for the final error."""
        return self.policies.report()

    def log_summary(self) -> None:
        """One log line per stream with the run's delivery counters."""
        for stream, counters in self.summary().items():
            self.logger.info("Delivery summary for stream '%s': %s", stream, counters)

    def close(self) -> None:
        """Flush the dead-letter file and close HTTP sessions."""
        self.dead_letters.close()
        self.client.close()

    # --- one request --------------------------------------------------------------------------

    def _next_request(
        self, endpoint: str, pending: list[Pending], holds: dict[tuple[str, str], float], now: float
    ) -> tuple[list[Pending], int]:
        count_cap, byte_cap = self.caps(endpoint)
        return fill_request(
            pending,
            holds,
            now,
            caps=(count_cap, byte_cap),
            framing=(self.client.overhead(endpoint), self.client.separator_size(endpoint)),
        )

    def _send(self, endpoint: str, batch: list[Pending], size: int) -> HttpResult:
        body = self.client.build_body(endpoint, [p.part for p in batch])
        by_stream = Counter(p.item.stream for p in batch)
        first_sends = Counter(p.item.stream for p in batch if not p.sent)
        for p in batch:
            p.sent = True
        for stream, count in by_stream.items():
            share = sum(len(p.part) for p in batch if p.item.stream == stream)
            if stream == batch[0].item.stream:
                share += size - sum(len(p.part) for p in batch)
            self.run_summary.add(stream, requests=1, bytes=share, sent=first_sends[stream])
            del count
        limiter = self.limiter
        if limiter is None:
            return self.client.post(endpoint, body)
        with limiter.slot() as number:
            result = self.client.post(endpoint, body)
        limiter.record(number, healthy=_healthy(result))
        return result
