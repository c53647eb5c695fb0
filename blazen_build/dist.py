"""dist/, the static site: the Pyodide runtime from node_modules, the wheels and a lock file
that lists exactly them, web/ (with the JS files generated from blazen_py/_boundary.py),
build-info.json and the memory snapshot."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from blazen_build.common import BuildError, log, sha256_file, write_text_if_changed
from blazen_build.lab_lock import write_lab_lock
from blazen_build.npm import ensure_npm_packages, pyodide_npm_version
from blazen_build.paths import DIST, DIST_LAB, DIST_PYODIDE, PACKAGE, PYODIDE_NPM, PYODIDE_VERSION, ROOT, WEB
from blazen_build.pypi import ensure_wheels
from blazen_build.snapshot import SNAPSHOT_MANIFEST, ensure_memory_snapshot
from blazen_build.wheel import canonical_name, version, write_wheel

# Pure wheels served in dist/pyodide and listed in its lock file.
RUNTIME_WHEELS: dict[str, str] = {"micropip": "0.11.1", "pyodide-http": "0.2.2"}
# Files of the npm package that are not part of the runtime served to pages.
PYODIDE_SKIP = {"README.md", "package.json", "console.html", "console-v2.html", "ffi.d.ts", "pyodide.d.ts"}


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
    if (DIST_LAB / "pyodide-lock.json").is_file():  # the lab's lock names our wheel's sha256 too
        write_lab_lock(DIST_LAB, DIST_PYODIDE / "pyodide-lock.json")

    render_boundary()
    pages = []
    for src in sorted(WEB.rglob("*")):
        if src.is_file() and src.suffix == ".html":
            pages.append(src)
        elif src.is_file():
            dst = DIST / src.relative_to(WEB)
            sync_file(src, dst)
            produced.add(dst)
    produced.add(write_build_info(wheel))
    produced |= ensure_memory_snapshot(wheel)
    for src in pages:  # after the snapshot: their hints name its manifest when there is one
        dst = DIST / src.relative_to(WEB)
        write_text_if_changed(dst, with_preload_hints(src.read_text(), dst))
        produced.add(dst)
    produced.add(write_preload_hints())
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
        # Whether dist/lab/ holds the JupyterLite site: the playground links to it only then
        # (known from the build, so the page never probes for it with a request that 404s).
        "lab": (DIST_LAB / "jupyter-lite.json").is_file(),
    }
    path = DIST / "build-info.json"
    write_text_if_changed(path, json.dumps(info, indent=2) + "\n")
    return path


def record_lab_built() -> None:
    """After `python build.py lab`: build-info.json says the lab is there."""
    path = DIST / "build-info.json"
    info = json.loads(path.read_text())
    info["lab"] = (DIST_LAB / "jupyter-lite.json").is_file()
    write_text_if_changed(path, json.dumps(info, indent=2) + "\n")


# -- preload hints ----------------------------------------------------------------------------
#
# A page that boots blazen.js learns what to fetch only as each step runs: its module
# imports boot.js, which imports Pyodide, which fetches the wasm and the lock, while boot.js
# fetches the snapshot's manifest and then the snapshot. The built pages name
# all of them up front so the browser fetches them in parallel from the start. Hints must
# match the later requests exactly or the browser fetches twice: `modulepreload` for
# modules, `preload as="fetch" crossorigin="anonymous"` for fetch() (same-origin
# credentials, CORS mode). The snapshot file itself is not hinted: a preload would request
# and decode its ~6 MB on every visit, a reload too, where boot.js uses the Cache API's copy
# (measured: reloads 30-70 ms slower, first visits no faster). The manifest's hint is what tells
# boot.js to open the snapshot at import instead, fetching it only when no copy is kept.
# The wheel is not hinted: a boot from the snapshot has its files in the snapshot's
# container, and a boot without one installs it through the lock. dist/preload-hints.html
# holds the same lines for a page of one's own (paths relative to dist/).

_MODULE_SCRIPT = re.compile(r"<script\s+type=\"module\"(?:\s+src=\"([^\"]+)\")?\s*>(.*?)</script>", re.S)
_STATIC_IMPORT = re.compile(r"^\s*import\s[^;]*?from\s*[\"'](\./[^\"']+\.js)[\"']", re.M)
_BARE_IMPORT = re.compile(r"^\s*import\s*[\"'](\./[^\"']+\.js)[\"']", re.M)
HINTS_MARK = "<!-- preload hints: written by python build.py -->"
HINTS_FILE = DIST / "preload-hints.html"


def module_closure(html: str) -> list[str]:
    """The local modules a page loads (its module scripts and what they import statically),
    as paths under web/, in the order first met."""
    found: list[str] = []
    pending: list[str] = []
    for src, body in _MODULE_SCRIPT.findall(html):
        pending += [src] if src else [m for r in (_STATIC_IMPORT, _BARE_IMPORT) for m in r.findall(body)]
    while pending:
        name = os.path.normpath(pending.pop(0)).replace(os.sep, "/")
        if name in found or not (WEB / name).is_file():
            continue
        found.append(name)
        text = (WEB / name).read_text()
        folder = os.path.dirname(name)
        pending += [os.path.join(folder, m) for r in (_STATIC_IMPORT, _BARE_IMPORT) for m in r.findall(text)]
    return found


def hinted_fetches() -> list[str]:
    """What a boot fetches from dist/pyodide/ besides its two modules and the snapshot file
    (see above): the snapshot's manifest too when the build made a snapshot."""
    files = ["pyodide.asm.wasm", "pyodide-lock.json", "python_stdlib.zip"]
    if SNAPSHOT_MANIFEST.is_file():
        files.append(SNAPSHOT_MANIFEST.name)
    return files


def preload_lines(modules: Sequence[str], base: str) -> list[str]:
    """The hint lines for a page that loads `modules` (paths under web/), with URLs made of
    `base` (the page's way to dist/, ending in "/") and paths under dist/: the runtime and
    the boot's fetches too when blazen.js is among them."""
    lines = [f'<link rel="modulepreload" href="{base}{name}">' for name in modules]
    if "blazen.js" in modules:
        runtime = ("pyodide.mjs", "pyodide.asm.mjs")
        lines += [f'<link rel="modulepreload" href="{base}pyodide/{name}">' for name in runtime]
        lines += [
            f'<link rel="preload" as="fetch" crossorigin="anonymous" href="{base}pyodide/{name}">'
            for name in hinted_fetches()
        ]
    return lines


def with_preload_hints(html: str, page: Path) -> str:
    """`html` with preload hints for the files its boot loads, before its </head>."""
    modules = module_closure(html)
    if not modules or "</head>" not in html:
        return html
    prefix = os.path.relpath(DIST, page.parent).replace(os.sep, "/")
    base = "./" if prefix == "." else prefix + "/"
    block = "\n  ".join([HINTS_MARK, *preload_lines(modules, base)])
    head_end = html.index("</head>")
    return f"{html[:head_end]}  {block}\n{html[head_end:]}"


def write_preload_hints() -> Path:
    """dist/preload-hints.html: the hints of a page that imports blazen.js, for pages of
    one's own (a template can include it at deploy time: it names the snapshot's manifest
    only when the build made a snapshot)."""
    modules = module_closure('<script type="module">import "./blazen.js";</script>')
    text = "\n".join([HINTS_MARK, *preload_lines(modules, "./")]) + "\n"
    write_text_if_changed(HINTS_FILE, text)
    return HINTS_FILE
