"""The virtualenvs build.py makes, each with what it holds: .venv/ (blazen_py[test], the
tests' and benchmarks' Python), .cache/lab-venv/ (the JupyterLite tools) and
.cache/bench-venv/ (the benchmarks' Python peer). Each is redone only when its pins change."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from blazen_build.common import BuildError, log, run
from blazen_build.paths import BENCH_VENV, CACHE, LAB_VENV, ROOT, VENV

# The JupyterLite tool chain, installed into .cache/lab-venv (never into .venv).
# (jupyter_server is needed for --contents; kernel 0.8.7 needs an unreleased core.)
LAB_TOOLS: dict[str, str] = {
    "jupyterlite-core": "0.8.6",
    "jupyterlite-pyodide-kernel": "0.8.6",
    "jupyter_server": "2.21.1",
    "jupyterlab_widgets": "3.0.17",  # the widgets' front end, so ipywidgets show in the lab
}
# The Python peer of the benchmarks, installed into BENCH_VENV only (never into .venv).
BENCH_PEERS: dict[str, str] = {"llama-index-workflows": "2.26.1"}
# pytest-pyodide, for the tested recipe of docs/testing.md, in a virtualenv of its own: its
# pytest plugin (options --runtime, --dist-dir) must not load into the tiers' own pytest.
# pytest 9.2 breaks pytest-pyodide 0.59.2.
PYTEST_PYODIDE_VENV = CACHE / "pytest-pyodide-venv"
PYTEST_PYODIDE_PINS: dict[str, str] = {"pytest-pyodide": "0.59.2", "pytest": "9.1.1"}


def venv_python() -> Path:
    """The Python of .venv."""
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv_python() -> Path:
    """Create .venv if it does not exist yet; return its Python."""
    python = venv_python()
    if not python.is_file():
        log(f"creating virtualenv {VENV.relative_to(ROOT)}/")
        try:
            run([sys.executable, "-m", "venv", VENV])
        except BuildError as exc:
            raise BuildError(f"{exc}\nOn Debian/Ubuntu: apt-get install python3-venv") from exc
    return python


def ensure_venv() -> Path:
    """.venv with `pip install -e .[test]`, redone only when pyproject.toml changes."""
    python = ensure_venv_python()
    stamp = VENV / ".blazen-stamp"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + sys.version.encode()).hexdigest()
    if stamp.is_file() and stamp.read_text() == wanted:
        return python
    log("installing blazen_py[test] into .venv (pip install -e .[test])")
    run([python, "-m", "pip", "install", "--disable-pip-version-check", "-e", f"{ROOT}[test]"], quiet=True)
    stamp.write_text(wanted)
    return python


def ensure_tool_venv(folder: Path, pins: Mapping[str, str], purpose: str) -> Path:
    """A virtualenv in ``folder`` with exactly ``pins`` installed; return its Python.
    Redone when the pins (or this Python) change."""
    python = folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    stamp = folder / ".blazen-stamp"
    wanted = hashlib.sha256((json.dumps(pins) + sys.version).encode()).hexdigest()
    if stamp.is_file() and stamp.read_text() == wanted and python.is_file():
        return python
    if not python.is_file():
        log(f"creating virtualenv {folder.relative_to(ROOT)}/ for {purpose}")
        run([sys.executable, "-m", "venv", folder])
    requirements = [f"{name}=={ver}" for name, ver in pins.items()]
    log(f"installing {' '.join(requirements)} into {folder.relative_to(ROOT)}/")
    run([python, "-m", "pip", "install", "--disable-pip-version-check", *requirements], quiet=True)
    stamp.write_text(wanted)
    return python


def ensure_lab_venv() -> Path:
    """.cache/lab-venv with the pinned JupyterLite tools; return its Python."""
    return ensure_tool_venv(LAB_VENV, LAB_TOOLS, "JupyterLite")


def ensure_bench_venv() -> Path:
    """.cache/bench-venv with the pinned benchmark peers; return its Python."""
    return ensure_tool_venv(BENCH_VENV, BENCH_PEERS, "the benchmarks' peers")


def ensure_pytest_pyodide_venv() -> Path:
    """.cache/pytest-pyodide-venv with the pinned pytest-pyodide; return its Python.

    Its Node driver (a CommonJS .js file in site-packages) would be read as an ES module
    under this repository's package.json ("type": "module"): a package.json of the
    virtualenv's own puts it back to CommonJS."""
    python = ensure_tool_venv(PYTEST_PYODIDE_VENV, PYTEST_PYODIDE_PINS, "the pytest-pyodide recipe")
    (PYTEST_PYODIDE_VENV / "package.json").write_text('{"type": "commonjs"}\n')
    return python
