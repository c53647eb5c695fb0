"""run_in_blazen: a test function whose body runs inside Pyodide with blazen_py installed,
in Chromium (through the plugin's `blazen_page`) or in Node (a fresh `node` process, no
browser). The body's source is sent as data and run with Pyodide's `runPythonAsync`; its
outcome comes back as JSON. A failing assertion, an exception, or a body that outlives its
timeout fails the pytest test with the traceback from inside Pyodide."""

from __future__ import annotations

import ast
import inspect
import json
import os
import queue
import shutil
import subprocess
import textwrap
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

RUNTIMES = ("chromium", "node")
DEFAULT_TIMEOUT_S = 60.0
BOOT_TIMEOUT_S = 180.0
GRACE_S = 10.0
NODE_RUNNER = Path(__file__).resolve().parent / "node_runner.mjs"
RESULT_PREFIX = "@@blazen-run-in-blazen@@"
BOOTED_LINE = "@@blazen-booted@@"  # node_runner.mjs prints it once Pyodide and the package are loaded
PACKAGE_LOCK_NAME = "blazen-py"

# Runs in Pyodide. The test's source arrives as a string literal; its lines keep their
# numbers in the test file, and linecache holds the file, so the traceback reads as on CPython.
# The body runs as a Task: an async body still pending after the timeout is cancelled and
# reported as hung (a TimeoutError the body raises itself stays an ordinary failure).
_RUNNER = """
import asyncio as _asyncio, inspect as _inspect, json as _json, linecache as _linecache
import traceback as _traceback

async def _blazen_run_in_blazen(source, text, filename, name, timeout):
    _linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    namespace = {"__name__": "__blazen_test__", "__file__": filename}
    try:
        exec(compile(source, filename, "exec"), namespace)
        value = namespace[name]()
        if _inspect.isawaitable(value):
            task = _asyncio.ensure_future(value)
            done, _ = await _asyncio.wait({task}, timeout=timeout)
            if not done:
                task.cancel()
                frames = "".join(_traceback.format_stack(task.get_stack()[-1])) if task.get_stack() else ""
                return {"ok": False, "kind": "timeout",
                        "traceback": f"the body did not finish within {timeout:g} s; it was at:\\n{frames}"}
            task.result()
    except BaseException as error:  # the test's own failure, whatever it is; minus this frame
        lines = _traceback.format_exception(type(error), error, error.__traceback__.tb_next)
        return {"ok": False, "kind": "error", "traceback": "".join(lines)}
    return {"ok": True}

_json.dumps(await _blazen_run_in_blazen(__ARGS__))
"""


class InPyodideSource:
    """What is sent into Pyodide for one test function: its source (decorators blanked,
    line numbers kept), the whole file's text for tracebacks, its name and the timeout."""

    __slots__ = ("filename", "name", "source", "text")

    def __init__(self, func: Callable[..., Any]) -> None:
        self.filename = inspect.getsourcefile(func) or "<run_in_blazen>"
        self.name = func.__name__
        lines, start = inspect.getsourcelines(func)
        block = textwrap.dedent("".join(lines))
        node = ast.parse(block).body[0]
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.args.args:
            raise TypeError(f"run_in_blazen: {self.name} must be a function without parameters "
                            "(the body runs inside Pyodide: no fixtures, no closures)")
        body = block.splitlines(True)
        # Decorator lines become blank lines: the body must not apply them again in Pyodide.
        body[: node.lineno - 1] = ["\n"] * (node.lineno - 1)
        self.source = "\n" * (start - 1) + "".join(body)
        try:
            self.text = Path(self.filename).read_text()
        except OSError:
            self.text = self.source

    def code(self, timeout: float) -> str:
        """The Python run with runPythonAsync; it evaluates to the outcome's JSON text."""
        args = ", ".join(repr(x) for x in (self.source, self.text, self.filename, self.name, float(timeout)))
        return _RUNNER.replace("__ARGS__", args)


def outcome_failure(outcome: dict[str, Any], runtime: str) -> str | None:
    """None for a passed body, else the failure text to show."""
    if outcome.get("ok") is True:
        return None
    what = {"timeout": "hung", "runtime": "could not run"}.get(str(outcome.get("kind")), "failed")
    return f"run_in_blazen[{runtime}]: the body {what} inside Pyodide:\n{outcome.get('traceback', outcome)}"


# Runs in the page: starts the body from a timer (so the evaluate that starts it returns
# first) and reports its outcome's JSON once (see BlazenPage.reported).
_START_IN_PAGE = """([mark, code]) => {
  const report = console.debug.bind(console);
  setTimeout(() => window.__blazenTest.pyodide.runPythonAsync(code).then(
    (out) => report(mark + out),
    (e) => report(mark + JSON.stringify(
      { ok: false, kind: 'runtime', traceback: String((e && e.stack) || e) }))), 0);
}"""


def run_in_chromium(page: Any, code: str, timeout: float) -> dict[str, Any]:
    """Run `code` in the BlazenPage's Pyodide. Started from a timer and waited for without
    the page's help, so a body that blocks the page is still caught (after its timeout plus
    a grace period) and its script stopped; the page answers again afterwards."""
    limit = timeout + GRACE_S
    text = page.reported(_START_IN_PAGE, [code], limit)
    if text is None:
        what = f"the page did not answer within {limit:g} s (the body blocks it?)"
        return {"ok": False, "kind": "timeout", "traceback": what}
    result: dict[str, Any] = json.loads(text)
    return result


def find_node() -> str | None:
    """$BLAZEN_NODE, else `node` on PATH."""
    return os.environ.get("BLAZEN_NODE") or shutil.which("node")


def run_in_node(node: str, pyodide_dir: Path, code: str, timeout: float) -> dict[str, Any]:
    """Run `code` in a fresh Node process with Pyodide from `pyodide_dir`; the process is
    killed once boot plus the body's timeout plus a grace period has passed."""
    process = subprocess.Popen(
        [node, str(NODE_RUNNER), str(pyodide_dir), PACKAGE_LOCK_NAME],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    errors: list[str] = []
    threading.Thread(target=_pump, args=(process.stdout, lines.put), daemon=True).start()
    threading.Thread(target=_pump, args=(process.stderr, errors.append), daemon=True).start()
    assert process.stdin is not None
    process.stdin.write(code)
    process.stdin.close()
    booted = False
    try:
        while True:
            # Boot has its own allowance; once booted, the body has its timeout plus grace.
            line = lines.get(timeout=timeout + GRACE_S if booted else BOOT_TIMEOUT_S)
            if line.startswith(RESULT_PREFIX):
                result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX):])
                break
            booted = booted or line.startswith(BOOTED_LINE)
    except queue.Empty:
        if booted:
            what = f"Node gave no result within {timeout + GRACE_S:g} s of booting (timeout + grace); killed"
        else:
            what = f"Node did not boot Pyodide within {BOOT_TIMEOUT_S:g} s; killed"
        result = {"ok": False, "kind": "timeout", "traceback": what}
    finally:
        process.kill()
        process.wait()
    if result.get("ok") is not True and errors:
        output = "".join(errors[-40:])
        result["traceback"] = f"{result.get('traceback', '')}\n--- Pyodide output ---\n{output}"
    return result


def _pump(stream: Any, sink: Callable[[str], Any]) -> None:
    for line in stream:
        sink(line)


def run_in_blazen(
    func: Callable[..., Any] | None = None,
    *,
    runtimes: Sequence[str] = RUNTIMES,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Any:
    """Decorate a test function (sync or async, no parameters) so that its body runs inside
    Pyodide with blazen_py installed: once per runtime in `runtimes` ("chromium", "node"),
    each a separate pytest test (`test_x[chromium]`, `test_x[node]`). The body must import
    what it uses (it does not see the test module's globals). A failing assertion or an
    exception fails the test with Pyodide's traceback; an async body still running after
    `timeout` seconds is cancelled and fails the test as hung.

    Chromium uses the plugin's `blazen_page` (skipped without a Chromium); Node needs `node`
    ($BLAZEN_NODE or PATH) and the dist's `pyodide/` folder."""
    unknown = [r for r in runtimes if r not in RUNTIMES]
    if unknown or not runtimes:
        raise ValueError(f"run_in_blazen: runtimes must be among {RUNTIMES}, got {tuple(runtimes)}")

    def decorate(test: Callable[..., Any]) -> Any:
        import pytest

        if inspect.signature(test).parameters:
            raise TypeError(f"run_in_blazen: {test.__name__} must be a function without parameters "
                            "(the body runs inside Pyodide: no fixtures, no closures)")

        def wrapper(request: Any, blazen_runtime: str) -> None:
            # Read at run time, not import time: a module without source files still imports.
            code = InPyodideSource(test).code(timeout)
            if blazen_runtime == "chromium":
                outcome = run_in_chromium(request.getfixturevalue("blazen_page"), code, timeout)
            else:
                outcome = _node_outcome(request, code, timeout)
            failure = outcome_failure(outcome, blazen_runtime)
            if failure is not None:
                pytest.fail(failure, pytrace=False)

        for attribute in ("__name__", "__qualname__", "__module__", "__doc__"):
            setattr(wrapper, attribute, getattr(test, attribute))
        wrapper.pytestmark = list(getattr(test, "pytestmark", []))  # type: ignore[attr-defined]
        return pytest.mark.parametrize("blazen_runtime", list(runtimes))(wrapper)

    return decorate if func is None else decorate(func)


def _node_outcome(request: Any, code: str, timeout: float) -> dict[str, Any]:
    import pytest

    from .plugin import dist_folder

    node = find_node()
    if node is None:
        pytest.skip("run_in_blazen[node]: no node found ($BLAZEN_NODE or PATH)")
    pyodide_dir = dist_folder(request.config) / "pyodide"
    if not (pyodide_dir / "pyodide.mjs").is_file():
        pytest.fail(f"run_in_blazen[node]: {pyodide_dir} has no pyodide.mjs (point --blazen-dist "
                    "at the bundle or a site built on it)", pytrace=False)
    return run_in_node(node, pyodide_dir, code, timeout)
