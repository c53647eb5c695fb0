"""BlazenPage: a Playwright page of the site under test with blazen.js booted, and the
helpers a test needs: run JS or Python and get JSON back, start a run and wait for its
stream items or input requests, answer them, reload. What fails inside the page (a JS
throw, a Python traceback, an uncaught page error) raises BlazenPageError with the page's
own stack or traceback, so it is the test's failure."""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

BLANK_PATH = "__blazen__/blank.html"
DEFAULT_TIMEOUT_S = 60.0
BOOT_TIMEOUT_S = 180.0

# Installed on the page once per load: boots blazen.js and keeps runs by id. Results cross
# as JSON text, so a value that is not JSON fails here, named, and not as a Playwright oddity.
_BOOT = """async ([snapshot]) => {
  if (!window.__blazenTest) {
    const blazen = await import(new URL('/blazen.js', location.href).href);
    const progress = [];
    const pyodide = await blazen.default({ snapshot, onProgress: (p) => progress.push(p.stage) });
    window.__blazenTest = { blazen, pyodide, progress, runs: new Map(), nextRun: 0 };
  }
  return JSON.stringify(window.__blazenTest.progress);
}"""

# Runs in the page: calls the predicate with `arg` every 20 ms until it returns something
# truthy and reports that value's JSON once (see BlazenPage.reported). It gives up by itself
# at the deadline, so the host's timeout asks nothing of the page.
_POLL = """([mark, arg, ms]) => {
  const report = console.debug.bind(console);
  const predicate = (__PREDICATE__);
  const until = Date.now() + ms;
  const poll = () => {
    let value;
    try { value = predicate(arg); } catch (e) {
      report(mark + JSON.stringify({ thrown: String((e && e.stack) || e) }));
      return;
    }
    if (value) report(mark + JSON.stringify({ value }));
    else if (Date.now() < until) setTimeout(poll, 20);
  };
  poll();
}"""

_DESCRIBE = """
function __describe(error) {
  const message = error && error.message !== undefined ? error.message : error;
  return { name: (error && error.name) || typeof error, message: String(message),
           stack: String((error && error.stack) || error) };
}"""

_JS = """async ([body, arg]) => {
  const { blazen, pyodide, runs } = window.__blazenTest;
  __DESCRIBE__
  try {
    const value = await (async (blazen, pyodide, arg) => { __BODY__ })(blazen, pyodide, arg);
    return JSON.stringify({ ok: true, value: value === undefined ? null : value });
  } catch (error) {
    return JSON.stringify({ ok: false, error: __describe(error) });
  }
}""".replace("__DESCRIBE__", _DESCRIBE)

_PY = """async ([code]) => {
  const { pyodide } = window.__blazenTest;
  __DESCRIBE__
  try {
    const out = await pyodide.runPythonAsync(code);
    return JSON.stringify({ ok: true, value: out === undefined ? null : JSON.parse(out) });
  } catch (error) {
    return JSON.stringify({ ok: false, error: __describe(error) });
  }
}""".replace("__DESCRIBE__", _DESCRIBE)

_START = """async ([body, input, options]) => {
  const { blazen, pyodide, runs } = window.__blazenTest;
  __DESCRIBE__
  try {
    const workflow = await (async (blazen, pyodide) => { __BODY__ })(blazen, pyodide);
    const handler = await workflow.runWithHandler(input, options);
    const id = window.__blazenTest.nextRun++;
    const run = { handler, items: [], ended: false, result: null, error: null };
    runs.set(id, run);
    handler.streamEvents((item) => { run.items.push(JSON.parse(JSON.stringify(item))); });
    handler.result().then(
      (r) => { run.result = { data: r.data === undefined ? null : r.data }; run.ended = true; },
      (e) => { run.error = __describe(e); run.ended = true; });
    return JSON.stringify({ ok: true, value: { id, runId: handler.runId } });
  } catch (error) {
    return JSON.stringify({ ok: false, error: __describe(error) });
  }
}""".replace("__DESCRIBE__", _DESCRIBE)


class BlazenPageError(AssertionError):
    """Something failed inside the page; the message holds its JS stack or Python traceback.

    An AssertionError, so pytest reports it as the test's failure."""


def _unwrap(text: str, what: str) -> Any:
    out = json.loads(text)
    if not out["ok"]:
        error = out["error"]
        raise BlazenPageError(
            f"{what} failed in the page: {error['name']}: {error['message']}\n{error['stack']}"
        )
    return out["value"]


class PageRun:
    """A run started with :meth:`BlazenPage.start`, kept in the page by id."""

    def __init__(self, page: BlazenPage, run_index: int, run_id: str) -> None:
        self.page = page
        self.index = run_index
        self.run_id = run_id

    def items(self) -> list[dict[str, Any]]:
        """Every stream item so far, as JSON."""
        items: list[dict[str, Any]] = self.page.js(
            "const r = window.__blazenTest.runs.get(arg); return r ? r.items : null;", self.index
        )
        if items is None:
            raise BlazenPageError(f"run {self.run_id} is gone from the page (was it reloaded?)")
        return items

    def wait_for(self, event_type: str, timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
        """The first stream item of `event_type`, waiting up to `timeout` seconds; a run that
        ends without one, or fails, raises BlazenPageError."""
        probe = """([i, t]) => { const r = window.__blazenTest && window.__blazenTest.runs.get(i);
            if (!r) return 'gone'; if (r.items.some((x) => x.eventType === t)) return 'found';
            return r.ended ? 'ended' : false; }"""
        state = self.page.wait(probe, [self.index, event_type], timeout, f"a {event_type!r} stream item")
        if state != "found":
            raise BlazenPageError(
                f"run {self.run_id} {'is gone (page reloaded?)' if state == 'gone' else 'ended'} "
                f"without a {event_type!r} item; items: {[x.get('eventType') for x in self.items()]}"
                + self._error_text()
            )
        return next(x for x in self.items() if x.get("eventType") == event_type)

    def wait_for_input(self, timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
        """The first InputRequested item not yet answered through this object."""
        return self.wait_for("InputRequested", timeout)

    def respond(self, request_id: str, response: Any) -> None:
        """Answer an input request (JSON value)."""
        self.page.js(
            "window.__blazenTest.runs.get(arg[0]).handler.respondToInput(arg[1], arg[2]);",
            [self.index, request_id, response],
        )

    def result(self, timeout: float = DEFAULT_TIMEOUT_S) -> Any:
        """The run's result data, waiting up to `timeout`; a failed run raises BlazenPageError."""
        probe = """([i]) => { const r = window.__blazenTest && window.__blazenTest.runs.get(i);
            return !r ? 'gone' : r.ended; }"""
        state = self.page.wait(probe, [self.index], timeout, "the run's end")
        if state == "gone":
            raise BlazenPageError(f"run {self.run_id} is gone from the page (was it reloaded?)")
        out = self.page.js(
            "const r = window.__blazenTest.runs.get(arg); return [r.result, r.error];", self.index
        )
        if out[1] is not None:
            error = out[1]
            raise BlazenPageError(
                f"run {self.run_id} failed: {error['name']}: {error['message']}\n{error['stack']}"
            )
        return out[0]["data"]

    def _error_text(self) -> str:
        error = self.page.js("const r = window.__blazenTest.runs.get(arg); return r && r.error;", self.index)
        return f"\nrun error: {error['name']}: {error['message']}\n{error['stack']}" if error else ""


class BlazenPage:
    """A page of the site under test, blazen.js booted (see the module docstring)."""

    def __init__(self, page: Any, base_url: str, snapshot: bool = True) -> None:
        self.page = page
        self.base_url = base_url
        self.snapshot = snapshot
        self.page_errors: list[str] = []
        self.boot_stages: list[str] = []
        page.on("pageerror", self._on_page_error)
        # Attached while the page surely answers (a session attached to a blocked page gets
        # no answer); it stays with the page through navigations and goes with it.
        self._devtools = page.context.new_cdp_session(page)

    def _on_page_error(self, error: Any) -> None:
        stack = getattr(error, "stack", None)
        self.page_errors.append(f"{error}\n{stack}" if stack else str(error))

    def check_errors(self) -> None:
        """Raise BlazenPageError for uncaught errors the page has thrown (once each)."""
        if self.page_errors:
            errors, self.page_errors = self.page_errors, []
            raise BlazenPageError("uncaught error(s) in the page:\n" + "\n---\n".join(errors))

    def goto(self, path: str = BLANK_PATH) -> BlazenPage:
        """Open `path` of the site and boot blazen.js there (`path` defaults to a blank page)."""
        self.page.goto(self.base_url + path.lstrip("/"))
        return self.boot()

    def boot(self) -> BlazenPage:
        """Boot blazen.js in the current page (idempotent), with the snapshot setting."""
        self.page.set_default_timeout(BOOT_TIMEOUT_S * 1000)
        self.boot_stages = json.loads(self.page.evaluate(_BOOT, [self.snapshot]))
        self.page.set_default_timeout(DEFAULT_TIMEOUT_S * 1000)
        self.check_errors()
        return self

    def reload(self) -> BlazenPage:
        """Reload the page (a run in flight is cut off there) and boot blazen.js again."""
        self.page.reload()
        return self.boot()

    def js(self, body: str, arg: Any = None) -> Any:
        """Run an async JS function body (`blazen`, `pyodide` and `arg` in scope; it may
        `await`) and return what it returns, through JSON. A throw raises BlazenPageError
        with the JS stack."""
        value = _unwrap(self.page.evaluate(_JS.replace("__BODY__", body), [body, arg]), "JS")
        self.check_errors()
        return value

    def python(self, code: str) -> Any:
        """Run Python in the page's Pyodide (top-level `await` allowed); the value of the
        last expression comes back through JSON. An exception raises BlazenPageError with
        the Python traceback."""
        value = _unwrap(self.page.evaluate(_PY, [_python_runner(code)]), "Python")
        self.check_errors()
        return value

    def start(self, workflow_body: str, input: Any = None, options: Any = None) -> PageRun:
        """Start a run in the background: `workflow_body` is an async JS function body
        returning a blazen.js Workflow (`blazen`, `pyodide` in scope); `input` and `options`
        go to `runWithHandler` (e.g. `{"checkpoint": "indexeddb"}`)."""
        script = _START.replace("__BODY__", workflow_body)
        out = _unwrap(self.page.evaluate(script, [workflow_body, input, options]), "start")
        self.check_errors()
        return PageRun(self, out["id"], out["runId"])

    def wait(self, predicate: str, arg: Any, timeout: float, what: str) -> Any:
        """Poll a JS predicate (a function of `arg`) every 20 ms until it returns something
        truthy; that value through JSON, or BlazenPageError naming `what` after `timeout`
        seconds (also when the page blocks meanwhile)."""
        text = self.reported(_POLL.replace("__PREDICATE__", predicate), [arg, timeout * 1000], timeout)
        self.check_errors()
        if text is None:
            raise BlazenPageError(f"gave up waiting for {what} after {timeout:g} s")
        out = json.loads(text)
        if "thrown" in out:
            raise BlazenPageError(f"the wait for {what} threw in the page:\n{out['thrown']}")
        return out["value"]

    def reported(self, script: str, args: list[Any], timeout: float) -> str | None:
        """Evaluate `script`, a JS function of `[mark, *args]` that reports once with
        `console.debug(mark + text)`, and return that text; None when `timeout` seconds pass
        first. Playwright's client does the waiting, which needs nothing from the page, so a
        script that blocks the page cannot stall it; the page's script is then stopped
        (Runtime.terminateExecution), so the page answers again for what comes after."""
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        # Not wait_for_function: once its poller is in the page, its timeout ends in a call
        # into the page (the poller's abort), which a blocked page never answers (seen: one
        # run in ten under load hung a user's pytest for good).
        mark = f"@@blazen-report-{uuid.uuid4().hex}@@"
        try:
            with self.page.expect_console_message(
                lambda message: message.text.startswith(mark), timeout=timeout * 1000
            ) as message:
                self.page.evaluate(script, [mark, *args])
            text: str = message.value.text
        except PlaywrightTimeout:
            with contextlib.suppress(PlaywrightError):  # the page may be gone already
                self._devtools.send("Runtime.terminateExecution")
            return None
        except PlaywrightError as error:
            raise BlazenPageError(f"the page went away while waiting: {error}") from None
        return text[len(mark) :]


def _python_runner(code: str) -> str:
    """Python that runs `code` in a fresh namespace (top-level await allowed) and evaluates
    to the JSON text of its last expression's value (None when it ends with a statement)."""
    return (
        "import ast as _ast, json as _json, types as _types\n"
        f"_tree = _ast.parse({code!r}, '<blazen test>')\n"
        "_last = _tree.body.pop() if _tree.body and isinstance(_tree.body[-1], _ast.Expr) else None\n"
        "if _last is not None:\n"
        "    _tree.body.append(_ast.Assign([_ast.Name('__result__', _ast.Store())], _last.value))\n"
        "    _ast.fix_missing_locations(_tree)\n"
        "_ns = {'__name__': '__blazen_test__', '__result__': None}\n"
        "_code = compile(_tree, '<blazen test>', 'exec', flags=_ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)\n"
        "_maybe = eval(_code, _ns)\n"
        "if _maybe is not None:\n"
        "    await _maybe\n"
        "_json.dumps(_ns['__result__'])\n"
    )
