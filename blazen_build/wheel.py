"""The blazen_py wheel (PEP 427): pure py3-none-any, byte-for-byte reproducible, and the
project metadata it is made from (pyproject.toml)."""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import tomllib
import zipfile
from pathlib import Path

from blazen_build.common import BuildError
from blazen_build.paths import PACKAGE, ROOT


def canonical_name(name: str) -> str:
    """PEP 503 normalised project name (`Blazen_Py` -> `blazen-py`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_stem(name: str) -> str:
    """Project name as it appears in wheel file names (`pyodide-http` -> `pyodide_http`)."""
    return re.sub(r"[-_.]+", "_", name).lower()


# --------------------------------------------------------------------------- project metadata


@functools.cache
def project() -> dict[str, object]:
    """The [project] table of pyproject.toml."""
    with (ROOT / "pyproject.toml").open("rb") as handle:
        table: dict[str, object] = tomllib.load(handle)["project"]
    return table


def version() -> str:
    """The blazen_py version declared in pyproject.toml."""
    return str(project()["version"])


def wheel_name() -> str:
    """File name of the blazen_py wheel."""
    return f"{wheel_stem(PACKAGE)}-{version()}-py3-none-any.whl"


# --------------------------------------------------------------------------- the wheel


def package_files() -> list[Path]:
    """Every file of the import package that goes into the wheel, sorted."""
    source = ROOT / PACKAGE
    if not (source / "__init__.py").is_file():
        raise BuildError(f"{source}/__init__.py is missing: there is no package to build")
    return sorted(
        path
        for path in source.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in {".pyc", ".pyo"}
    )


def metadata_text() -> str:
    """Core metadata (METADATA) of the wheel, from pyproject.toml."""
    meta = project()
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {meta['name']}",
        f"Version: {meta['version']}",
        f"Summary: {meta.get('description', '')}",
        f"Requires-Python: {meta.get('requires-python', '')}",
    ]
    license_ = meta.get("license")
    if isinstance(license_, str):
        lines.append(f"License-Expression: {license_}")
    lines += [f"Classifier: {c}" for c in meta.get("classifiers", [])]  # type: ignore[attr-defined]
    extras = meta.get("optional-dependencies", {})
    for extra, requirements in extras.items():  # type: ignore[attr-defined]
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {req}; extra == "{extra}"' for req in requirements]
    return "\n".join(lines) + "\n"


def entry_points_text() -> str | None:
    """entry_points.txt of the wheel (the pytest11 plugin), from [project.entry-points]."""
    groups = project().get("entry-points", {})
    if not groups:
        return None
    lines: list[str] = []
    for group, entries in sorted(groups.items()):  # type: ignore[attr-defined]
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in sorted(entries.items())]
        lines.append("")
    return "\n".join(lines)


def record_line(arcname: str, data: bytes) -> str:
    """One RECORD row: path, urlsafe-base64 sha256 without padding, size."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def write_wheel(target_dir: Path) -> Path:
    """Write the pure py3-none-any wheel of blazen_py, byte-for-byte reproducible."""
    dist_info = f"{wheel_stem(PACKAGE)}-{version()}.dist-info"
    entries: list[tuple[str, bytes]] = [
        (path.relative_to(ROOT).as_posix(), path.read_bytes()) for path in package_files()
    ]
    entries.append((f"{dist_info}/METADATA", metadata_text().encode()))
    entry_points = entry_points_text()
    if entry_points is not None:
        entries.append((f"{dist_info}/entry_points.txt", entry_points.encode()))
    wheel_meta = (
        "Wheel-Version: 1.0\nGenerator: blazen_py build.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    entries.append((f"{dist_info}/WHEEL", wheel_meta.encode()))
    record = [record_line(name, data) for name, data in entries] + [f"{dist_info}/RECORD,,"]
    entries.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))

    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / wheel_name()
    tmp = target.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    replace_if_changed(tmp, target)
    return target


def replace_if_changed(tmp: Path, target: Path) -> None:
    """Move tmp onto target unless target already has the same bytes (keeps mtimes stable)."""
    if target.is_file() and target.read_bytes() == tmp.read_bytes():
        tmp.unlink()
    else:
        tmp.replace(target)
