"""Pure wheels from PyPI for Pyodide's Python, downloaded once into .cache/wheels/."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from blazen_build.common import BuildError, log, run
from blazen_build.paths import PYODIDE_PYTHON, WHEEL_CACHE
from blazen_build.virtualenvs import ensure_venv_python
from blazen_build.wheel import wheel_stem


def cached_wheel(name: str, version_: str) -> Path | None:
    """The cached wheel of name==version, if it was downloaded before."""
    matches = sorted(WHEEL_CACHE.glob(f"{wheel_stem(name)}-{version_}-*.whl"))
    return matches[0] if matches else None


def pip_command() -> list[str]:
    """A pip to download with: the running Python's, else the one of .venv (created if needed)."""
    probe = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
    if probe.returncode == 0:
        return [sys.executable, "-m", "pip"]
    return [str(ensure_venv_python()), "-m", "pip"]


def ensure_wheels(pins: Mapping[str, str]) -> dict[str, Path]:
    """Download the pure wheels of `pins` for Pyodide's Python into .cache/wheels (once)."""
    missing = [f"{name}=={ver}" for name, ver in pins.items() if cached_wheel(name, ver) is None]
    if missing:
        log(f"downloading wheels for Python {PYODIDE_PYTHON}: {' '.join(missing)}")
        WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
        run(
            [
                *pip_command(),
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                PYODIDE_PYTHON,
                "--implementation",
                "py",
                "--dest",
                WHEEL_CACHE,
                *missing,
            ],
            quiet=True,
        )
    found = {name: cached_wheel(name, ver) for name, ver in pins.items()}
    absent = [name for name, path in found.items() if path is None]
    if absent:
        raise BuildError(f"pip did not produce wheels for: {', '.join(absent)}")
    return {name: path for name, path in found.items() if path is not None}
