"""The pytest-pyodide recipe of docs/testing.md, run as written in a folder outside the
repository against a copy of dist/: green passes, and the same test made wrong fails.

The virtualenv is the one `python build.py test` prepares (blazen_build.virtualenvs,
PYTEST_PYODIDE_PINS, named by $BLAZEN_PYTEST_PYODIDE_PYTHON); the block's own install line is
checked to pin the same versions instead of being run (it would need the package index here)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from blazen_build.paths import DIST, ROOT
from blazen_build.virtualenvs import PYTEST_PYODIDE_PINS

TIMEOUT_S = 600


def recipe() -> str:
    text = (ROOT / "docs" / "testing.md").read_text()
    blocks = [b for b in re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S) if "run_in_pyodide" in b]
    assert len(blocks) == 1, blocks
    return blocks[0]


def venv_python() -> Path:
    python = os.environ.get("BLAZEN_PYTEST_PYODIDE_PYTHON")
    if not python:
        pytest.fail("BLAZEN_PYTEST_PYODIDE_PYTHON is not set: run this through `python build.py test`")
    return Path(python)


def run(script: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=folder, text=True,
                          capture_output=True, timeout=TIMEOUT_S, check=False,
                          env={**os.environ, "DIST": str(DIST)})


def test_recipe_passes_a_green_test_and_fails_a_red_one(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    assert not (ROOT / "package.json").resolve().is_relative_to(folder)
    install, rest = recipe().split("\n", 1)
    for name, version in PYTEST_PYODIDE_PINS.items():
        assert f'"{name}=={version}"' in install, (install, PYTEST_PYODIDE_PINS)
    venv = venv_python().parent.parent
    (folder / "pyodide-venv").symlink_to(venv)

    green = run(rest, folder)
    assert green.returncode == 0, green.stdout + green.stderr
    assert re.search(r"\b1 passed\b", green.stdout), green.stdout

    test_file = folder / "test_in_pyodide.py"
    source = test_file.read_text()
    assert "== 42" in source
    test_file.write_text(source.replace("== 42", "== 43"))
    command = rest.strip().splitlines()[-1]
    red = run(command, folder)
    assert red.returncode == 1, red.stdout + red.stderr
    assert re.search(r"\b1 failed\b", red.stdout), red.stdout
    assert "AssertionError" in red.stdout, red.stdout
