"""Amplitude's cloud-storage export layout: which object holds which upload hour, and its version.

Events: `{prefix}/{project_id}/{project_id}_{yyyy-MM-dd}_{H}#{n}.json.gz` (H not zero-padded).
Merged IDs: `{prefix}/-{org_id}/-{org_id}_{yyyy-MM-dd}_{H}.json.gz`.
A `complete` marker beside an hour's files (named like the files, ending in `complete`) says the
hour is fully written, so an hour without files is known to be empty.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

UTC = dt.timezone.utc
HOUR = dt.timedelta(hours=1)

# Version fields the fsspec drivers report, best first: S3 ETag, GCS generation, Azure etag.
_VERSION_FIELDS = ("ETag", "etag", "generation", "version_id", "VersionId", "md5Hash")


@dataclass(frozen=True)
class Feed:
    """One export folder: its name under the prefix and how its object names start."""

    folder: str  # e.g. `187520` or `-3456`
    what: str  # for logs and errors: "events" or "merged ids"

    @property
    def stem(self) -> str:
        """The part of every object name before the date."""
        return f"{self.folder}_"

    def day_prefix(self, day: dt.date) -> str:
        """The name prefix shared by every object (and marker) of one UTC day."""
        return f"{self.stem}{day.isoformat()}_"


def events_feed(project_id: str) -> Feed:
    """The events folder of a project."""
    return Feed(folder=str(project_id).strip(), what="events")


def merged_ids_feed(org_id: str) -> Feed:
    """The merged-IDs folder of an organization (the folder name starts with '-')."""
    return Feed(folder=f"-{str(org_id).strip().lstrip('-')}", what="merged ids")


_NAME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})_(?P<hour>\d{1,2})"
    r"(?:(?P<data>(?:#(?P<part>\d+))?\.json(?:\.gz)?)|(?P<marker>[_#.-]?complete(?:\.\w+)?))"
)


@dataclass(frozen=True)
class ExportObject:
    """A data object of one upload hour, as listed: its key, part number, size and version."""

    key: str  # path as the filesystem names it (bucket/prefix/folder/name)
    name: str  # the base name (kept in STATE: stable whatever the prefix)
    hour: dt.datetime
    part: int
    size: int | None
    version: str


@dataclass
class DayListing:
    """What one day's listing holds: data objects and `complete` markers, per hour."""

    objects: dict[dt.datetime, list[ExportObject]]
    complete: set[dt.datetime]
    ignored: list[str]


def parse_name(feed: Feed, name: str) -> tuple[dt.datetime, int | None] | None:
    """(hour, part) of a data object, (hour, None) of a marker, None when not of this feed."""
    if not name.startswith(feed.stem):
        return None
    match = _NAME.fullmatch(name[len(feed.stem) :])
    if match is None:
        return None
    try:
        day = dt.date.fromisoformat(match.group("date"))
        hour = int(match.group("hour"))
        start = dt.datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    except ValueError:
        return None
    if match.group("marker") is not None:
        return start, None
    return start, int(match.group("part") or 0)


def object_version(info: dict[str, Any]) -> str:
    """A string that changes when the object is rewritten (ETag, generation, else size+mtime)."""
    for field_name in _VERSION_FIELDS:
        value = info.get(field_name)
        if value not in (None, ""):
            return str(value).strip('"')
    mtime = info.get("mtime", info.get("LastModified", info.get("last_modified", "")))
    return f"{info.get('size')}@{mtime}"


def sort_listing(feed: Feed, infos: list[dict[str, Any]]) -> DayListing:
    """Group one day's listed objects by hour, parts in order; foreign names are set aside."""
    listing = DayListing(objects={}, complete=set(), ignored=[])
    for info in infos:
        if info.get("type", "file") != "file":
            continue
        key = str(info["name"])
        name = key.rstrip("/").rsplit("/", 1)[-1]
        parsed = parse_name(feed, name)
        if parsed is None:
            listing.ignored.append(name)
            continue
        hour, part = parsed
        if part is None:
            listing.complete.add(hour)
            continue
        size = info.get("size")
        listing.objects.setdefault(hour, []).append(
            ExportObject(
                key=key,
                name=name,
                hour=hour,
                part=part,
                size=int(size) if size is not None else None,
                version=object_version(info),
            )
        )
    for parts in listing.objects.values():
        parts.sort(key=lambda obj: (obj.part, obj.name))
    return listing


def days_between(first: dt.datetime, last: dt.datetime) -> list[dt.date]:
    """Every UTC date from the hour `first` to the hour `last`, both included."""
    day, end = first.astimezone(UTC).date(), last.astimezone(UTC).date()
    days: list[dt.date] = []
    while day <= end:
        days.append(day)
        day += dt.timedelta(days=1)
    return days
