"""Host-side checks of what the Pyodide runtimes load: dist/pyodide and the blazen_py wheel."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from blazen_build import snapshot
from blazen_build.paths import DIST, DIST_PYODIDE, PYODIDE_VERSION, WEB
from blazen_build.wheel import version, wheel_name, write_wheel

LOCK = DIST_PYODIDE / "pyodide-lock.json"
# What a module imports statically: `import ... from "x"`, `export ... from "x"`, `import "x"`.
JS_IMPORT = re.compile(r"""^(?:import|export)\s(?:[^;'"()]*?\bfrom\s*)?["']([^"']+)["']""", re.M)


def test_lock_lists_exactly_the_wheels_present_with_their_real_sha256() -> None:
    lock = json.loads(LOCK.read_text())
    listed = {entry["file_name"]: entry for entry in lock["packages"].values()}
    present = {path.name for path in DIST_PYODIDE.glob("*.whl")}
    assert set(listed) == present
    for file_name, entry in listed.items():
        digest = hashlib.sha256((DIST_PYODIDE / file_name).read_bytes()).hexdigest()
        assert entry["sha256"] == digest, file_name
    assert set(lock["packages"]) == {"blazen-py", "micropip", "pyodide-http"}
    assert lock["info"]["python"].startswith("3.14")


def test_wheel_is_a_valid_pure_wheel_of_the_package() -> None:
    wheel = DIST_PYODIDE / wheel_name()
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = f"blazen_py-{version()}.dist-info"
        assert "Tag: py3-none-any" in archive.read(f"{dist_info}/WHEEL").decode()
        assert archive.read(f"{dist_info}/METADATA").decode().startswith("Metadata-Version:")
        record = archive.read(f"{dist_info}/RECORD").decode().splitlines()
    assert "blazen_py/__init__.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert {row.split(",")[0] for row in record} == set(names)


def test_wheel_installs_with_pip_and_imports(tmp_path: Path) -> None:
    wheel = DIST_PYODIDE / wheel_name()
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    code = "import blazen_py, sys; print(blazen_py.__file__)"
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {code}"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout
    assert out.strip().startswith(str(target))


def test_build_is_reproducible(tmp_path: Path) -> None:
    first = write_wheel(tmp_path / "a").read_bytes()
    second = write_wheel(tmp_path / "b").read_bytes()
    assert first == second


def test_every_module_blazen_js_imports_is_in_dist_beside_it() -> None:
    """Users import one URL, blazen.js: the modules it imports (boot.js, errors.js, ...), and
    theirs, are copied next to it."""
    seen, todo = set(), ["blazen.js"]
    while todo:
        name = todo.pop()
        seen.add(name)
        assert (DIST / name).read_bytes() == (WEB / name).read_bytes(), name
        for spec in JS_IMPORT.findall((DIST / name).read_text()):
            assert re.fullmatch(r"\./[\w.-]+\.js", spec), f"{name} imports {spec}: not a file beside it"
            todo += [spec[2:]] if spec[2:] not in seen else []
    assert {"blazen.js", "boot.js", "errors.js"} <= seen


def test_build_info_names_the_wheel_and_versions() -> None:
    info = json.loads((DIST / "build-info.json").read_text())
    assert info["version"] == version()
    assert info["pyodide"] == PYODIDE_VERSION
    assert (DIST / info["wheel"]).is_file()


# -- the memory snapshot (booting from it is tested in tests/browser/test_fast_boot.py) -------


def test_a_current_snapshot_is_kept_without_starting_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_browser() -> None:
        raise AssertionError("a current snapshot must not be made again")

    monkeypatch.setattr(snapshot, "find_chromium", no_browser)
    manifest = json.loads(snapshot.SNAPSHOT_MANIFEST.read_text())
    files = snapshot.ensure_memory_snapshot(DIST_PYODIDE / wheel_name())
    # The zstd copy is there when the build machine can make one (see snapshot.zstd_compress).
    copies = [manifest["file"], *([manifest["zstd_file"]] if manifest.get("zstd_file") else [])]
    assert files == {snapshot.SNAPSHOT_MANIFEST, *(DIST_PYODIDE / name for name in copies)}


def test_without_a_chromium_the_build_says_so_and_makes_no_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(snapshot, "SNAPSHOT_MANIFEST", tmp_path / "blazen-snapshot.json")
    monkeypatch.setattr(snapshot, "find_chromium", lambda: None)
    assert snapshot.ensure_memory_snapshot(DIST_PYODIDE / wheel_name()) == set()
    assert "no Chromium found: dist/ gets no memory snapshot" in capsys.readouterr().out


def test_a_browser_that_exits_early_leaves_no_snapshot_and_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(snapshot, "SNAPSHOT_MANIFEST", tmp_path / "blazen-snapshot.json")
    monkeypatch.setattr(snapshot, "find_chromium", lambda: shutil.which("false"))
    before = set(DIST_PYODIDE.iterdir())
    assert snapshot.ensure_memory_snapshot(DIST_PYODIDE / wheel_name()) == set()
    out = capsys.readouterr().out
    assert "Chromium exited (code 1) before the page answered" in out
    assert "dist/ gets no memory snapshot" in out
    assert set(DIST_PYODIDE.iterdir()) == before


def test_deploying_names_the_runtime_files_that_are_in_dist() -> None:
    """Was: docs/deploying.md named pyodide.asm.js, where the file is pyodide.asm.mjs."""
    text = (WEB.parent / "docs" / "deploying.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `pyodide/` |"))
    named = re.findall(r"`([\w.-]+\.(?:mjs|js|wasm|zip|json))`", row)
    assert "pyodide.asm.mjs" in named
    missing = [name for name in named if not (DIST_PYODIDE / name).is_file()]
    assert missing == []
