"""The target's import contract, read from source with `ast`: layers import down only, no cycles.

A layer is a top-level module or subpackage of the package. A module may import its own layer
and any layer below it; imports inside `if TYPE_CHECKING:` are annotations only (a sink names
its Target's type) and are not part of the contract. Cycles are looked for among the modules'
run-time imports, so two modules of one subpackage cannot import each other either.
"""

from __future__ import annotations

import ast
import graphlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

# Top to bottom: each layer may import the layers after it, never those before it. A layer may
# be several modules (space-separated): the cohort kind's sink sits with the sinks; `batch_files`
# reads the files of BATCH messages for the target.
TARGET_LAYERS = (
    "__main__",
    "target",
    "batch_files",
    "sinks cohort_sink",
    "mapping",
    "validation",
    "delivery",
    "amplitude",
)


@dataclass(frozen=True)
class Violation:
    """One broken rule, in words a reader can act on."""

    module: str
    line: int
    message: str

    def __str__(self) -> str:
        """`module:line: message`."""
        return f"{self.module}:{self.line}: {self.message}"


def _modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package at `root`."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Imports(ast.NodeVisitor):
    """Collects (line, package module imported, at module level) for run-time imports.

    `from pkg.sub import name` counts as importing `pkg.sub.name` when that is a module, else
    `pkg.sub` (its __init__, where `name` is defined or re-exported).
    """

    def __init__(self, module: str, *, is_package: bool, modules: dict[str, Path]) -> None:
        self.module, self.modules = module, modules
        self.base = module.split(".") if is_package else module.split(".")[:-1]
        self.found: set[tuple[int, str, bool]] = set()
        self.depth = 0  # functions entered: their imports run later, not at import time

    def _add(self, line: int, name: str) -> None:
        imported = _resolve(name, self.modules)
        if imported is not None and imported != self.module:
            self.found.add((line, imported, self.depth == 0))

    def visit_If(self, node: ast.If) -> None:
        body = (
            node.orelse if _is_type_checking(node.test) else [node.test, *node.body, *node.orelse]
        )
        for child in body:
            self.visit(child)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node.lineno, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        prefix = node.module or ""
        if node.level:
            anchor = self.base[: len(self.base) - node.level + 1]
            prefix = ".".join([*anchor, *([node.module] if node.module else [])])
        for alias in node.names:
            self._add(node.lineno, f"{prefix}.{alias.name}")


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The package module an import refers to (the longest known prefix), or None if external."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def check_layers(root: Path, layers: tuple[str, ...] = TARGET_LAYERS) -> list[Violation]:
    """Every upward import, unlayered module and import cycle in the package at `root`."""
    modules = _modules(root)
    rank = {name: index for index, layer in enumerate(layers) for name in layer.split()}

    def layer_of(module: str) -> str | None:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else None  # None: the package's own __init__

    violations: list[Violation] = []
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for module, path in modules.items():
        layer = layer_of(module)
        if layer is not None and layer not in rank:
            violations.append(Violation(module, 1, f"{layer!r} is in no layer of {layers}"))
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        collector = _Imports(module, is_package=path.name == "__init__.py", modules=modules)
        collector.visit(tree)
        for line, imported, top in sorted(collector.found):
            if top:
                graph[module].add(imported)
            target_layer = layer_of(imported)
            if layer is None or target_layer is None:
                continue  # the package's __init__ stands above every layer
            if target_layer in rank and rank[target_layer] < rank[layer]:
                violations.append(
                    Violation(
                        module,
                        line,
                        f"imports {imported} upward: {layer} sits below {target_layer} "
                        f"(order: {' -> '.join(layers)})",
                    )
                )
    violations.extend(_cycles(graph))
    return sorted(set(violations), key=lambda v: (v.module, v.line, v.message))


def _cycles(graph: dict[str, set[str]]) -> list[Violation]:
    """The first import cycle among module-level imports, if any."""
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle = sorted(set(exc.args[1]))
        return [Violation(cycle[0], 1, f"import cycle between {', '.join(cycle)}")]
    return []
