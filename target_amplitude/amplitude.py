"""Amplitude's facts, written once: endpoints, hosts, fields, operators, reserved names, limits.

The leaf of the target: every other module imports from here and this module imports nothing of
the target (the region default and Dashboard REST hosts it shares with the tap come from
`singer_amplitude.dashboard_api`). The facts come from Amplitude's ingestion documentation (HTTP
V2, Batch, Identify, Group Identify, User Mapping), its cohort API and its instrumentation limits.
"""

from __future__ import annotations

from typing import Any

from singer_amplitude import dashboard_api

# --- endpoints and where they live ---------------------------------------------------------------

EVENTS = "events"
IDENTIFY = "identify"
GROUP_IDENTIFY = "groupidentify"
USERMAP = "usermap"
ENDPOINTS = (EVENTS, IDENTIFY, GROUP_IDENTIFY, USERMAP)

DEFAULT_REGION = dashboard_api.DEFAULT_REGION  # the tap's default too
INGESTION_HOSTS = {"us": "https://api2.amplitude.com", "eu": "https://api.eu.amplitude.com"}
USERMAP_HOSTS = {"us": "https://api.amplitude.com", "eu": "https://api.eu.amplitude.com"}
EVENT_PATHS = {"batch": "/batch", "httpapi": "/2/httpapi"}
FORM_PATHS = {IDENTIFY: "/identify", GROUP_IDENTIFY: "/groupidentify", USERMAP: "/usermap"}
FORM_FIELDS = {IDENTIFY: "identification", GROUP_IDENTIFY: "identification", USERMAP: "mapping"}

# --- per-request caps ----------------------------------------------------------------------------

# Hard per-request caps: /groupidentify takes at most 1024 identifications.
MAX_ITEMS = {EVENTS: 2000, IDENTIFY: 2000, GROUP_IDENTIFY: 1024, USERMAP: 2000}
# Body size caps in MB, by event endpoint setting (`form`: /identify, /groupidentify, /usermap).
MAX_REQUEST_MB = {"batch": 20, "httpapi": 1, "form": 1}
# Events per second one user or device may send before Amplitude answers 429.
EVENTS_PER_USER_SECOND = {"batch": 1000, "httpapi": 30}

# --- field catalogs ------------------------------------------------------------------------------

ID_FIELDS = ("user_id", "device_id")
SKIP_USER_PROPERTIES_SYNC = "$skip_user_properties_sync"
# Device and location fields: on events, and on the profile an identify updates.
DEVICE_FIELDS = (
    "app_version",
    "platform",
    "os_name",
    "os_version",
    "device_brand",
    "device_manufacturer",
    "device_model",
    "carrier",
    "country",
    "region",
    "city",
    "dma",
    "language",
)
EVENT_KEYS = frozenset(
    [
        *ID_FIELDS,
        "event_type",
        "time",
        "insert_id",
        "event_id",
        "session_id",
        *DEVICE_FIELDS,
        "location_lat",
        "location_lng",
        "ip",
        "idfa",
        "idfv",
        "adid",
        "android_id",
        "android_app_set_id",
        "user_agent",
        "price",
        "quantity",
        "revenue",
        "productId",
        "revenueType",
        "currency",
        "plan",
        "ingestion_metadata",
        "partner_id",
        "version_name",
        "library",
        SKIP_USER_PROPERTIES_SYNC,
    ]
)
IDENTIFY_KEYS = frozenset([*ID_FIELDS, *DEVICE_FIELDS, "paying", "start_version"])
GROUP_KEYS = frozenset(("group_type", "group_value"))
USER_MAPPING_KEYS = frozenset(("user_id", "global_user_id", "unmap"))
PROPERTY_BAGS = ("event_properties", "user_properties", "groups", "group_properties")
# Fields Amplitude wants as strings (besides the ids), and the numeric ones it parses.
STRING_FIELDS = ("event_type", "insert_id", "group_type", "group_value", "global_user_id")
FLOAT_FIELDS = ("price", "revenue", "location_lat", "location_lng")
INT_FIELDS = ("quantity", "session_id", "event_id")

# --- reserved objects and names ------------------------------------------------------------------

# Reserved event objects: the keys Amplitude accepts in each, every value a string. A column
# named like one maps to it by convention only when its value has this shape (a `plan` column
# holding "pro" is a subscription plan, an ordinary event property).
RESERVED_OBJECTS: dict[str, frozenset[str]] = {
    "plan": frozenset(("branch", "source", "version", "versionId")),
    "ingestion_metadata": frozenset(("source_name", "source_version")),
}


def has_reserved_shape(key: str, value: Any) -> bool:
    """Whether `value` is a well-formed `plan` / `ingestion_metadata` object."""
    keys = RESERVED_OBJECTS[key]
    return (
        isinstance(value, dict)
        and bool(value)
        and set(value) <= keys
        and all(isinstance(item, str) for item in value.values())
    )


# Event types Amplitude writes itself (identify and session bookkeeping); they cannot be sent.
# The first two record user / group property changes (an export carries them as rows).
IDENTIFY_EVENT_TYPES = ("$identify", "$groupidentify")
RESERVED_EVENT_TYPES = (
    *IDENTIFY_EVENT_TYPES,
    "[Amplitude] Start Session",
    "[Amplitude] End Session",
    "[Amplitude] Revenue",
    "[Amplitude] Revenue (Verified)",
    "[Amplitude] Revenue (Unverified)",
    "[Amplitude] Merged User",
)

# Amplitude answers 400 for these ids (compared case-insensitively); we treat them as absent.
INVALID_IDS = frozenset(
    {
        "anonymous",
        "nil",
        "none",
        "null",
        "n/a",
        "na",
        "undefined",
        "unknown",
        '""',
        "00000000-0000-0000-0000-000000000000",
        "{}",
        "lmy47d",
        "0",
        "-1",
    }
)

# --- user and group property operators ----------------------------------------------------------

# Setting name -> Amplitude's operator (the `property_operations` vocabulary).
OPERATORS = {
    "set": "$set",
    "set_once": "$setOnce",
    "add": "$add",
    "append": "$append",
    "prepend": "$prepend",
    "unset": "$unset",
    "pre_insert": "$preInsert",
    "post_insert": "$postInsert",
    "remove": "$remove",
}
IDENTIFY_OPERATORS = frozenset({*OPERATORS.values(), "$clearAll"})
GROUP_OPERATORS = frozenset(("$set", "$setOnce", "$add", "$append", "$prepend", "$unset"))

# --- limits --------------------------------------------------------------------------------------

MAX_STRING_LENGTH = 1024  # every string, ids included
MAX_DEPTH = 40  # nesting of property objects
DEFAULT_MIN_ID_LENGTH = 5
MAX_GROUP_TYPES = 5  # per event or identify
MAX_GROUP_VALUES = 10  # per group type
EARLIEST_TIME_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
FUTURE_TOLERANCE_MS = 24 * 3600 * 1000  # event times up to a day ahead (clock skew)
# Distinct names per project past which Amplitude stops indexing new ones (its documented
# instrumentation limits); later names are visible only in exports.
MAX_EVENT_TYPES = 2000
MAX_EVENT_PROPERTIES = 2000
MAX_USER_PROPERTIES = 1000

# --- Behavioral Cohorts API (cohort uploads and membership updates) ------------------------------

# The Dashboard REST hosts serve the cohort API, with api_key:secret_key Basic auth.
COHORT_HOSTS = dashboard_api.DASHBOARD_HOSTS
COHORT_LIST_PATH = dashboard_api.COHORTS_PATH
COHORT_UPLOAD_PATH = f"{COHORT_LIST_PATH}/upload"  # create, or replace with existing_cohort_id
COHORT_MEMBERSHIP_PATH = f"{COHORT_LIST_PATH}/membership"  # ADD / REMOVE ids
MAX_COHORT_IDS = 100_000  # ids per upload or membership request
# Our id_type -> the upload's and the membership update's names for it.
COHORT_UPLOAD_ID_TYPES = {"user_id": "BY_USER_ID", "amplitude_id": "BY_AMP_ID"}
COHORT_MEMBERSHIP_ID_TYPES = {"user_id": "BY_NAME", "amplitude_id": "BY_ID"}
COHORT_UPLOADED_TYPE = "manual_upload"  # `type` of cohorts made by an upload
