"""Why a record is refused locally: stable reason codes and the error that carries them.

The codes appear in dead-letter files, logs and the run summary, so they never change meaning.
"""

from __future__ import annotations

# Reason codes (stable: they appear in dead-letter files and run summaries).
MISSING_EVENT_TYPE = "missing_event_type"
RESERVED_EVENT_TYPE = "reserved_event_type"
MISSING_ID = "missing_id"
INVALID_AMPLITUDE_ID = "invalid_amplitude_id"  # a cohort member's amplitude_id is not a number
ID_TOO_SHORT = "id_too_short"
MISSING_TIME = "missing_time"
INVALID_TIME = "invalid_time"
TIME_OUT_OF_RANGE = "time_out_of_range"
INVALID_NUMBER = "invalid_number"
TOO_MANY_GROUP_TYPES = "too_many_group_types"
TOO_MANY_GROUP_VALUES = "too_many_group_values"
INVALID_GROUP = "invalid_group"
MISSING_GROUP_TYPE = "missing_group_type"
MISSING_GROUP_VALUE = "missing_group_value"
MISSING_GLOBAL_USER_ID = "missing_global_user_id"
STRING_TOO_LONG = "string_too_long"
OPERATOR_MIXING = "operator_mixing"
OPERATOR_CONFLICT = "operator_conflict"
OPERATORS_NOT_ALLOWED = "operators_not_allowed"
TOO_DEEP = "too_deep"
# Reserved fields with the wrong shape (Amplitude answers invalid_field for the whole request).
INVALID_PLAN = "invalid_plan"
INVALID_INGESTION_METADATA = "invalid_ingestion_metadata"
INVALID_SKIP_USER_PROPERTIES_SYNC = "invalid_skip_user_properties_sync"
UNSERIALIZABLE_VALUE = "unserializable_value"


class RecordCheckError(ValueError):
    """Why one record cannot be sent: a reason code and the field at fault."""

    def __init__(self, reason: str, field: str, detail: str) -> None:
        """Keep the parts apart: the reason code is counted, the detail is reported."""
        super().__init__(f"{reason} ({field}): {detail}")
        self.reason = reason
        self.field = field
        self.detail = detail
