"""The lab's Pyodide lock (blazen_build/lab_lock.py), from real wheels in a temporary site."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from blazen_build.common import BuildError, sha256_file
from blazen_build.lab_lock import KERNEL_EXTENSION_PYPI, PRELOADED, marker_holds, write_lab_lock


def make_wheel(folder: Path, name: str, version: str, *requires: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stem = name.replace("-", "_")
    path = folder / f"{stem}-{version}-py3-none-any.whl"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires) + "\nA description: not a header\n"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{stem}/__init__.py", "")
        archive.writestr(f"{stem}-{version}.dist-info/METADATA", metadata)
    return path


def test_markers_hold_as_in_pyodide() -> None:
    assert marker_holds(' sys_platform == "emscripten"')
    assert not marker_holds(' sys_platform != "win32" and sys_platform != "emscripten"')
    assert not marker_holds(' sys_platform == "win32"')
    assert marker_holds(' sys_platform == "win32" or platform_system == "Emscripten"')
    assert not marker_holds(' extra == "test"')
    with pytest.raises(BuildError, match="unsupported marker"):
        marker_holds(' python_version < "3.12"')


def site(tmp_path: Path, *kernel_requires: str) -> tuple[Path, Path]:
    runtime = tmp_path / "pyodide"
    runtime.mkdir()
    lock = runtime / "pyodide-lock.json"
    wheel = "blazen_py-0.1.0-py3-none-any.whl"
    entry = {"name": "blazen-py", "version": "0.1.0", "file_name": wheel, "depends": []}
    packages = {"blazen-py": entry, "micropip": {**entry, "name": "micropip", "file_name": "m.whl"}}
    lock.write_text(json.dumps({"info": {"python": "3.14.2"}, "packages": packages}))
    lab = tmp_path / "lab"
    for name in ("comm", "jedi"):
        make_wheel(lab / "pypi", name, "1.0")
    pexpect = 'pexpect>4; sys_platform != "emscripten"'
    make_wheel(lab / "pypi", "ipython", "9.0", "jedi>=0.1", pexpect, *kernel_requires)
    for name in ("piplite", "ipykernel", "pyodide-kernel"):
        make_wheel(lab / KERNEL_EXTENSION_PYPI, name, "0.8")
    make_wheel(lab / KERNEL_EXTENSION_PYPI, "widgetsnbextension", "3.6.999")
    make_wheel(lab / KERNEL_EXTENSION_PYPI, "widgetsnbextension", "4.0.999")
    return lab, lock


def test_the_lock_lists_every_preloaded_package_from_this_site(tmp_path: Path) -> None:
    lab, runtime_lock = site(tmp_path)
    packages = json.loads(write_lab_lock(lab, runtime_lock).read_text())["packages"]
    assert set(PRELOADED) <= set(packages)
    # the runtime's packages from dist/pyodide/, seen from dist/lab/
    assert packages["blazen-py"]["file_name"] == "../pyodide/blazen_py-0.1.0-py3-none-any.whl"
    ipython = packages["ipython"]
    assert ipython["file_name"] == "pypi/ipython-9.0-py3-none-any.whl"
    assert ipython["sha256"] == sha256_file(lab / ipython["file_name"])
    assert ipython["depends"] == ["jedi"]  # pexpect's marker does not hold in Pyodide
    assert ipython["imports"] == ["ipython"]
    assert packages["widgetsnbextension"]["version"] == "4.0.999"


def test_a_dependency_the_site_lacks_fails_the_build(tmp_path: Path) -> None:
    lab, runtime_lock = site(tmp_path, "traitlets")
    with pytest.raises(BuildError, match="lacks \\['traitlets'\\]"):
        write_lab_lock(lab, runtime_lock)
