"""Delivery of payloads to Amplitude that loses nothing (issue #6).

Sinks turn records into payloads (`Item`s) and call `Deliverer.deliver(...)`, which returns only
when every item was acknowledged by Amplitude or handled under `on_rejected` / `on_deferred`, and
raises otherwise, so singer-sdk never emits a STATE that covers an undelivered record.

Re-sends (after 5xx, timeouts, dropped connections, and re-runs from the last STATE) carry the same
bytes, hence the same insert_ids, which Amplitude deduplicates for 7 days: events land exactly once.
Additive user-property operations ($add, $append, $prepend, $preInsert, $postInsert, $remove) have
no such guard on /identify and are at-least-once under retries; $set/$setOnce/$unset are idempotent.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import FatalAPIError

from target_amplitude.amplitude import ENDPOINTS, EVENTS
from target_amplitude.delivery.dead_letters import DeadLetterFile
from target_amplitude.delivery.http import AmplitudeClient, HttpResult
from target_amplitude.delivery.pending import Item, Pending, fill_request, identity_keys
from target_amplitude.delivery.policies import RecordPolicies
from target_amplitude.delivery.run_summary import RunSummary
from target_amplitude.delivery.settings import DeliverySettings
from target_amplitude.delivery.verdicts import Kind, Verdict, classify

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from target_amplitude.delivery.lanes import AdaptiveLimit


def _healthy(result: HttpResult) -> bool:
    """Whether an answer says Amplitude is keeping up (no 429, no 5xx, no timeout)."""
    status = result.status
    if status is None or status >= 500 or status == 429:  # noqa: PLR2004
        return False
    return not (isinstance(result.body, dict) and result.body.get("code") == 429)  # noqa: PLR2004


class DeliveryError(FatalAPIError):
    """Delivery cannot go on: the run stops and no STATE is emitted past this point."""


class ConfigurationError(DeliveryError):
    """Amplitude refused the request itself (API key, host, path, body): fix the config."""


class RetriesExhaustedError(DeliveryError):
    """Amplitude kept failing beyond `max_retries` or `retry_time_budget_seconds`."""


class RecordsNotDeliveredError(DeliveryError):
    """Raised at the end of a run in which records were rejected or deferred under policy `fail`."""


class Deliverer:
    """One per target run; shared by all sinks. Owns HTTP, retries, policies and the run summary.

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
        self._rng = rng or random.Random()  # noqa: S311  jitter, not cryptography
        self._count_caps = {ep: settings.count_cap(ep) for ep in ENDPOINTS}
        self._byte_caps = {ep: settings.byte_cap(ep) for ep in ENDPOINTS}
        self._lock = threading.Lock()
        self._groups = itertools.count(1)
        self._any_success = False
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

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **kwargs: Any) -> Deliverer:
        """Build from the target config (`api_key`, `region`, `api_url` + the delivery settings)."""
        settings = DeliverySettings.from_config(config)
        client = AmplitudeClient(
            str(config["api_key"]),
            region=str(config.get("region") or "us"),
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
        with self._lock:
            return self._count_caps[endpoint], self._byte_caps[endpoint]

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
            verdict = classify(result, payloads, first_request=not self._any_success)
            resume_at = self._apply(endpoint, batch, (size, result), verdict, holds)
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

    # --- what to do with a response ---------------------------------------------------------

    def _apply(  # noqa: C901, PLR0911
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
            self._any_success = True
            self._acknowledged(endpoint, batch, verdict.ingested)
            return 0.0
        if kind is Kind.FATAL:
            raise ConfigurationError(
                f"Amplitude refused the {endpoint} request to {self.client.urls[endpoint]}: "
                f"{verdict.detail}. Check api_key, region / api_url and the payload shape; "
                "nothing was dropped and no STATE was emitted past this point."
            )
        if kind is Kind.RETRY:
            for p in batch:
                p.tries += 1
                self._check_budget(endpoint, p, now, verdict.detail)
            for stream, count in Counter(p.item.stream for p in batch).items():
                self.run_summary.add(stream, retries=count)
            delay = self._backoff(max(p.tries for p in batch))
            self.logger.warning(
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
            self.policies.rejected(batch[0].item, reason, verdict.detail, endpoint, result.body)
            batch[0].done = True
            return 0.0
        if kind is Kind.SPLIT:
            self._shrink(endpoint, len(batch), size)
            self._regroup(batch)
            return 0.0
        if kind is Kind.BISECT:
            self._regroup(batch)
            return 0.0
        wait = verdict.retry_after or self.settings.throttle_wait(endpoint)
        names_nothing_here = not (
            verdict.rejected or verdict.throttled or verdict.deferred
        ) and all(p.keys.isdisjoint(verdict.held_ids) for p in batch)
        if kind is Kind.THROTTLE_ALL or names_nothing_here:
            for p in batch:
                p.throttles += 1
                self._check_budget(endpoint, p, now, "throttled (429)")
            if len(batch) > 1 and any(p.throttles > 1 for p in batch):
                self._regroup(batch)
            self.logger.warning("%s request throttled (429); waiting %.0f s", endpoint, wait)
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
            self.policies.rejected(batch[index].item, reason, verdict.detail, endpoint, body)
            batch[index].done = True
        for index in verdict.deferred:
            self.policies.deferred(batch[index].item, verdict.detail, endpoint, body)
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
            self._check_budget(endpoint, p, self._clock(), "throttled (429)")
            p.not_before = release
            for key in p.keys:
                holds[key] = max(holds.get(key, 0.0), release)
            self.run_summary.throttled(p.item.stream, {value for _, value in p.keys})
        again = [p for p in throttled if p.throttles > 1]
        if len(again) > 1:  # an id's events may exceed its window on their own: send fewer
            self._regroup(again)
        self.logger.warning(
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
            self.run_summary.add(stream, acknowledged=count)
        if endpoint == EVENTS and ingested is not None and ingested != len(batch):
            self.logger.info(
                "Amplitude acknowledged %d events but reports %d ingested (duplicates of earlier "
                "insert_ids are not counted)",
                len(batch),
                ingested,
            )
            self.run_summary.add(batch[0].item.stream, not_ingested=max(0, len(batch) - ingested))

    def _regroup(self, batch: list[Pending]) -> None:
        """Re-send these items in halves, each half on its own (bisection / 413 split)."""
        group, cap = next(self._groups), math.ceil(len(batch) / 2)
        for p in batch:
            p.group, p.group_cap = group, cap

    def _shrink(self, endpoint: str, count: int, size: int) -> None:
        with self._lock:
            self._count_caps[endpoint] = min(self._count_caps[endpoint], math.ceil(count / 2))
            self._byte_caps[endpoint] = min(self._byte_caps[endpoint], max(1, size // 2))
            caps = self._count_caps[endpoint], self._byte_caps[endpoint]
        self.logger.warning(
            "%s: payload too large (413) for %d items / %d bytes; splitting, and sending at most "
            "%d items / %d bytes per request for the rest of the run",
            endpoint,
            count,
            size,
            *caps,
        )

    def _backoff(self, attempt: int) -> float:
        """Exponential back-off with jitter: base * 2^(attempt-1), capped, times 0.5-1.0."""
        base = self.settings.retry_backoff_base_seconds
        ceiling = min(self.settings.retry_backoff_max_seconds, base * 2 ** max(0, attempt - 1))
        return ceiling * (0.5 + self._rng.random() / 2)

    def _check_budget(self, endpoint: str, p: Pending, now: float, detail: str) -> None:
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
