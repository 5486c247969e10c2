"""Who is in each behavioral cohort of a project: the one store downloads read and uploads write.

Members are keyed by Amplitude ID (a cohort holds a user once) and keep their insertion order.
A cohort can be *generated* (the seeded 50k-member one): its members are produced on demand and
only materialised when something writes to it, so every emulator reset stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator


@dataclass(frozen=True)
class Member:
    """One cohort member: its Amplitude ID, user ID (None for anonymous users), user properties."""

    amplitude_id: int
    user_id: str | None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Generated:
    count: int
    produce: Callable[[], Iterator[Member]]
    property_keys: tuple[str, ...]


class CohortStore:
    """Members of every cohort of one project (callers hold `state.lock` while mutating)."""

    def __init__(self) -> None:
        self._members: dict[str, dict[int, Member]] = {}
        self._generated: dict[str, _Generated] = {}

    def has(self, cohort_id: str) -> bool:
        """Whether the store knows this cohort (an empty cohort counts)."""
        return cohort_id in self._members or cohort_id in self._generated

    def cohort_ids(self) -> list[str]:
        """Every cohort with a membership, generated ones included."""
        return [*self._members, *(c for c in self._generated if c not in self._members)]

    def count(self, cohort_id: str) -> int:
        """How many members the cohort has (0 when unknown)."""
        if cohort_id in self._generated:
            return self._generated[cohort_id].count
        return len(self._members.get(cohort_id, {}))

    def members(self, cohort_id: str) -> Iterator[Member]:
        """The cohort's members in insertion order (a snapshot: later writes do not show)."""
        generated = self._generated.get(cohort_id)
        if generated is not None:
            return generated.produce()
        return iter(list(self._members.get(cohort_id, {}).values()))

    def property_keys(self, cohort_id: str) -> list[str]:
        """Every user property key any member carries, sorted (the download's extra columns)."""
        generated = self._generated.get(cohort_id)
        if generated is not None:
            return sorted(generated.property_keys)
        keys: set[str] = set()
        for member in self._members.get(cohort_id, {}).values():
            keys.update(member.properties)
        return sorted(keys)

    def replace(self, cohort_id: str, members: Iterable[Member]) -> None:
        """Make `members` the cohort's whole membership (creates the cohort if needed)."""
        self._generated.pop(cohort_id, None)
        self._members[cohort_id] = {member.amplitude_id: member for member in members}

    def add(self, cohort_id: str, members: Iterable[Member]) -> None:
        """Add members (an Amplitude ID already in the cohort is updated, not repeated)."""
        current = self._materialise(cohort_id)
        for member in members:
            current[member.amplitude_id] = member

    def remove(self, cohort_id: str, amplitude_ids: Iterable[int]) -> None:
        """Drop members by Amplitude ID (unknown ids are ignored)."""
        current = self._materialise(cohort_id)
        for amplitude_id in amplitude_ids:
            current.pop(amplitude_id, None)

    def seed_generated(
        self,
        cohort_id: str,
        count: int,
        produce: Callable[[], Iterator[Member]],
        property_keys: Iterable[str],
    ) -> None:
        """Register a cohort whose `count` members `produce()` yields on each read."""
        self._members.pop(cohort_id, None)
        self._generated[cohort_id] = _Generated(count, produce, tuple(property_keys))

    def _materialise(self, cohort_id: str) -> dict[int, Member]:
        generated = self._generated.pop(cohort_id, None)
        if generated is not None:
            self._members[cohort_id] = {m.amplitude_id: m for m in generated.produce()}
        return self._members.setdefault(cohort_id, {})
