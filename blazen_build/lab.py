"""The JupyterLite site, dist/lab/: our Pyodide as its kernel, the notebooks of lab/notebooks,
and the kernel's own wheels, so that nothing comes from a CDN or PyPI."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from blazen_build.common import log, run, sha256_file, write_text_if_changed
from blazen_build.dist import build, record_lab_built
from blazen_build.lab_lock import PRELOADED, write_lab_lock
from blazen_build.paths import DIST_LAB, DIST_PYODIDE, LAB_DIR, LAB_NOTEBOOKS, ROOT
from blazen_build.pypi import ensure_wheels
from blazen_build.virtualenvs import LAB_TOOLS, ensure_lab_venv

# Pure wheels the Pyodide kernel installs when it boots (ipython, comm, jedi and their
# dependencies), served by dist/lab/pypi/ so that the kernel never asks PyPI.
KERNEL_WHEELS: dict[str, str] = {
    "asttokens": "3.0.2",
    "comm": "0.2.3",
    "decorator": "5.3.1",
    "executing": "2.3.0",
    "ipython": "9.12.0",
    "ipywidgets": "8.1.9",  # optional: notebooks install it to answer input requests from a cell
    "ipython-pygments-lexers": "1.1.1",
    "jedi": "0.20.1",
    "jupyterlab-widgets": "3.0.17",
    "matplotlib-inline": "0.2.2",
    "parso": "0.8.7",
    "pexpect": "4.9.0",
    "prompt-toolkit": "3.0.53",
    "ptyprocess": "0.7.0",
    "pure-eval": "0.2.4",
    "pygments": "2.21.0",
    "stack-data": "0.6.3",
    "traitlets": "5.16.1",
    "wcwidth": "0.9.4",
}
LAB_KERNEL_PLUGIN = "@jupyterlite/pyodide-kernel-extension:kernel"


def lab_config() -> dict[str, object]:
    """jupyter-lite.json of the site: the kernel uses dist/pyodide/ and never PyPI.

    JupyterLite resolves a URL setting against the folder of jupyter-lite.json only when
    it starts with "./"; so "./../pyodide/" is dist/pyodide/, seen from dist/lab/. That is
    our runtime, shared with the playground. The kernel's packages and blazen_py come from
    the lab's own lock (blazen_build/lab_lock.py), all loaded while Pyodide boots: the
    kernel resolves a loadPyodideOptions key ending in "URL" against the site's root."""
    kernel = {
        "pyodideUrl": "./../pyodide/pyodide.mjs",
        "disablePyPIFallback": True,
        "loadPyodideOptions": {"lockFileURL": "./pyodide-lock.json", "packages": list(PRELOADED)},
    }
    return {
        "jupyter-lite-schema-version": 0,
        "jupyter-config-data": {
            "appName": "blazen_py notebooks",
            "litePluginSettings": {LAB_KERNEL_PLUGIN: kernel},
        },
    }


def lab_digest(wheels: Iterable[Path]) -> str:
    """What dist/lab/ is built from: tool pins, settings, kernel wheels, the notebooks."""
    digest = hashlib.sha256(json.dumps([LAB_TOOLS, lab_config()], sort_keys=True).encode())
    sources = sorted(
        p for p in LAB_NOTEBOOKS.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts
    )
    for path in [*sorted(wheels), *sources]:
        digest.update(f"{path.name}\0{sha256_file(path)}\0".encode())
    return digest.hexdigest()


def lab_env() -> dict[str, str]:
    """Environment of `jupyter lite build`: no user-level Jupyter config or extensions."""
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(LAB_DIR / "config"),
        "JUPYTER_DATA_DIR": str(LAB_DIR / "data"),
    }
    env.pop("PYTHONPATH", None)
    return env


def build_lab() -> Path:
    """Build dist/, then the JupyterLite site dist/lab/ (skipped when its inputs are unchanged)."""
    build()
    started = time.monotonic()
    python = ensure_lab_venv()
    wheels = list(ensure_wheels(KERNEL_WHEELS).values())
    stamp = LAB_DIR / "stamp"
    wanted = lab_digest(wheels)
    if stamp.is_file() and stamp.read_text() == wanted and (DIST_LAB / "jupyter-lite.json").is_file():
        write_lab_lock(DIST_LAB, DIST_PYODIDE / "pyodide-lock.json")  # our wheel's hash may be new
        log(f"{DIST_LAB.relative_to(ROOT)}/ is up to date")
        record_lab_built()
        return DIST_LAB
    shutil.rmtree(DIST_LAB, ignore_errors=True)
    shutil.rmtree(LAB_DIR, ignore_errors=True)  # the lite dir, its doit database and cache
    write_text_if_changed(LAB_DIR / "jupyter-lite.json", json.dumps(lab_config(), indent=2) + "\n")
    command: list[str | Path] = [python, "-m", "jupyterlite_core", "build", "--lite-dir", LAB_DIR]
    command += ["--contents", LAB_NOTEBOOKS, "--output-dir", DIST_LAB, "--apps", "lab", "--apps", "notebooks"]
    command += ["--no-sourcemaps", f"--LiteBuildConfig.cache_dir={LAB_DIR / 'cache'}"]
    for wheel in sorted(wheels):
        command += ["--piplite-wheels", wheel]
    run(command, quiet=True, cwd=LAB_DIR, env=lab_env())
    write_lab_lock(DIST_LAB, DIST_PYODIDE / "pyodide-lock.json")
    stamp.write_text(wanted)
    record_lab_built()
    log(f"built {DIST_LAB.relative_to(ROOT)}/ in {time.monotonic() - started:.1f} s")
    return DIST_LAB
