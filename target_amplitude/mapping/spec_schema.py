"""The JSON schema of the `streams` setting: the shape `--about` and Meltano show for a spec.

It declares every mapping option with its description and refuses only what the target refuses
anyway (an unknown kind or preset, a `null_values` or flag of the wrong kind), so the error
names the stream and option. Any other key is an Amplitude field mapped to a source; the
finer checks (sources, templates, operators) stay in the plan compilers, whose messages say
what to write instead. No option has a default here: the SDK would write it into every spec.
"""

from __future__ import annotations

from typing import Any

from target_amplitude.amplitude import OPERATORS
from target_amplitude.mapping.cohort_spec import ID_TYPES, MODES
from target_amplitude.mapping.presets import PRESETS
from target_amplitude.mapping.specs import OBJECT_KINDS

KIND = {"type": "string", "enum": list(OBJECT_KINDS)}
BAG = (
    '`"*"` (every field not mapped elsewhere), a list of fields, '
    '`{"include": [...], "exclude": [...]}` or `{"field": "path.to.object"}`'
)

SPEC_OPTIONS: dict[str, dict[str, Any]] = {
    "object": {
        "description": "Kind to send each record as, or a list of kinds (default `event`).",
        "if": {"type": "string"},
        "then": KIND,
        "else": {"type": "array", "items": KIND, "minItems": 1},
    },
    "preset": {
        "type": "string",
        "enum": sorted(PRESETS),
        "description": "Ready-made spec the other keys override (`amplitude_export`).",
    },
    "event_properties": {"description": f"Event property bag: {BAG}."},
    "user_properties": {"description": f"User property bag: {BAG}."},
    "group_properties": {"description": f"Group property bag: {BAG}."},
    "groups": {
        "type": "object",
        "description": "Group type -> source of the record's group value(s).",
    },
    "property_operations": {
        "type": "object",
        "description": (
            f"`{{operator: [properties]}}` or `{{property: operator}}`; operators: "
            f"{', '.join(OPERATORS)}."
        ),
    },
    "null_values": {
        "type": "string",
        "enum": ["skip", "unset"],
        "description": "Null property values: `skip` (default) leaves them out, `unset` clears.",
    },
    "allow_missing_time": {
        "type": "boolean",
        "description": "Events without a time get the run's start time instead of a rejection.",
    },
    "touch_event": {
        "description": (
            "User, device and group streams: also send this event type per record (or "
            "`{event_type, time, user_id, device_id}`)."
        ),
    },
    "group_membership": {
        "description": (
            'Group streams: also link the record\'s user to the group (`true`, or `{"user_id": '
            '"member_id"}`).'
        ),
    },
    "skip_event_types": {
        "type": "array",
        "items": {"type": "string"},
        "description": "Event types not sent (e.g. `$identify` rows of an export).",
    },
    "skip_user_properties_sync": {
        "type": "boolean",
        "description": "Events leave the user's properties alone (historical backfills).",
    },
    "cohort_id": {
        "type": ["string", "null"],
        "description": "`cohort` streams: the id of an existing cohort to write.",
    },
    "cohort_name": {
        "type": ["string", "null"],
        "description": (
            "`cohort` streams: the cohort's name; created on the first run, its id kept in STATE."
        ),
    },
    "id_type": {
        "type": "string",
        "enum": list(ID_TYPES),
        "description": "`cohort` streams: which id each record holds (default `user_id`).",
    },
    "mode": {
        "type": "string",
        "enum": list(MODES),
        "description": (
            "`cohort` streams: `replace` (default: members become exactly the stream's ids), "
            "`add` or `remove`."
        ),
    },
    "owner": {
        "type": ["string", "null"],
        "description": "`cohort` streams: login email of the cohort's owner (uploads need it).",
    },
    "published": {
        "type": "boolean",
        "description": "`cohort` streams: whether the cohort is visible to others (default true).",
    },
}

FIELD_SOURCE = {
    "description": (
        "Any other key is an Amplitude field (`user_id`, `event_type`, `time`, ...) mapped to a "
        'record field path (`"customer.id"`), a template (`"Viewed {page}"`), `{"const": ...}`, '
        "a list of those (first non-null wins), or null to leave the field out."
    ),
}

STREAM_SPEC: dict[str, Any] = {
    "description": "A kind name, or a mapping spec.",
    "if": {"type": "string"},
    "then": KIND,
    "else": {
        "type": "object",
        "properties": SPEC_OPTIONS,
        "additionalProperties": FIELD_SOURCE,
    },
}

STREAMS_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "additionalProperties": STREAM_SPEC,
}
