"""Where build.py keeps everything, and the versions every part of the build agrees on."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
DIST_PYODIDE = DIST / "pyodide"
DIST_LAB = DIST / "lab"
WEB = ROOT / "web"
CACHE = ROOT / ".cache"
WHEEL_CACHE = CACHE / "wheels"
VENV = ROOT / ".venv"
BENCH_VENV = CACHE / "bench-venv"
NODE_MODULES = ROOT / "node_modules"
PYODIDE_NPM = NODE_MODULES / "pyodide"
LAB_NOTEBOOKS = ROOT / "lab" / "notebooks"
LAB_DIR = CACHE / "lab"
LAB_VENV = CACHE / "lab-venv"

PYODIDE_VERSION = "314.0.7"
PYODIDE_PYTHON = "3.14"
PACKAGE = "blazen_py"
