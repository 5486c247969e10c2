"""Seeded memberships of the catalog's cohorts: a few known users, and one 50k-member cohort."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amplitude_emulator.catalog import LARGE_COHORT_ID, LARGE_COHORT_SIZE
from amplitude_emulator.cohort_store import CohortStore, Member

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from amplitude_emulator.data import User

LARGE_FIRST_AMPLITUDE_ID = 880_000_000_000
LARGE_PROPERTY_KEYS = ("gp:newsletter", "plan", "country")
PLANS = ("free", "pro", "enterprise")
COUNTRIES = ("United States", "Germany", "France", "Japan", "Canada")


def _member(user: User, plan: str) -> Member:
    return Member(user.amplitude_id, user.user_id, {"plan": plan, "country": user.country})


def large_member(index: int) -> Member:
    """The index-th subscriber: every tenth is anonymous (no user_id), as real cohorts hold."""
    user_id = None if index % 10 == 9 else f"subscriber-{index:05d}@example.com"
    properties: dict[str, Any] = {
        "gp:newsletter": "weekly" if index % 2 else "monthly",
        "plan": PLANS[index % len(PLANS)],
        "country": COUNTRIES[index % len(COUNTRIES)],
    }
    return Member(LARGE_FIRST_AMPLITUDE_ID + index, user_id, properties)


def _large_members() -> Iterator[Member]:
    for index in range(LARGE_COHORT_SIZE):
        yield large_member(index)


def seed_members(store: CohortStore, users: Sequence[User]) -> None:
    """Seed the catalog's cohorts.

    Power users: the heavy user; cart abandoners: alice, bob and the anonymous device; the
    archived trial cohort: nobody; newsletter subscribers: 50k generated members.
    """
    heavy, alice, bob, anonymous = users[0], users[1], users[2], users[5]
    store.replace("c0h0rt00", [_member(heavy, "enterprise")])
    store.replace(
        "c0h0rt01", [_member(alice, "pro"), _member(bob, "free"), _member(anonymous, "free")]
    )
    store.replace("c0h0rt02", [])
    store.seed_generated(LARGE_COHORT_ID, LARGE_COHORT_SIZE, _large_members, LARGE_PROPERTY_KEYS)
