"""Cohort delivery: spooled member ids -> Amplitude cohort uploads and membership updates.

- `replace`: the first chunk of ids goes in one upload with `existing_cohort_id` (which replaces the
  members; without an id the upload creates the cohort), each further chunk is a membership ADD,
  so after the stream the members are exactly the stream's ids.
- `add` / `remove`: membership ADD / REMOVE, `ids_per_request` (at most `MAX_COHORT_IDS`) ids
  per request.
- Ids Amplitude skips (no such user) go to `on_rejected` like rejected records, with reason
  `skipped_id`. An upload reports unmatched ids only as a count and a sample; when the sample does
  not cover them all, the chunk is sent again as an ADD (idempotent for members), whose answer
  lists every skipped id.
- One cohort is written by one request at a time (`lock(key)`); 429 (another writer on the same
  cohort), 5xx and transport errors are retried with back-off within `max_retries` and
  `retry_time_budget_seconds`; other refusals are configuration errors naming the cohort.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from target_amplitude.amplitude import (
    COHORT_LIST_PATH,
    COHORT_MEMBERSHIP_ID_TYPES,
    COHORT_MEMBERSHIP_PATH,
    COHORT_UPLOAD_ID_TYPES,
    COHORT_UPLOAD_PATH,
    COHORT_UPLOADED_TYPE,
)
from target_amplitude.delivery.errors import (
    ConfigurationError,
    DeliveryError,
    RetriesExhaustedError,
)
from target_amplitude.delivery.pending import Item
from target_amplitude.delivery.retry import RetryBudget

if TYPE_CHECKING:
    from collections.abc import Callable

    from target_amplitude.delivery.cohort_http import CohortClient
    from target_amplitude.delivery.cohort_spool import Chunk, IdSpool
    from target_amplitude.delivery.deliverer import Deliverer
    from target_amplitude.delivery.http import HttpResult

SKIPPED_ID = "skipped_id"
ADD, REMOVE = "ADD", "REMOVE"
RETRYABLE = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class CohortTarget:
    """The cohort one stream writes, as delivery needs it."""

    stream: str
    cohort_id: str | None
    cohort_name: str | None
    id_type: str
    owner: str | None
    published: bool

    @property
    def label(self) -> str:
        """How logs and errors name the cohort (with the stream whose spec names it)."""
        name = self.cohort_id if self.cohort_id is not None else repr(self.cohort_name)
        return f"cohort {name} (streams.{self.stream})"


class CohortNotFoundError(ConfigurationError):
    """Amplitude has no cohort with this id (404)."""


class CohortWriter:
    """Writes cohorts for every cohort stream of a run, sharing the Deliverer's policies."""

    def __init__(
        self,
        client: CohortClient,
        deliverer: Deliverer,
        *,
        project_id: int,
        ids_per_request: int,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`sleep`/`clock` are injectable so back-off runs on a fake clock in tests."""
        self.client, self.deliverer = client, deliverer
        self.project_id, self.ids_per_request = project_id, ids_per_request
        self.logger = deliverer.logger.getChild("cohorts")
        self._sleep, self._clock = sleep, clock
        self._retry = RetryBudget(deliverer.settings)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def lock(self, key: str) -> threading.Lock:
        """The lock that keeps one cohort to one writer at a time."""
        with self._locks_lock:
            return self._locks.setdefault(key, threading.Lock())

    # --- whole operations -------------------------------------------------------------------

    def find_by_name(self, target: CohortTarget) -> str | None:
        """The id of the one uploaded, unarchived cohort with this name, if there is one."""
        listed = self._listing(target)
        found = [
            str(c.get("id"))
            for c in listed
            if c.get("name") == target.cohort_name
            and c.get("type") == COHORT_UPLOADED_TYPE
            and not c.get("archived")
        ]
        if len(found) > 1:
            raise ConfigurationError(
                f"{target.label}: {len(found)} uploaded cohorts are named {target.cohort_name!r} "
                f"({', '.join(found)}); set `cohort_id` to the one to update"
            )
        return found[0] if found else None

    def existing_name(self, target: CohortTarget, cohort_id: str) -> str:
        """The cohort's current name (an upload must name the cohort it replaces)."""
        for cohort in self._listing(target):
            if str(cohort.get("id")) == cohort_id:
                return str(cohort.get("name") or cohort_id)
        raise CohortNotFoundError(
            f"{target.label}: project {self.project_id} has no cohort {cohort_id}; check "
            "`cohort_id`, `project_id` and the keys"
        )

    def replace(self, target: CohortTarget, spool: IdSpool, cohort_id: str | None) -> str | None:
        """Make the cohort's members exactly the spool's ids; returns the cohort id."""
        replaced = False
        for chunk in spool.chunks(self.ids_per_request):
            if not replaced:
                outcome = self._upload(target, chunk, cohort_id)
                if outcome is None:
                    self._settle(target, spool, chunk, chunk.ids, (COHORT_UPLOAD_PATH, cohort_id))
                    continue
                cohort_id, skipped = outcome
                replaced = True
                self._settle(target, spool, chunk, skipped, (COHORT_UPLOAD_PATH, cohort_id))
            else:
                assert cohort_id is not None  # noqa: S101  set by the upload above
                skipped = self._membership(target, cohort_id, chunk.ids, ADD)
                self._settle(target, spool, chunk, skipped, (COHORT_MEMBERSHIP_PATH, cohort_id))
        self.deliverer.dead_letters.sync()
        if not spool.count:
            self.logger.warning(
                "%s: the stream brought no members; Amplitude cannot upload an empty cohort, "
                "so it keeps its current members",
                target.label,
            )
        elif not replaced:
            raise DeliveryError(
                f"{target.label}: none of the stream's {spool.count} ids matches a user of "
                f"project {self.project_id} (each was reported under on_rejected as "
                f"{SKIPPED_ID!r}); Amplitude refuses an upload without a valid id, so the "
                "cohort keeps its previous members. Check `id_type` and the id column."
            )
        return cohort_id

    def update(
        self, target: CohortTarget, spool: IdSpool, cohort_id: str | None, operation: str
    ) -> str | None:
        """ADD or REMOVE the spool's ids; an ADD without a cohort id creates the cohort first."""
        for chunk in spool.chunks(self.ids_per_request):
            if cohort_id is None:
                outcome = self._upload(target, chunk, None)
                if outcome is None:
                    self._settle(target, spool, chunk, chunk.ids, (COHORT_UPLOAD_PATH, None))
                    continue
                cohort_id, skipped = outcome
                self._settle(target, spool, chunk, skipped, (COHORT_UPLOAD_PATH, cohort_id))
                continue
            skipped = self._membership(target, cohort_id, chunk.ids, operation)
            self._settle(target, spool, chunk, skipped, (COHORT_MEMBERSHIP_PATH, cohort_id))
        self.deliverer.dead_letters.sync()
        return cohort_id

    # --- requests -----------------------------------------------------------------------------

    def _listing(self, target: CohortTarget) -> list[dict[str, Any]]:
        result = self._send(target, "GET", COHORT_LIST_PATH, None)
        if result.status != 200 or not isinstance(result.body, dict):  # noqa: PLR2004
            self._refuse(target, "list cohorts", result)
        cohorts = result.body.get("cohorts")
        return [c for c in cohorts if isinstance(c, dict)] if isinstance(cohorts, list) else []

    def _upload(
        self, target: CohortTarget, chunk: Chunk, existing: str | None
    ) -> tuple[str, list[str]] | None:
        """Upload one chunk (replacing `existing`); None when Amplitude found no valid id in it."""
        name = target.cohort_name or (existing and self.existing_name(target, existing))
        body: dict[str, Any] = {
            "name": name,
            "app_id": self.project_id,
            "id_type": COHORT_UPLOAD_ID_TYPES[target.id_type],
            "ids": chunk.ids,
            "owner": target.owner,
            "published": target.published,
            "skip_invalid_ids": True,
        }
        if existing is not None:
            body["existing_cohort_id"] = existing
        result = self._send(target, "POST", COHORT_UPLOAD_PATH, body)
        if result.status == 400 and _no_valid_id(result):  # noqa: PLR2004
            return None
        if result.status == 404 and existing is not None:  # noqa: PLR2004
            raise CohortNotFoundError(f"{target.label}: Amplitude has no cohort {existing}")
        if result.status != 200 or not isinstance(result.body, dict):  # noqa: PLR2004
            self._refuse(target, "upload", result)
        cohort_id = str(result.body.get("cohortId") or result.body.get("cohort_id") or "")
        if not cohort_id:
            raise ConfigurationError(f"{target.label}: the upload answer names no cohortId")
        metadata = result.body.get("metadata") or {}
        matched, totals = metadata.get("matched"), metadata.get("totals", len(chunk.offsets))
        sample = [str(i) for i in metadata.get("invalid_ids_sample") or []]
        if isinstance(matched, int) and isinstance(totals, int):
            unmatched = totals - matched
            if unmatched <= 0:
                return cohort_id, []
            if len(set(sample)) >= unmatched:
                return cohort_id, sample
        return cohort_id, self._membership(target, cohort_id, chunk.ids, ADD)

    def _membership(
        self, target: CohortTarget, cohort_id: str, ids: list[str], operation: str
    ) -> list[str]:
        """One membership update; returns the ids Amplitude skipped."""
        body = {
            "cohort_id": cohort_id,
            "memberships": [
                {
                    "ids": ids,
                    "id_type": COHORT_MEMBERSHIP_ID_TYPES[target.id_type],
                    "operation": operation,
                }
            ],
            "skip_invalid_ids": True,
        }
        result = self._send(target, "POST", COHORT_MEMBERSHIP_PATH, body)
        if result.status == 404:  # noqa: PLR2004
            raise CohortNotFoundError(f"{target.label}: Amplitude has no cohort {cohort_id}")
        if result.status != 200 or not isinstance(result.body, dict):  # noqa: PLR2004
            self._refuse(target, f"membership {operation}", result)
        entries = result.body.get("memberships_result") or []
        return [
            str(skipped)
            for entry in entries
            if isinstance(entry, dict)
            for skipped in entry.get("skipped_ids") or []
        ]

    def _send(
        self, target: CohortTarget, method: str, path: str, body: dict[str, Any] | None
    ) -> HttpResult:
        """One request, retried after 429 / 5xx / transport errors within the retry budget."""
        settings = self.deliverer.settings
        tries, first_failure = 0, None
        while True:
            result = self.client.post(path, body) if body is not None else self.client.get(path)
            if result.status is not None and result.status not in RETRYABLE:
                return result
            now = self._clock()
            first_failure = now if first_failure is None else first_failure
            tries += 1
            detail = result.error or f"HTTP {result.status}: {result.text[:200]}"
            elapsed = now - first_failure
            if tries > settings.max_retries or elapsed > settings.retry_time_budget_seconds:
                raise RetriesExhaustedError(
                    f"Gave up on {path} for {target.label} after {tries} failed attempts over "
                    f"{elapsed:.0f} s (max_retries={settings.max_retries}, "
                    f"retry_time_budget_seconds={settings.retry_time_budget_seconds:.0f}); last "
                    f"error: {detail}. No STATE was emitted past these records: re-run to resume."
                )
            delay = _retry_after(result) or self._backoff(tries)
            self.logger.warning(
                "%s %s for %s failed (%s); retry %d in %.1f s",
                method,
                path,
                target.label,
                detail,
                tries,
                delay,
            )
            self._sleep(delay)

    def _backoff(self, attempt: int) -> float:
        return self._retry.backoff(attempt)

    def _refuse(self, target: CohortTarget, what: str, result: HttpResult) -> Any:
        hint = (
            "check `secret_key` and `api_key` (the cohort API uses both) and region / "
            "cohort_api_url"
            if result.status in (401, 403)
            else "check the cohort spec, `project_id` and the ids"
        )
        raise ConfigurationError(
            f"Amplitude refused the {what} request for {target.label} at {self.client.base}: "
            f"HTTP {result.status} {self.client.mask(_message(result))}; {hint}. No STATE was "
            "emitted past these records."
        )

    # --- outcomes -------------------------------------------------------------------------------

    def _settle(
        self,
        target: CohortTarget,
        spool: IdSpool,
        chunk: Chunk,
        skipped: list[str],
        where: tuple[str, str | None],
    ) -> None:
        """Count the chunk, and hand every record of a skipped id to `on_rejected`."""
        path, cohort_id = where
        skipped_records = 0
        for member_id in dict.fromkeys(skipped):
            offsets = chunk.offsets.get(member_id)
            if not offsets:
                continue
            for key, record in spool.entries(offsets):
                skipped_records += 1
                payload = {"cohort_id": cohort_id, "id_type": target.id_type, "id": member_id}
                self.deliverer.policies.rejected(
                    Item(payload, record, target.stream, key),
                    SKIPPED_ID,
                    f"Amplitude skipped {target.id_type} {member_id!r} for {target.label}: no "
                    "such user in the project",
                    path,
                    None,
                )
        self.deliverer.run_summary.add(
            target.stream,
            records=chunk.records,
            sent=chunk.records,
            acknowledged=chunk.records - skipped_records,
            requests=1,
        )
        if skipped_records:
            self.logger.warning(
                "%s: Amplitude skipped %d of %d ids (unknown users); see on_rejected",
                target.label,
                len(set(skipped) & set(chunk.offsets)),
                len(chunk.offsets),
            )


def _message(result: HttpResult) -> str:
    body = result.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        details = (error.get("metadata") or {}).get("details") if error.get("metadata") else None
        return f"{error.get('message')}" + (f": {details}" if details else "")
    return result.text[:300] or (result.error or "")


def _no_valid_id(result: HttpResult) -> bool:
    """Whether a 400 says the upload held no id of a known user (empty audiences are refused)."""
    text = _message(result).lower()
    return "valid id" in text or "no valid" in text


def _retry_after(result: HttpResult) -> float | None:
    raw = {k.lower(): v for k, v in result.headers.items()}.get("retry-after")
    try:
        return float(raw) if raw else None
    except ValueError:
        return None
