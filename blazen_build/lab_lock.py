"""dist/lab/pyodide-lock.json: the lab kernel's own Pyodide lock, so that its packages load
at boot in one parallel loadPackage instead of one piplite install after another.

The Pyodide kernel installs micropip, then piplite, then ipykernel, comm, pyodide-kernel,
jedi and ipython (each resolving its dependencies through piplite's index) before it is
ready, unless `loadPyodideOptions.packages` already names them: then `loadPyodide`
loads them from the lock, with every dependency, all downloads at once. The lock lists
our runtime's own packages (dist/pyodide/, named "../pyodide/..." from dist/lab/), the
kernel's wheels that `jupyter lite build` put in dist/lab/pypi/ and in the kernel
extension's folder, with their real sha256 (the browser checks it) and dependencies read
from each wheel's METADATA.

Measured (bench/lab_timing.py, README): this removes piplite's round trips but not the
time, which is Python's own (Pyodide's start, unpacking, `import IPython` ~3.5 s). Not done:
a memory snapshot of the kernel. The kernel hands `loadPyodide` only its JSON settings, so
`_loadSnapshot` (bytes) cannot be one; it would take our own module as `pyodideUrl` (the
kernel imports it and calls only its `loadPyodide` export) that passes the snapshot, one
made with the kernel's packages imported, and their files unpacked again after a restore
(a snapshot holds the wasm memory, not the file system), as blazen.js does for our wheel.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

from blazen_build.common import BuildError, sha256_file

# What the kernel would otherwise install itself (jupyterlite-pyodide-kernel 0.8's worker
# skips a package that loadPyodideOptions.packages names), and blazen_py, so that the first
# cell's `import blazen_py` needs no download.
PRELOADED = ("micropip", "piplite", "ipykernel", "comm", "pyodide-kernel", "jedi", "ipython", "blazen-py")
KERNEL_EXTENSION_PYPI = Path("extensions/@jupyterlite/pyodide-kernel-extension/static/pypi")
# The values of the environment markers a Requires-Dist may test, in Pyodide's Python.
PYODIDE_MARKERS = {"sys_platform": "emscripten", "platform_system": "Emscripten", "os_name": "posix"}
_MARKER_TERM = re.compile(r'^\s*(\w+)\s*(==|!=)\s*"([^"]*)"\s*$')


def normalized(name: str) -> str:
    """A distribution's name as a lock key (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def marker_holds(marker: str) -> bool:
    """Whether a Requires-Dist marker holds in Pyodide: `extra` never does (no extras are
    wanted); `and`/`or` of ==/!= tests of PYODIDE_MARKERS are evaluated; anything else is
    a BuildError, so that a new kind of marker in a pinned wheel is looked at, not guessed."""
    if "extra" in marker:
        return False
    if "(" in marker:
        raise BuildError(f"unsupported marker in a kernel wheel: {marker!r}")
    alternatives = [part.split(" and ") for part in marker.split(" or ")]
    return any(all(_term_holds(term, marker) for term in terms) for terms in alternatives)


def _term_holds(term: str, marker: str) -> bool:
    match = _MARKER_TERM.match(term)
    if match is None or match[1] not in PYODIDE_MARKERS:
        raise BuildError(f"unsupported marker in a kernel wheel: {marker!r}")
    value = PYODIDE_MARKERS[match[1]]
    return (value == match[3]) == (match[2] == "==")


def wheel_facts(wheel: Path) -> tuple[str, str, list[str], list[str]]:
    """(name, version, required names, top-level imports) of a wheel, from its METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [metadata] = [n for n in names if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
    headers = [line.split(":", 1) for line in text.split("\n\n", 1)[0].splitlines() if ":" in line]
    name = next(v.strip() for k, v in headers if k == "Name")
    version = next(v.strip() for k, v in headers if k == "Version")
    requires = []
    for key, value in headers:
        if key != "Requires-Dist":
            continue
        requirement, _, marker = value.partition(";")
        if marker and not marker_holds(marker):
            continue
        requires.append(normalized(re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0]))
    tops = {n.split("/")[0].removesuffix(".py") for n in names if "/" in n or n.endswith(".py")}
    imports = sorted(t for t in tops if t.isidentifier())
    return name, version, requires, imports


def lock_entry(wheel: Path, file_name: str) -> tuple[str, dict[str, object]]:
    """The lock entry of one pure wheel, served at file_name (relative to dist/lab/)."""
    name, version, requires, imports = wheel_facts(wheel)
    return normalized(name), {
        "name": name,
        "version": version,
        "file_name": file_name,
        "install_dir": "site",
        "sha256": sha256_file(wheel),
        "package_type": "package",
        "imports": imports,
        "depends": sorted(set(requires)),
        "shared_library": False,
        "unvendored_tests": False,
    }


def kernel_wheels(dist_lab: Path) -> dict[Path, str]:
    """The wheels the lab serves for the kernel, each with its path relative to dist/lab/.
    Of two versions of one project (the kernel ships widgetsnbextension 3 and 4 shims),
    the newest wins."""
    found: dict[str, tuple[Path, str]] = {}
    wheels = sorted((dist_lab / "pypi").glob("*.whl"))
    for wheel in wheels + sorted((dist_lab / KERNEL_EXTENSION_PYPI).glob("*.whl")):
        key = normalized(wheel.name.split("-")[0])
        found[key] = (wheel, wheel.relative_to(dist_lab).as_posix())  # sorted: the last is newest
    return dict(found.values())


def write_lab_lock(dist_lab: Path, runtime_lock: Path) -> Path:
    """Write dist/lab/pyodide-lock.json from the runtime's lock and the kernel's wheels;
    check that every preloaded package and every dependency is in it."""
    runtime = json.loads(runtime_lock.read_text())
    packages: dict[str, dict[str, object]] = {}
    prefix = f"../{runtime_lock.parent.name}/"
    for key, entry in runtime["packages"].items():
        packages[key] = {**entry, "file_name": prefix + str(entry["file_name"])}
    for wheel, file_name in kernel_wheels(dist_lab).items():
        key, entry = lock_entry(wheel, file_name)
        packages.setdefault(key, entry)  # the runtime's own build of a package wins
    depends = {str(d) for entry in packages.values() for d in entry["depends"]}  # type: ignore[attr-defined]
    missing = sorted(depends - set(packages))
    missing += [name for name in PRELOADED if name not in packages]
    if missing:
        raise BuildError(f"the lab's Pyodide lock lacks {missing}")
    path = dist_lab / "pyodide-lock.json"
    lock = {"info": runtime["info"], "packages": packages}
    path.write_text(json.dumps(lock, indent=1, sort_keys=True) + "\n")
    return path
