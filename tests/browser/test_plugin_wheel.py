"""The plugin as a user gets it: the blazen_py wheel built as build.py builds it, installed
with its [testing] extra into a fresh virtualenv in a temporary folder outside the
repository, offline (`pip install --no-index`). The extra's dependencies come from a
wheelhouse made here from what .venv has installed (no download). A tiny test project then
runs there: its passing tests pass, a failing one turns the run red."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as metadata
import os
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

from blazen_build.paths import DIST, ROOT
from blazen_build.wheel import write_wheel

TIMEOUT_S = 900


def _requirements(name: str, extras: tuple[str, ...] = ()) -> list[str]:
    """The names `name` (with `extras`) needs on this interpreter."""
    out = []
    for text in metadata.distribution(name).requires or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({**default_environment(), "extra": e}) for e in extras or ("",)):
            out.append(requirement.name)
    return out


def _closure(names: list[str]) -> list[str]:
    seen: list[str] = []
    while names:
        name = names.pop()
        if name.lower() not in (s.lower() for s in seen):
            seen.append(name)
            names.extend(_requirements(name))
    return seen


def _wheel_from_installed(name: str, target: Path) -> Path:
    """A wheel of an installed distribution: its files under site-packages, its dist-info
    (with a fresh RECORD), its tag from the installed WHEEL file. Scripts are left out:
    pip makes them again from entry_points.txt."""
    dist = metadata.distribution(name)
    wheel_info = dist.read_text("WHEEL") or ""
    tag = re.search(r"^Tag: (\S+)$", wheel_info, re.M)
    assert tag, (name, wheel_info)
    site = Path(str(dist.locate_file("")))
    info_dir = next(str(f).split("/")[0] for f in dist.files or [] if str(f).split("/")[0].endswith(".dist-info"))
    stem = info_dir[: -len(".dist-info")]
    path = target / f"{stem}-{tag.group(1)}.whl"
    record: list[str] = []
    # Stored, not deflated: playwright alone is 165 MB (its Node driver), and deflating it
    # took most of this test's time; pip installs a stored wheel the same way.
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as wheel:
        for file in dist.files or []:
            arcname = str(file)
            full = site / arcname
            if arcname.startswith("..") or "__pycache__" in arcname or arcname.endswith(("RECORD", "INSTALLER", "direct_url.json")) or not full.is_file():
                continue
            data = full.read_bytes()
            info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (full.stat().st_mode & 0o777 | 0o100000) << 16
            wheel.writestr(info, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{arcname},sha256={digest},{len(data)}")
        record.append(f"{info_dir}/RECORD,,")
        wheel.writestr(f"{info_dir}/RECORD", "\n".join(record) + "\n")
    return path


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, text=True, capture_output=True,
                          timeout=TIMEOUT_S, check=False)


PROJECT = '''
import blazen_py
from blazen_py.testing import run_in_blazen

def test_installed_from_the_wheel():
    assert "__VENV__" in blazen_py.__file__, blazen_py.__file__

def test_page(blazen_page):
    assert blazen_page.python("import blazen_py\\nblazen_py.__name__") == "blazen_py"

@run_in_blazen(runtimes=("node",), timeout=30)
def test_in_node():
    import blazen_py
    assert blazen_py.Workflow

def test_red_in_page(blazen_page):
    if __RED__:
        blazen_page.python("raise KeyError('red-from-the-wheel')")
'''


def test_plugin_installed_from_the_wheel_in_a_fresh_venv(tmp_path: Path) -> None:
    assert ROOT not in tmp_path.parents
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    ours = write_wheel(wheelhouse)
    for name in _closure(_requirements("blazen_py", ("testing",))):
        _wheel_from_installed(name, wheelhouse)
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    made = _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    assert made.returncode == 0, made.stderr
    python = str(venv / "bin" / "python")
    installed = _run([python, "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheelhouse),
                      f"{ours}[testing]"], tmp_path, {**env, "PIP_NO_INDEX": "1"})
    assert installed.returncode == 0, installed.stdout + installed.stderr
    project = tmp_path / "project"
    project.mkdir()
    command = [python, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", f"--blazen-dist={DIST}"]

    source = textwrap.dedent(PROJECT).replace("__VENV__", str(venv))
    (project / "test_green.py").write_text(source.replace("__RED__", "False"))
    green = _run([*command, "test_green.py"], project, env)
    assert green.returncode == 0, green.stdout + green.stderr
    assert "4 passed" in green.stdout, green.stdout

    (project / "test_red.py").write_text(source.replace("__RED__", "True"))
    red = _run([*command, "test_red.py"], project, env)
    assert red.returncode == 1, red.stdout + red.stderr
    assert "1 failed, 3 passed" in red.stdout, red.stdout
    assert "KeyError: 'red-from-the-wheel'" in red.stdout, red.stdout
