#!/usr/bin/env python3
"""The one entry point of blazen_py: build the static site, serve it, test it.

    python build.py                 build dist/ (wheel, Pyodide runtime, lock file, web/)
    python build.py serve [--port]  build, then serve dist/ on 127.0.0.1
    python build.py test [-- ARGS]  set up .venv, npm packages and Chromium, build, run all tiers
    python build.py lab             build dist/, then the JupyterLite site dist/lab/
    python build.py bench [--quick] benchmarks against the peers; rewrites bench/RESULTS.md

Standard library only: it runs with the system Python before any virtualenv exists.
Every set-up step is cached (.venv/, node_modules/, .cache/wheels/, .cache/lab-venv/),
so a second run downloads nothing.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar

# Moved to blazen_build/ (the rest follows); the tests still read them as build.NAME.
from blazen_build.chromium import CHROMIUM_ARGS, CHROMIUM_NAMES, ensure_chromium, find_chromium  # noqa: F401 (tests use build.NAME)
from blazen_build.common import BuildError, log, run, sha256_file, stop_process_group, write_text_if_changed
from blazen_build.npm import ensure_node, ensure_npm_packages, pyodide_npm_version, require_tool  # noqa: F401 (tests use build.NAME)
from blazen_build.paths import (  # noqa: F401 (tests use build.NAME)
    BENCH_VENV,
    CACHE,
    DIST,
    DIST_LAB,
    DIST_PYODIDE,
    LAB_DIR,
    LAB_NOTEBOOKS,
    LAB_VENV,
    NODE_MODULES,
    PACKAGE,
    PYODIDE_NPM,
    PYODIDE_PYTHON,
    PYODIDE_VERSION,
    ROOT,
    VENV,
    WEB,
    WHEEL_CACHE,
)
from blazen_build.pypi import cached_wheel, ensure_wheels, pip_command  # noqa: F401 (tests use build.NAME)
from blazen_build.virtualenvs import (  # noqa: F401 (tests use build.NAME)
    BENCH_PEERS,
    LAB_TOOLS,
    ensure_bench_venv,
    ensure_lab_venv,
    ensure_tool_venv,
    ensure_venv,
    ensure_venv_python,
    venv_python,
)
from blazen_build.wheel import (  # noqa: F401 (tests use build.NAME)
    canonical_name,
    metadata_text,
    package_files,
    project,
    record_line,
    replace_if_changed,
    version,
    wheel_name,
    wheel_stem,
    write_wheel,
)

# Pure wheels served in dist/pyodide and listed in its lock file.
RUNTIME_WHEELS: dict[str, str] = {"micropip": "0.11.1", "pyodide-http": "0.2.2"}
# Pure wheels installed into Pyodide by the test harness only (never part of dist/).
TEST_WHEELS: dict[str, str] = {
    "pytest": "9.1.1",
    "pluggy": "1.7.0",
    "iniconfig": "2.3.1",
    "packaging": "26.3",
    "pygments": "2.21.0",
}
# Pure wheels the Pyodide kernel installs when it boots (ipython, comm, jedi and their
# dependencies), served by dist/lab/pypi/ so that the kernel never asks PyPI.
KERNEL_WHEELS: dict[str, str] = {
    "asttokens": "3.0.2",
    "comm": "0.2.3",
    "decorator": "5.3.1",
    "executing": "2.3.0",
    "ipython": "9.12.0",
    "ipython-pygments-lexers": "1.1.1",
    "jedi": "0.20.1",
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
# Files of the npm package that are not part of the runtime served to pages.
PYODIDE_SKIP = {"README.md", "package.json", "console.html", "console-v2.html", "ffi.d.ts", "pyodide.d.ts"}

TIERS = ("python", "pyodide", "browser")
MIME_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".wasm": "application/wasm",
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".json": "application/json",
    ".map": "application/json",
    ".html": "text/html",
    ".css": "text/css",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ts": "text/plain",
}


# --------------------------------------------------------------------------- dist/


def lock_entry(name: str, wheel: Path, imports: Sequence[str]) -> dict[str, object]:
    """A pyodide-lock.json package entry for a pure wheel that sits next to the lock."""
    version_ = wheel.name.split("-")[1]
    return {
        "name": canonical_name(name),
        "version": version_,
        "file_name": wheel.name,
        "install_dir": "site",
        "sha256": sha256_file(wheel),
        "package_type": "package",
        "imports": list(imports),
        "depends": [],
        "unvendored_tests": False,
        "shared_library": False,
    }


def wheel_imports(wheel: Path) -> list[str]:
    """Top-level import names of a wheel (from top_level.txt, else its top-level dirs)."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        if top:
            return [line for line in archive.read(top[0]).decode().split() if line]
    roots = {n.split("/")[0] for n in names if "/" in n and ".dist-info/" not in n and ".data/" not in n}
    roots |= {n[:-3] for n in names if "/" not in n and n.endswith(".py")}
    return sorted(roots)


def write_lock(entries: Iterable[dict[str, object]]) -> None:
    """Rewrite dist/pyodide/pyodide-lock.json so it lists exactly the packages present."""
    upstream = json.loads((PYODIDE_NPM / "pyodide-lock.json").read_text())
    packages = {str(e["name"]): e for e in sorted(entries, key=lambda e: str(e["name"]))}
    lock = {"info": upstream["info"], "packages": packages}
    if "tool" in upstream:
        lock["tool"] = upstream["tool"]
    write_text_if_changed(DIST_PYODIDE / "pyodide-lock.json", json.dumps(lock, indent=2) + "\n")


def sync_file(src: Path, dst: Path) -> None:
    """Copy src to dst unless dst already has the same size and mtime."""
    if dst.is_file():
        s, d = src.stat(), dst.stat()
        if s.st_size == d.st_size and int(s.st_mtime) == int(d.st_mtime):
            return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def prune(root: Path, keep: set[Path], skip: Path | None = None) -> None:
    """Delete files under root that the build did not produce, then empty folders.

    skip: a folder under root left as it is (dist/lab/, written by `build.py lab`)."""
    for path in sorted(root.rglob("*"), reverse=True):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        if path.is_file() and path not in keep:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def render_boundary() -> None:
    """Write what JS mirrors of the Python side (web/errors.js, ...) from its declaration."""
    sys.path.insert(0, str(ROOT))
    try:
        from blazen_py import _boundary
    finally:
        sys.path.remove(str(ROOT))
    for path in _boundary.render(ROOT):
        log(f"regenerated {path} from blazen_py/_boundary.py")


def build(*, quiet: bool = False) -> Path:
    """Build dist/: the blazen_py wheel, the Pyodide runtime, the lock file, web/."""
    started = time.monotonic()
    ensure_npm_packages()
    if pyodide_npm_version() != PYODIDE_VERSION:
        raise BuildError(
            f"node_modules has pyodide {pyodide_npm_version()}, expected {PYODIDE_VERSION}: run npm ci"
        )
    produced: set[Path] = set()

    for src in sorted(PYODIDE_NPM.iterdir()):
        if src.is_file() and src.name not in PYODIDE_SKIP and src.name != "pyodide-lock.json":
            sync_file(src, DIST_PYODIDE / src.name)
            produced.add(DIST_PYODIDE / src.name)

    entries = []
    for name, path in ensure_wheels(RUNTIME_WHEELS).items():
        sync_file(path, DIST_PYODIDE / path.name)
        produced.add(DIST_PYODIDE / path.name)
        entries.append(lock_entry(name, DIST_PYODIDE / path.name, wheel_imports(path)))
    wheel = write_wheel(DIST_PYODIDE)
    produced.add(wheel)
    entries.append(lock_entry(PACKAGE, wheel, [PACKAGE]))
    write_lock(entries)
    produced.add(DIST_PYODIDE / "pyodide-lock.json")

    render_boundary()
    for src in sorted(WEB.rglob("*")):
        if src.is_file():
            dst = DIST / src.relative_to(WEB)
            sync_file(src, dst)
            produced.add(dst)
    produced.add(write_build_info(wheel))
    produced |= ensure_memory_snapshot(wheel)
    prune(DIST, produced, skip=DIST_LAB)
    if not quiet:
        log(f"built {DIST.relative_to(ROOT)}/ in {time.monotonic() - started:.1f} s ({wheel.name})")
    return DIST


def write_build_info(wheel: Path) -> Path:
    """dist/build-info.json: what the pages need to know about this build."""
    upstream = json.loads((PYODIDE_NPM / "pyodide-lock.json").read_text())
    info = {
        "name": PACKAGE,
        "version": version(),
        "package": canonical_name(PACKAGE),
        "wheel": f"pyodide/{wheel.name}",
        "wheel_sha256": sha256_file(wheel),
        "pyodide": PYODIDE_VERSION,
        "python": upstream["info"]["python"],
    }
    path = DIST / "build-info.json"
    write_text_if_changed(path, json.dumps(info, indent=2) + "\n")
    return path


# --------------------------------------------------------------------------- serve


class StaticHandler(http.server.SimpleHTTPRequestHandler):
    """Serves one folder (plus optional mounts) with the MIME types Pyodide needs."""

    extensions_map = {  # noqa: RUF012 (an instance attribute of the stdlib base class)
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        **MIME_TYPES,
    }
    mounts: ClassVar[dict[str, Path]] = {}
    quiet: ClassVar[bool] = True

    def translate_path(self, path: str) -> str:
        """Map URL paths under a mount prefix to that mount's folder."""
        clean = path.split("?", 1)[0].split("#", 1)[0]
        for prefix, folder in self.mounts.items():
            if clean.startswith(prefix):
                relative = clean[len(prefix) :]
                resolved = (folder / relative).resolve()
                if resolved == folder or folder in resolved.parents:
                    return str(resolved)
                return str(folder / "__forbidden__")
        return super().translate_path(path)

    def end_headers(self) -> None:
        """Never let a browser cache a stale build."""
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib name)
        """Log requests only when asked to (serve --verbose)."""
        if not self.quiet:
            super().log_message(format, *args)


def make_server(
    directory: Path = DIST,
    port: int = 0,
    mounts: Mapping[str, Path] | None = None,
    quiet: bool = True,
    handler: type[StaticHandler] | None = None,
    **attrs: object,
) -> http.server.ThreadingHTTPServer:
    """A ThreadingHTTPServer for `directory` on 127.0.0.1 (port 0 picks a free port).

    `mounts` maps URL prefixes ending in "/" to other folders (the tests use it);
    `handler`, a StaticHandler subclass, and `attrs`, class attributes of it, extend it."""
    attrs |= {"mounts": {p: Path(f).resolve() for p, f in (mounts or {}).items()}, "quiet": quiet}
    served = type("Handler", (handler or StaticHandler,), attrs)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(served, directory=str(directory))
    )
    server.daemon_threads = True
    return server


def server_url(server: http.server.ThreadingHTTPServer) -> str:
    """The http://127.0.0.1:PORT/ base URL of a running server."""
    return f"http://127.0.0.1:{server.server_address[1]}/"


def serve(port: int, verbose: bool) -> None:
    """Build, then serve dist/ until interrupted."""
    build()
    server = make_server(DIST, port, quiet=not verbose)
    print(f"Serving {DIST.relative_to(ROOT)}/ at {server_url(server)}  (Ctrl+C stops)", flush=True)
    if (DIST_LAB / "index.html").is_file():
        print(f"JupyterLite notebooks at {server_url(server)}lab/", flush=True)
    else:
        print("(no JupyterLite site: `python build.py lab` writes one to dist/lab/)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


# --------------------------------------------------------------------------- memory snapshot

# blazen.js boots from a memory snapshot of Pyodide with blazen_py imported when the build
# leaves one beside the runtime: dist/pyodide/blazen-snapshot.json names the gzipped file.
# A snapshot loads only on the Pyodide build that made it, and holds the modules imported
# from this wheel: its key covers both, and it is remade only when the key changes.
SNAPSHOT_FORMAT = 1
SNAPSHOT_MANIFEST = DIST_PYODIDE / "blazen-snapshot.json"
SNAPSHOT_TIMEOUT_S = 240
SNAPSHOT_PREFIX = "/__blazen_snapshot__/"
# What the snapshot imports. Nothing here may keep a JS object that the page's globals do
# not reach (Pyodide records such objects as paths from globalThis), nor load a package.
SNAPSHOT_IMPORTS = "blazen_py, blazen_py._jsbridge, blazen_py.llm"

SNAPSHOT_PAGE = """<!doctype html>
<meta charset="utf-8">
<title>blazen_py: making the memory snapshot</title>
<script type="module">
const report = (what, body) => fetch("%(prefix)s" + what, { method: "POST", body });
try {
  const { loadPyodide } = await import("/pyodide/pyodide.mjs");
  const pyodide = await loadPyodide({ indexURL: "/pyodide/", _makeSnapshot: true });
  const wheel = await fetch("/pyodide/%(wheel)s");
  if (!wheel.ok) throw new Error("%(wheel)s: HTTP " + wheel.status);
  // loadPackage is not allowed before a snapshot: unpack the wheel instead.
  pyodide.unpackArchive(new Uint8Array(await wheel.arrayBuffer()), "wheel");
  pyodide.runPython("import %(imports)s");
  await report("snapshot", pyodide.makeMemorySnapshot());
} catch (error) {
  await report("error", String((error && error.stack) || error));
}
</script>
"""


def snapshot_key(wheel: Path) -> str:
    """What a snapshot depends on: the Pyodide runtime files, the wheel, how it is made."""
    digest = hashlib.sha256(f"{SNAPSHOT_FORMAT}\0{SNAPSHOT_IMPORTS}\0{SNAPSHOT_PAGE}\0".encode())
    for path in [*(DIST_PYODIDE / n for n in ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm")), wheel]:
        digest.update(f"{path.name}\0{sha256_file(path)}\0".encode())
    return digest.hexdigest()


def ensure_memory_snapshot(wheel: Path) -> set[Path]:
    """Make dist/pyodide's memory snapshot unless it is current; return its files (none
    without a Chromium: the site then boots Pyodide normally)."""
    key = snapshot_key(wheel)
    if SNAPSHOT_MANIFEST.is_file():
        manifest = json.loads(SNAPSHOT_MANIFEST.read_text())
        if manifest.get("key") == key and (DIST_PYODIDE / manifest["file"]).is_file():
            return {SNAPSHOT_MANIFEST, DIST_PYODIDE / manifest["file"]}
    chromium = find_chromium()
    if chromium is None:
        log("no Chromium found: dist/ gets no memory snapshot (pages boot Pyodide without one)")
        return set()
    started = time.monotonic()
    try:
        raw = make_memory_snapshot(chromium, wheel)
    except BuildError as exc:
        log(f"warning: {exc}\ndist/ gets no memory snapshot (pages boot Pyodide without one)")
        return set()
    packed = gzip.compress(raw, compresslevel=6, mtime=0)
    target = DIST_PYODIDE / f"blazen-snapshot-{key[:16]}.bin.gz"
    target.write_bytes(packed)
    manifest = {
        "format": SNAPSHOT_FORMAT,
        "key": key,
        "file": target.name,
        "size": len(raw),
        "gzip_size": len(packed),
        "pyodide": PYODIDE_VERSION,
        "package": canonical_name(PACKAGE),
        "version": version(),
        "wheel": wheel.name,
        "imports": SNAPSHOT_IMPORTS,
    }
    write_text_if_changed(SNAPSHOT_MANIFEST, json.dumps(manifest, indent=2) + "\n")
    log(
        f"made the memory snapshot in {time.monotonic() - started:.1f} s: "
        f"{len(raw) / 2**20:.1f} MiB, {len(packed) / 2**20:.1f} MiB gzipped"
    )
    return {SNAPSHOT_MANIFEST, target}


class _SnapshotHandler(StaticHandler):
    """Serves dist/ and the snapshot-making page; takes the page's POSTed result."""

    page: ClassVar[bytes] = b""
    outcome: ClassVar[dict[str, bytes]] = {}
    arrived: ClassVar[threading.Event]

    def do_GET(self) -> None:
        """The making page at /__blazen_snapshot__/, dist/ everywhere else."""
        if self.path.split("?", 1)[0] != SNAPSHOT_PREFIX:
            super().do_GET()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def do_POST(self) -> None:
        """/__blazen_snapshot__/snapshot (the bytes) or .../error (a message)."""
        what = self.path.removeprefix(SNAPSHOT_PREFIX)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(204 if what in ("snapshot", "error") else 404)
        self.end_headers()
        if what in ("snapshot", "error"):
            self.outcome[what] = body
            self.arrived.set()


def make_memory_snapshot(chromium: str, wheel: Path) -> bytes:
    """Open the snapshot-making page in headless Chromium; return the snapshot it posts.

    Made in Chromium, not Node: a snapshot made in Node 20 (no stack switching) breaks
    run_sync when loaded in a browser."""
    page = SNAPSHOT_PAGE % {"prefix": SNAPSHOT_PREFIX, "wheel": wheel.name, "imports": SNAPSHOT_IMPORTS}
    outcome: dict[str, bytes] = {}
    arrived = threading.Event()
    server = make_server(DIST, handler=_SnapshotHandler, page=page.encode(), outcome=outcome, arrived=arrived)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="blazen-snapshot-") as profile:
        command = [chromium, "--headless", *CHROMIUM_ARGS, f"--user-data-dir={profile}"]
        browser = subprocess.Popen(
            [*command, server_url(server) + SNAPSHOT_PREFIX.lstrip("/")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            problem = wait_for_snapshot(browser, arrived)
        finally:
            stop_process_group(browser)
            server.shutdown()
            server.server_close()
    if "snapshot" in outcome:
        return outcome["snapshot"]
    if "error" in outcome:
        problem = f"the page failed:\n{outcome['error'].decode(errors='replace')}"
    raise BuildError(f"making the memory snapshot with {chromium}: {problem}")


def wait_for_snapshot(browser: subprocess.Popen[bytes], arrived: threading.Event) -> str:
    """Wait until the page posts its result; else say why not (Chromium exited, timeout)."""
    deadline = time.monotonic() + SNAPSHOT_TIMEOUT_S
    while not arrived.wait(0.25):
        if browser.poll() is not None:
            return f"Chromium exited (code {browser.returncode}) before the page answered"
        if time.monotonic() > deadline:
            return f"no answer from the page in {SNAPSHOT_TIMEOUT_S} s"
    return ""


# --------------------------------------------------------------------------- JupyterLite (dist/lab)


def lab_config() -> dict[str, object]:
    """jupyter-lite.json of the site: the kernel uses dist/pyodide/ and never PyPI.

    JupyterLite resolves a URL setting against the folder of jupyter-lite.json only when
    it starts with "./"; so "./../pyodide/" is dist/pyodide/, seen from dist/lab/. That is
    our runtime and lock (blazen-py, micropip, pyodide-http), shared with the playground."""
    kernel = {"pyodideUrl": "./../pyodide/pyodide.mjs", "disablePyPIFallback": True}
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
        log(f"{DIST_LAB.relative_to(ROOT)}/ is up to date")
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
    stamp.write_text(wanted)
    log(f"built {DIST_LAB.relative_to(ROOT)}/ in {time.monotonic() - started:.1f} s")
    return DIST_LAB


# --------------------------------------------------------------------------- benchmarks


def bench(quick: bool) -> int:
    """Set up .venv (Playwright), the bench virtualenv, Chromium and dist/, then run
    bench/run.py, which measures everything and rewrites bench/RESULTS.md."""
    python = ensure_venv()
    peers = ensure_bench_venv()
    ensure_node()
    chromium = ensure_chromium()
    build()
    log(f"running the benchmarks{' (quick)' if quick else ''}: ~{1 if quick else 10} min")
    command = [str(python), "-m", "bench.run", "--bench-python", str(peers), *(["--quick"] if quick else [])]
    return subprocess.run(command, cwd=ROOT, env=tier_env(chromium), check=False).returncode


# --------------------------------------------------------------------------- test set-up


def tier_env(chromium: str) -> dict[str, str]:
    """Environment of the pytest processes."""
    env = {**os.environ, "BLAZEN_CHROMIUM": chromium, "PYTHONPYCACHEPREFIX": str(CACHE / "pycache")}
    env.pop("PYTHONPATH", None)
    return env


SUMMARY_RE = re.compile(r"^=+ (.*\bin \d[\d.]*s.*?) =+$")


def run_tier(python: Path, tier: str, extra: Sequence[str], env: Mapping[str, str]) -> tuple[int, str, float]:
    """Run one tier as its own pytest process; return (exit code, summary line, seconds)."""
    print(f"\n{'=' * 24} tier: {tier} {'=' * 24}", flush=True)
    started = time.monotonic()
    process = subprocess.Popen(
        [str(python), "-m", "pytest", f"tests/{tier}", *extra],
        cwd=ROOT,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    summary = ""
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(line)
        match = SUMMARY_RE.match(line.strip())
        if match:
            summary = match.group(1)
    code = process.wait()
    return code, summary or "(no pytest summary line)", time.monotonic() - started


def report(results: Mapping[str, tuple[int, str, float]], setup_seconds: float) -> bool:
    """Print the final summary of all tiers; True when every tier passed."""
    print(f"\n{'=' * 24} blazen_py test summary {'=' * 24}")
    print(f"set-up and build: {setup_seconds:.1f} s")
    ok = True
    for tier, (code, summary, seconds) in results.items():
        verdict = "PASS" if code == 0 else f"FAIL (exit {code})"
        if code == 5:
            verdict = "FAIL (no tests collected)"
        ok = ok and code == 0
        print(f"{tier:>8}: {verdict:<26} {summary}  [{seconds:.1f} s]")
    print("ALL TIERS PASSED" if ok else "SOME TIERS FAILED")
    totals = count_outcomes(summary for _, summary, _ in results.values())
    # a tier that failed without failing a test (no tests, crash) still counts as a failure
    totals["failed"] += sum(
        1 for code, summary, _ in results.values() if code != 0 and not count_outcomes([summary])["failed"]
    )
    print(
        f"total: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped",
        flush=True,
    )
    return ok


def count_outcomes(summaries: Iterable[str]) -> dict[str, int]:
    """Add up passed/failed/skipped over pytest summary lines (errors count as failed)."""
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    for summary in summaries:
        for number, word in re.findall(r"(\d+) (passed|failed|skipped|errors?)\b", summary):
            totals["failed" if word.startswith("error") else word] += int(number)
    return totals


def test(tiers: Sequence[str], extra: Sequence[str]) -> int:
    """Set up everything the tests need, build dist/, run the tiers; return the exit code."""
    started = time.monotonic()
    python = ensure_venv()
    ensure_bench_venv()  # the benchmarks' smoke tests run the peers too
    ensure_node()
    chromium = ensure_chromium()
    build_lab()
    ensure_wheels(TEST_WHEELS)
    setup_seconds = time.monotonic() - started
    log(f"set-up done in {setup_seconds:.1f} s (chromium: {chromium}); running tiers: {', '.join(tiers)}")
    env = tier_env(chromium)
    results = {tier: run_tier(python, tier, extra, env) for tier in tiers}
    return 0 if report(results, setup_seconds) else 1


# --------------------------------------------------------------------------- command line


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command line of build.py."""
    parser = argparse.ArgumentParser(prog="build.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("build", help="build dist/ (the default)")
    serve_p = sub.add_parser("serve", help="build, then serve dist/ on 127.0.0.1")
    serve_p.add_argument("--port", type=int, default=8000, help="port (0 picks a free one; default 8000)")
    serve_p.add_argument("--verbose", action="store_true", help="log every request")
    sub.add_parser("lab", help="build dist/, then the JupyterLite site dist/lab/")
    test_p = sub.add_parser("test", help="set up, build and run the test tiers")
    test_p.add_argument(
        "--tier", action="append", choices=TIERS, help="run only this tier (repeatable; default: all)"
    )
    test_p.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    bench_p = sub.add_parser("bench", help="run the benchmarks, rewrite bench/RESULTS.md")
    bench_p.add_argument("--quick", action="store_true", help="tiny sizes, few runs (a smoke run)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "serve":
            serve(args.port, args.verbose)
        elif args.command == "test":
            return test(args.tier or TIERS, args.pytest_args)
        elif args.command == "bench":
            return bench(args.quick)
        elif args.command == "lab":
            build_lab()
            log(f"serve it with `python build.py serve`: {DIST_LAB.relative_to(ROOT)}/ is at /lab/")
        else:
            build()
    except BuildError as exc:
        print(f"build.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
