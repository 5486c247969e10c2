"""The `events` record path: the SDK's per-record hooks minus the work that is a no-op here.

With conformance NONE and nothing deselected, the SDK's prune walk and conformance cannot change
a record, so each RECORD line is encoded straight from a dict shaped like
`RecordMessage.to_dict()` by the same msgspec encoder `MsgSpecWriter` uses: the bytes are the
ones the SDK would print. Lines go to stdout's buffer without a flush per record; the STATE
message after each window flushes them (a record is only committed by that STATE anyway).
Any deselection, another conformance level or another writer takes the SDK's own path.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import TYPE_CHECKING, Any

from singer_sdk import singerlib as singer
from singer_sdk.contrib.msgspec import MsgSpecWriter, serialize_jsonl
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.streams.core import Stream

if TYPE_CHECKING:
    from collections.abc import Generator

UTC = dt.timezone.utc


class DirectRecordPath(Stream):
    """Mix-in for a stream whose records are emitted as extracted (see the module docstring)."""

    _direct_records: bool | None = None
    _identity_alias: str | None = None  # the only stream map passes records through as is

    def _can_write_directly(self) -> bool:
        """True when the SDK's record path would print the record unchanged (decided once)."""
        if self._direct_records is None:
            self._direct_records = (
                self.TYPE_CONFORMANCE_LEVEL == TypeConformanceLevel.NONE
                and all(self.mask.values())
                and isinstance(self._tap.message_writer, MsgSpecWriter)
            )
            maps = self.stream_maps
            if (
                len(maps) == 1
                and type(maps[0]) is SameRecordTransform
                and not maps[0].flattening_enabled
            ):
                self._identity_alias = maps[0].stream_alias
        return self._direct_records

    def _write_record_message(self, record: dict) -> None:
        """One RECORD line per stream map, encoded and buffered without a message object."""
        if not self._can_write_directly():
            super()._write_record_message(record)
            return
        if self._identity_alias is not None:
            self._write_line(self._identity_alias, record)
        else:
            for stream_map in self.stream_maps:
                mapped = stream_map.transform(record)
                if mapped is not None:
                    self._write_line(stream_map.stream_alias, mapped)
        self.state_manager.is_flushed = False

    def _write_line(self, alias: str, record: dict) -> None:
        """The RECORD line `RecordMessage(...).to_dict()` would give, into stdout's buffer."""
        message: dict[str, Any] = {"type": "RECORD", "stream": alias, "record": record}
        if self._stream_version is not None:
            message["version"] = self._stream_version
        message["time_extracted"] = dt.datetime.now(UTC)
        sys.stdout.buffer.write(serialize_jsonl(message))

    def _generate_record_messages(
        self, record: dict
    ) -> Generator[singer.RecordMessage, None, None]:
        """Message objects (for SDK callers of this hook), without the no-op prune walk."""
        if not self._can_write_directly():
            yield from super()._generate_record_messages(record)
            return
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield singer.RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=dt.datetime.now(UTC),
                )
