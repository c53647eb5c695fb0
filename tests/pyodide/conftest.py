"""Collects the portable engine tests and runs each one inside Pyodide, in Node and in Chromium.

Items are named `test_portable.py::<runtime>::<module>.py::<test id>`, e.g.
`tests/pyodide/test_portable.py::chromium::test_engine.py::test_fan_out[3]`, so a failure
says exactly which test failed where, with the Python traceback from inside Pyodide.

Sources: every tests/python/test_*.py whose source has a top-level `PORTABLE = True`, plus
the tests of tests/pyodide/in_pyodide/ (true only inside Pyodide; never run on CPython).
Ids are computed on the host by importing the portable modules with the same code
(portable_runner.py) that runs them inside Pyodide.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
PYTHON_TESTS = HERE.parent / "python"
for folder in (HERE, PYTHON_TESTS, HERE / "in_pyodide"):
    if str(folder) not in sys.path:
        sys.path.append(str(folder))

import portable_runner  # noqa: E402
from runtimes import ChromiumRuntime, NodeRuntime, PortableSuite, Runtime, RuntimeFailure  # noqa: E402

from blazen_build.chromium import find_chromium  # noqa: E402
from blazen_build.paths import DIST, DIST_PYODIDE  # noqa: E402

collect_ignore = ["in_pyodide", "web"]
TIMEOUT = float(os.environ.get("BLAZEN_PYODIDE_TIMEOUT", "60"))
_pool_key = pytest.StashKey[dict[str, Runtime]]()


def portable_modules() -> list[Path]:
    """The PORTABLE test modules of tests/python and the in-Pyodide-only tests."""
    found = [
        path
        for path in sorted(PYTHON_TESTS.glob("test_*.py"))
        if portable_runner.is_portable_source(path.read_text())
    ]
    return found + sorted((HERE / "in_pyodide").glob("test_*.py"))


def runtime(config: pytest.Config, name: str) -> Runtime:
    """The session's runtime of that name, created on first use and closed at session end."""
    pool = config.stash.setdefault(_pool_key, {})
    if name not in pool:
        if name == "node":
            pool[name] = NodeRuntime(DIST_PYODIDE)
        else:
            chromium = find_chromium()
            if chromium is None:
                raise RuntimeFailure("no Chromium: set BLAZEN_CHROMIUM or run `python build.py test`")
            pool[name] = ChromiumRuntime(DIST, chromium)
        config.add_cleanup(getattr(pool[name], "shutdown", pool[name].close))
    return pool[name]


class InPyodideFailure(Exception):
    """A portable test failed inside Pyodide; carries the in-Pyodide report."""


class PortableItem(pytest.Item):
    """One portable test case in one runtime."""

    def __init__(
        self, *, runtime_name: str, module: str, test_id: str, source: Path, lineno: int, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.runtime_name = runtime_name
        self.module = module
        self.test_id = test_id
        self.source = source
        self.lineno = lineno

    def setup(self) -> None:
        """Boot the runtime (once per session) in set-up, so its time is not a test's."""
        runtime(self.config, self.runtime_name).ensure_booted()

    def runtest(self) -> None:
        result = runtime(self.config, self.runtime_name).run(self.module, self.test_id, TIMEOUT)
        outcome, message = result["outcome"], result["message"]
        if outcome == "skipped":  # reported at the item's location, not this line
            raise pytest.skip.Exception(message or "skipped inside Pyodide", _use_item_location=True)
        if outcome == "xfailed":
            pytest.xfail(message or "xfail inside Pyodide")
        if outcome not in ("passed", "xpassed"):
            output = result.get("output") or ""
            report = message + (f"\n--- captured output ---\n{output}" if output else "")
            raise InPyodideFailure(report)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        header = f"[{self.runtime_name}] {self.module}.py::{self.test_id}"
        if isinstance(excinfo.value, InPyodideFailure):
            return f"{header} failed inside Pyodide:\n{excinfo.value}"
        if isinstance(excinfo.value, RuntimeFailure):
            return f"{header}: the runtime failed:\n{excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Points at the test function in its own source file."""
        return self.source, self.lineno, f"[{self.runtime_name}] {self.module}.py::{self.test_id}"


class PortableModule(pytest.Collector):
    """The cases of one portable module, for one runtime."""

    def __init__(self, *, runtime_name: str, source: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime_name = runtime_name
        self.source = source

    def collect(self) -> Iterator[PortableItem]:
        module = portable_runner.load_module(self.source.stem)
        for case in portable_runner.collect(module):
            yield PortableItem.from_parent(
                self,
                name=case.test_id,
                runtime_name=self.runtime_name,
                module=self.source.stem,
                test_id=case.test_id,
                source=self.source,
                lineno=case.func.__code__.co_firstlineno - 1,
            )


class RuntimeCollector(pytest.Collector):
    """All portable modules, for one runtime."""

    def __init__(self, *, runtime_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime_name = runtime_name

    def collect(self) -> Iterator[PortableModule]:
        for source in portable_modules():
            yield PortableModule.from_parent(
                self, name=source.name, runtime_name=self.runtime_name, source=source
            )


def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Any:
    """A module-level PortableSuite becomes one RuntimeCollector per runtime."""
    if isinstance(obj, PortableSuite):
        return [RuntimeCollector.from_parent(collector, name=r, runtime_name=r) for r in obj.runtimes]
    return None


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """One line per runtime used: boot time and where blazen_py came from."""
    for name, rt in config.stash.get(_pool_key, {}).items():
        if rt.boot_error:
            terminalreporter.write_line(f"pyodide/{name}: failed to boot")
        elif rt.boot_seconds:
            info = rt.boot_info or {}
            terminalreporter.write_line(
                f"pyodide/{name}: booted in {rt.boot_seconds:.1f} s, Python {info.get('python')} "
                f"on {info.get('platform')}, blazen_py from {info.get('blazen_py')}"
                + (", fast loop installed (BLAZEN_FAST_LOOP=1)" if info.get("fast_loop") else "")
            )
