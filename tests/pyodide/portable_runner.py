"""Runs portable test functions: on the host to list them, inside Pyodide to run them.

This one module is imported by the host (tests/pyodide/conftest.py, to collect test ids) and
copied into the Pyodide file system (to run them), so both sides expand parametrize the same
way and agree on every id.

A portable module is a `test_*.py` with a top-level `PORTABLE = True`. Its tests are the
top-level functions named `test*` (sync or async) that take no fixtures; they may use
`pytest.raises`, `pytest.mark.parametrize`, `pytest.mark.skip/skipif/xfail`, `pytest.skip`,
`pytest.fail` and plain asserts (rewritten by pytest's assertion rewriter inside Pyodide too).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib.util
import inspect
import io
import itertools
import json
import sys
import time
import traceback
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PORTABLE_FLAG = "PORTABLE"


def is_portable_source(source: str) -> bool:
    """True when a module's source assigns `PORTABLE = True` at top level (no import needed)."""
    for node in ast.parse(source).body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        named = any(isinstance(t, ast.Name) and t.id == PORTABLE_FLAG for t in targets)
        if named and isinstance(value, ast.Constant) and value.value is True:
            return True
    return False


@dataclass
class Case:
    """One runnable test: a function plus the arguments of one parametrize combination."""

    test_id: str
    func: Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    marks: list[Any] = field(default_factory=list)
    error: str | None = None


def _value_id(value: Any, argname: str, index: int) -> str:
    """pytest-like id of one parameter value."""
    if isinstance(value, str):
        return value.encode("unicode_escape").decode("ascii") or f"{argname}{index}"
    if value is None or isinstance(value, (bool, int, float, complex)):
        return str(value)
    name = getattr(value, "__name__", None)
    if isinstance(name, str) and (inspect.isclass(value) or inspect.isfunction(value)):
        return name
    return f"{argname}{index}"


def _split_argnames(argnames: Any) -> list[str]:
    if isinstance(argnames, str):
        return [a.strip() for a in argnames.split(",") if a.strip()]
    return list(argnames)


def _expand_mark(mark: Any) -> list[tuple[str, dict[str, Any], list[Any]]]:
    """The (id, kwargs, marks) combinations of one parametrize mark."""
    argnames = _split_argnames(mark.args[0] if mark.args else mark.kwargs["argnames"])
    argvalues = list(mark.args[1] if len(mark.args) > 1 else mark.kwargs["argvalues"])
    ids = mark.kwargs.get("ids")
    combos = []
    for index, raw in enumerate(argvalues):
        values, marks, explicit_id = raw, [], None
        if type(raw).__name__ == "ParameterSet":  # pytest.param(...)
            values, marks, explicit_id = raw.values, list(raw.marks), raw.id
            if len(argnames) == 1:
                values = values[0]
        row = (values,) if len(argnames) == 1 else tuple(values)
        if len(row) != len(argnames):
            raise ValueError(f"parametrize {argnames}: value #{index} has {len(row)} items")
        if explicit_id is None and isinstance(ids, (list, tuple)) and index < len(ids):
            explicit_id = ids[index]
        elif explicit_id is None and callable(ids):
            parts = [ids(v) for v in row]
            if all(isinstance(p, str) for p in parts):
                explicit_id = "-".join(parts)
        test_id = (
            explicit_id
            if explicit_id is not None
            else "-".join(_value_id(v, n, index) for v, n in zip(row, argnames, strict=True))
        )
        combos.append((str(test_id), dict(zip(argnames, row, strict=True)), marks))
    return combos


def expand(func: Callable[..., Any]) -> list[Case]:
    """All cases of one test function (one per parametrize combination)."""
    marks = list(getattr(func, "pytestmark", []))
    other_marks = [m for m in marks if m.name != "parametrize"]
    combos: list[tuple[list[str], dict[str, Any], list[Any]]] = [([], {}, [])]
    try:
        for mark in (m for m in marks if m.name == "parametrize"):
            combos = [
                ([*ids, pid], {**kw, **pkw}, ms + pms)
                for (ids, kw, ms), (pid, pkw, pms) in itertools.product(combos, _expand_mark(mark))
            ]
    except Exception as exc:  # a malformed parametrize is the test's failure, reported per test
        return [Case(func.__name__, func, error=f"cannot expand parametrize: {exc!r}")]
    params = [p for p in inspect.signature(func).parameters.values() if p.default is p.empty]
    cases = []
    counts: dict[str, int] = {}
    for ids, kwargs, extra_marks in combos:
        base = f"{func.__name__}[{'-'.join(ids)}]" if ids else func.__name__
        counts[base] = counts.get(base, 0) + 1
        test_id = base if counts[base] == 1 else f"{base[:-1]}{counts[base] - 1}]"
        missing = [p.name for p in params if p.name not in kwargs]
        error = (
            f"portable tests take no fixtures, but it asks for: {', '.join(missing)} (move it to a "
            "module without PORTABLE = True, or mark it skipif(sys.platform == 'emscripten'))"
            if missing
            else None
        )
        cases.append(Case(test_id, func, kwargs, other_marks + extra_marks, error))
    return cases


def collect(module: types.ModuleType) -> list[Case]:
    """The cases of a module: its top-level `test*` functions, in definition order."""
    cases: list[Case] = []
    for name, obj in vars(module).items():
        if name.startswith("test") and inspect.isfunction(obj) and obj.__module__ == module.__name__:
            cases.extend(expand(obj))
    return cases


def load_module(name: str) -> types.ModuleType:
    """Import a test module once, with pytest's assertion rewriting when it is available."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ImportError(f"test module {name!r} was not found on sys.path")
    source = Path(spec.origin).read_bytes()
    tree = ast.parse(source, filename=spec.origin)
    with contextlib.suppress(Exception):
        from _pytest.assertion.rewrite import rewrite_asserts

        rewrite_asserts(tree, source, spec.origin, None)
    code = compile(tree, spec.origin, "exec", dont_inherit=True)
    module = types.ModuleType(name)
    module.__file__ = spec.origin
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    return module


# --------------------------------------------------------------------------- running one case


def _mark_outcome(marks: list[Any]) -> tuple[str, str] | None:
    """('skipped', reason) for skip/skipif marks that apply, else None."""
    for mark in marks:
        if mark.name == "skip":
            return "skipped", str(mark.kwargs.get("reason", mark.args[0] if mark.args else "skip mark"))
        if mark.name == "skipif":
            conditions = mark.args or (mark.kwargs.get("condition"),)
            if any(bool(c) for c in conditions):
                return "skipped", str(mark.kwargs.get("reason", "skipif condition is true"))
    return None


def _xfail(marks: list[Any]) -> Any | None:
    return next((m for m in marks if m.name == "xfail" and all(bool(c) for c in m.args)), None)


def _format_exception(exc: BaseException) -> str:
    """The traceback without this runner's own frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


async def _call(case: Case, limit: float) -> None:
    started = time.monotonic()
    result = case.func(**case.kwargs)
    if inspect.isawaitable(result):
        try:
            await asyncio.wait_for(result, limit)
        except TimeoutError:
            if time.monotonic() - started < limit:
                raise  # the test's own TimeoutError
            raise TimeoutError(f"test timed out after {limit:g} s inside Pyodide") from None


def _outcome_kind(exc: BaseException) -> str:
    """'skipped', 'xfailed' or 'failed' for an exception raised by a test."""
    name = type(exc).__name__
    if name == "Skipped":
        return "skipped"
    if name == "XFailed":
        return "xfailed"
    return "failed"


async def run_case(module_name: str, test_id: str, limit: float) -> dict[str, Any]:
    """Run one case; return {outcome, message, output, duration}. Never raises."""
    started = time.perf_counter()
    output = io.StringIO()
    outcome, message = "passed", ""
    try:
        case = next((c for c in collect(load_module(module_name)) if c.test_id == test_id), None)
        if case is None:
            raise LookupError(f"no test {test_id!r} in {module_name} inside Pyodide")
        # skip marks first: skipif(sys.platform == "emscripten") may skip a test that uses fixtures
        skip = _mark_outcome(case.marks)
        if skip:
            return {"outcome": skip[0], "message": skip[1], "output": "", "duration": 0.0}
        if case.error:
            raise TypeError(case.error)
        xfail = _xfail(case.marks)
        try:
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                await _call(case, limit)
        except BaseException as exc:
            raises = xfail.kwargs.get("raises") if xfail else None
            if xfail and (raises is None or isinstance(exc, raises)) and _outcome_kind(exc) == "failed":
                outcome, message = "xfailed", str(xfail.kwargs.get("reason", ""))
            else:
                outcome = _outcome_kind(exc)
                message = _format_exception(exc) if outcome == "failed" else str(getattr(exc, "msg", exc))
        else:
            if xfail:
                strict = xfail.kwargs.get("strict", True)
                outcome = "failed" if strict else "xpassed"
                message = f"[XPASS(strict)] {xfail.kwargs.get('reason', '')}" if strict else ""
    except BaseException as exc:
        outcome, message = "failed", _format_exception(exc)
    return {
        "outcome": outcome,
        "message": message,
        "output": output.getvalue(),
        "duration": time.perf_counter() - started,
    }


async def run_case_json(module_name: str, test_id: str, limit: float) -> str:
    """run_case, as a JSON string (plain data crosses the JS boundary safely)."""
    return json.dumps(await run_case(module_name, test_id, limit))


def runtime_info() -> str:
    """Where we are: platform, Python version, where blazen_py was imported from."""
    import platform

    info: dict[str, Any] = {"platform": sys.platform, "python": platform.python_version()}
    try:
        import blazen_py

        info["blazen_py"] = getattr(blazen_py, "__file__", None)
        from blazen_py._compat import _fast_loop

        info["fast_loop"] = _fast_loop.installed()
    except Exception as exc:
        info["blazen_py_error"] = repr(exc)
    return json.dumps(info)


def iter_case_ids(module: types.ModuleType) -> Iterator[str]:
    """Test ids of a module (host side)."""
    for case in collect(module):
        yield case.test_id
