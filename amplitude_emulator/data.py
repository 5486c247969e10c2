"""The seeded, deterministic data set of project A, plus generators for "new data" and benchmarks.

Rows are shaped like real Export API lines (raw `YYYY-MM-DD HH:MM:SS.ffffff` UTC timestamps,
nested property bags, `session_id` -1 for sessionless events). Same seed, same rows.
Server-upload hours run from `FIRST_HOUR` to `LAST_HOUR` inclusive, except `EMPTY_HOUR` (no rows,
like a quiet hour in a real project). `HEAVY_USER_ID` owns more than 1000 events so user activity
needs several pages; `ANONYMOUS_DEVICE_ID` sends events with a null `user_id`.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from amplitude_emulator import catalog, cohort_seed

if TYPE_CHECKING:
    from collections.abc import Iterator

    from amplitude_emulator.state import Project

FIRST_HOUR = datetime(2024, 3, 1, 0, tzinfo=timezone.utc)
LAST_HOUR = datetime(2024, 3, 3, 23, tzinfo=timezone.utc)
EMPTY_HOUR = datetime(2024, 3, 2, 5, tzinfo=timezone.utc)
HEAVY_USER_ID = "heavy.user@example.com"
HEAVY_EVENTS_PER_HOUR = 16
ANONYMOUS_DEVICE_ID = "7f3c9a52-anon-4d1e-9b0a-5e2f41c8d903"
APP_ID = 187520
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"

EVENT_NAMES = (
    "Page Viewed",
    "Button Clicked",
    "Search Performed",
    "Add to Cart",
    "Checkout Completed",
    "Video Played",
    "Login",
    "Signup",
)
SERVER_EVENT_NAME = "Daily Ad Metrics"  # server-side, no session (session_id -1)


@dataclass(frozen=True)
class User:
    """One user of the seeded project, with the device and place its events come from."""

    amplitude_id: int
    user_id: str | None
    device_id: str
    platform: str
    os_name: str
    os_version: str
    device_family: str
    country: str
    region: str
    city: str
    language: str
    created: datetime


USERS: tuple[User, ...] = (
    User(
        550106004601,
        HEAVY_USER_ID,
        "d3a1f0c2-heavy-4b7e-8f61-2a9c0e5d7b11",
        "iOS",
        "ios",
        "17.3",
        "Apple iPhone",
        "United States",
        "California",
        "San Francisco",
        "English",
        datetime(2023, 11, 2, 9, 15, 3, 120000, tzinfo=timezone.utc),
    ),
    User(
        550106004602,
        "alice@example.com",
        "a11ce000-0000-4c1a-9d2e-3f4a5b6c7d8e",
        "Web",
        "Chrome",
        "122",
        "Mac",
        "Germany",
        "Berlin",
        "Berlin",
        "German",
        datetime(2024, 3, 1, 0, 4, 51, 5000, tzinfo=timezone.utc),
    ),
    User(
        550106004603,
        "bob@example.com",
        "b0b00000-0000-4a2b-8c3d-4e5f6a7b8c9d",
        "Android",
        "android",
        "14",
        "Google Pixel",
        "France",
        "Ile-de-France",
        "Paris",
        "French",
        datetime(2024, 1, 20, 17, 45, 0, 0, tzinfo=timezone.utc),
    ),
    User(
        550106004604,
        "carol.0042",
        "c4a01000-0000-4f3c-9e4d-5a6b7c8d9e0f",
        "Web",
        "Firefox",
        "123",
        "Windows",
        "United States",
        "New York",
        "New York",
        "English",
        datetime(2024, 3, 2, 12, 1, 7, 990000, tzinfo=timezone.utc),
    ),
    User(
        550106004605,
        "dave-7",
        "da7e0000-0000-4d5e-af60-7b8c9d0e1f2a",
        "iOS",
        "ios",
        "16.7",
        "Apple iPad",
        "Japan",
        "Tokyo",
        "Tokyo",
        "Japanese",
        datetime(2023, 6, 30, 3, 0, 0, 0, tzinfo=timezone.utc),
    ),
    User(
        550106004606,
        None,
        ANONYMOUS_DEVICE_ID,
        "Web",
        "Safari",
        "17.2",
        "Mac",
        "Canada",
        "Ontario",
        "Toronto",
        "English",
        datetime(2024, 2, 14, 8, 30, 12, 500000, tzinfo=timezone.utc),
    ),
)


# Usually null in real export rows (the filled form is the minority, see `filled_shape`).
REAL_NULL_FIELDS = (
    "$schema",
    "is_attribution_event",
    "user_creation_time",
    "location_lat",
    "location_lng",
    "paying",
    "device_type",
)


def hour_string(hour: datetime) -> str:
    """The Export API's hour parameter format, e.g. 20240301T05."""
    return hour.strftime("%Y%m%dT%H")


def format_time(moment: datetime) -> str:
    """Amplitude's raw export timestamp format (UTC, no zone marker)."""
    return moment.strftime(TIME_FORMAT)


def parse_time(raw: str) -> datetime:
    """Inverse of `format_time`."""
    return datetime.strptime(raw, TIME_FORMAT).replace(tzinfo=timezone.utc)


def _row(  # noqa: PLR0917  one argument per varying part of an event
    rng: random.Random,
    user: User,
    uploaded: datetime,
    event_type: str,
    session_id: int,
    event_id: int,
    pad: int = 0,
) -> dict[str, Any]:
    """One export line for `user`, uploaded at `uploaded`."""
    received = uploaded - timedelta(milliseconds=rng.randint(5, 900))
    client_upload = received - timedelta(milliseconds=rng.randint(20, 1500))
    if rng.random() < 0.05:  # sent late from an offline device: event days before the upload
        client_event = client_upload - timedelta(
            days=rng.randint(1, 20), seconds=rng.randint(0, 86399)
        )
    else:
        client_event = client_upload - timedelta(
            seconds=rng.randint(0, 600), microseconds=rng.randint(0, 999999)
        )
    skew = timedelta(milliseconds=rng.randint(-800, 800))
    processed = uploaded + timedelta(milliseconds=rng.randint(100, 2500))
    sessionless = session_id == -1
    insert_id = (
        None
        if rng.random() < 0.05
        else f"{user.device_id[:8]}-{event_id}-{rng.getrandbits(32):08x}"
    )
    row: dict[str, Any] = {
        "$insert_id": insert_id,
        "$insert_key": None,
        "$schema": 12,
        "adid": None,
        "amplitude_attribution_ids": None,
        "amplitude_event_type": None,
        "amplitude_id": user.amplitude_id,
        "app": APP_ID,
        "city": user.city,
        "client_event_time": format_time(client_event),
        "client_upload_time": format_time(client_upload),
        "country": user.country,
        "data": {
            "path": "/batch" if sessionless else "/2/httpapi",
            "user_properties_updated": rng.random() < 0.1,
        },
        "data_type": "event",
        "device_brand": None,
        "device_carrier": None if user.platform == "Web" else "T-Mobile",
        "device_family": user.device_family,
        "device_id": user.device_id,
        "device_manufacturer": None,
        "device_model": None,
        "device_type": user.device_family,
        "dma": "San Francisco-Oakland-San Jose, CA" if user.city == "San Francisco" else None,
        "event_id": event_id,
        "event_properties": {
            "page": rng.choice(["/", "/pricing", "/docs", "/cart", "/search"]),
            "duration_ms": rng.randint(10, 90000),
            "experiment": {"name": "checkout-v2", "variant": rng.choice(["control", "treatment"])},
            "tags": rng.sample(["new", "promo", "mobile", "beta", "returning"], 2),
            **({"padding": "x" * pad} if pad else {}),
        },
        "event_time": format_time(client_event + skew),
        "event_type": event_type,
        "global_user_properties": {},
        "group_properties": {"company": {"name": "Acme", "plan": "enterprise"}}
        if user.user_id
        else {},
        "groups": {"company": ["acme"]} if user.user_id else {},
        "idfa": None,
        "ip_address": f"203.0.113.{user.amplitude_id % 250}",
        "is_attribution_event": False,
        "language": user.language,
        "library": "http/2.0" if not sessionless else "batch/1.0",
        "location_lat": round(rng.uniform(-60, 60), 4),
        "location_lng": round(rng.uniform(-150, 150), 4),
        "os_name": user.os_name,
        "os_version": user.os_version,
        "partner_id": None,
        "paying": True if user.user_id == HEAVY_USER_ID else None,
        "plan": {"branch": "main", "source": "web", "version": "3"},
        "platform": user.platform,
        "processed_time": format_time(processed),
        "region": user.region,
        "sample_rate": None,
        "server_received_time": format_time(received),
        "server_upload_time": format_time(uploaded),
        "session_id": session_id,
        "source_id": None,
        "start_version": "1.0.0",
        "user_creation_time": format_time(user.created),
        "user_id": user.user_id,
        "user_properties": {
            "plan": "pro" if user.user_id else "free",
            "signup_source": "organic",
            "cohort_week": user.created.strftime("%G-W%V"),
        },
        "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "version_name": "2.14.0",
    }
    if not filled_shape(user, event_id):
        real_shape(row, event_id)
    return row


def filled_shape(user: User, event_id: int) -> bool:
    """About one row in five keeps every field filled; the rest look like real export rows.

    Decided from the ids, not the random stream, so the seeded data stays the same otherwise.
    """
    return (event_id * 7 + user.amplitude_id) % 5 == 0


def real_shape(row: dict[str, Any], event_id: int) -> None:
    """Blank what real export rows usually leave null or `{}` (reference, part 2, first list).

    `amplitude_attribution_ids` is a list, `data` holds `group_first_event: {}` and
    `group_ids: {}`, and carries `user_properties_updated` only when it is true.
    """
    for key in REAL_NULL_FIELDS:
        row[key] = None
    row["plan"] = {} if event_id % 2 else None
    row["global_user_properties"] = {} if event_id % 3 else None
    row["amplitude_attribution_ids"] = [f"attr-{event_id:06d}"] if event_id % 10 == 0 else []
    updated = row["data"].pop("user_properties_updated")
    row["data"].update({"group_first_event": {}, "group_ids": {}})
    if updated:
        row["data"]["user_properties_updated"] = True


def _hour_rows(
    rng: random.Random, hour: datetime, counters: dict[int, int], per_user: dict[User, int]
) -> list[dict[str, Any]]:
    """Rows uploaded during one hour: each user gets one session of `per_user[user]` events."""
    rows: list[dict[str, Any]] = []
    for user, count in per_user.items():
        if count <= 0:
            continue
        offsets = sorted(rng.randint(0, 3599) for _ in range(count))
        session_id = int((hour + timedelta(seconds=offsets[0])).timestamp() * 1000)
        for offset in offsets:
            counters[user.amplitude_id] = counters.get(user.amplitude_id, 0) + 1
            uploaded = hour + timedelta(seconds=offset, microseconds=rng.randint(0, 999999))
            rows.append(
                _row(
                    rng,
                    user,
                    uploaded,
                    rng.choice(EVENT_NAMES),
                    session_id,
                    counters[user.amplitude_id],
                )
            )
    if rng.random() < 0.3:  # a server-side event with no session and no user id
        user = USERS[-1]
        counters[user.amplitude_id] = counters.get(user.amplitude_id, 0) + 1
        uploaded = hour + timedelta(seconds=rng.randint(0, 3599))
        rows.append(_row(rng, user, uploaded, SERVER_EVENT_NAME, -1, counters[user.amplitude_id]))
    return rows


def _per_user_counts(rng: random.Random) -> dict[User, int]:
    counts = {USERS[0]: HEAVY_EVENTS_PER_HOUR}
    for user in USERS[1:]:
        counts[user] = rng.choice([0, 0, 1, 2, 3, 4])
    return counts


# seed -> generated rows as JSON: parsing a copy is twice as fast as generating again.
_SEEDED_JSON: dict[int, bytes] = {}


def seed_project(project: Project, seed: int) -> None:
    """Fill a project with generated export rows, event types, annotations and cohorts."""
    if seed not in _SEEDED_JSON:
        _SEEDED_JSON[seed] = json.dumps(_generate_rows(seed)).encode("utf-8")
    rows: list[dict[str, Any]] = json.loads(_SEEDED_JSON[seed])
    project.export_rows = rows
    project.event_types = catalog.event_types(rows, [*EVENT_NAMES, SERVER_EVENT_NAME])
    project.annotations = catalog.chart_annotations()
    project.annotations_v3 = catalog.chart_annotations_v3(project.annotations)
    project.cohorts = catalog.cohorts(project.project_id)
    cohort_seed.seed_members(project.cohort_members, USERS)


def _generate_rows(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    counters: dict[int, int] = {}
    rows: list[dict[str, Any]] = []
    hour = FIRST_HOUR
    while hour <= LAST_HOUR:
        per_user = _per_user_counts(rng)
        if hour != EMPTY_HOUR:
            rows.extend(_hour_rows(rng, hour, counters, per_user))
        hour += timedelta(hours=1)
    return rows


def add_export_rows(
    project: Project, start_hour: datetime, hours: int = 1, per_hour: int = 10, seed: int = 1
) -> list[dict[str, Any]]:
    """Append rows uploaded during `hours` hours from `start_hour` ("new data arrived")."""
    rng = random.Random(f"{seed}-{start_hour.isoformat()}")
    counters = {user.amplitude_id: 100000 + seed * 1000 for user in USERS}
    added: list[dict[str, Any]] = []
    for step in range(hours):
        hour = start_hour.astimezone(timezone.utc).replace(
            minute=0, second=0, microsecond=0
        ) + timedelta(hours=step)
        per_user = dict.fromkeys(USERS, 0)
        for index in range(per_hour):
            per_user[USERS[index % len(USERS)]] += 1
        added.extend(
            row
            for row in _hour_rows(rng, hour, counters, per_user)
            if row["event_type"] != SERVER_EVENT_NAME
        )
    project.export_rows.extend(added)
    return added


def synthetic_rows(
    count: int, start_hour: datetime, per_hour: int = 5000, seed: int = 1
) -> Iterator[dict[str, Any]]:
    """`count` realistic rows (~1.7 KB as JSON), `per_hour` per upload hour, for benchmarks.

    Rows are variations of a few dozen fully generated templates (new `uuid`, `$insert_id`,
    `event_id`, upload time and session), which is several times faster than generating each.
    """
    rng = random.Random(seed)
    hour = start_hour.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    templates = [
        _row(rng, USERS[n % len(USERS)], hour, EVENT_NAMES[n % len(EVENT_NAMES)], 1, n + 1)
        for n in range(64)
    ]
    for index in range(count):
        uploaded = hour + timedelta(hours=index // per_hour, seconds=rng.randrange(3600))
        stamp = f"{uploaded:%Y-%m-%d %H:%M:%S}.{rng.randrange(1000000):06d}"
        row = dict(templates[index % len(templates)])
        row["uuid"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        row["$insert_id"] = f"{row['device_id'][:8]}-{index + 1}"
        row["event_id"] = index + 1
        row["server_upload_time"] = stamp
        row["server_received_time"] = stamp
        row["processed_time"] = stamp
        row["session_id"] = int(uploaded.timestamp()) * 1000
        yield row


def row_bytes(row: dict[str, Any]) -> bytes:
    """A row as one JSON line, the way the export files hold it."""
    return json.dumps(row, separators=(",", ":")).encode("utf-8") + b"\n"
