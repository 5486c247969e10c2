"""`make demo` (scripts/demo.py): the README's first command runs and reports where data landed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tests.e2e.meltano_project import ROOT

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e


def test_demo_extracts_loads_copies_and_reports_the_counts(
    meltano_installed: None, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_", "MELTANO_"))}
    env["NO_COLOR"] = "1"
    result = subprocess.run(
        [
            sys.executable,
            "scripts/demo.py",
            "--emulator",
            "--no-install",
            "--output",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    report = result.stdout.split("==> Where the data landed", 1)[1]
    files = dict(re.findall(r"jsonl/(\w+)\.jsonl: (\d+) rows", report))
    tables = dict(re.findall(r"amplitude\.(\w+): (\d+) rows", report))
    assert files == tables
    assert int(files["events"]) > 1000
    (copied,) = re.findall(r"emulator project \d+: (\d+) events ingested", report)
    assert 0 < int(copied) <= int(files["events"])  # exact equality: test_pipeline_project_copy
    assert (tmp_path / "jsonl" / "events.jsonl").exists()
    assert (tmp_path / "warehouse.duckdb").exists()
