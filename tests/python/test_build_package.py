"""build.py and blazen_build/, its parts: standard library only, layered as blazen_build's
docstring draws, and `serve` says what to do when it cannot have its port."""

from __future__ import annotations

import ast
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import blazen_build
from blazen_build.paths import ROOT

BUILD_PY = ROOT / "build.py"
PACKAGE = ROOT / "blazen_build"


def imported_modules(path: Path) -> Iterator[str]:
    """Every module a file imports, anywhere in it (absolute names)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            assert node.module is not None
            if node.module == "blazen_build":
                yield from (f"blazen_build.{alias.name}" for alias in node.names)
            else:
                yield node.module


def layers() -> list[str]:
    """The modules of blazen_build in the order its docstring lists them, bottom first."""
    assert blazen_build.__doc__ is not None
    return re.findall(r"^    (\w+) {2,}\S", blazen_build.__doc__, flags=re.M)


def test_build_py_and_its_package_import_only_the_standard_library() -> None:
    # and the repository's own packages: blazen_py has no dependencies (dist.py renders the
    # JS side of its boundary declaration from it).
    for path in [BUILD_PY, *sorted(PACKAGE.glob("*.py"))]:
        for module in imported_modules(path):
            top = module.split(".")[0]
            assert top in sys.stdlib_module_names or top in {"blazen_build", "blazen_py"}, (
                f"{path.name} imports {module}"
            )


def test_build_py_runs_without_site_packages() -> None:
    out = subprocess.run(
        [sys.executable, "-S", str(BUILD_PY), "--help"], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert "serve" in out.stdout


def test_each_module_imports_only_the_modules_listed_before_it() -> None:
    order = layers()
    assert sorted(order) == sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    for position, name in enumerate(order):
        below = {f"blazen_build.{other}" for other in order[:position]}
        uses = {m for m in imported_modules(PACKAGE / f"{name}.py") if m.startswith("blazen_build")}
        assert uses <= below, f"{name} imports {sorted(uses - below)}, listed after it"


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another process is listening on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BUILD_PY), "serve", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=120,
    )


def test_serve_on_a_taken_port_says_so_and_names_other_ports(taken_port: int) -> None:
    out = serve("--port", str(taken_port))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert f"build.py: error: port {taken_port} on 127.0.0.1 is already in use" in out.stderr
    assert "`python build.py serve --port 0` picks a free one" in out.stderr
    assert f"--port {taken_port + 1}`" in out.stderr
    # The port is taken before the build: nothing was built, nothing is served.
    assert out.stdout == ""


@pytest.mark.parametrize("port", ["65536", "-1", "eighty"])
def test_serve_rejects_what_is_not_a_port(port: str) -> None:
    out = serve(f"--port={port}")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert f"argument --port: {port!r} is not a port (a number from 0 to 65535)" in out.stderr
