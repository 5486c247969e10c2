"""Members of cohorts written by uploads and membership updates (`cohort_uploads.py`).

A stand-in with the interface of the download side's membership store (`Member`, `replace`,
`add`, `remove`, `count`, `members`, `cohort_ids`), so both sides can share one store: uploads
write what downloads read. Members are keyed by Amplitude ID and keep their insertion order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator


@dataclass(frozen=True)
class Member:
    """One cohort member: its Amplitude ID, user ID (None for anonymous users), user properties."""

    amplitude_id: int
    user_id: str | None
    properties: dict[str, Any] = field(default_factory=dict)


class CohortStore:
    """Members of every cohort of one project (callers hold `state.lock` while mutating)."""

    def __init__(self) -> None:
        """No cohort has members yet."""
        self._members: dict[str, dict[int, Member]] = {}

    def cohort_ids(self) -> list[str]:
        """Every cohort with a membership."""
        return list(self._members)

    def count(self, cohort_id: str) -> int:
        """How many members the cohort has (0 when unknown)."""
        return len(self._members.get(cohort_id, {}))

    def members(self, cohort_id: str) -> Iterator[Member]:
        """The cohort's members in insertion order (a snapshot)."""
        return iter(list(self._members.get(cohort_id, {}).values()))

    def replace(self, cohort_id: str, members: Iterable[Member]) -> None:
        """Make `members` the cohort's whole membership."""
        self._members[cohort_id] = {member.amplitude_id: member for member in members}

    def add(self, cohort_id: str, members: Iterable[Member]) -> None:
        """Add members (one already in the cohort is updated, not repeated)."""
        current = self._members.setdefault(cohort_id, {})
        for member in members:
            current[member.amplitude_id] = member

    def remove(self, cohort_id: str, amplitude_ids: Iterable[int]) -> None:
        """Drop members by Amplitude ID (unknown ids are ignored)."""
        current = self._members.setdefault(cohort_id, {})
        for amplitude_id in amplitude_ids:
            current.pop(amplitude_id, None)
