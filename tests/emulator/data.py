"""Placeholder: the seeded, deterministic data set (being written)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.emulator.state import Project


def seed_project(project: Project, seed: int) -> None:
    """Fill a project with generated export rows, event types, annotations and cohorts."""
