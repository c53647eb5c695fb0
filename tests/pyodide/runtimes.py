"""The two Pyodide runtimes of the tests/pyodide tier: Pyodide in Node, Pyodide in Chromium.

Each runtime boots once per pytest session (lazily, on its first test), installs blazen_py
from dist/ the way the page does, and then runs portable tests one at a time. A test that
does not answer within its timeout (plus a grace period) fails, and the runtime is torn
down and booted afresh for the next test, so one hung test cannot hang the session.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from blazen_build.chromium import CHROMIUM_ARGS
from blazen_build.npm import ensure_node
from blazen_build.paths import PACKAGE, WHEEL_CACHE
from blazen_build.pypi import ensure_wheels
from blazen_build.server import make_server, server_url
from blazen_build.tiers import TEST_WHEELS
from blazen_build.wheel import canonical_name

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
REPLY_PREFIX = "@@blazen-harness@@"
BOOT_TIMEOUT = 180.0
GRACE = 15.0

RUNTIMES = ("node", "chromium")
# BLAZEN_FAST_LOOP=1: every runtime installs blazen_py.install_fast_loop() at boot, so the
# whole tier runs on the loop-level ready queue (docs/testing.md, "The fast loop").
FAST_LOOP = os.environ.get("BLAZEN_FAST_LOOP", "") == "1"


class PortableSuite:
    """Put one at module level of a test file: conftest.py turns it into one collector per
    runtime, each holding every portable test."""

    def __init__(self, runtimes: tuple[str, ...] = RUNTIMES) -> None:
        self.runtimes = runtimes


class RuntimeFailure(Exception):
    """The runtime itself failed (boot error, crash, hang): not a test outcome."""


def test_files() -> dict[str, str]:
    """Python files copied into Pyodide: tests/python/*.py (but conftest), the in-Pyodide
    tests of tests/pyodide/in_pyodide/, and the runner. One flat folder on sys.path."""
    sources = [p for p in sorted((TESTS / "python").glob("*.py")) if p.name != "conftest.py"]
    sources += sorted((HERE / "in_pyodide").glob("*.py"))
    sources.append(HERE / "portable_runner.py")
    files: dict[str, str] = {}
    for path in sources:
        if path.name in files:
            raise RuntimeFailure(f"two test files named {path.name}: Pyodide gets one flat folder")
        files[path.name] = path.read_text()
    return files


def boot_args() -> dict[str, Any]:
    """What both runtimes need to boot: package name, test wheels, test files, fast loop."""
    return {
        "packageName": canonical_name(PACKAGE),
        "wheels": list(ensure_wheels(TEST_WHEELS).values()),
        "files": test_files(),
        "fastLoop": FAST_LOOP,
    }


class Runtime:
    """Common part: boot once, reboot after a hang, remember a failed boot."""

    name = "?"

    def __init__(self) -> None:
        self.info: dict[str, Any] | None = None
        self.boot_info: dict[str, Any] | None = None  # of the first boot, for the summary
        self.boot_error: str | None = None
        self.boot_seconds = 0.0

    def ensure_booted(self) -> None:
        """Boot unless already up; a failed boot is reported by every later test too."""
        if self.boot_error is not None:
            raise RuntimeFailure(f"{self.name}: Pyodide failed to boot earlier:\n{self.boot_error}")
        if self.info is not None:
            return
        started = time.monotonic()
        try:
            self.info = self._boot(boot_args())
        except Exception as exc:
            self.close()
            self.boot_error = str(exc)
            raise RuntimeFailure(f"{self.name}: Pyodide failed to boot:\n{exc}") from exc
        if self.boot_info is None:
            self.boot_info = self.info
            self.boot_seconds = time.monotonic() - started

    def run(self, module: str, test_id: str, timeout: float) -> dict[str, Any]:
        """Run one portable test; returns the runner's outcome dict."""
        self.ensure_booted()
        try:
            result: dict[str, Any] = self._run(
                {"module": module, "testId": test_id, "timeout": timeout}, timeout + GRACE
            )
            return result
        except RuntimeFailure:
            self.close()  # the next test boots a fresh runtime
            self.info = None
            raise

    def _boot(self, args: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _run(self, args: dict[str, Any], deadline: float) -> dict[str, Any]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the runtime (idempotent)."""


class NodeRuntime(Runtime):
    """Pyodide in a Node process (tests/pyodide/node_driver.mjs), JSON lines over stdio."""

    name = "node"

    def __init__(self, dist_pyodide: Path) -> None:
        super().__init__()
        self.dist_pyodide = dist_pyodide
        self.process: subprocess.Popen[str] | None = None
        self.replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.stderr_tail: deque[str] = deque(maxlen=60)
        self.next_id = 0

    def _boot(self, args: dict[str, Any]) -> dict[str, Any]:
        node = ensure_node()
        self.replies = queue.Queue()
        self.process = subprocess.Popen(
            [node, str(HERE / "node_driver.mjs"), str(self.dist_pyodide)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        threading.Thread(target=self._read_stdout, args=(self.process,), daemon=True).start()
        threading.Thread(target=self._read_stderr, args=(self.process,), daemon=True).start()
        boot = {
            "packageName": args["packageName"],
            "wheelPaths": [str(p) for p in args["wheels"]],
            "files": args["files"],
            "fastLoop": args["fastLoop"],
        }
        info: dict[str, Any] = self._call("boot", boot, BOOT_TIMEOUT)
        return info

    def _read_stdout(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(REPLY_PREFIX):
                self.replies.put(json.loads(line[len(REPLY_PREFIX) :]))
            else:
                self.stderr_tail.append(line.rstrip("\n"))
        self.replies.put(None)  # the process has gone

    def _read_stderr(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            self.stderr_tail.append(line.rstrip("\n"))

    def _call(self, cmd: str, args: dict[str, Any], deadline: float) -> Any:
        if self.process is None or self.process.stdin is None or self.process.poll() is not None:
            raise RuntimeFailure("the node process is not running")
        self.next_id += 1
        self.process.stdin.write(json.dumps({"id": self.next_id, "cmd": cmd, "args": args}) + "\n")
        self.process.stdin.flush()
        try:
            message = self.replies.get(timeout=deadline)
        except queue.Empty:
            raise RuntimeFailure(
                f"node: no answer to {cmd!r} within {deadline:g} s (a test that blocks the event loop?); "
                "the node process is killed and rebooted for the next test" + self._tail()
            ) from None
        if message is None:
            raise RuntimeFailure(f"node: the process exited (code {self.process.wait()})" + self._tail())
        if not message["ok"]:
            raise RuntimeFailure(f"node: {cmd} failed: {message['error']}" + self._tail())
        return message["value"]

    def _tail(self) -> str:
        if not self.stderr_tail:
            return ""
        return "\n--- node stderr (last lines) ---\n" + "\n".join(self.stderr_tail)

    def _run(self, args: dict[str, Any], deadline: float) -> dict[str, Any]:
        result: dict[str, Any] = self._call("run", args, deadline)
        return result

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


class ChromiumRuntime(Runtime):
    """Pyodide in a headless Chromium page (tests/pyodide/web/harness.html) via Playwright."""

    name = "chromium"

    def __init__(self, dist: Path, chromium: str) -> None:
        super().__init__()
        self.dist = dist
        self.chromium = chromium
        self.server: Any = None
        self.playwright: Any = None
        self.browser: Any = None
        self.page: Any = None
        self.console: deque[str] = deque(maxlen=60)

    def _start_server(self) -> str:
        if self.server is None:
            mounts = {"/_test/wheels/": WHEEL_CACHE, "/_test/": HERE / "web"}
            self.server = make_server(self.dist, 0, mounts=mounts)
            threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return server_url(self.server)

    def _boot(self, args: dict[str, Any]) -> dict[str, Any]:
        from playwright.sync_api import sync_playwright

        base = self._start_server()
        if self.playwright is None:
            self.playwright = sync_playwright().start()
        if self.browser is None:
            self.browser = self.playwright.chromium.launch(
                executable_path=self.chromium, headless=True, args=CHROMIUM_ARGS
            )
        context = self.browser.new_context()
        self.page = context.new_page()
        self.page.on("console", lambda msg: self.console.append(f"[{msg.type}] {msg.text}"))
        self.page.on("pageerror", lambda err: self.console.append(f"[pageerror] {err}"))
        self.page.goto(base + "_test/harness.html")
        self.page.wait_for_function("() => window.blazenHarness !== undefined", timeout=30_000)
        boot = {
            "packageName": args["packageName"],
            "wheelURLs": [f"{base}_test/wheels/{p.name}" for p in args["wheels"]],
            "files": args["files"],
            "fastLoop": args["fastLoop"],
        }
        info: dict[str, Any] = self._call("boot", boot, BOOT_TIMEOUT)
        return info

    def _call(self, cmd: str, args: dict[str, Any], deadline: float) -> Any:
        from playwright.sync_api import Error as PlaywrightError

        try:
            token = self.page.evaluate("([c, a]) => window.blazenHarness.start(c, a)", [cmd, args])
            self.page.wait_for_function(
                "t => window.blazenHarness.done(t)", arg=token, timeout=deadline * 1000, polling=5
            )
            message = self.page.evaluate("t => window.blazenHarness.take(t)", token)
        except PlaywrightError as exc:
            raise RuntimeFailure(
                f"chromium: no answer to {cmd!r} within {deadline:g} s or the page broke: {exc}; "
                "the page is closed and rebooted for the next test" + self._tail()
            ) from exc
        if not message["ok"]:
            raise RuntimeFailure(f"chromium: {cmd} failed: {message['error']}" + self._tail())
        return message["value"]

    def _tail(self) -> str:
        return "\n--- page console (last lines) ---\n" + "\n".join(self.console) if self.console else ""

    def _run(self, args: dict[str, Any], deadline: float) -> dict[str, Any]:
        result: dict[str, Any] = self._call("run", args, deadline)
        return result

    def close(self) -> None:
        """Close the page's context (a reboot opens a new one); the browser stays."""
        if self.page is not None:
            with contextlib.suppress(Exception):  # a page stuck in a loop may not close cleanly
                self.page.context.close()
        self.page = None

    def shutdown(self) -> None:
        """Close everything at the end of the session."""
        self.close()
        if self.browser is not None:
            self.browser.close()
        if self.playwright is not None:
            self.playwright.stop()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        self.browser = self.playwright = self.server = None
