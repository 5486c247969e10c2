"""Helpers for running target-amplitude in-process against the emulator (project B starts empty)."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from typing import TYPE_CHECKING, Any

from amplitude_emulator import API_KEY_B, PROJECT_B_ID
from target_amplitude.target import TargetAmplitude

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from amplitude_emulator import Emulator
    from amplitude_emulator.state import Project


def config_for(emulator: Emulator, streams: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A config loading into the emulator's empty project B."""
    return {"api_key": API_KEY_B, "api_url": emulator.url, "streams": streams, **extra}


def schema_message(
    stream: str, properties: Iterable[str] = (), key_properties: Sequence[str] = ()
) -> dict[str, Any]:
    """A permissive SCHEMA message (the target reads records, not schemas)."""
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": {name: {} for name in properties}},
        "key_properties": list(key_properties),
    }


def singer_input(
    stream: str,
    records: Iterable[dict[str, Any]],
    key_properties: Sequence[str] = (),
    state: dict[str, Any] | None = None,
) -> str:
    """SCHEMA, RECORDs and an optional final STATE for one stream, as Singer lines."""
    records = list(records)
    names = sorted({name for record in records for name in record})
    lines = [schema_message(stream, names, key_properties)]
    lines += [{"type": "RECORD", "stream": stream, "record": record} for record in records]
    if state is not None:
        lines.append({"type": "STATE", "value": state})
    return "".join(json.dumps(line) + "\n" for line in lines)


def run_target(
    config: dict[str, Any], lines: str, stdout: io.StringIO | None = None
) -> tuple[str, TargetAmplitude]:
    """Run the target over the lines; returns its stdout (STATE lines) and the target.

    Pass `stdout` to see what was printed even when the run raises.
    """
    target = TargetAmplitude(config=config, parse_env_config=False)
    stdout = stdout if stdout is not None else io.StringIO()
    stderr = io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        target.process_lines(io.StringIO(lines))
        target.process_endofpipe()
    return stdout.getvalue(), target


def project_b(emulator: Emulator) -> Project:
    """The project the target loads into."""
    return emulator.state.projects[PROJECT_B_ID]


def dead_letters(path: Any) -> list[dict[str, Any]]:
    """Lines of a dead-letter file."""
    with open(path, encoding="utf-8") as handle:  # noqa: PTH123
        return [json.loads(line) for line in handle if line.strip()]
