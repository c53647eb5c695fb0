"""Node.js and the npm packages (node_modules/, from package-lock.json)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

from blazen_build.common import BuildError, log, run, sha256_file
from blazen_build.paths import NODE_MODULES, PYODIDE_NPM, ROOT


def require_tool(name: str, hint: str) -> str:
    """Absolute path of an executable on PATH, or BuildError with an install hint."""
    path = shutil.which(name)
    if path is None:
        raise BuildError(f"`{name}` was not found on PATH. {hint}")
    return path


def ensure_node() -> str:
    """Path of a Node.js >= 20."""
    hint = "blazen_py needs Node.js >= 20 with npm (Debian: apt-get install nodejs npm)."
    node = require_tool("node", hint)
    out = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    match = re.match(r"v(\d+)", out)
    if not match or int(match.group(1)) < 20:
        raise BuildError(f"Node.js {out or '(unknown version)'} at {node} is too old. {hint}")
    return node


def ensure_npm_packages() -> None:
    """`npm ci` when node_modules is missing or older than package-lock.json."""
    lock = ROOT / "package-lock.json"
    stamp = NODE_MODULES / ".blazen-stamp"
    wanted = sha256_file(lock) if lock.is_file() else "no-lock"
    if stamp.is_file() and stamp.read_text() == wanted and (PYODIDE_NPM / "pyodide.mjs").is_file():
        return
    ensure_node()
    npm = require_tool("npm", "blazen_py needs npm (Debian: apt-get install npm).")
    log("installing npm packages (npm ci)")
    command = "ci" if lock.is_file() else "install"
    run([npm, command, "--no-audit", "--no-fund", "--loglevel=error"], cwd=ROOT)
    stamp.write_text(sha256_file(lock) if lock.is_file() else "no-lock")


def pyodide_npm_version() -> str:
    """Version of the installed npm pyodide package."""
    meta = json.loads((PYODIDE_NPM / "package.json").read_text())
    return str(meta["version"])
