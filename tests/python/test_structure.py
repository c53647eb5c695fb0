"""The package's shape: no import cycle, and imports only go down the layers that
ARCHITECTURE.md draws.

Every import counts, including those under ``if TYPE_CHECKING:`` and those inside
functions: a layer that needs a type from above is a layer in the wrong place.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "blazen_py"
ARCHITECTURE = ROOT / "ARCHITECTURE.md"

# Modules that may touch the platform (pyodide, js): the seam and the JS boundary.
PLATFORM_MODULES = ("blazen_py._compat", "blazen_py._jsbridge", "blazen_py._jsvalues")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(current: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The blazen_py modules that ``name`` imports (the parent packages of submodules
    too, since importing a submodule runs its package's ``__init__``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = resolve(name, is_package, node.level, node.module)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names
            ]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            while target and target != "blazen_py":
                if target != name and not name.startswith(target + "."):
                    found.add(target)
                target = target.rpartition(".")[0]
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def architecture_layers() -> list[list[str]]:
    """The layer block of ARCHITECTURE.md: one line per layer, top first; each line
    starts with the names of its modules (top-level modules or packages of blazen_py)."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    match = re.search(r"<!-- layers -->\s*```text\n(.*?)```", text, re.S)
    assert match, "ARCHITECTURE.md has no layer block (<!-- layers --> then a ```text block)"
    layers = []
    for line in match.group(1).splitlines():
        names = re.match(r"^\s*((?:[\w]+ {1,2})*[\w]+)(?:\s{3,}|$)", line)
        if names:
            layers.append(names.group(1).split())
    return layers


def layer_of(module: str, layers: dict[str, int]) -> int:
    short = module.removeprefix("blazen_py").lstrip(".") or "__init__"
    top = short.split(".")[0]
    if top not in layers:
        pytest.fail(f"module {module} is in no layer of ARCHITECTURE.md's layer block")
    return layers[top]


def test_the_package_has_no_import_cycle() -> None:
    assert find_cycle(graph()) is None


def test_imports_only_go_down_the_layers_of_architecture_md() -> None:
    order = architecture_layers()
    layers = {name: depth for depth, names in enumerate(order) for name in names}
    assert len(layers) == sum(len(names) for names in order), "a name appears twice in the layer block"
    wrong = []
    for module, targets in graph().items():
        mine = layer_of(module, layers)
        for target in targets:
            if module.split(".")[:2] == target.split(".")[:2] and module.count(".") and target.count("."):
                continue  # inside one subpackage (snapshot, llm, _compat): only cycles matter
            if layer_of(target, layers) <= mine:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_every_module_has_a_layer() -> None:
    order = architecture_layers()
    names = {name for line in order for name in line}
    tops = {m.removeprefix("blazen_py").lstrip(".").split(".")[0] or "__init__" for m in modules()}
    assert sorted(tops - names) == []
    assert sorted(names - tops) == []


def test_only_the_seam_and_the_js_boundary_touch_the_platform() -> None:
    offenders = []
    for name, path in modules().items():
        if name.startswith(PLATFORM_MODULES):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{name} imports {n}" for n in names if n.split(".")[0] in ("js", "pyodide")]
    assert offenders == []


# -- the checker itself ---------------------------------------------------------------------


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_imports_of_sees_type_checking_and_function_imports(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .workflow import Workflow\n"
        "def f():\n    from .snapshot.format import dumps\n"
        "from . import errors\n"
    )
    known = {
        "blazen_py.mod",
        "blazen_py.workflow",
        "blazen_py.snapshot",
        "blazen_py.snapshot.format",
        "blazen_py.errors",
    }
    assert imports_of("blazen_py.mod", source, known) == {
        "blazen_py.workflow",
        "blazen_py.snapshot",
        "blazen_py.snapshot.format",
        "blazen_py.errors",
    }
