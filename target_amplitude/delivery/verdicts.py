"""What one Amplitude response means for each payload in the request.

Amplitude rejects a failing request as a whole, so a verdict never says "ingested" for part of a
request: it says which indices are rejected, throttled or deferred; the Deliverer re-sends the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from target_amplitude.delivery.http import HttpResult

# 400 `error` texts that mean the request itself (key, body, path) is wrong: no record is to blame.
FATAL_400_ERRORS = (
    "invalid api key",
    "invalid json request body",
    "invalid request path",
    "missing request body",
    "request missing required field",
)
RETRY_STATUSES = frozenset({408})
INDEX_MAPS = {
    "events_with_invalid_fields": "invalid_field",
    "events_with_missing_fields": "missing_field",
    "events_with_invalid_id_lengths": "invalid_id_length",
}


class Kind(Enum):
    """The action a response calls for."""

    ACK = "ack"  # 2xx: every item ingested
    PARTIAL = "partial"  # some indices rejected / throttled / deferred; re-send the rest now
    SPLIT = "split"  # 413: halve the request, shrink the batch size
    BISECT = "bisect"  # 400 naming no index: halve until the bad item is alone
    THROTTLE_ALL = "throttle_all"  # 429 naming no index or id: wait, then re-send
    RETRY = "retry"  # 5xx, timeout, reset: back off, re-send the same items
    FATAL = "fatal"  # configuration or programming error: stop without STATE


@dataclass
class Verdict:
    """The classified response, by payload index."""

    kind: Kind
    detail: str = ""
    rejected: dict[int, str] = field(default_factory=dict)  # index -> reason code
    throttled: set[int] = field(default_factory=set)
    deferred: set[int] = field(default_factory=set)
    held_ids: set[tuple[str, str]] = field(default_factory=set)  # ("user"|"device", id)
    ingested: int | None = None
    retry_after: float | None = None
    eps_threshold: Any = None


def _error_text(result: HttpResult) -> str:
    body = result.body
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])
    if result.error:
        return result.error
    return (result.text or "").strip()[:300] or f"HTTP {result.status}"


def _retry_after(result: HttpResult) -> float | None:
    value = {k.lower(): v for k, v in result.headers.items()}.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _indices(value: Any, size: int) -> list[int]:
    """Valid indices from a response list; junk and out-of-range entries are ignored."""
    if not isinstance(value, list):
        return []
    return [i for i in value if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < size]


def _ids(value: Any) -> set[str]:
    if isinstance(value, dict):
        return {str(key) for key in value}
    if isinstance(value, list):
        return {str(key) for key in value}
    return set()


def _over_quota(payload: dict[str, Any], body: dict[str, Any]) -> bool:
    users = _ids(body.get("exceeded_daily_quota_users"))
    devices = _ids(body.get("exceeded_daily_quota_devices"))
    user, device = payload.get("user_id"), payload.get("device_id")
    return (user is not None and str(user) in users) or (
        device is not None and str(device) in devices
    )


def _throttling(verdict: Verdict, body: dict[str, Any], payloads: list[dict[str, Any]]) -> None:
    """Fill throttled / deferred indices and held ids from a 429 (or a silenced 400) body."""
    for index in _indices(body.get("throttled_events"), len(payloads)):
        if index in verdict.rejected:
            continue
        if _over_quota(payloads[index], body):
            verdict.deferred.add(index)
        else:
            verdict.throttled.add(index)
    # Ids over their daily quota are deferred, not held: waiting 15-30 s cannot help them.
    users = _ids(body.get("throttled_users")) - _ids(body.get("exceeded_daily_quota_users"))
    devices = _ids(body.get("throttled_devices")) - _ids(body.get("exceeded_daily_quota_devices"))
    verdict.held_ids |= {("user", i) for i in users} | {("device", i) for i in devices}
    verdict.eps_threshold = body.get("eps_threshold")


def _rejections(body: dict[str, Any], size: int) -> dict[int, str]:
    rejected: dict[int, str] = {}
    for key, prefix in INDEX_MAPS.items():
        groups = body.get(key)
        if not isinstance(groups, dict):
            continue
        for field_name, indices in groups.items():
            for index in _indices(indices, size):
                rejected.setdefault(index, f"{prefix}:{field_name}")
    for index in _indices(body.get("silenced_events"), size):
        rejected.setdefault(index, "silenced_device")
    return rejected


def _classify_400(result: HttpResult, payloads: list[dict[str, Any]]) -> Verdict:
    body = result.body if isinstance(result.body, dict) else {}
    detail = _error_text(result)
    if body.get("missing_field") or detail.lower().startswith(FATAL_400_ERRORS):
        return Verdict(Kind.FATAL, detail)
    verdict = Verdict(Kind.PARTIAL, detail, rejected=_rejections(body, len(payloads)))
    _throttling(verdict, body, payloads)
    if verdict.rejected or verdict.throttled or verdict.deferred:
        return verdict
    return Verdict(Kind.BISECT, detail)


def _classify_429(result: HttpResult, payloads: list[dict[str, Any]]) -> Verdict:
    body = result.body if isinstance(result.body, dict) else {}
    verdict = Verdict(Kind.PARTIAL, _error_text(result), retry_after=_retry_after(result))
    _throttling(verdict, body, payloads)
    if verdict.throttled or verdict.deferred or verdict.held_ids:
        return verdict
    verdict.kind = Kind.THROTTLE_ALL
    return verdict


def classify(  # noqa: PLR0911
    result: HttpResult, payloads: list[dict[str, Any]], *, first_request: bool
) -> Verdict:
    """Classify a response to a request that carried `payloads` (in order).

    `first_request` matters for 403: on the run's first request it means a blocked region or
    network (fatal); later it means one payload tripped the WAF (bisect to find it).
    """
    status = result.status
    body = result.body if isinstance(result.body, dict) else {}
    if status is not None and 200 <= status < 300 and body.get("code") == 429:  # noqa: PLR2004
        status = 429
    if status is None or status >= 500 or status in RETRY_STATUSES:  # noqa: PLR2004
        return Verdict(Kind.RETRY, _error_text(result))
    if 200 <= status < 300:  # noqa: PLR2004
        ingested = body.get("events_ingested")
        return Verdict(Kind.ACK, ingested=ingested if isinstance(ingested, int) else None)
    if status == 400:  # noqa: PLR2004
        return _classify_400(result, payloads)
    if status == 413:  # noqa: PLR2004
        return Verdict(Kind.SPLIT, _error_text(result))
    if status == 429:  # noqa: PLR2004
        return _classify_429(result, payloads)
    if status == 403 and not first_request:  # noqa: PLR2004
        return Verdict(Kind.BISECT, _error_text(result))
    return Verdict(Kind.FATAL, f"HTTP {status}: {_error_text(result)}")
