"""The target's layers (target -> sinks -> mapping -> validation -> delivery -> amplitude.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import target_amplitude
from tests.import_contract import check_layers

if TYPE_CHECKING:
    from collections.abc import Mapping

PACKAGE = Path(target_amplitude.__file__).parent
# The throwaway trees below use a fixed order, so these tests do not change when a layer is added.
SYNTHETIC_LAYERS = ("__main__", "target", "sinks", "mapping", "validation", "delivery", "amplitude")


def _tree(root: Path, files: Mapping[str, str]) -> Path:
    """A throwaway package `pkg` under `root` with the given module sources."""
    package = root / "pkg"
    for name, source in {"__init__.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return package


GOOD = {
    "target.py": "from pkg.sinks import Sink\nfrom pkg.delivery.run import deliver\n",
    "sinks.py": "from pkg.mapping import plan\nSink = object\n",
    "mapping/__init__.py": "",
    "mapping/plan.py": "from pkg.validation.check import check\nfrom pkg.amplitude import EVENTS\n",
    "validation/__init__.py": "",
    "validation/check.py": "from ..amplitude import EVENTS\ncheck = EVENTS\n",
    "delivery/__init__.py": "",
    "delivery/run.py": (
        "from typing import TYPE_CHECKING\nfrom pkg.amplitude import EVENTS\n"
        "if TYPE_CHECKING:\n    from pkg.target import Target\ndeliver = EVENTS\n"
    ),
    "amplitude.py": "import json\nEVENTS = 'events'\n",
}


def test_target_package_imports_only_down_its_layers_without_cycles() -> None:
    assert [str(v) for v in check_layers(PACKAGE)] == []


def test_well_layered_tree_passes_the_contract(tmp_path: Path) -> None:
    assert check_layers(_tree(tmp_path, GOOD), SYNTHETIC_LAYERS) == []


def test_upward_import_is_named_with_its_line(tmp_path: Path) -> None:
    bad = {**GOOD, "amplitude.py": "EVENTS = 'events'\nfrom pkg.mapping.plan import plan\n"}
    violations = [str(v) for v in check_layers(_tree(tmp_path, bad), SYNTHETIC_LAYERS)]
    assert any(
        v.startswith("pkg.amplitude:2: imports pkg.mapping.plan upward: amplitude sits below")
        for v in violations
    ), violations


def test_upward_relative_import_inside_a_function_is_caught(tmp_path: Path) -> None:
    bad = {
        **GOOD,
        "delivery/run.py": "def later():\n    from ..validation import check\n    return check\n",
    }
    violations = [str(v) for v in check_layers(_tree(tmp_path, bad), SYNTHETIC_LAYERS)]
    assert violations == [
        (
            "pkg.delivery.run:2: imports pkg.validation.check upward: delivery sits below "
            "validation (order: __main__ -> target -> sinks -> mapping -> validation -> delivery "
            "-> amplitude)"
        )
    ]


def test_import_cycle_between_modules_of_one_layer_is_caught(tmp_path: Path) -> None:
    bad = {
        **GOOD,
        "delivery/run.py": "from pkg.delivery import queue\ndeliver = 1\n",
        "delivery/queue.py": "import pkg.delivery.run\n",
    }
    violations = [str(v) for v in check_layers(_tree(tmp_path, bad), SYNTHETIC_LAYERS)]
    assert violations == [
        "pkg.delivery.queue:1: import cycle between pkg.delivery.queue, pkg.delivery.run"
    ]


def test_module_outside_every_layer_is_reported(tmp_path: Path) -> None:
    bad = {**GOOD, "helpers.py": "X = 1\n"}
    assert [str(v) for v in check_layers(_tree(tmp_path, bad), SYNTHETIC_LAYERS)] == [
        (
            "pkg.helpers:1: 'helpers' is in no layer of ('__main__', 'target', 'sinks', "
            "'mapping', 'validation', 'delivery', 'amplitude')"
        )
    ]
